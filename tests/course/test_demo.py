"""course/demo.py: the README's main job trains a dslib MLP on the digits to > 95% test accuracy."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_demo():
    spec = importlib.util.spec_from_file_location("course_demo", ROOT / "course" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


demo = _load_demo()


def test_demo_with_default_settings_reaches_95_percent_test_accuracy():
    lines = []
    acc = demo.train(demo.DemoConfig(), log=lines.append)
    assert acc > 0.95
    assert len([line for line in lines if line.startswith("epoch")]) == demo.DemoConfig.epochs
    assert lines[-1].startswith(f"test accuracy: {acc:.2%}")


def test_demo_learns_on_every_device(device):
    acc = demo.train(demo.DemoConfig(device=device, epochs=3), log=lambda line: None)
    assert acc > 0.9


def test_demo_split_is_fixed_and_standardized():
    x_tr, y_tr, x_te, y_te = demo.load_data(seed=0)
    assert x_tr.shape == (1347, 64) and x_te.shape == (450, 64)
    again = demo.load_data(seed=0)
    assert (again[1] == y_tr).all() and (again[3] == y_te).all()
    assert abs(x_tr.mean()) < 1e-5 and set(x_tr.std(axis=0).round(4)) <= {0.0, 1.0}


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--device", "tpu"]])
def test_demo_rejects_bad_arguments_with_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        demo.main(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err
