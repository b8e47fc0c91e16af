"""autograder/steps/feedback.py: points and visible-test messages per task; hidden tests only by name and points."""

from __future__ import annotations

import pytest

from autograder.batch import grade_lab
from autograder.steps.feedback import render_feedback, write_feedback
from autograder.steps.score import GradeResult, SubmissionScore
from tests.autograder.support import (
    ADD_VISIBLE_ONLY,
    HIDDEN_MARKERS,
    MUL_NO_FILE,
    answer,
    released_course,
    released_nb,
    source_nb,
    submit,
    use_fake_executor,
)


def test_each_task_shows_points_and_the_failed_visible_message_escaped():
    s = SubmissionScore(
        "ada<b>",
        "00-fixture",
        "graded",
        "",
        [
            GradeResult(
                "test_0_1", "Task 0.1", "test", 2, 0, visible_error="AssertionError: <script>alert(1)</script>"
            ),
            GradeResult("test_0_2", "Task 0.2", "test", 3, 3),
            GradeResult("check_x", "saved model", "check", 1, 0, hidden_failed=True),
        ],
    )
    html = render_feedback(s, "Fixture lab")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "ada&lt;b&gt;" in html
    assert "Task 0.1" in html and "0 / 2" in html and "3 / 3" in html
    assert "Artifact check: saved model" in html and "failed (hidden check)" in html
    assert "score <b>3 / 6</b>" in html


def test_a_stopped_notebook_says_why_and_marks_tests_not_run():
    s = SubmissionScore("ada", "lab", "timeout", "ran past 30 s", [GradeResult("t", "Task 1", "test", 2, 0, ran=False)])
    html = render_feedback(s, "Lab")
    assert "time limit" in html and "ran past 30 s" in html and "not run" in html


@pytest.fixture
def graded_course(tmp_path, monkeypatch):
    use_fake_executor(monkeypatch)
    course = released_course(tmp_path / "course")
    # hidden test of Task 0.1 fails; visible test of Task 0.2 passes, its check fails
    submit(course, "ada", answer(answer(released_nb(), "task_0_1", ADD_VISIBLE_ONLY), "task_0_2", MUL_NO_FILE))
    submit(course, "bob", source_nb())  # the instructor's own notebook, hidden tests and all
    grade_lab(course, "00-fixture", progress=False)
    return course


def test_feedback_files_are_written_per_student_in_nbgraders_layout(graded_course):
    paths = write_feedback(graded_course, "00-fixture")
    assert sorted(p.relative_to(graded_course.root).as_posix() for p in paths) == [
        "feedback/ada/00-fixture/fixture.html",
        "feedback/bob/00-fixture/fixture.html",
    ]


def test_no_hidden_test_source_or_traceback_reaches_feedback(graded_course):
    write_feedback(graded_course, "00-fixture")
    for path in (graded_course.root / "feedback").rglob("*.html"):
        html = path.read_text()
        assert not any(m in html for m in HIDDEN_MARKERS), path
        assert "Traceback" not in html and "BEGIN HIDDEN" not in html
    ada = (graded_course.root / "feedback" / "ada" / "00-fixture" / "fixture.html").read_text()
    assert "failed hidden tests" in ada and "test_0_1" in ada and "0 / 2" in ada


def test_a_manual_score_set_in_formgrader_replaces_the_autograders_in_feedback(graded_course):
    from nbgrader.api import Gradebook

    with Gradebook(graded_course.db_url) as gb:  # what formgrader does when a grader edits a score
        grade = gb.find_grade("test_0_1", "fixture", "00-fixture", "ada")
        assert grade.auto_score == 0
        grade.manual_score = 1.5
        gb.db.commit()
    write_feedback(graded_course, "00-fixture")
    ada = (graded_course.root / "feedback" / "ada" / "00-fixture" / "fixture.html").read_text()
    assert "1.5 / 2" in ada and "graded by hand" in ada
    bob = (graded_course.root / "feedback" / "bob" / "00-fixture" / "fixture.html").read_text()
    assert "graded by hand" not in bob
