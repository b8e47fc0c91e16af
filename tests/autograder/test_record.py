"""autograder/steps/record.py and course.py: release into nbgrader, scores into its gradebook, files atomically."""

from __future__ import annotations

import csv
import os
import stat

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.course import CourseError, require_released
from autograder.steps.record import (
    RecordError,
    record_submission,
    summary_table,
    write_autograded,
    write_grades_csv,
)
from autograder.steps.score import GradeResult, SubmissionScore
from tests.autograder.support import HIDDEN_MARKERS, released_course


def score(student="ada", t1=2.0, t2=0.0, check=1.0, status="graded"):
    grades = [
        GradeResult("test_0_1", "Task 0.1", "test", 2.0, t1),
        GradeResult("test_0_2", "Task 0.2", "test", 3.0, t2),
        GradeResult("check_test_artifacts", "Task 0.2 saved answer", "check", 1.0, check),
    ]
    return SubmissionScore(student, "00-fixture", status, "", grades)


@pytest.fixture
def course(tmp_path):
    return released_course(tmp_path / "course")


def test_release_has_no_solution_and_no_hidden_test_text(course):
    released = course.root / "release" / "00-fixture"
    text = "".join(p.read_text() for p in released.rglob("*") if p.is_file())
    assert not (released / "hidden").exists()
    assert "return a + b" not in text and "return a * b" not in text and "BEGIN SOLUTION" not in text
    assert not any(m in text for m in HIDDEN_MARKERS)
    assert "Artifact check: Task 0.2 saved answer (1 point)" in text


def test_release_records_test_and_check_cells_in_the_gradebook(course):
    with Gradebook(course.db_url) as gb:
        cells = {c.name: c.max_score for c in gb.find_notebook("fixture", "00-fixture").grade_cells}
    assert cells == {"test_0_1": 2, "test_0_2": 3, "check_test_artifacts": 1}


def test_recorded_scores_are_the_grades_auto_scores(course):
    with Gradebook(course.db_url) as gb:
        record_submission(gb, score(), "fixture")
    with Gradebook(course.db_url) as gb:
        sub = gb.find_submission("00-fixture", "ada")
        assert sub.score == 3 and sub.max_score == 6
        assert gb.find_grade("test_0_2", "fixture", "00-fixture", "ada").auto_score == 0


def test_rerecording_replaces_auto_scores_and_keeps_a_manual_score_for_review(course):
    with Gradebook(course.db_url) as gb:
        record_submission(gb, score(t2=0.0), "fixture")
        gb.find_grade("test_0_1", "fixture", "00-fixture", "ada").manual_score = 1.5
        gb.db.commit()
        record_submission(gb, score(t2=3.0), "fixture")
    with Gradebook(course.db_url) as gb:
        g1 = gb.find_grade("test_0_1", "fixture", "00-fixture", "ada")
        assert (g1.auto_score, g1.manual_score, g1.score, g1.needs_manual_grade) == (2, 1.5, 1.5, True)
        assert gb.find_grade("test_0_2", "fixture", "00-fixture", "ada").score == 3
        assert len(gb.find_student("ada").submissions) == 1


def test_a_grade_id_missing_from_the_gradebook_asks_for_a_new_release(course):
    s = score()
    s.grades.append(GradeResult("check_new", "new check", "check", 1.0, 1.0))
    with Gradebook(course.db_url) as gb, pytest.raises(RecordError, match="run `dscourse release 00-fixture` again"):
        record_submission(gb, s, "fixture")


def test_grading_an_unreleased_lab_is_refused_with_the_command_to_run(tmp_path):
    course = released_course(tmp_path / "c", released=False)
    with pytest.raises(CourseError, match=r"not released yet: run `dscourse release 00-fixture` first"):
        require_released(course, course.lab("00-fixture"))


def test_autograded_notebooks_are_read_only_and_replaced_atomically(tmp_path):
    path = tmp_path / "autograded" / "ada" / "00-fixture" / "fixture.ipynb"
    nb = nbformat.v4.new_notebook()
    write_autograded(path, nb)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o444
    nb.cells.append(nbformat.v4.new_code_cell("x = 2"))
    write_autograded(path, nb)  # over a 444 file, like a regrade over nbgrader's output
    assert nbformat.read(path, as_version=4).cells[0].source == "x = 2"
    assert [p.name for p in path.parent.iterdir()] == ["fixture.ipynb"]  # no temp file left


def test_grades_csv_has_the_columns_and_keeps_other_labs_rows(tmp_path):
    out = tmp_path / "grades.csv"
    out.write_text("student,lab,score,max_score,status\nada,01-other,5,10,graded\nada,00-fixture,0,6,timeout\n")
    write_grades_csv(out, [score("bob", status="timeout", t1=0, check=0), score("ada", t2=3)])
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["student", "lab", "score", "max_score", "status"]
    assert [(r["student"], r["lab"], r["score"], r["max_score"], r["status"]) for r in rows] == [
        ("ada", "01-other", "5", "10", "graded"),
        ("ada", "00-fixture", "6", "6", "graded"),
        ("bob", "00-fixture", "0", "6", "timeout"),
    ]


def test_summary_counts_students_mean_and_statuses():
    text = summary_table([score("a", t2=3), score("b", t1=0, check=0, status="timeout")])
    assert "students" in text and "2" in text
    assert "3.00 / 6" in text
    assert "status graded" in text and "status timeout" in text
