"""labs/01-autograd: the source notebook runs top to bottom in FAST mode within its time budget (and its hidden
check passes on what it saved); its manifest and cells follow the lab format (labs/README.md); the released
form hides every solution and hidden test, and each stub names its task; every test fails on the stubs.
The format checks every lab shares are in test_lab_format.py."""

from __future__ import annotations

import ast
import inspect
import re

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
)

LAB = load_lab("01-autograd")
NB = LAB.notebook
TASKS = [f"1.{n}" for n in range(1, 9)]


# ----- the source notebook runs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The source notebook run by papermill in FAST mode in an empty directory: (notebook, seconds, directory)."""
    return run_fast(LAB, tmp_path_factory.mktemp("lab01"))


def test_source_notebook_runs_without_error_in_fast_mode_within_the_time_limit(executed):
    nb, seconds, _ = executed
    assert seconds < LAB.manifest["limits"]["timeout_s"], f"FAST run took {seconds:.1f} s"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    for task in TASKS:
        assert f"Task {task}: visible tests passed" in printed
    print(f"lab 01 FAST run: {seconds:.1f} s")


def test_hidden_artifact_check_passes_on_what_the_fast_run_saved(executed, monkeypatch):
    _, _, workdir = executed
    monkeypatch.chdir(workdir)
    check = load_check(LAB)
    check.test_task_1_8_saved_neuron_is_two_weights_and_a_bias()
    check.test_task_1_8_saved_neuron_classifies_held_out_points()


def test_hidden_artifact_check_fails_without_a_neuron_or_with_a_wrong_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check = load_check(LAB)
    with pytest.raises(AssertionError, match="Task 1.8: neuron.json was not saved"):
        check.test_task_1_8_saved_neuron_is_two_weights_and_a_bias()
    (tmp_path / "neuron.json").write_text('{"w": [-1.0, -1.0], "b": 0.0}')  # the boundary, flipped
    with pytest.raises(AssertionError, match="Task 1.8: held-out accuracy"):
        check.test_task_1_8_saved_neuron_classifies_held_out_points()
    (tmp_path / "neuron.json").write_text('{"w": [1.0], "b": "x"}')
    with pytest.raises(AssertionError, match="neuron.json must hold"):
        check.test_task_1_8_saved_neuron_is_two_weights_and_a_bias()


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
    assert LAB.manifest["points"] == total == 20


def test_manifest_fields():
    m = LAB.manifest
    assert m["id"] == LAB.dir.name == "01-autograd"
    assert m["stage"] == "basic" and m["prerequisites"] == [] and m["hours"] > 0 and len(m["objectives"]) >= 3
    assert m["parameters"] == {"FAST": True}
    assert all((LAB.dir / c["file"]).is_file() for c in m["checks"])


# ----- the released notebook --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def released():
    return release(NB)


def test_released_stubs_raise_not_implemented_naming_their_task(released):
    parts, namespace = run_in_process(released, LAB.manifest["parameters"], hidden_from=NB)
    assert all(p.error is None for p in parts if p.kind == "solution")  # defining the stubs works
    for task, cell in solution_cells(released).items():
        names = [n.name for n in ast.parse(cell.source).body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
        stubs = [namespace[name] for name in names if getattr(namespace[name], "__labkit_task__", None) == task]
        assert stubs, f"Task {task}: no labkit.task-decorated function in the released cell"
        for stub in stubs:
            calls = [getattr(stub, m) for m in ("forward", "backward")] if isinstance(stub, type) else [stub]
            for fn in calls:
                params = inspect.signature(fn).parameters.values()
                n_args = sum(1 for p in params if p.default is inspect.Parameter.empty)
                with pytest.raises(NotImplementedError, match=rf"^Task {re.escape(task)} — not implemented yet"):
                    fn(*[1.0] * n_args)


def test_every_visible_and_hidden_test_fails_on_the_released_stubs(released, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parts, _ = run_in_process(released, LAB.manifest["parameters"], hidden_from=NB)
    passing = [(p.kind, p.task) for p in parts if p.kind in ("visible", "hidden") and p.error is None]
    assert passing == []
    assert sorted(p.task for p in parts if p.kind == "hidden") == TASKS
