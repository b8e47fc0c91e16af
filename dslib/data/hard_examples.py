"""Hard-example emphasis: weight each sample by how badly the model does on it.

    from dslib.data.hard_examples import HardExampleWeighter, IndexedDataset, hard_example_weights

    w = hard_example_weights(per_sample_losses, gamma=1.0)  # mean 1, proportional to loss**gamma
    w = hard_example_weights(per_sample_losses, top_k=0.25)  # OHEM: only the hardest quarter, weight 4

    weighter = HardExampleWeighter(len(train_set), gamma=1.0, momentum=0.9, smoothing=0.1)
    loader = DataLoader(IndexedDataset(train_set), batch_size=64, sampler=weighter.sampler(seed=0))
    for epoch in range(epochs):
        loader.set_epoch(epoch)                               # the sampler re-reads the weights here
        for x, y, idx in loader:                              # IndexedDataset adds each sample's index
            losses = F.cross_entropy(model(x), y, reduction="none")
            weighter.update(idx, losses)                      # running per-sample loss estimates
            loss = losses.mean()  # or, re-weighting instead of re-sampling:
            # loss = (losses * dslib.tensor(weighter.loss_weights(idx))).mean()

Two ways to emphasise hard samples, and the weighter supports both: draw them more often (`sampler()`,
which re-reads the weights at the start of every epoch), or weight their loss more (`loss_weights`). The
weights are proportional to loss**gamma (gamma=0: uniform; gamma=1: proportional to the loss, as in
importance sampling by loss, Katharopoulos & Fleuret 2018), or with `top_k` the online hard example mining
of Shrivastava et al. 2016 (OHEM: only the k largest losses count). Every weight vector has mean 1, so a
weighted mean loss keeps the scale of an unweighted one, and `smoothing` mixes in that much of the uniform
weights, so no sample is starved (noisy labels attract large losses: validate the data first).

Mixed samples (mixup / cutmix). A mixed row i holds sample indices[i] with share lam_i and a partner with
share 1 - lam_i, and its target is the soft vector lam_i*onehot(y_i) + (1-lam_i)*onehot(y_partner). Its
cross-entropy is at least the entropy of that soft target even for a perfect model, so the hardness of the
row is the excess loss KL(soft_target || softmax(logits)) = CE - H(soft_target), which is the plain
cross-entropy for an unmixed row. `update_mixed` credits that excess to indices[i] with weight lam_i (read
from the soft target: lam_i = soft_targets[i, y_i]), and, when the caller knows the partners, to each
partner with weight 1 - lam_i. A credit w moves a sample's running estimate w times as far as a clean
observation: a sample covering 30% of a cutmix image says less about that sample than a whole image does.
"""

from __future__ import annotations

import numpy as np

from ..creation import tensor as make_tensor
from ..tensor import Tensor
from ._seeding import SAMPLER_TAG, check_seed, derive_rng
from .dataset import Dataset
from .sampler import Sampler


def hard_example_weights(losses, gamma: float = 1.0, top_k=None, smoothing: float = 0.0):
    """Per-sample weights with mean 1 from per-sample losses (>= 0).

    gamma: weights proportional to loss**gamma (0 gives uniform weights).
    top_k: None, an int k, or a fraction in (0, 1]: OHEM, weight N/k on the k largest losses and 0 elsewhere
        (ties go to the lower index).
    smoothing: in [0, 1], the share of uniform weight mixed in: w = (1 - smoothing) * w + smoothing.
    Returns a float32 numpy array, or a float32 Tensor on the input's device when `losses` is a Tensor.
    """
    arr = _as_losses(losses, "hard_example_weights", "losses")
    w = _weights_of(arr, gamma, top_k, smoothing, "hard_example_weights")
    if isinstance(losses, Tensor):
        return make_tensor(w.astype(np.float32), device=losses.device)
    return w.astype(np.float32)


def _weights_of(arr: np.ndarray, gamma, top_k, smoothing, where: str) -> np.ndarray:
    if not isinstance(gamma, (int, float)) or isinstance(gamma, bool) or not np.isfinite(gamma) or gamma < 0:
        raise ValueError(f"{where}: gamma must be a finite number >= 0, got {gamma!r}")
    if not isinstance(smoothing, (int, float)) or isinstance(smoothing, bool) or not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"{where}: smoothing must be in [0, 1], got {smoothing!r}")
    n = arr.size
    if n == 0:
        return np.zeros(0)
    if top_k is not None:
        k = _resolve_top_k(top_k, n, where)
        hardest = np.argsort(-arr, kind="stable")[:k]
        w = np.zeros(n)
        w[hardest] = n / k
    else:
        score = arr**gamma if gamma > 0 else np.ones(n)
        total = score.sum()
        w = score * (n / total) if total > 0 else np.ones(n)
    return (1.0 - smoothing) * w + smoothing


