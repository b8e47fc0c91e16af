"""Record: a graded submission into nbgrader's gradebook and autograded/ folder, and the class into grades.csv.

Runs in the parent process only, one submission at a time (the gradebook is sqlite). Scores go into each grade's
`auto_score` exactly as nbgrader's SaveAutoGrades does, so formgrader shows them and a grader's manual score still
overrides them (a grade that already has a manual score is flagged needs_manual_grade for review).
Files are replaced atomically (temp file + os.replace), so a re-grade never leaves a half-written file, even over
nbgrader's read-only (444) autograded notebooks.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import warnings
from collections import Counter
from datetime import datetime
from pathlib import Path

import nbformat

from autograder.steps.score import SubmissionScore

CSV_COLUMNS = ("student", "lab", "score", "max_score", "status")


class RecordError(RuntimeError):
    """The gradebook does not match the lab (e.g. not released, or released before a check was added)."""


def record_submission(gb, score: SubmissionScore, notebook_id: str, timestamp: datetime | None = None) -> None:
    """Write `score` into the open nbgrader Gradebook `gb` (student and submission created if missing)."""
    from nbgrader.api import MissingEntry

    gb.update_or_create_student(score.student)
    try:
        submission = gb.find_submission(score.lab, score.student)
        if timestamp is not None:
            submission.timestamp = timestamp
    except MissingEntry:
        with warnings.catch_warnings():  # nbgrader's add_submission trips SQLAlchemy autoflush warnings (harmless)
            warnings.simplefilter("ignore")
            gb.add_submission(score.lab, score.student, **({"timestamp": timestamp} if timestamp else {}))
    for g in score.grades:
        try:
            grade = gb.find_grade(g.grade_id, notebook_id, score.lab, score.student)
        except MissingEntry:
            raise RecordError(
                f"the gradebook has no cell {g.grade_id!r} in {score.lab}/{notebook_id}: run `dscourse release {score.lab}` again"
            ) from None
        grade.auto_score = g.points
        grade.needs_manual_grade = grade.manual_score is not None
    gb.db.commit()


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` through a temp file in the same folder and os.replace (works over a 444 file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_autograded(path: Path, nb) -> None:
    """The autograded notebook, read-only like nbgrader's."""
    write_atomic(path, nbformat.writes(nb).encode(), mode=0o444)


def write_grades_csv(path: Path, scores: list[SubmissionScore]) -> None:
    """grades.csv with columns student,lab,score,max_score,status: the rows of `scores` (sorted by student) after
    the rows an existing file holds for other labs, so grading lab 2 keeps lab 1's grades."""
    path = Path(path)
    labs = {s.lab for s in scores}
    kept = []
    if path.is_file():
        with path.open(newline="") as f:
            kept = [r for r in csv.DictReader(f) if r.get("lab") not in labs]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in kept:
        w.writerow([r.get(c, "") for c in CSV_COLUMNS])
    for s in sorted(scores, key=lambda s: s.student):
        w.writerow([s.student, s.lab, f"{s.score:g}", f"{s.max_score:g}", s.status])
    write_atomic(path, buf.getvalue().encode())


def summary_table(scores: list[SubmissionScore]) -> str:
    """A short summary: students graded, mean score, and how many got each status."""
    if not scores:
        return "no submissions"
    max_score = max(s.max_score for s in scores)
    mean = sum(s.score for s in scores) / len(scores)
    statuses = Counter(s.status for s in scores)
    rows = [("students", str(len(scores))), ("mean score", f"{mean:.2f} / {max_score:g}")]
    rows += [(f"status {k}", str(n)) for k, n in sorted(statuses.items())]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
