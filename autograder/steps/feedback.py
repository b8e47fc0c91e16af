"""Feedback: one HTML page per student and lab, made only from the staged score.

It shows each task's points, the "ename: evalue" message of each failed visible test (already truncated by Score),
and for hidden tests and artifact checks only their name and points. Where a grader gave a manual score in
formgrader, that score replaces the autograder's (as in nbgrader's own totals) and the row says so. It never shows hidden-test source or any
traceback: the staged score does not even hold them. Every string is HTML-escaped.
"""

from __future__ import annotations

from dataclasses import replace
from html import escape

from autograder.steps.score import GradeResult, SubmissionScore

STATUS_TEXT = {
    "graded": "graded",
    "timeout": "stopped: the notebook ran past its time limit",
    "memory": "stopped: the notebook used more memory than allowed",
    "dead-kernel": "stopped: the kernel died",
    "output-limit": "stopped: the notebook printed more output than allowed",
    "invalid-notebook": "not graded: the file is not a valid notebook",
    "error": "stopped: the grader could not run the notebook",
}

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}}.ok{{color:#070}}.bad{{color:#a00}}
</style></head><body>
<h1>{title}</h1>
<p>Student: <b>{student}</b> &mdash; score <b>{score:g} / {max_score:g}</b> &mdash; {status}</p>
<table><tr><th>Task</th><th>Points</th><th>Result</th></tr>
{rows}
</table></body></html>
"""


def render_feedback(score: SubmissionScore, lab_title: str) -> str:
    """The feedback page of one graded submission."""
    status = STATUS_TEXT.get(score.status, score.status)
    if score.reason and score.status != "graded":
        status += f" ({score.reason})"
    rows = "\n".join(_row(g) for g in score.grades)
    return PAGE.format(
        title=escape(f"{score.lab}: {lab_title}"),
        student=escape(score.student),
        score=score.score,
        max_score=score.max_score,
        status=escape(status),
        rows=rows,
    )


def _row(g: GradeResult) -> str:
    label = g.task if g.kind == "test" else f"Artifact check: {g.task}"
    if g.manual:
        result = '<span class="ok">graded by hand</span>'
    elif g.points == g.max_points:
        result = '<span class="ok">passed</span>'
    elif not g.ran:
        result = '<span class="bad">not run (execution stopped before this test)</span>'
    elif g.visible_error:
        result = f'<span class="bad">failed: {escape(g.visible_error)}</span>'
    elif g.kind == "check":
        result = '<span class="bad">failed (hidden check)</span>'
    else:
        result = '<span class="bad">failed hidden tests</span>'
    return f"<tr><td>{escape(label)} <small>({escape(g.grade_id)})</small></td><td>{g.points:g} / {g.max_points:g}</td><td>{result}</td></tr>"


def write_feedback(course, lab_id: str) -> list:
    """Write feedback/<student>/<LAB>/<notebook stem>.html for every graded (staged) submission of `lab_id`."""
    from autograder.batch import load_staged_scores
    from autograder.steps.record import write_atomic

    lab = course.lab(lab_id)
    paths = []
    scores = load_staged_scores(course, lab)
    overrides = manual_scores(course, lab, [s.student for s in scores])
    for score in scores:
        score = apply_manual_scores(score, overrides.get(score.student, {}))
        path = course.feedback_html(lab, score.student)
        write_atomic(path, render_feedback(score, lab.title).encode())
        paths.append(path)
    return paths


def manual_scores(course, lab, students) -> dict:
    """{student: {grade_id: manual score}} of the grades a grader set by hand in formgrader (nbgrader's
    Grade.manual_score); students or cells missing from the gradebook simply have none."""
    from nbgrader.api import Gradebook, MissingEntry

    found = {}
    with Gradebook(course.db_url) as gb:
        for student in students:
            try:
                nb = gb.find_submission_notebook(lab.notebook_id, lab.id, student)
            except MissingEntry:
                continue
            manual = {g.name: g.manual_score for g in nb.grades if g.manual_score is not None}
            if manual:
                found[student] = manual
    return found


def apply_manual_scores(score: SubmissionScore, manual: dict) -> SubmissionScore:
    """A copy of `score` whose grades carry the manual scores in `manual` ({grade_id: points})."""
    if not manual:
        return score
    grades = [
        replace(g, points=float(manual[g.grade_id]), manual=True) if g.grade_id in manual else g for g in score.grades
    ]
    return replace(score, grades=grades)
