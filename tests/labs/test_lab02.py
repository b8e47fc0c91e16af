"""labs/02-resnet: the source notebook runs top to bottom in FAST mode within its time budget (and its hidden
check passes on the model it saved, and fails on a missing, foreign or untrained one); its manifest and cells
follow the lab format (labs/README.md); the released form hides every solution and hidden test, each stub names
its task; every visible and hidden test fails on the stubs.
The format checks every lab shares are in test_lab_format.py."""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest

from tests.labs.notebook_tools import (
    grade_meta,
    graded_cells,
    load_check,
    load_lab,
    release,
    run_fast,
    run_in_process,
    solution_cells,
    split_hidden,
)

LAB = load_lab("02-resnet")
NB = LAB.notebook
TASKS = [f"2.{n}" for n in range(1, 9)]
MODEL_FILE = "resnet8_digits.dslib"


# ----- the source notebook runs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The source notebook run by papermill in FAST mode in an empty directory: (notebook, seconds, directory)."""
    return run_fast(LAB, tmp_path_factory.mktemp("lab02"))


def test_source_notebook_runs_without_error_in_fast_mode_within_the_time_limit(executed):
    nb, seconds, _ = executed
    assert seconds < LAB.manifest["limits"]["timeout_s"], f"FAST run took {seconds:.1f} s"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    for task in TASKS:
        assert f"Task {task}: visible tests passed" in printed
    print(f"lab 02 FAST run: {seconds:.1f} s")


def test_fast_run_shows_plots_and_the_im2col_explorer(executed):
    nb, _, _ = executed
    kinds = [k for c in nb.cells if c.cell_type == "code" for o in c.outputs for k in o.get("data", {})]
    assert kinds.count("image/png") >= 4  # the static im2col figure, the BN demo, the curves, the feature maps
    assert "application/vnd.jupyter.widget-view+json" in kinds


def test_hidden_artifact_check_passes_on_what_the_fast_run_saved(executed, monkeypatch):
    _, _, workdir = executed
    monkeypatch.chdir(workdir)
    check = load_check(LAB)
    check.test_task_2_8_saved_model_is_a_resnet8_state_dict()
    check.test_task_2_8_saved_model_classifies_held_out_digits()


