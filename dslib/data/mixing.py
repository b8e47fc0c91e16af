"""Batch mixing: mixup and CutMix, with soft targets for F.cross_entropy.

    from dslib.data.transforms import MixupCutmix
    mix = MixupCutmix(num_classes=10, mixup_alpha=0.2, cutmix_alpha=1.0)
    for x, y in loader:
        x, soft = mix(x, y)                      # soft: (B, 10) float32 class probabilities
        loss = F.cross_entropy(model(x), soft)   # = lam * CE(., y) + (1 - lam) * CE(., y[perm])

mixup (Zhang et al. 2018): lam ~ Beta(alpha, alpha), x' = lam * x + (1 - lam) * x[perm].
CutMix (Yun et al. 2019): a box covering a (1 - lam) fraction of the image is pasted from x[perm];
lam is then corrected to the box's exact area after clipping at the borders.
In both, the targets are lam * one_hot(y) + (1 - lam) * one_hot(y[perm]), so the soft-target cross
entropy equals the lam-weighted sum of the two hard-label losses.

Draws come from `rng`: a numpy Generator, an int seed, or None for dslib's default generator
(`dslib.manual_seed` seeds it, and a checkpoint of dslib's RNG state covers it, so resumed runs mix alike).
Batches are dslib Tensors (B, C, H, W) on any device, or NumPy arrays; the result is of the same kind.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..autograd import no_grad
from ..creation import tensor as _tensor
from ..tensor import Tensor


def _generator(rng) -> np.random.Generator:
    if rng is None:
        from ..random import default_generator

        return default_generator.np
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}")


def _check_alpha(alpha, who):
    if not isinstance(alpha, numbers.Real) or not alpha > 0:
        raise ValueError(f"{who}: alpha must be a positive number (the Beta(alpha, alpha) parameter), got {alpha!r}")


def _targets(y, num_classes: int, batch: int, who: str, label_smoothing: float = 0.0) -> np.ndarray:
    """(B, num_classes) float32 class probabilities from class indices (B,) or probabilities (B, K)."""
    if not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"{who}: num_classes must be a positive int, got {num_classes!r}")
    arr = y.detach().numpy() if isinstance(y, Tensor) else np.asarray(y)
    if arr.ndim == 2 and arr.dtype.kind == "f":
        if arr.shape != (batch, num_classes):
            raise ValueError(f"{who}: probability targets must have shape {(batch, num_classes)}, got {arr.shape}")
        out = arr.astype(np.float32)
    elif arr.ndim == 1 and arr.dtype.kind in "iu":
        if arr.shape[0] != batch:
            raise ValueError(f"{who}: x holds {batch} samples but y holds {arr.shape[0]} labels")
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(
                f"{who}: labels must lie in [0, {num_classes}) for num_classes={num_classes}, "
                f"got values from {arr.min()} to {arr.max()}"
            )
        out = np.zeros((batch, num_classes), np.float32)
        out[np.arange(batch), arr] = 1.0
    else:
        raise TypeError(
            f"{who}: y must hold integer class indices of shape (B,) or float probabilities of shape (B, C), "
            f"got dtype {arr.dtype} and shape {arr.shape}"
        )
    if label_smoothing:
        out = out * np.float32(1.0 - label_smoothing) + np.float32(label_smoothing / num_classes)
    return out


def _like(x, arr: np.ndarray):
    """arr as the kind of x: a Tensor on x's device, or the NumPy array itself."""
    return _tensor(arr, device=x.device) if isinstance(x, Tensor) else arr


def _check_batch(x, who: str, min_ndim: int):
    if not isinstance(x, (Tensor, np.ndarray)):
        raise TypeError(f"{who}: x must be a dslib Tensor or a NumPy array batch, got {type(x).__name__}")
    if x.ndim < min_ndim:
        raise ValueError(
            f"{who}: x must be a batch of shape {'(B, C, H, W)' if min_ndim > 2 else '(B, ...)'}, got {tuple(x.shape)}"
        )


def _is_float(x) -> bool:
    return x.dtype.is_floating_point if isinstance(x, Tensor) else x.dtype.kind == "f"


def _take(x, perm):
    """x[perm] along the batch dimension."""
    return x.index_select(0, _tensor(perm, device=x.device)) if isinstance(x, Tensor) else x[perm]


def _mixup(x, soft, lam, perm):
    with no_grad():
        mixed = x * lam + _take(x, perm) * (1.0 - lam)
        if isinstance(x, np.ndarray):
            mixed = mixed.astype(x.dtype, copy=False)
    return mixed, _like(x, lam * soft + (1 - lam) * soft[perm])


