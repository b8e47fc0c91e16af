"""Recipes: overrides, the missing-CIFAR-10 message, and --fast smoke runs that write every output."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from dslib.train import History
from dslib.train.recipes import RECIPES, main, run, shifted_copies, with_overrides


def test_every_recipe_the_course_names_exists():
    assert {"resnet8-digits", "ds_vit-digits", "resnet18-shapes10", "resnet18-cifar10"} <= set(RECIPES)
    cifar = RECIPES["resnet18-cifar10"]
    assert (cifar.optimizer, cifar.lr, cifar.momentum, cifar.nesterov, cifar.weight_decay, cifar.batch_size) == (
        "sgd", 0.1, 0.9, True, 5e-4, 128)  # fmt: skip
    assert (cifar.crop_padding, cifar.flip, cifar.epochs) == (4, True, 200)


def test_overrides_parse_json_values_and_reject_unknown_fields():
    r = with_overrides(RECIPES["resnet8-digits"], ["lr=0.02", "amp=null", 'heads_schedule={"0": 1}', "model=resnet18"])
    assert (r.lr, r.amp, r.heads_schedule, r.model) == (0.02, None, {"0": 1}, "resnet18")
    assert RECIPES["resnet8-digits"].lr != 0.02  # the registry is not changed
    with pytest.raises(ValueError, match="expected FIELD=VALUE with FIELD one of .*batch_size"):
        with_overrides(RECIPES["resnet8-digits"], ["learning_rate=0.1"])
    with pytest.raises(ValueError, match="expected FIELD=VALUE"):
        with_overrides(RECIPES["resnet8-digits"], ["lr"])


def test_shifted_copies_stack_each_pixels_neighbours_as_channels():
    img = np.arange(1, 17, dtype=np.uint8).reshape(4, 4, 1)
    out = shifted_copies(img, 3)
    assert out.shape == (4, 4, 9) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 4], img[..., 0])  # the centre offset is the image itself
    for c, (dy, dx) in enumerate((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)):
        for i in range(4):
            for j in range(4):
                inside = 0 <= i + dy < 4 and 0 <= j + dx < 4
                assert out[i, j, c] == (img[i + dy, j + dx, 0] if inside else 0)


def test_cifar10_without_data_says_what_to_put_where(tmp_path, capsys):
    assert main(["resnet18-cifar10", "--fast", "--data", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "data_batch_1" in err and "cifar-10-python.tar.gz" in err and str(tmp_path) in err


def test_bad_command_lines_exit_with_usage(capsys):
    with pytest.raises(SystemExit):
        main(["resnet9-digits"])
    with pytest.raises(SystemExit):
        main(["resnet8-digits", "--set", "nope=1"])
    assert "FIELD=VALUE" in capsys.readouterr().err


def _smoke(name, tmp_path, capsys):
    out = tmp_path / name
    assert main([name, "--fast", "--device", "torch", "--no-progress", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0 and metrics["wall_seconds"] > 0
    assert f"test accuracy {metrics['test']['accuracy']:.4f}" in printed and "wall time" in printed
    history = History.from_dict(json.loads((out / "history.json").read_text()))
    assert len(history.series("loss")[1]) == 2 and len(history.series("val_accuracy")[1]) == 2  # one per epoch
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    return metrics


def test_a_tiny_run_writes_metrics_history_curves_and_checkpoints(tmp_path):
    """run() end to end on 64 digits for one epoch (the full --fast smoke runs are marked slow)."""
    lines = []
    tiny = dataclasses.replace(RECIPES["resnet8-digits"], epochs=1, train_size=64, test_size=32, batch_size=32)
    metrics = run(tiny, device="numpy", out=tmp_path, progress=False, log=lines.append)
    assert metrics["test"]["num_samples"] == 32 and len(metrics["test"]["per_class_recall"]) == 10
    assert json.loads((tmp_path / "metrics.json").read_text())["test"] == metrics["test"]
    assert len(History.from_dict(json.loads((tmp_path / "history.json").read_text()))) == 2  # train + validation
    assert (tmp_path / "curves.png").exists() and os.listdir(tmp_path / "checkpoints") == ["step_00000002.dslib"]
    assert lines[1].startswith("epoch   1/1") and "wall time" in lines[-1]


@pytest.mark.slow
def test_fast_resnet8_digits_writes_its_outputs_and_resumes_without_training_again(tmp_path, capsys):
    metrics = _smoke("resnet8-digits", tmp_path, capsys)
    assert metrics["recipe"]["epochs"] == 2 and metrics["recipe"]["train_size"] == 512
    args = ["resnet8-digits", "--fast", "--device", "torch", "--no-progress", "--out", str(tmp_path / "resnet8-digits")]
    assert main([*args, "--resume"]) == 0  # the checkpoint of the last epoch is there: only the test runs
    printed = capsys.readouterr().out
    assert "resumed from" in printed and "epoch   1/2" not in printed and "epoch   2/2" not in printed
    again = json.loads((tmp_path / "resnet8-digits" / "metrics.json").read_text())
    assert again["test"] == metrics["test"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ds_vit-digits", "resnet18-shapes10"])
def test_fast_smoke_of_the_slower_recipes(name, tmp_path, capsys):
    _smoke(name, tmp_path, capsys)
