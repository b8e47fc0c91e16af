"""Helpers for the lab tests: read a lab's source notebook, make its released form with nbgrader's own
preprocessors, split test cells at the hidden-test markers, and run the cells in this process the way the
grader orders them (visible parts in place, hidden parts moved to the end)."""

from __future__ import annotations

import contextlib
import copy
import io
import re
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


@dataclass
class LabFiles:
    dir: Path
    manifest: dict
    notebook: nbformat.NotebookNode


def load_lab(lab_id: str) -> LabFiles:
    lab_dir = ROOT / "labs" / lab_id
    manifest = tomllib.loads((lab_dir / "lab.toml").read_text())
    return LabFiles(lab_dir, manifest, nbformat.read(lab_dir / manifest["notebook"], as_version=4))


def grade_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def solution_cells(nb) -> dict:
    """{task id "1.3": cell} of the cells with nbgrader solution metadata."""
    return {_task_of(grade_meta(c)["grade_id"], "task_"): c for c in nb.cells if grade_meta(c).get("solution")}


def graded_cells(nb) -> dict:
    """{task id "1.3": cell} of the autograded test cells."""
    return {_task_of(grade_meta(c)["grade_id"], "test_"): c for c in nb.cells if grade_meta(c).get("grade")}


def _task_of(grade_id: str, prefix: str) -> str:
    m = re.fullmatch(prefix + r"(\d+)_(\d+)", grade_id)
    assert m, f"grade_id {grade_id!r} is not {prefix}<lab>_<n>"
    return f"{int(m[1])}.{int(m[2])}"


def split_hidden(source: str) -> tuple[str, str]:
    """(visible part, hidden part) of a test cell's source."""
    if BEGIN_HIDDEN not in source:
        return source, ""
    visible, rest = source.split(BEGIN_HIDDEN, 1)
    hidden, after = rest.split(END_HIDDEN, 1)
    assert after.strip() == "", "the hidden tests must end the test cell"
    return visible, hidden


def release(nb):
    """The student version, as nbgrader's generate_assignment makes it (solutions stubbed, hidden tests removed)."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    released = copy.deepcopy(nb)
    released, _ = ClearSolutions().preprocess(released, {})
    released, _ = ClearHiddenTests().preprocess(released, {})
    return released


@dataclass
class Part:
    cell_index: int
    kind: str  # "code", "solution", "visible" or "hidden"
    task: str | None
    error: BaseException | None = None


def run_in_process(nb, parameters: dict, hidden_from=None) -> tuple[list[Part], dict]:
    """Run the code cells in one namespace, in the grader's order: visible parts in place, then the hidden
    parts of `hidden_from` (default: nb itself) at the end, in order. Errors are recorded per part, never
    raised (as nbgrader and the grader run with errors allowed). IPython magics (%...) are skipped and
    `parameters` are set right after the parameters cell, as papermill does."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hidden_from = nb if hidden_from is None else hidden_from
    plan = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = grade_meta(cell)
        if meta.get("grade"):
            plan.append((Part(i, "visible", _task_of(meta["grade_id"], "test_")), split_hidden(cell.source)[0]))
        elif meta.get("solution"):
            plan.append((Part(i, "solution", _task_of(meta["grade_id"], "task_")), cell.source))
        else:
            plan.append((Part(i, "code", None), cell.source))
        if "parameters" in cell.metadata.get("tags", []):
            plan.append((Part(i, "code", None), "\n".join(f"{k} = {v!r}" for k, v in parameters.items())))
    for i, cell in enumerate(hidden_from.cells):
        meta = grade_meta(cell)
        if meta.get("grade") and split_hidden(cell.source)[1]:
            plan.append((Part(i, "hidden", _task_of(meta["grade_id"], "test_")), split_hidden(cell.source)[1]))
    namespace = {"__name__": "__main__"}
    parts = []
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        for part, source in plan:
            code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("%"))
            try:
                exec(compile(code, f"<cell {part.cell_index} {part.kind}>", "exec"), namespace)
            except Exception as e:  # noqa: BLE001 - recorded, as an executed notebook records it
                part.error = e
            parts.append(part)
        plt.close("all")
    return parts, namespace


def run_released(lab: LabFiles, released, workdir: Path) -> tuple[list[Part], dict, Path]:
    """The released notebook run in-process in `workdir`, in the grader's order (visible parts, then the source's
    hidden parts): (parts, namespace, workdir)."""
    import os

    here = os.getcwd()
    os.chdir(workdir)
    try:
        parts, namespace = run_in_process(released, lab.manifest["parameters"], hidden_from=lab.notebook)
    finally:
        os.chdir(here)
    return parts, namespace, workdir


def run_fast(lab: LabFiles, workdir: Path):
    """The source notebook run by papermill in FAST mode (the lab's grading parameters and per-cell limit) in the
    empty directory `workdir`: (notebook, seconds, workdir)."""
    import time

    import papermill

    start = time.perf_counter()
    out = papermill.execute_notebook(
        str(lab.dir / lab.manifest["notebook"]),
        str(workdir / "executed.ipynb"),
        parameters=lab.manifest["parameters"],
        cwd=str(workdir),
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=lab.manifest["limits"]["cell_timeout_s"],
    )
    return out, time.perf_counter() - start, workdir


def printed_text(nb) -> str:
    """Everything the notebook's code cells printed (stream output), in order."""
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def assert_hidden_parts_block(nb, blocked_in: dict) -> None:
    """Each graded cell's hidden part runs the student's code under `labkit.reference_blocked(*_blocked, task=..)`
    with every name `blocked_in[task]` lists (the form of labs 04 and 06)."""
    for task, cell in graded_cells(nb).items():
        _, hidden = split_hidden(cell.source)
        assert f'labkit.reference_blocked(*_blocked, task="{task}")' in hidden, task
        for name in blocked_in[task]:
            assert f'"{name}"' in hidden, (task, name)


def assert_blocked_names_exist(nb) -> None:
    """Block each graded cell's `_blocked = (...)` names once: a renamed reference would make reference_blocked
    raise ValueError in a hidden part."""
    import ast

    import labkit

    for task, cell in graded_cells(nb).items():
        match = re.search(r"^_blocked = \((.*?)\)$", cell.source, re.S | re.M)
        assert match, task
        names = ast.literal_eval("(" + match[1] + ")")
        with labkit.reference_blocked(*names, task=task):
            pass


def load_check(lab: LabFiles):
    """The lab's (first) hidden artifact check file, imported afresh as module `labNN_check`."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"lab{lab.dir.name[:2]}_check", lab.dir / lab.manifest["checks"][0]["file"]
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
