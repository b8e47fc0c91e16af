"""Checkpoint helpers: naming and pruning, the random state (NumPy and torch generators), model checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dslib
import dslib.nn as nn
from dslib.train import checkpoint as ck


def test_list_latest_and_prune_order_by_step_not_by_name(tmp_path):
    for step in (9, 10, 100, 2):
        dslib.save({"step": step}, ck.checkpoint_path(tmp_path, step))
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    names = [p.rsplit("/", 1)[1] for p in ck.list_checkpoints(tmp_path)]
    assert names == ["step_00000002.dslib", "step_00000009.dslib", "step_00000010.dslib", "step_00000100.dslib"]
    assert ck.latest_checkpoint(tmp_path).endswith("step_00000100.dslib")
    ck.prune_checkpoints(tmp_path, keep=2)
    assert [dslib.load(p)["step"] for p in ck.list_checkpoints(tmp_path)] == [10, 100]
    assert (tmp_path / "notes.txt").exists()
    assert ck.latest_checkpoint(tmp_path / "missing") is None


def test_rng_state_round_trips_through_a_file(tmp_path):
    x = dslib.randn(2, 3, device="torch")
    nn.functional.dropout(x, 0.5)  # makes the torch generator dropout uses
    dslib.save(ck.rng_state(), tmp_path / "rng.dslib")
    expected_np = dslib.randn(5).numpy()
    expected_torch = nn.functional.dropout(dslib.ones(100, device="torch"), 0.5).numpy()
    dslib.manual_seed(7)
    nn.functional.dropout(x, 0.5)
    ck.set_rng_state(dslib.load(tmp_path / "rng.dslib"))
    np.testing.assert_array_equal(dslib.randn(5).numpy(), expected_np)
    np.testing.assert_array_equal(nn.functional.dropout(dslib.ones(100, device="torch"), 0.5).numpy(), expected_torch)
    assert isinstance(dslib.default_generator.torch_generator(torch.device("cpu")), torch.Generator)


def test_check_model_state_accepts_its_own_state_and_names_mismatches():
    model = nn.Sequential(nn.Linear(4, 2))
    ck.check_model_state(model, model.state_dict())
    many = {f"extra{i}": dslib.zeros(1) for i in range(10)}
    with pytest.raises(ValueError, match=r"not in this model: extra0, .*extra7, \.\.\. \(10 in all\)"):
        ck.check_model_state(model, {**model.state_dict(), **many}, "run.dslib")
