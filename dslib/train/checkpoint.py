"""Training checkpoints: file naming, keep-the-last-k, the random-number state, and model compatibility checks.

A trainer checkpoint is one `dslib.save` file (atomic and checksummed, see dslib/serialization.py) named
`step_00000120.dslib` in the checkpoint directory, holding a dict:

    format        "dslib.train/1"
    model         model.state_dict();  model_class: the model's class name
    optimizer     optimizer.state_dict();  scheduler, scaler, mixing: their state_dict() or None
    rng           dslib's global generator (NumPy PCG64 state) and any torch generators it made
    epoch, batch  where the next micro-batch comes from: batch `batch` of epoch `epoch`
    step          optimizer steps taken;  history, window: the logged records and the running sums

    from dslib.train.checkpoint import latest_checkpoint
    trainer.load_checkpoint(latest_checkpoint("runs/digits/checkpoints"))
"""

from __future__ import annotations

import os
import re

import numpy as np

from ..random import default_generator

FORMAT = "dslib.train/1"
_NAME = re.compile(r"^step_(\d{8,})\.dslib$")


def checkpoint_path(directory, step: int) -> str:
    return os.path.join(os.fspath(directory), f"step_{step:08d}.dslib")


def list_checkpoints(directory) -> list[str]:
    """The checkpoint files in `directory`, oldest (fewest steps) first."""
    if not os.path.isdir(directory):
        return []
    found = [(int(m[1]), name) for name in os.listdir(directory) if (m := _NAME.match(name))]
    return [os.path.join(os.fspath(directory), name) for _, name in sorted(found)]


def latest_checkpoint(directory) -> str | None:
    """The newest checkpoint in `directory`, or None when there is none."""
    files = list_checkpoints(directory)
    return files[-1] if files else None


def prune_checkpoints(directory, keep: int) -> list[str]:
    """Delete all but the newest `keep` checkpoints; returns the deleted paths."""
    old = list_checkpoints(directory)[:-keep] if keep > 0 else []
    for path in old:
        os.remove(path)
    return old


def rng_state() -> dict:
    """dslib's global random state: the NumPy generator, plus the torch generators dropout made on torch devices."""
    from ..creation import from_numpy  # a uint8 tensor: dslib.save holds tensors, not NumPy arrays

    torch_states = {key: from_numpy(g.get_state().numpy().copy()) for key, g in default_generator._torch.items()}
    return {"dslib": default_generator.get_state(), "torch": torch_states}


def set_rng_state(state: dict) -> None:
    default_generator.set_state(state["dslib"])
    default_generator._torch = {}  # generators made after the checkpoint start fresh, as they did then
    for key, saved in state.get("torch", {}).items():
        import torch

        if key.startswith("cuda") and not torch.cuda.is_available():
            continue  # a GPU run resumed on a CPU machine: its dropout stream on the GPU cannot be restored
        default_generator.torch_generator(key).set_state(torch.from_numpy(saved.numpy().astype(np.uint8)))


def check_model_state(model, saved: dict, path="checkpoint") -> None:
    """Raise ValueError naming every key that differs between `model` and the saved state dict (before anything
    is loaded, so a failed resume leaves the model untouched)."""
    mine = model.state_dict()
    missing = [k for k in mine if k not in saved]
    unexpected = [k for k in saved if k not in mine]
    shapes = [
        f"{k} (checkpoint {tuple(saved[k].shape)}, model {tuple(mine[k].shape)})"
        for k in mine
        if k in saved and tuple(saved[k].shape) != tuple(mine[k].shape)
    ]
    if not (missing or unexpected or shapes):
        return

    def names(keys):
        return ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "")

    parts = [f"missing from the checkpoint: {names(missing)}"] if missing else []
    parts += [f"not in this model: {names(unexpected)}"] if unexpected else []
    parts += [f"shape mismatch: {names(shapes)}"] if shapes else []
    raise ValueError(
        f"{os.fspath(path)} does not fit this {type(model).__name__}: " + "; ".join(parts) + ". Resume with the "
        "model (architecture and constructor arguments) that wrote the checkpoint."
    )
