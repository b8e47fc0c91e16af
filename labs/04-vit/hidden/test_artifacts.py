"""Lab 04 hidden artifact check (Task 4.8): the DS-ViT the notebook trained and saved classifies the held-out digits.

The autograder runs this file with pytest after the notebook, with the submission's scratch directory (the
notebook's working directory, where it wrote ds_vit_digits.ckpt) as the current directory. The file is read with
dslib.load (a checksummed tensor format: no pickle, so loading runs no code from the submission); it holds
{"config": the DSViT's constructor arguments, "state_dict": its weights}. The weights are loaded, strictly, into
dslib's reference `dslib.models.ds_vit(**config)`: the student's layers are never imported, so the check also
confirms that they compute what dslib's do (weights trained through a wrong layer do not work in the right one).
By hand:

    cd DIR_WITH_THE_MODEL && /work/main/.venv/bin/pytest -q /work/main/labs/04-vit/hidden/test_artifacts.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import dslib
from dslib.data.datasets import Digits
from dslib.models import ds_vit

MODEL_FILE = "ds_vit_digits.ckpt"
MIN_ACCURACY = 0.8
# The constructor arguments the notebook's DSViT saves, with what the check accepts for each.
EXPECTED = {"image_size": 8, "in_channels": 1, "num_classes": 10}
INT_RANGES = {"patch_size": (1, 8), "embed_dim": (4, 256), "depth": (1, 8), "num_heads": (1, 16), "window_size": (2, 8)}


def held_out_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 360 digits of Digits(train=False) as the notebook prepares them: float32 (N, 1, 8, 8) in [0, 1]."""
    ds = Digits(train=False)
    x = (ds.data.transpose(0, 3, 1, 2) / np.float32(255.0)).astype(np.float32)
    return x, np.array(ds.targets, dtype=np.int64)


def _check_config(config) -> dict:
    assert isinstance(config, dict), f"Task 4.8: the saved 'config' must be the DSViT's config dict, got {config!r}"
    allowed = set(EXPECTED) | set(INT_RANGES) | {"mlp_ratio", "shift"}
    unknown = sorted(set(config) - allowed)
    assert not unknown, f"Task 4.8: the saved config has keys a DS-ViT does not take: {unknown}"
    for key, value in EXPECTED.items():
        assert config.get(key) == value, (
            f"Task 4.8: the saved model must take 8x8 one-channel digits, 10 classes: {key}={config.get(key)!r}"
        )
    for key, (lo, hi) in INT_RANGES.items():
        value = config.get(key)
        assert isinstance(value, int) and lo <= value <= hi, (
            f"Task 4.8: config {key} must be an int in [{lo}, {hi}], got {value!r}"
        )
    ratio = config.get("mlp_ratio", 4.0)
    assert isinstance(ratio, (int, float)) and 0 < ratio <= 8, (
        f"Task 4.8: config mlp_ratio must be in (0, 8], got {ratio!r}"
    )
    return dict(config)


def _load_model():
    path = Path.cwd() / MODEL_FILE
    assert path.is_file(), (
        f"Task 4.8: {MODEL_FILE} was not saved: run the training cell after train_progressive, which ends with "
        f'dslib.save({{"config": model.config, "state_dict": model.state_dict()}}, "{MODEL_FILE}")'
    )
    try:
        saved = dslib.load(path)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same failure for the student
        raise AssertionError(f"Task 4.8: {MODEL_FILE} is not a file written by dslib.save: {e}") from None
    assert isinstance(saved, dict) and set(saved) == {"config", "state_dict"}, (
        f'Task 4.8: {MODEL_FILE} must hold {{"config": ..., "state_dict": ...}}, got {type(saved).__name__} '
        f"{sorted(saved) if isinstance(saved, dict) else ''}"
    )
    config = _check_config(saved["config"])
    try:
        model = ds_vit(**config)
        model.load_state_dict(saved["state_dict"])
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        raise AssertionError(
            f"Task 4.8: the saved state dict does not fit dslib.models.ds_vit(**config): {e}"
        ) from None
    return model


def test_task_4_8_saved_model_is_a_ds_vit_with_every_head_unlocked():
    model = _load_model()
    for name, buffer in model.named_buffers():
        if name.endswith("head_mask"):
            mask = buffer.numpy()
            assert (mask == 1).all(), (
                f"Task 4.8: {name} is {mask.tolist()}: the schedule's last stage must unlock every head"
            )


def test_task_4_8_saved_model_classifies_held_out_digits():
    model = _load_model()
    model.eval()
    x, y = held_out_digits()
    with dslib.no_grad():
        logits = model(dslib.tensor(x)).numpy()
    assert np.isfinite(logits).all(), "Task 4.8: the saved model's outputs on the held-out digits are not finite"
    accuracy = float((logits.argmax(axis=1) == y).mean())
    assert accuracy >= MIN_ACCURACY, f"Task 4.8: held-out accuracy {accuracy:.1%}, needs {MIN_ACCURACY:.0%}"
