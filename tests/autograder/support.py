"""Support for the autograder pipeline's unit tests: a fast in-process executor stand-in and course fixtures.

`fake_execute` mimics autograder.steps.execute.execute_notebook's contract (papermill-style parameter injection,
every cell run with errors allowed, an ExecutionResult with status, cell_errors and the executed notebook) by
exec-ing each code cell in one namespace, with the working directory set to `workdir`. A cell containing
"# FAKE: timeout" or "# FAKE: dead-kernel" stops execution there with that status (the cell counts as started).
`fake_run_checks` runs the test_* functions of each check file in-process. The real sandbox is tested in
test_sandbox.py / test_execute.py and end to end in e2e/.
"""

from __future__ import annotations

import contextlib
import copy
import os
import runpy
from dataclasses import dataclass, field

import nbformat


@dataclass
class FakeResult:
    status: str
    reason: str
    notebook: object
    cell_errors: dict = field(default_factory=dict)
    wall_s: float = 0.01


@dataclass
class FakeCheck:
    name: str
    passed: bool
    message: str = ""


def fake_execute(nb, *, parameters, limits, workdir, kernel_name=None, hide=()):
    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
            injected = nbformat.v4.new_code_cell(src)
            injected.metadata.tags = ["injected-parameters"]
            nb.cells.insert(i + 1, injected)
            break
    ns, errors, count = {"__name__": "__main__"}, {}, 0
    with contextlib.chdir(workdir):
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            count += 1
            cell.execution_count = count
            for stop in ("timeout", "dead-kernel"):
                if f"# FAKE: {stop}" in cell.source:  # like the real executor: the rest never ran
                    for j in range(i, len(nb.cells)):
                        if nb.cells[j].cell_type == "code" and nb.cells[j].source.strip():
                            errors[j] = ("NotExecuted", "the notebook stopped before this cell finished")
                    return FakeResult(stop, f"fake {stop}", nb, errors)
            try:
                exec(compile(cell.source, f"<cell {i}>", "exec"), ns)
            except Exception as e:
                errors[i] = (type(e).__name__, str(e))
                cell.outputs = [
                    nbformat.v4.new_output("error", ename=type(e).__name__, evalue=str(e), traceback=["tb"])
                ]
    return FakeResult("ok", "", nb, errors)


def fake_run_checks(check_files, *, workdir, limits):
    out = []
    with contextlib.chdir(workdir):
        for path in check_files:
            passed = True
            for name, fn in runpy.run_path(str(path)).items():
                if name.startswith("test_") and callable(fn):
                    try:
                        fn()
                    except Exception:
                        passed = False
            out.append(FakeCheck(os.path.basename(path), passed))
    return out


def use_fake_executor(monkeypatch) -> None:
    """Make the pipeline run cells with fake_execute / fake_run_checks."""
    import autograder.steps

    monkeypatch.setattr(autograder.steps, "executor", lambda: (fake_execute, fake_run_checks))


# --- course fixtures shared by the pipeline tests --------------------------------------------------------------

FIXTURE_LABS = __import__("pathlib").Path(__file__).parent / "fixtures" / "labs"
FIXTURE_LAB = FIXTURE_LABS / "00-fixture"
HIDDEN_MARKERS = ("HIDDEN_SECRET", "negative numbers", "test_answer_saved", 'answer.txt").read_text')
_TEMPLATE = {}


def released_course(root, released=True):
    """A course directory at `root` for the fixture labs, copied from per-process templates (creating a gradebook
    takes seconds: nbgrader runs `alembic`), with the fixture lab released unless released=False."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    from autograder.course import CourseDir, init_course, release_lab

    if not _TEMPLATE:
        base = Path(tempfile.mkdtemp(prefix="dscourse-template-"))
        atexit.register(shutil.rmtree, base, True)
        init_course(base / "fresh", FIXTURE_LABS)
        shutil.copytree(base / "fresh", base / "released", symlinks=True)
        release_lab(CourseDir(base / "released"), "00-fixture")
        _TEMPLATE.update(fresh=base / "fresh", released=base / "released")
    shutil.copytree(_TEMPLATE["released" if released else "fresh"], root, symlinks=True)
    return CourseDir(Path(root).resolve())


def submit(course, student, nb_or_text, lab="00-fixture", name="fixture.ipynb"):
    """Write a submission into submitted/<student>/<lab>/<name>; returns its path."""
    path = course.root / "submitted" / student / lab / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nb_or_text if isinstance(nb_or_text, str) else nbformat.writes(nb_or_text))
    return path


def source_nb():
    return nbformat.read(FIXTURE_LAB / "fixture.ipynb", as_version=4)


def released_nb():
    """The student version of the fixture, as nbgrader makes it (ClearSolutions, ClearHiddenTests)."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    nb = source_nb()
    for pre in (ClearSolutions(), ClearHiddenTests()):
        nb, _ = pre.preprocess(nb, {"language": "python"})
    return nb


def stub(grade_id):
    """The released stub of a solution cell."""
    return next(c.source for c in released_nb().cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def answer(nb, grade_id, source):
    """`nb` with the solution cell `grade_id` replaced by `source` (in place; returns nb)."""
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return nb
    raise KeyError(grade_id)


ADD_OK = "def add(a, b):\n    return a + b"
ADD_VISIBLE_ONLY = "def add(a, b):\n    return 3 if (a, b) == (1, 2) else 99"  # passes the visible test only
MUL_OK = 'def mul(a, b):\n    return a * b\n\nwith open("answer.txt", "w") as f:\n    f.write(str(mul(6, 7)))'
MUL_NO_FILE = "def mul(a, b):\n    return a * b"
