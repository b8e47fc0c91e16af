"""Lab 02 hidden artifact check (Task 2.8): the ResNet-8 the notebook saved classifies the held-out digits.

The autograder runs this file with pytest after the notebook, with the submission's scratch directory (the
notebook's working directory, where it wrote resnet8_digits.dslib) as the current directory. The file is read
with dslib.load (a checksummed tensor format: no pickle, so loading runs no code from the submission) and its
state dict loaded, strictly, into a reference ResNet-8 built here from dslib's own layers; the student's
layers are never imported. By hand:

    cd DIR_WITH_THE_MODEL && /work/main/.venv/bin/pytest -q /work/main/labs/02-resnet/hidden/test_artifacts.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import dslib
import dslib.nn as nn
from dslib.data.datasets import Digits
from dslib.models.resnet import BasicBlock

MODEL_FILE = "resnet8_digits.dslib"
MIN_ACCURACY = 0.9


class ReferenceResNet8(nn.Module):
    """The network of Task 2.7 from dslib's layers: 3x3 stem (16), BasicBlocks 16/32/64 (projection shortcuts)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(BasicBlock(16, 16))
        self.layer2 = nn.Sequential(BasicBlock(16, 32, 2))
        self.layer3 = nn.Sequential(BasicBlock(32, 64, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x))))))  # (N, 64, H/4, W/4)
        return self.fc(self.avgpool(x).flatten(1))  # (N, num_classes)


def held_out_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 360 digits of Digits(train=False) as the notebook prepares them: float32 (N, 1, 8, 8) in [0, 1]."""
    ds = Digits(train=False)
    x = (ds.data.transpose(0, 3, 1, 2) / np.float32(255.0)).astype(np.float32)
    return x, np.array(ds.targets, dtype=np.int64)


def _load_model() -> ReferenceResNet8:
    path = Path.cwd() / MODEL_FILE
    assert path.is_file(), (
        f"Task 2.8: {MODEL_FILE} was not saved: run the training cell after train_one_epoch and evaluate, "
        "which ends with dslib.save(model.state_dict(), ...)"
    )
    try:
        state = dslib.load(path)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same failure for the student
        raise AssertionError(f"Task 2.8: {MODEL_FILE} is not a file written by dslib.save: {e}") from None
    assert isinstance(state, dict), f"Task 2.8: {MODEL_FILE} must hold model.state_dict(), got a {type(state).__name__}"
    model = ReferenceResNet8()
    try:
        model.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        raise AssertionError(
            f"Task 2.8: the saved state dict does not fit ResNet8(num_classes=10, in_channels=1) (Task 2.7's names "
            f"and shapes): {e}"
        ) from None
    return model


def test_task_2_8_saved_model_is_a_resnet8_state_dict():
    _load_model()


def test_task_2_8_saved_model_classifies_held_out_digits():
    model = _load_model()
    model.eval()
    x, y = held_out_digits()
    with dslib.no_grad():
        logits = model(dslib.tensor(x)).numpy()
    assert np.isfinite(logits).all(), "Task 2.8: the saved model's outputs on the held-out digits are not finite"
    accuracy = float((logits.argmax(axis=1) == y).mean())
    assert accuracy >= MIN_ACCURACY, f"Task 2.8: held-out accuracy {accuracy:.1%}, needs {MIN_ACCURACY:.0%}"