def test_hidden_artifact_check_fails_without_a_model_or_with_a_wrong_one(tmp_path, monkeypatch):
    import dslib

    monkeypatch.chdir(tmp_path)
    check = load_check(LAB)
    with pytest.raises(AssertionError, match=f"Task 2.8: {MODEL_FILE} was not saved"):
        check.test_task_2_8_saved_model_is_a_resnet8_state_dict()
    (tmp_path / MODEL_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(AssertionError, match="Task 2.8: .* is not a file written by dslib.save"):
        check.test_task_2_8_saved_model_is_a_resnet8_state_dict()
    dslib.save({"conv1.weight": dslib.zeros(16, 1, 3, 3)}, tmp_path / MODEL_FILE)  # a foreign state dict
    with pytest.raises(AssertionError, match="Task 2.8: the saved state dict does not fit ResNet8"):
        check.test_task_2_8_saved_model_is_a_resnet8_state_dict()
    dslib.manual_seed(0)
    dslib.save(check.ReferenceResNet8().state_dict(), tmp_path / MODEL_FILE)  # the right shape, never trained
    check.test_task_2_8_saved_model_is_a_resnet8_state_dict()
    with pytest.raises(AssertionError, match="Task 2.8: held-out accuracy"):
        check.test_task_2_8_saved_model_classifies_held_out_digits()


def test_hidden_check_uses_the_notebooks_held_out_split():
    """The check's 360 digits are Digits(train=False), pixels scaled as the notebook does, disjoint from training."""
    from dslib.data.datasets import Digits

    x, y = load_check(LAB).held_out_digits()
    assert x.shape == (360, 1, 8, 8) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert np.bincount(y).min() >= 35  # stratified: every class is there
    train = Digits(train=True).data.transpose(0, 3, 1, 2) / np.float32(255.0)
    assert len(train) == 1437
    train_rows = {row.tobytes() for row in train.astype(np.float32).reshape(len(train), -1)}
    assert not any(row.tobytes() in train_rows for row in x.reshape(len(x), -1))  # no training image is held out


def test_every_test_passes_with_the_hidden_parts_moved_to_the_end_as_the_grader_runs_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parts, _ = run_in_process(NB, LAB.manifest["parameters"])
    failed = [(p.kind, p.task, repr(p.error)) for p in parts if p.error is not None]
    assert failed == []
    assert sorted(p.task for p in parts if p.kind == "hidden") == TASKS


# ----- the manifest and the cells follow the format -------------------------------------------------------------


def test_manifest_points_equal_the_test_cells_points_plus_the_checks_points():
    cells = graded_cells(NB)
    total = sum(grade_meta(c)["points"] for c in cells.values()) + sum(c["points"] for c in LAB.manifest["checks"])
    assert LAB.manifest["points"] == total == 26


def test_manifest_fields():
    m = LAB.manifest
    assert m["id"] == LAB.dir.name == "02-resnet"
    assert m["stage"] == "basic" and m["prerequisites"] == ["01-autograd"] and m["hours"] > 0
    assert len(m["objectives"]) >= 3
    assert m["parameters"] == {"FAST": True}
    assert all((LAB.dir / c["file"]).is_file() for c in m["checks"])


def test_every_hidden_part_blocks_the_reference_while_the_students_code_runs():
    """Tasks 2.1-2.7 re-implement conv2d / batch_norm: each hidden part blocks dslib's and torch's versions."""
    blocked_in = {
        "2.1": "dslib.nn.functional.conv2d",
        "2.2": "dslib.nn.functional.conv2d",
        "2.3": "dslib.nn.functional.conv2d",
        "2.4": "dslib.nn.functional.batch_norm",
        "2.5": "dslib.nn.functional.batch_norm",
        "2.6": "dslib.nn.functional.batch_norm",
        "2.7": "dslib.nn.functional.conv2d",
    }
    for task, cell in graded_cells(NB).items():
        _, hidden = split_hidden(cell.source)
        if task in blocked_in:
            assert f'labkit.reference_blocked(*_hidden_blocked, task="{task}")' in hidden, task
            assert f'"{blocked_in[task]}"' in hidden and '"torch.' in hidden, task


def test_every_blocked_name_exists():
    """A renamed dslib kernel would make reference_blocked raise ValueError in every hidden part: catch it here."""
    import labkit

    for task, cell in graded_cells(NB).items():
        match = re.search(r"_hidden_blocked = \((.*?)\n\)", cell.source, re.S)
        if match:
            names = ast.literal_eval("(" + match[1] + ")")
            with labkit.reference_blocked(*names, task=task):
                pass


# ----- the released notebook --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def released():
    return release(NB)


def _stub_calls(namespace, cell):
    """(name, callable) for every labkit.task-decorated function, method and Function staticmethod of a released
    solution cell, each bound to arguments that get past the given argument checks to the stub's body."""
    import dslib

    arr = np.zeros((1, 1, 4, 4))
    calls = []
    for node in ast.parse(cell.source).body:
        if not isinstance(node, ast.FunctionDef | ast.ClassDef):
            continue
        obj = namespace[node.name]
        if isinstance(obj, type) and issubclass(obj, dslib.nn.Module):
            instance = obj.__new__(obj)
            dslib.nn.Module.__init__(instance)  # what the stub's own super().__init__() does
            for method in ("__init__", "forward"):
                n = _n_required(getattr(obj, method)) - 1
                calls.append(
                    (f"{node.name}.{method}", lambda cls=obj, m=method, n=n, i=instance: getattr(cls, m)(i, *[arr] * n))
                )
        elif isinstance(obj, type):  # a dslib.autograd.Function: its staticmethods
            for method in ("forward", "backward"):
                fn = getattr(obj, method)
                calls.append((f"{node.name}.{method}", lambda fn=fn: fn(*[arr] * _n_required(fn))))
        else:
            calls.append((node.name, lambda fn=obj: fn(*[arr] * _n_required(fn))))
    return calls


def _n_required(fn) -> int:
    import inspect

    params = inspect.signature(fn).parameters.values()
    return sum(1 for p in params if p.default is inspect.Parameter.empty)


def test_released_stubs_raise_not_implemented_naming_their_task(released):
    parts, namespace = run_in_process(released, LAB.manifest["parameters"], hidden_from=NB)
    assert all(p.error is None for p in parts if p.kind == "solution")  # defining the stubs works
    for task, cell in solution_cells(released).items():
        calls = _stub_calls(namespace, cell)
        assert calls, f"Task {task}: nothing to call in the released cell"
        for name, call in calls:
            with pytest.raises(NotImplementedError, match=rf"^Task {re.escape(task)} — not implemented yet") as info:
                call()
            assert name.split(".")[-1] in str(info.value), (name, str(info.value))


def test_every_visible_and_hidden_test_fails_on_the_released_stubs(released, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parts, _ = run_in_process(released, LAB.manifest["parameters"], hidden_from=NB)
    passing = [(p.kind, p.task) for p in parts if p.kind in ("visible", "hidden") and p.error is None]
    assert passing == []
    assert sorted(p.task for p in parts if p.kind == "hidden") == TASKS
    assert not (tmp_path / MODEL_FILE).exists()  # nothing trained, nothing saved
