"""Metrics against scikit-learn's (the reference), and evaluate() on a model whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, recall_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

import dslib
import dslib.nn as nn
from dslib.train import EvalResult, accuracy, confusion_matrix, evaluate, per_class_recall


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 5, size=200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 5, size=200))
    cm = confusion_matrix(y_true, y_pred, num_classes=5)
    np.testing.assert_array_equal(cm, sk_confusion_matrix(y_true, y_pred, labels=range(5)))
    assert accuracy(y_true, y_pred) == pytest.approx(accuracy_score(y_true, y_pred))
    np.testing.assert_allclose(per_class_recall(cm), recall_score(y_true, y_pred, average=None, labels=range(5)))


def test_metrics_take_tensors_and_mark_absent_classes_nan():
    y_true = dslib.tensor([0, 0, 1, 1])
    y_pred = dslib.tensor([0, 1, 1, 1])
    cm = confusion_matrix(y_true, y_pred, num_classes=3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]
    recall = per_class_recall(cm)
    assert recall[:2].tolist() == [0.5, 1.0] and math.isnan(recall[2])
    assert accuracy(y_true, y_pred) == 0.75


def test_bad_labels_are_named():
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        confusion_matrix([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match=r"class indices must lie in \[0, 2\)"):
        confusion_matrix([0, 1, 2], [0, 1, 1], num_classes=2)
    with pytest.raises(TypeError, match="integer class indices, got dtype float"):
        accuracy([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="1-D sequence of class indices, got shape"):
        accuracy(np.zeros((2, 2), dtype=int), [0, 1])


class Lookup(nn.Module):
    """Predicts class `x[:, 0]` (as a one-hot logit): evaluate's answers are known in advance."""

    def __init__(self, classes):
        super().__init__()
        self.classes = classes
        self.bias = nn.Parameter(dslib.zeros(1))

    def forward(self, x):
        onehot = np.eye(self.classes, dtype=np.float32)[x.numpy()[:, 0].astype(int)] * 10.0
        return dslib.from_numpy(onehot).to(x.device) + self.bias


def test_evaluate_reports_accuracy_loss_recall_and_confusion(device):
    preds = np.array([0, 1, 2, 2, 1, 0, 2, 2])
    truth = np.array([0, 1, 2, 1, 1, 0, 0, 2])
    batches = [
        (dslib.from_numpy(preds[i : i + 3, None].astype(np.float32)), dslib.from_numpy(truth[i : i + 3]))
        for i in range(0, 8, 3)
    ]
    model = Lookup(3).to(device).train()
    result = evaluate(model, batches, device=device)
    assert isinstance(result, EvalResult) and model.training  # mode restored
    assert result.accuracy == 6 / 8 and result.num_samples == 8
    np.testing.assert_array_equal(result.confusion_matrix, sk_confusion_matrix(truth, preds))
    np.testing.assert_allclose(result.per_class_recall, [2 / 3, 2 / 3, 1.0])
    # cross-entropy of logits (10 on the predicted class, 0 elsewhere), averaged over all 8 samples
    right, wrong = np.log(1 + 2 * np.exp(-10.0)), 10 + np.log(1 + 2 * np.exp(-10.0))
    assert result.loss == pytest.approx((6 * right + 2 * wrong) / 8, rel=1e-5)
    d = result.to_dict()
    assert d["confusion_matrix"] == result.confusion_matrix.tolist() and d["accuracy"] == 0.75
    assert "accuracy 0.7500" in str(result)


def test_evaluate_refuses_an_empty_loader():
    with pytest.raises(ValueError, match="the loader yielded no samples"):
        evaluate(Lookup(2), [])
