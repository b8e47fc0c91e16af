"""Score: points per test cell and per artifact check, from the executed notebook and the checks' results.

Rules (exact, no rounding):
- A test cell earns its points iff its visible part AND its hidden part (if any) both ran without error.
- A cell that never ran to completion earns nothing: execution marks each such cell ("NotExecuted"); a cell stopped
  at the per-cell time limit failed, and the cells after it still ran and score.
- An artifact check earns its points iff its pytest file passed (checks run only after a complete execution).
- status is "graded" when execution finished (failed tests are still "graded"); otherwise the execution status
  (timeout, memory, dead-kernel, output-limit, error) or "invalid-notebook" when the submission could not be read.
Cells are mapped to grade ids through `metadata.dscourse` (written by RebuildNotebook), never by index alone.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

NOT_EXECUTED = "NotExecuted"  # the ename execution records for a code cell that never ran to completion
MESSAGE_CHARS = 300  # a failed visible test's "ename: evalue" is cut to this length
TASK_RE = re.compile(r"Task\s+\d+(?:\.\d+)*")


@dataclass
class GradeResult:
    """The outcome of one test cell or artifact check."""

    grade_id: str
    task: str  # "Task 1.3" (from the test cell's first line or the check's name)
    kind: str  # "test" or "check"
    max_points: float
    points: float
    visible_error: str | None = None  # "ename: evalue" of the failed visible part, truncated; never a traceback
    hidden_failed: bool = False  # the hidden part (or the check) failed; no detail is ever kept
    ran: bool = True  # False when the cell never ran (execution stopped before it)
    manual: bool = False  # points come from a grader's manual score in formgrader (feedback only; never staged)


@dataclass
class SubmissionScore:
    """A graded submission: what grades.csv, the gradebook and the feedback are made of."""

    student: str
    lab: str
    status: str  # graded | timeout | memory | dead-kernel | output-limit | error | invalid-notebook
    reason: str  # a readable sentence for a non-graded status ("" when graded)
    grades: list[GradeResult] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def score(self) -> float:
        return sum(g.points for g in self.grades)

    @property
    def max_score(self) -> float:
        return sum(g.max_points for g in self.grades)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["score"], d["max_score"] = self.score, self.max_score
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SubmissionScore:
        grades = [GradeResult(**g) for g in d["grades"]]
        return cls(d["student"], d["lab"], d["status"], d["reason"], grades, d.get("wall_s", 0.0))


def score_submission(student, lab, instructor_tests, executed_nb, status, reason, cell_errors, check_results=None):
    """Score one executed notebook.

    instructor_tests: [(grade_id, task, points)] for every test cell, in notebook order (see `graded_test_cells`).
    executed_nb: the notebook returned by execution (None when nothing ran). cell_errors: {cell index: (ename,
    evalue)} from execution. check_results: [(Check, passed)] for the lab's checks, or None to leave checks out
    (`dscourse check`). Tests whose cells are missing from `executed_nb` earn 0.
    """
    outcome = _cell_outcomes(executed_nb, status, cell_errors or {})
    grades = []
    for gid, task, points in instructor_tests:
        visible = outcome.get((gid, "visible"))
        hidden = outcome.get((gid, "hidden"), (True, None)) if visible is not None else None
        ran = visible is not None and visible[0] and hidden is not None and hidden[0]
        ok = ran and visible[1] is None and hidden[1] is None
        g = GradeResult(gid, task, "test", points, points if ok else 0.0, ran=ran)
        if visible is not None and visible[1] is not None:
            g.visible_error = visible[1]
        elif hidden is not None and hidden[1] is not None:
            g.hidden_failed = True
        grades.append(g)
    for check, passed in check_results or []:
        earned = check.points if passed else 0.0
        grades.append(
            GradeResult(check.grade_id, check.name, "check", check.points, earned, None, not passed, status == "ok")
        )
    return SubmissionScore(student, lab, "graded" if status == "ok" else status, reason, grades)


def unreadable(student, lab, instructor_tests, checks, reason: str) -> SubmissionScore:
    """The score of a submission that could not be read: every test and check at 0, status invalid-notebook."""
    grades = [GradeResult(gid, task, "test", pts, 0.0, ran=False) for gid, task, pts in instructor_tests]
    grades += [GradeResult(c.grade_id, c.name, "check", c.points, 0.0, ran=False) for c in checks]
    return SubmissionScore(student, lab, "invalid-notebook", reason, grades)


def graded_test_cells(nb) -> list[tuple[str, str, float]]:
    """[(grade_id, task, points)] for the instructor's autograded test cells, in order (first of each grade_id)."""
    from autograder.steps.rebuild_notebook import is_test, nbgrader_meta

    out, seen = [], set()
    for cell in nb.cells:
        if is_test(cell) and nbgrader_meta(cell)["grade_id"] not in seen:
            meta = nbgrader_meta(cell)
            seen.add(meta["grade_id"])
            out.append((meta["grade_id"], task_name(cell.source, meta["grade_id"]), float(meta.get("points", 0))))
    return out


def task_name(source: str, default: str) -> str:
    """'Task 1.3' from a test cell's first line ('# Task 1.3 — tests'), else `default`."""
    first = source.lstrip().split("\n", 1)[0] if source else ""
    m = TASK_RE.search(first)
    return m.group(0) if m else default


def error_message(ename: str, evalue: str) -> str:
    """'ename: evalue' on one line, cut to MESSAGE_CHARS (never a traceback)."""
    text = f"{ename}: {evalue}" if evalue else str(ename)
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def _cell_outcomes(nb, status: str, cell_errors: dict) -> dict:
    """{(grade_id, part): (ran, error message or None)} for every split test cell in the executed notebook.

    Execution records every code cell that never ran to completion as ("NotExecuted", ...), and a cell stopped at
    the per-cell limit as ("CellTimeoutError", ...) — so a notebook that had one cell interrupted and ran on still
    scores its later cells. Blank cells are skipped by nbclient: they count as run iff execution got past them.
    """
    if nb is None:
        return {}

    def err_of(i):
        return cell_errors.get(i) or cell_errors.get(str(i))

    not_run = [i for i in range(len(nb.cells)) if (err_of(i) or ("",))[0] == NOT_EXECUTED]
    first_not_run = not_run[0] if not_run else None
    out = {}
    for i, cell in enumerate(nb.cells):
        tag = cell.get("metadata", {}).get("dscourse")
        if not isinstance(tag, dict) or tag.get("part") not in ("visible", "hidden"):
            continue
        key = (tag["grade_id"], tag["part"])
        if key in out:
            continue
        err = err_of(i) or _error_output(cell)
        if cell.get("source", "").strip():
            ran = not (err and err[0] == NOT_EXECUTED) and (status == "ok" or bool(cell.get("execution_count")))
        else:
            ran = first_not_run is None or i < first_not_run
        out[key] = (ran, error_message(*err) if err and ran else None)
    return out


def _error_output(cell):
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            return o.get("ename", "Error"), o.get("evalue", "")
    return None
