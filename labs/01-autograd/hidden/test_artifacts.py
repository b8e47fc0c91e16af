"""Lab 01 hidden artifact check (Task 1.8): the neuron the notebook saved classifies points it never saw.

The autograder runs this file with pytest after the notebook, with the submission's scratch directory (the
notebook's working directory, where it wrote neuron.json) as the current directory. By hand:

    cd DIR_WITH_NEURON_JSON && /work/main/.venv/bin/pytest -q /work/main/labs/01-autograd/hidden/test_artifacts.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import labkit

HELD_OUT_SEED = 9173  # the notebook trains on seed 0; these points are new to it
MIN_ACCURACY = 0.9


def _load_neuron() -> tuple[list[float], float]:
    path = Path.cwd() / "neuron.json"
    assert path.is_file(), "Task 1.8: neuron.json was not saved: run the cell after train_neuron that writes it"
    try:
        saved = json.loads(path.read_text())
        w, b = [float(v) for v in saved["w"]], float(saved["b"])
    except (ValueError, KeyError, TypeError) as e:
        raise AssertionError(f'Task 1.8: neuron.json must hold {{"w": [w1, w2], "b": b}} (numbers): {e}') from None
    assert len(w) == 2, f"Task 1.8: neuron.json must hold 2 weights, got {len(w)}"
    assert all(math.isfinite(v) for v in [*w, b]), "Task 1.8: the saved weights are not finite numbers"
    return w, b


def test_task_1_8_saved_neuron_is_two_weights_and_a_bias():
    _load_neuron()


def test_task_1_8_saved_neuron_classifies_held_out_points():
    w, b = _load_neuron()
    X, y = labkit.datasets.two_blobs(400, seed=HELD_OUT_SEED)
    correct = sum((math.tanh(w[0] * x1 + w[1] * x2 + b) > 0) == (t > 0) for (x1, x2), t in zip(X, y))
    accuracy = correct / len(y)
    assert accuracy >= MIN_ACCURACY, f"Task 1.8: held-out accuracy {accuracy:.1%}, needs {MIN_ACCURACY:.0%}"