def mixup(x, y, alpha: float, num_classes: int, rng=None):
    """(mixed_x, soft_targets): x' = lam * x + (1 - lam) * x[perm] with lam ~ Beta(alpha, alpha)."""
    _check_batch(x, "mixup", 1)
    _check_alpha(alpha, "mixup")
    if not _is_float(x):
        raise TypeError(f"mixup: x must be floating point to be blended, got {x.dtype}: apply ToTensor() first")
    soft = _targets(y, num_classes, x.shape[0], "mixup")
    g = _generator(rng)
    lam = float(g.beta(alpha, alpha))
    return _mixup(x, soft, lam, g.permutation(x.shape[0]))


def rand_box(h: int, w: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """CutMix's box (y0, y1, x0, x1): side sqrt(1 - lam) of the image's, centre uniform, clipped."""
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    return max(cy - ch // 2, 0), min(cy + ch // 2, h), max(cx - cw // 2, 0), min(cx + cw // 2, w)


def _cutmix(x, soft, lam, perm, rng):
    h, w = x.shape[-2], x.shape[-1]
    y0, y1, x0, x1 = rand_box(h, w, lam, rng)
    lam = 1.0 - (y1 - y0) * (x1 - x0) / (h * w)  # the area actually pasted
    with no_grad():
        mixed = x.clone() if isinstance(x, Tensor) else x.copy()
        mixed[..., y0:y1, x0:x1] = _take(x, perm)[..., y0:y1, x0:x1]
    return mixed, _like(x, lam * soft + (1 - lam) * soft[perm])


def cutmix(x, y, alpha: float, num_classes: int, rng=None):
    """(mixed_x, soft_targets): a box of x[perm] pasted into x (B, C, H, W), targets weighted by area."""
    _check_batch(x, "cutmix", 3)
    _check_alpha(alpha, "cutmix")
    soft = _targets(y, num_classes, x.shape[0], "cutmix")
    g = _generator(rng)
    lam = float(g.beta(alpha, alpha))
    return _cutmix(x, soft, lam, g.permutation(x.shape[0]), g)


class MixupCutmix:
    """Per batch, with probability p: CutMix (with probability switch_prob) or else mixup; otherwise the
    batch is unchanged. The targets are always soft (B, num_classes), label-smoothed if asked, so one loss
    fits every batch. An alpha of 0 turns that method off (as in timm's Mixup, which this follows).
    """

    def __init__(
        self,
        num_classes: int,
        mixup_alpha: float = 0.2,
        cutmix_alpha: float = 1.0,
        p: float = 1.0,
        switch_prob: float = 0.5,
        label_smoothing: float = 0.0,
        rng=None,
    ):
        if not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(f"MixupCutmix: num_classes must be a positive int, got {num_classes!r}")
        for name, a in (("mixup_alpha", mixup_alpha), ("cutmix_alpha", cutmix_alpha)):
            if not isinstance(a, numbers.Real) or a < 0:
                raise ValueError(f"MixupCutmix: {name} must be >= 0 (0 turns it off), got {a!r}")
        if mixup_alpha == 0 and cutmix_alpha == 0:
            raise ValueError("MixupCutmix: mixup_alpha and cutmix_alpha are both 0; enable at least one")
        for name, q in (("p", p), ("switch_prob", switch_prob), ("label_smoothing", label_smoothing)):
            if not isinstance(q, numbers.Real) or not 0.0 <= q <= 1.0:
                raise ValueError(f"MixupCutmix: {name} must be in [0, 1], got {q!r}")
        self.num_classes = int(num_classes)
        self.mixup_alpha, self.cutmix_alpha = float(mixup_alpha), float(cutmix_alpha)
        self.p, self.switch_prob, self.label_smoothing = float(p), float(switch_prob), float(label_smoothing)
        self.rng = None if rng is None else _generator(rng)

    def __call__(self, x, y):
        _check_batch(x, "MixupCutmix", 3)
        soft = _targets(y, self.num_classes, x.shape[0], "MixupCutmix", self.label_smoothing)
        g = _generator(self.rng)
        if g.random() >= self.p:
            return x, _like(x, soft)
        use_cutmix = self.mixup_alpha == 0 or (self.cutmix_alpha > 0 and g.random() < self.switch_prob)
        perm = g.permutation(x.shape[0])
        if use_cutmix:
            return _cutmix(x, soft, float(g.beta(self.cutmix_alpha, self.cutmix_alpha)), perm, g)
        if not _is_float(x):
            raise TypeError(f"MixupCutmix: mixup needs floating-point images, got {x.dtype}: apply ToTensor() first")
        return _mixup(x, soft, float(g.beta(self.mixup_alpha, self.mixup_alpha)), perm)

    def __repr__(self):
        return (
            f"MixupCutmix(num_classes={self.num_classes}, mixup_alpha={self.mixup_alpha}, "
            f"cutmix_alpha={self.cutmix_alpha}, p={self.p}, switch_prob={self.switch_prob}, "
            f"label_smoothing={self.label_smoothing})"
        )