def _resolve_top_k(top_k, n: int, where: str) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: top_k must be None, an int k or a fraction in (0, 1], got {top_k!r}")
    if isinstance(top_k, (float, np.floating)):
        if not 0.0 < top_k <= 1.0:
            raise ValueError(f"{where}: a fractional top_k must be in (0, 1], got {top_k!r}")
        return max(1, int(round(top_k * n)))
    if not 1 <= top_k:
        raise ValueError(f"{where}: top_k must be >= 1, got {top_k!r}")
    return min(int(top_k), n)


def _to_numpy(x, dtype=None) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().numpy()
    return np.asarray(x, dtype=dtype)


def _as_losses(losses, where: str, name: str) -> np.ndarray:
    arr = _to_numpy(losses, np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{where}: {name} must be a 1-D sequence of per-sample losses, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: {name} has NaN or Inf values: {arr[~np.isfinite(arr)][:5]}")
    if np.any(arr < 0):
        raise ValueError(f"{where}: {name} must be >= 0 (per-sample losses), got min {arr.min():g}")
    return arr


class IndexedDataset(Dataset):
    """Wraps a dataset of (input, target) so each sample comes with its index: (input, target, index)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        return (*self.dataset[index], index)


class HardExampleWeighter:
    """Running per-sample loss estimates for a dataset of `num_samples`, turned into weights (mean 1).

    The estimate of a sample is an exponential moving average of its observed losses: the first observation
    sets it, each later one moves it by (1 - momentum) * credit * (loss - estimate). Samples never observed
    count as the mean estimate of the observed ones (uniform weights before any update).
    """

    def __init__(self, num_samples: int, gamma: float = 1.0, momentum: float = 0.9, smoothing: float = 0.1, top_k=None):
        if not isinstance(num_samples, (int, np.integer)) or isinstance(num_samples, bool) or num_samples < 1:
            raise ValueError(f"HardExampleWeighter: num_samples must be a positive int, got {num_samples!r}")
        if not isinstance(momentum, (int, float)) or isinstance(momentum, bool) or not 0.0 <= momentum < 1.0:
            raise ValueError(f"HardExampleWeighter: momentum must be in [0, 1), got {momentum!r}")
        self.num_samples = int(num_samples)
        self.gamma, self.momentum, self.smoothing, self.top_k = gamma, float(momentum), smoothing, top_k
        _weights_of(np.ones(1), gamma, top_k, smoothing, "HardExampleWeighter")  # check them now, not mid-training
        self.losses = np.zeros(self.num_samples)  # running loss estimate per sample
        self.seen = np.zeros(self.num_samples, dtype=bool)

    def update(self, indices, losses, credit=None):
        """Fold one batch of per-sample losses into the estimates. credit[i] in [0, 1] (default 1) scales the step."""
        idx = self._check_indices(indices, "indices")
        loss = _as_losses(losses, "HardExampleWeighter.update", "losses")
        if loss.shape != idx.shape:
            raise ValueError(f"HardExampleWeighter.update: {idx.size} indices but {loss.size} losses")
        if credit is None:
            cred = np.ones(idx.size)
        else:
            cred = _to_numpy(credit, np.float64).reshape(-1)
            if cred.shape != idx.shape or not np.all((cred >= 0) & (cred <= 1)):
                raise ValueError(
                    f"HardExampleWeighter.update: credit must hold {idx.size} values in [0, 1], got {cred.tolist()[:8]}"
                )
        step = 1.0 - self.momentum
        for i, l, c in zip(idx.tolist(), loss.tolist(), cred.tolist()):  # in order: a repeated index updates twice
            if c == 0.0:
                continue
            if self.seen[i]:
                self.losses[i] += step * c * (l - self.losses[i])
            else:
                self.losses[i], self.seen[i] = l, True

    def update_mixed(self, indices, logits, soft_targets, targets, partner_indices=None):
        """Update from a mixup/cutmix batch (see the module docstring); returns the per-row excess losses.

        indices: the dataset index of each row's own sample; targets: its original class; soft_targets: the
        mixed targets the loss was computed against; partner_indices (optional): each row's partner sample.
        """
        where = "HardExampleWeighter.update_mixed"
        z = _to_numpy(logits, np.float64)
        q = _to_numpy(soft_targets, np.float64)
        y = _to_numpy(targets).reshape(-1)
        if z.ndim != 2 or q.shape != z.shape:
            raise ValueError(f"{where}: logits and soft_targets must both be (B, C), got {z.shape} and {q.shape}")
        if y.shape != (z.shape[0],) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"{where}: targets must be {z.shape[0]} class indices, got {y.dtype} of shape {y.shape}")
        if np.any(y < 0) or np.any(y >= z.shape[1]):
            raise ValueError(f"{where}: targets must be in [0, {z.shape[1]}), got {y.min()}..{y.max()}")
        if np.any(q < 0) or not np.allclose(q.sum(1), 1.0, atol=1e-4):
            raise ValueError(f"{where}: soft_targets rows must be probability vectors (>= 0, summing to 1)")
        logp = z - z.max(1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(1, keepdims=True))
        cross = -(q * logp).sum(1)
        entropy = -(q * np.log(np.where(q > 0, q, 1.0))).sum(1)  # 0 log 0 = 0
        excess = np.maximum(cross - entropy, 0.0)  # KL(q || p) >= 0; the max only absorbs rounding
        share = np.clip(q[np.arange(len(y)), y], 0.0, 1.0)
        self.update(indices, excess, credit=share)
        if partner_indices is not None:
            self.update(partner_indices, excess, credit=1.0 - share)
        return excess

    @property
    def weights(self) -> np.ndarray:
        """Per-sample weights (float64, mean 1) from the current estimates."""
        est = self.losses.copy()
        if self.seen.any():
            est[~self.seen] = self.losses[self.seen].mean()
        else:
            est[:] = 1.0
        return _weights_of(est, self.gamma, self.top_k, self.smoothing, "HardExampleWeighter")

    def loss_weights(self, indices) -> np.ndarray:
        """The weights of one batch's samples, rescaled to mean 1 within the batch (float32), for a weighted loss."""
        idx = self._check_indices(indices, "indices")
        w = self.weights[idx]
        return (w * (w.size / w.sum()) if w.sum() > 0 else np.ones(w.size)).astype(np.float32)

    def sampler(self, num_samples: int | None = None, seed: int = 0) -> HardExampleSampler:
        """A sampler drawing (with replacement) proportionally to the weights as they are at each epoch's start."""
        return HardExampleSampler(self, num_samples=num_samples, seed=seed)

    def state_dict(self) -> dict:
        return {"losses": self.losses.copy(), "seen": self.seen.copy()}

    def load_state_dict(self, state: dict):
        losses, seen = np.asarray(state["losses"], np.float64), np.asarray(state["seen"], bool)
        if losses.shape != (self.num_samples,) or seen.shape != (self.num_samples,):
            raise ValueError(
                f"HardExampleWeighter.load_state_dict: state is for {losses.shape[0]} samples, not {self.num_samples}"
            )
        self.losses, self.seen = losses.copy(), seen.copy()

    def _check_indices(self, indices, name: str) -> np.ndarray:
        idx = _to_numpy(indices).reshape(-1)
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"HardExampleWeighter: {name} must be integer sample indices, got dtype {idx.dtype}")
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_samples):
            raise ValueError(
                f"HardExampleWeighter: {name} must be in [0, {self.num_samples}), got {idx.min()}..{idx.max()}"
            )
        return idx


class HardExampleSampler(Sampler):
    """Draws `num_samples` indices with replacement, proportionally to a HardExampleWeighter's weights.

    The weights are read when an epoch's iteration starts, and the draw depends on (seed, epoch, weights) only.
    """

    def __init__(self, weighter: HardExampleWeighter, num_samples: int | None = None, seed: int = 0):
        if not isinstance(weighter, HardExampleWeighter):
            raise TypeError(
                f"HardExampleSampler: weighter must be a HardExampleWeighter, got {type(weighter).__name__}"
            )
        if num_samples is None:
            num_samples = weighter.num_samples
        if not isinstance(num_samples, (int, np.integer)) or isinstance(num_samples, bool) or num_samples < 1:
            raise ValueError(f"HardExampleSampler: num_samples must be a positive int, got {num_samples!r}")
        self.weighter, self.num_samples, self.seed, self.epoch = weighter, int(num_samples), seed, 0
        check_seed("HardExampleSampler: seed", seed)

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __iter__(self):
        w = self.weighter.weights
        rng = derive_rng(SAMPLER_TAG, self.seed, self.epoch)
        return iter(rng.choice(w.size, size=self.num_samples, replace=True, p=w / w.sum()).tolist())

    def __len__(self) -> int:
        return self.num_samples
