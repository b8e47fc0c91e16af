"""Classification metrics and the evaluation loop: accuracy, per-class recall, confusion matrix.

The metric functions take plain integer labels (NumPy arrays, lists or dslib Tensors) and follow
scikit-learn's definitions (`sklearn.metrics.confusion_matrix`, `recall_score(average=None)`), which the
tests use as the reference. `evaluate` runs a model over a loader without gradients and returns them all:

    from dslib.train import evaluate
    result = evaluate(model, test_loader, device="torch")
    print(result.accuracy, result.per_class_recall, result.confusion_matrix)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor


def _labels(a, name: str) -> np.ndarray:
    """`a` as a 1-D int64 NumPy array of class indices."""
    arr = a.numpy() if isinstance(a, Tensor) else np.asarray(a)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of class indices, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """C[i, j] = number of samples of true class i predicted as class j (rows: truth, columns: prediction)."""
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {t.shape[0]} and {p.shape[0]}")
    if num_classes is None:
        num_classes = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= num_classes):
        raise ValueError(f"class indices must lie in [0, {num_classes}); got values from {min(t.min(), p.min())} "
                         f"to {max(t.max(), p.max())}")  # fmt: skip
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def accuracy(y_true, y_pred) -> float:
    """The fraction of predictions equal to the truth (nan for no samples)."""
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {t.shape[0]} and {p.shape[0]}")
    return float((t == p).mean()) if t.size else math.nan


def per_class_recall(cm: np.ndarray) -> np.ndarray:
    """Recall of each class from a confusion matrix: C[i, i] / sum_j C[i, j]; nan for a class with no samples
    (scikit-learn warns and reports 0 there; nan keeps "absent" apart from "never found")."""
    cm = np.asarray(cm)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


@dataclass
class EvalResult:
    accuracy: float  # fraction of samples classified correctly
    loss: float  # mean loss per sample
    per_class_recall: np.ndarray  # (num_classes,) recall of each class, nan for classes absent from the data
    confusion_matrix: np.ndarray  # (num_classes, num_classes) counts, rows = truth, columns = prediction
    num_samples: int = 0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready: plain floats and lists, nan as None."""

        def clean(v):
            return None if isinstance(v, float) and math.isnan(v) else v

        return {
            "accuracy": clean(self.accuracy),
            "loss": clean(self.loss),
            "per_class_recall": [clean(float(r)) for r in self.per_class_recall],
            "confusion_matrix": self.confusion_matrix.tolist(),
            "num_samples": self.num_samples,
        }

    def __str__(self):
        recall = " ".join("  nan" if math.isnan(r) else f"{r:5.3f}" for r in self.per_class_recall)
        return (
            f"accuracy {self.accuracy:.4f}  loss {self.loss:.4f}  ({self.num_samples} samples)\n"
            f"per-class recall: {recall}"
        )


def _cross_entropy(logits, y):
    from ..nn import functional as F

    return F.cross_entropy(logits, y)


def evaluate(model, loader, device="numpy", loss_fn=None, num_classes: int | None = None, amp_dtype=None) -> EvalResult:
    """Run `model` in eval mode over `loader` (batches of (inputs, integer labels)) without gradients.

    loss_fn(logits, targets) must return the batch mean (default: cross-entropy); the reported loss is
    the per-sample mean over the whole loader. The model's train/eval mode is restored afterwards.
    """
    from .trainer import autocast_context, split_batch  # shared with the training loop

    loss_fn = loss_fn or _cross_entropy
    was_training = model.training
    model.eval()
    preds, targets, loss_sum, n = [], [], 0.0, 0
    try:
        with no_grad():
            for batch in loader:
                x, y = split_batch(batch, device)
                with autocast_context(device, amp_dtype):
                    logits = model(x)
                    loss = loss_fn(logits, y)
                b = y.shape[0]
                loss_sum += float(loss.item()) * b
                n += b
                preds.append(logits.argmax(dim=1).numpy())
                targets.append(y.numpy())
                if num_classes is None:
                    num_classes = int(logits.shape[1])
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("evaluate: the loader yielded no samples")
    y_true, y_pred = np.concatenate(targets), np.concatenate(preds)
    cm = confusion_matrix(y_true, y_pred, num_classes)
    return EvalResult(accuracy(y_true, y_pred), loss_sum / n, per_class_recall(cm), cm, n)
