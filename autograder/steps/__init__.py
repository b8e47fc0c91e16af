"""The grading pipeline: an ordered list of small, verb-named steps, one file each (nbgrader's preprocessor style).

    1. load_submission   read + validate JSON/nbformat                 -> status invalid-notebook on failure
    2. rebuild_notebook  instructor anchors + student answers, tests split visible/hidden
    3. execute_notebook  sandboxed papermill run, grading parameters    (autograder/steps/execute.py)
    4. run_checks        hidden pytest artifact checks in the scratch dir (autograder/steps/run_checks.py)
    5. score_submission  points per test cell and per check
    6. record_submission gradebook + autograded notebook (parent process, serially: sqlite)
    7. write_feedback    per-student HTML (from the staged score, never from hidden sources)

Ordering rules:
- rebuild before execute: the kernel only ever sees the rebuilt notebook, never the student's test cells.
- hidden parts run last (rebuild moves them to the end): no hidden text reaches the kernel before every student
  cell has run, so student code cannot read it from the kernel's history or `In`.
- run_checks only after a complete execution (status ok): a stopped notebook's artifacts are not trusted.
- score before record: steps 1-5 run in worker processes and stage a JSON result; 6 and 7 read only that result,
  so an interrupted batch resumes from the staged results.
- feedback reads staged scores, which keep a failed visible test's "ename: evalue" and only a flag for hidden ones.
Steps 1-5 are composed by `grade_submission` below; batch.py runs it over a process pool.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from autograder import scratch
from autograder.lab import Lab
from autograder.steps.load_submission import InvalidNotebook, load_submission
from autograder.steps.rebuild_notebook import merge_hidden_tests, rebuild_notebook
from autograder.steps.score import SubmissionScore, graded_test_cells, score_submission, unreadable


def executor():
    """(execute_notebook, run_checks) of the sandbox; a function so tests can swap in a fast stand-in."""
    from autograder.steps.execute import execute_notebook
    from autograder.steps.run_checks import run_checks

    return execute_notebook, run_checks


@dataclass
class Graded:
    """What steps 1-5 produce for one submission."""

    score: SubmissionScore
    notebook: object | None  # the autograded notebook (hidden parts merged back), None if nothing ran


def grade_submission(
    lab: Lab, student: str, path: Path, instructor, released, *, visible_only=False, hide=()
) -> Graded:
    """Steps 1-5 for one submission at `path`. `instructor` is the instructor notebook (source + check cells);
    `released` the student version (stubs). With visible_only, hidden parts and checks are never run. `hide`
    lists folders the student's code must not see (course dir, the lab's source), covered while it runs."""
    check_ids = {c.grade_id for c in lab.checks}
    # With visible_only (a student's notebook, maybe without its lab.toml) every "check_" cell is a check's stub.
    tests = [
        t
        for t in graded_test_cells(instructor)
        if t[0] not in check_ids and not (visible_only and t[0].startswith("check_"))
    ]
    try:
        submitted = load_submission(path)
    except InvalidNotebook as e:
        return Graded(unreadable(student, lab.id, tests, [] if visible_only else lab.checks, str(e)), None)
    rebuilt = rebuild_notebook(instructor, submitted, released)
    if visible_only:
        rebuilt.cells = [c for c in rebuilt.cells if c.metadata.get("dscourse", {}).get("part") != "hidden"]
    execute_notebook, run_checks = executor()
    workdir = scratch.make(f"dscourse-{lab.id}-")
    try:
        _copy_lab_files(lab, workdir)
        result = execute_notebook(
            rebuilt, parameters=dict(lab.parameters), limits=lab.limits, workdir=workdir, hide=[Path(p) for p in hide]
        )
        checks = None
        if not visible_only:
            checks = [(c, False) for c in lab.checks]
            if result.status == "ok" and lab.checks:
                found = run_checks([lab.dir / c.file for c in lab.checks], workdir=workdir, limits=lab.limits)
                checks = [(c, bool(r.passed)) for c, r in zip(lab.checks, found)] + checks[len(found) :]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    score = score_submission(
        student, lab.id, tests, result.notebook, result.status, result.reason, result.cell_errors, checks
    )
    score.wall_s = float(result.wall_s or 0.0)
    return Graded(score, merge_hidden_tests(result.notebook) if result.notebook is not None else None)


def _copy_lab_files(lab: Lab, workdir: Path) -> None:
    """Copy the data files the lab declares (lab.toml `files`) into the scratch dir, and nothing else: not
    hidden/, not notebooks, not what an instructor's run of the source notebook left in the lab folder."""
    if not (lab.dir / "lab.toml").is_file():
        return  # `dscourse check` of a notebook outside any lab: nothing to copy
    for name in lab.files:
        src, dst = lab.dir / name, workdir / name
        if not src.exists():
            raise FileNotFoundError(f"{src} is listed in {lab.dir / 'lab.toml'} `files` but is missing")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
