"""CurriculumSampler: sampling for long-tailed data that moves from instance- to class-balanced over epochs.

    from dslib.data.curriculum import CurriculumSampler

    sampler = CurriculumSampler(train_set.targets, ramp_epochs=10, seed=0)
    loader = DataLoader(train_set, batch_size=64, sampler=sampler)
    for epoch in range(epochs):
        loader.set_epoch(epoch)                            # (or sampler.set_epoch(epoch))
        train_one_epoch(loader)
        sampler.update(evaluate(model, val_loader).per_class_recall)  # optional: favour poorly-recalled classes

Progressively-balanced sampling (Kang et al. 2020, "Decoupling Representation and Classifier for Long-Tailed
Recognition", Sec. 3): the probability of drawing class c in epoch e is

    p_c(e) = (1 - a(e)) * n_c / N  +  a(e) * q_c,        a(e) = min(1, e / ramp_epochs)  ("linear")
                                                          or (1 - cos(pi * min(1, e / ramp_epochs))) / 2 ("cosine")

so epoch 0 samples like plain random sampling (instance-balanced: each sample equally likely, a class as often
as it occurs) and epochs >= ramp_epochs sample each class equally often (class-balanced, q_c = 1/C) or by
the target q. A sample of class c is drawn with probability p_c(e) / n_c, with replacement (a class-balanced
epoch draws a rare class's few samples many times). Early epochs learn features from all the data the way
it comes; later ones rebalance the classifier towards the tail.

`update(per_class_recall)` makes the target depend on how well each class is recognized (dynamic class
re-weighting): q_c is proportional to (1 - recall_c + recall_floor) ** recall_power, so a class the model
misses gets drawn more, and a perfectly recognized class still keeps a floor. recall_power=0 ignores updates.
Each epoch's draw depends only on (seed, epoch) and the recall last passed to update(), so it is reproducible.
"""

from __future__ import annotations

import math

import numpy as np

from ..tensor import Tensor
from ._seeding import SAMPLER_TAG, check_seed, derive_rng
from .sampler import Sampler


class CurriculumSampler(Sampler):
    """Indices drawn with replacement from class probabilities ramping from instance- to class-balanced."""

    def __init__(
        self,
        labels,
        num_samples: int | None = None,
        ramp_epochs: int = 10,
        schedule: str = "linear",
        num_classes: int | None = None,
        recall_power: float = 1.0,
        recall_floor: float = 0.1,
        seed: int = 0,
    ):
        y = labels.detach().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
        if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(
                f"CurriculumSampler: labels must be a non-empty 1-D sequence of int class indices, "
                f"got {y.dtype} of shape {y.shape}"
            )
        if y.min() < 0:
            raise ValueError(f"CurriculumSampler: labels must be >= 0, got {y.min()}")
        if num_classes is None:
            num_classes = int(y.max()) + 1
        if not isinstance(num_classes, (int, np.integer)) or num_classes <= y.max():
            raise ValueError(
                f"CurriculumSampler: num_classes must be an int > the largest label {y.max()}, got {num_classes!r}"
            )
        if num_samples is None:
            num_samples = y.size
        _check_int("num_samples", num_samples, 1)
        _check_int("ramp_epochs", ramp_epochs, 0)
        if schedule not in ("linear", "cosine"):
            raise ValueError(f"CurriculumSampler: schedule must be 'linear' or 'cosine', got {schedule!r}")
        for name, v in (("recall_power", recall_power), ("recall_floor", recall_floor)):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not (np.isfinite(v) and v >= 0):
                raise ValueError(f"CurriculumSampler: {name} must be a finite number >= 0, got {v!r}")
        if recall_power > 0 and recall_floor == 0:
            raise ValueError(
                "CurriculumSampler: recall_floor must be > 0 when recall_power > 0 (a class recalled "
                "perfectly would never be drawn again)"
            )
        check_seed("CurriculumSampler: seed", seed)
        self.labels = y.astype(np.int64)
        self.num_classes = int(num_classes)
        self.class_counts = np.bincount(self.labels, minlength=self.num_classes)
        self.num_samples, self.ramp_epochs, self.schedule = int(num_samples), int(ramp_epochs), schedule
        self.recall_power, self.recall_floor = float(recall_power), float(recall_floor)
        self.seed, self.epoch = seed, 0
        self.recall = None  # the per-class recall last passed to update(), or None

    def set_epoch(self, epoch: int):
        _check_int("epoch", epoch, 0)
        self.epoch = int(epoch)

    def update(self, per_class_recall):
        """Set the per-class recall (values in [0, 1], one per class) that the target distribution follows."""
        r = per_class_recall.detach().numpy() if isinstance(per_class_recall, Tensor) else per_class_recall
        r = np.asarray(r, dtype=np.float64)
        if r.shape != (self.num_classes,):
            raise ValueError(
                f"CurriculumSampler.update: per_class_recall must hold {self.num_classes} values, got shape {r.shape}"
            )
        if not np.all((r >= 0) & (r <= 1)):  # NaN fails this too
            raise ValueError(
                f"CurriculumSampler.update: per_class_recall must be in [0, 1] (no NaN: give an absent class a "
                f"value, e.g. its last recall), got {r.tolist()}"
            )
        self.recall = r.copy()

    def balance(self, epoch: int | None = None) -> float:
        """a(e): 0 = instance-balanced, 1 = fully at the target (class-balanced) distribution."""
        e = self.epoch if epoch is None else epoch
        if self.ramp_epochs == 0:
            return 1.0
        t = min(1.0, e / self.ramp_epochs)
        return t if self.schedule == "linear" else (1.0 - math.cos(math.pi * t)) / 2.0

    def target_probabilities(self) -> np.ndarray:
        """q: uniform over the classes present, re-weighted by (1 - recall + floor)**power after update()."""
        present = self.class_counts > 0
        q = present.astype(np.float64)
        if self.recall is not None and self.recall_power > 0:
            q *= (1.0 - self.recall + self.recall_floor) ** self.recall_power
        return q / q.sum()

    def class_probabilities(self, epoch: int | None = None) -> np.ndarray:
        """p_c(e): the probability that one draw in epoch `epoch` (default: the current one) is of class c."""
        a = self.balance(epoch)
        return (1.0 - a) * self.class_counts / self.class_counts.sum() + a * self.target_probabilities()

    def sample_weights(self, epoch: int | None = None) -> np.ndarray:
        """Per-sample draw probabilities in epoch `epoch` (they sum to 1)."""
        p = self.class_probabilities(epoch)
        per_sample = p[self.labels] / self.class_counts[self.labels]
        return per_sample / per_sample.sum()

    def __iter__(self):
        rng = derive_rng(SAMPLER_TAG, self.seed, self.epoch)
        draw = rng.choice(self.labels.size, size=self.num_samples, replace=True, p=self.sample_weights())
        return iter(draw.tolist())

    def __len__(self) -> int:
        return self.num_samples

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "recall": None if self.recall is None else self.recall.copy()}

    def load_state_dict(self, state: dict):
        self.set_epoch(state["epoch"])
        self.recall = None
        if state["recall"] is not None:
            self.update(state["recall"])


def _check_int(name: str, value, low: int):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError(f"CurriculumSampler: {name} must be an int >= {low}, got {value!r}")
