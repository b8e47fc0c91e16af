"""Lab 03 hidden artifact check (Task 3.6): the MLP the notebook trained and saved classifies the held-out digits,
and the history saved with it follows the warmup + cosine schedule it was trained with.

The autograder runs this file with pytest after the notebook, with the submission's scratch directory (the
notebook's working directory, where it wrote digits_mlp.dslib) as the current directory. The file is read with
dslib.load (a checksummed tensor format: no pickle, so loading runs no code from the submission); its "model"
state dict is loaded, strictly, into the lab's MLP built here from dslib's layers. By hand:

    cd DIR_WITH_THE_MODEL && /work/main/.venv/bin/pytest -q /work/main/labs/03-training/hidden/test_artifacts.py
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import dslib
import dslib.nn as nn
from dslib.data.datasets import Digits
from dslib.optim.lr_scheduler import warmup_cosine

MODEL_FILE = "digits_mlp.dslib"
MIN_ACCURACY = 0.9


def reference_mlp() -> nn.Sequential:
    """The lab's make_mlp(): 8x8 digit -> 64 hidden units (ReLU) -> 10 logits."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def held_out_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 360 digits of Digits(train=False), as the notebook feeds them: float32 (N, 1, 8, 8) in [0, 1]."""
    ds = Digits(train=False)
    x = np.stack([ds[i][0].numpy() for i in range(len(ds))]).astype(np.float32)
    return x, np.array(ds.targets, dtype=np.int64)


def _load() -> dict:
    path = Path.cwd() / MODEL_FILE
    assert path.is_file(), (
        f"Task 3.6: {MODEL_FILE} was not saved: run the training cell after train(), which ends with "
        "dslib.save({'model': ..., 'config': ..., 'history': ...}, ...)"
    )
    try:
        saved = dslib.load(path)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same failure for the student
        raise AssertionError(f"Task 3.6: {MODEL_FILE} is not a file written by dslib.save: {e}") from None
    assert isinstance(saved, dict) and {"model", "config", "history"} <= set(saved), (
        f"Task 3.6: {MODEL_FILE} must hold a dict with the keys 'model', 'config' and 'history', "
        f"got {sorted(saved) if isinstance(saved, dict) else type(saved).__name__}"
    )
    return saved


def _load_model() -> nn.Sequential:
    state = _load()["model"]
    model = reference_mlp()
    try:
        model.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as e:
        raise AssertionError(
            f"Task 3.6: the saved 'model' is not a state dict of make_mlp() (Linear 64->64, ReLU, Linear 64->10): {e}"
        ) from None
    return model


def test_task_3_6_saved_file_holds_the_model_its_config_and_its_history():
    saved = _load()
    _load_model()
    config, history = saved["config"], saved["history"]
    for key in ("steps", "base_lr", "warmup_steps", "eta_min"):
        assert key in config, f"Task 3.6: the saved config has no {key!r}"
    for key in ("loss", "lr", "scale"):
        assert key in history and len(history[key]) == config["steps"], (
            f"Task 3.6: the saved history must hold {key!r} with one entry per step ({config['steps']})"
        )


def test_task_3_6_saved_model_classifies_held_out_digits():
    model = _load_model()
    model.eval()
    x, y = held_out_digits()
    with dslib.no_grad():
        logits = model(dslib.tensor(x)).numpy()
    assert np.isfinite(logits).all(), "Task 3.6: the saved model's outputs on the held-out digits are not finite"
    accuracy = float((logits.argmax(axis=1) == y).mean())
    assert accuracy >= MIN_ACCURACY, f"Task 3.6: held-out accuracy {accuracy:.1%}, needs {MIN_ACCURACY:.0%}"


def test_task_3_6_saved_history_follows_the_schedule_and_the_loss_falls():
    saved = _load()
    config, history = saved["config"], saved["history"]
    steps, warmup = int(config["steps"]), int(config["warmup_steps"])
    param = dslib.zeros(1, requires_grad=True)
    optimizer = dslib.optim.SGD([param], lr=float(config["base_lr"]))
    scheduler = warmup_cosine(optimizer, warmup, steps, eta_min=float(config["eta_min"]))
    expected = []
    for _ in range(steps):
        expected.append(optimizer.param_groups[0]["lr"])
        scheduler.step()
    got = [float(v) for v in history["lr"]]
    worst = max(abs(a - b) for a, b in zip(got, expected))
    assert worst <= 1e-6 * float(config["base_lr"]), (
        f"Task 3.6: the saved lr history is not the warmup + cosine schedule of the saved config "
        f"(largest difference {worst:.3g})"
    )
    losses = [float(v) for v in history["loss"]]
    assert all(math.isfinite(v) for v in losses), "Task 3.6: the saved losses are not all finite"
    tail = losses[-min(10, len(losses)) :]
    assert sum(tail) / len(tail) < losses[0], "Task 3.6: the saved loss did not fall during training"
