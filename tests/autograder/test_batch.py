"""autograder/batch.py: parallel grading that resumes, is idempotent, and survives broken submissions."""

from __future__ import annotations

import csv
import json

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.batch import grade_lab
from autograder.course import CourseError
from tests.autograder.support import (
    ADD_OK,
    MUL_NO_FILE,
    MUL_OK,
    answer,
    released_course,
    released_nb,
    submit,
    use_fake_executor,
)


@pytest.fixture
def course(tmp_path, monkeypatch):
    use_fake_executor(monkeypatch)
    course = released_course(tmp_path / "course")
    submit(course, "ada", answer(answer(released_nb(), "task_0_1", ADD_OK), "task_0_2", MUL_OK))
    submit(course, "bob", answer(released_nb(), "task_0_2", MUL_NO_FILE))
    submit(course, "cyd", released_nb())
    submit(course, "dan", "{ this is not json")
    return course


def table(result):
    return {s.student: (s.score, s.status) for s in result.scores}


EXPECTED = {"ada": (6, "graded"), "bob": (3, "graded"), "cyd": (0, "graded"), "dan": (0, "invalid-notebook")}


def test_a_batch_grades_everyone_records_the_gradebook_and_writes_grades_csv(course):
    result = grade_lab(course, "00-fixture", workers=2, progress=False)
    assert table(result) == EXPECTED and result.graded_now == 4
    assert [s.student for s in result.failed] == ["dan"]
    rows = {r["student"]: r for r in csv.DictReader((course.root / "grades.csv").open())}
    assert {k: (float(r["score"]), r["status"]) for k, r in rows.items()} == EXPECTED
    assert all(r["max_score"] == "6" and r["lab"] == "00-fixture" for r in rows.values())
    with Gradebook(course.db_url) as gb:
        assert {s: gb.find_submission("00-fixture", s).score for s in EXPECTED} == {
            s: v[0] for s, v in EXPECTED.items()
        }
    autograded = course.root / "autograded" / "ada" / "00-fixture" / "fixture.ipynb"
    nb = nbformat.read(autograded, as_version=4)
    assert any("BEGIN HIDDEN TESTS" in c.source for c in nb.cells)  # the instructor's view: hidden tests merged back
    assert not (course.root / "autograded" / "dan" / "00-fixture" / "fixture.ipynb").exists()


def test_a_rerun_grades_nothing_and_gives_the_same_result(course):
    first = grade_lab(course, "00-fixture", progress=False)
    again = grade_lab(course, "00-fixture", progress=False)
    assert again.graded_now == 0 and table(again) == table(first)


def test_an_interrupted_batch_resumes_with_only_the_ungraded_submissions(course):
    grade_lab(course, "00-fixture", progress=False)
    staging = course.root / ".dscourse" / "staging" / "00-fixture"
    (staging / "bob.json").unlink()  # as if the batch died before bob's result was staged
    result = grade_lab(course, "00-fixture", progress=False)
    assert result.graded_now == 1 and table(result) == EXPECTED


def test_a_changed_submission_is_regraded_and_force_regrades_all(course):
    grade_lab(course, "00-fixture", progress=False)
    submit(course, "cyd", answer(released_nb(), "task_0_1", ADD_OK))
    result = grade_lab(course, "00-fixture", progress=False)
    assert result.graded_now == 1 and table(result)["cyd"] == (2, "graded")
    assert grade_lab(course, "00-fixture", force=True, progress=False).graded_now == 4


def test_staged_results_are_json_with_the_submission_fingerprint(course):
    grade_lab(course, "00-fixture", progress=False)
    staged = json.loads((course.root / ".dscourse" / "staging" / "00-fixture" / "ada.json").read_text())
    assert staged["score"]["score"] == 6 and len(staged["submission"]) == 64  # sha256 of the submission
    assert not list((course.root / ".dscourse" / "staging" / "00-fixture").glob("*.tmp"))


def test_a_grader_error_gets_status_error_and_is_retried_next_time(course, monkeypatch):
    import autograder.batch

    def broken(lab, student, *args, **kwargs):
        if student == "bob":
            raise RuntimeError("boom")
        return real(lab, student, *args, **kwargs)

    real = autograder.batch.grade_submission
    monkeypatch.setattr(autograder.batch, "grade_submission", broken)
    result = grade_lab(course, "00-fixture", progress=False)
    assert table(result)["bob"] == (0, "error") and table(result)["ada"] == (6, "graded")
    monkeypatch.setattr(autograder.batch, "grade_submission", real)
    result = grade_lab(course, "00-fixture", progress=False)
    assert result.graded_now == 1 and table(result) == EXPECTED


def test_submissions_from_another_folder_and_csv_path(course, tmp_path):
    other = tmp_path / "elsewhere"
    (other / "eve" / "00-fixture").mkdir(parents=True)
    (other / "eve" / "00-fixture" / "fixture.ipynb").write_text(
        nbformat.writes(answer(released_nb(), "task_0_1", ADD_OK))
    )
    result = grade_lab(course, "00-fixture", submissions=other, out=tmp_path / "g.csv", progress=False)
    assert table(result) == {"eve": (2, "graded")}
    assert "eve,00-fixture,2,6,graded" in (tmp_path / "g.csv").read_text()


def test_a_student_folder_without_the_notebook_is_invalid_not_a_crash(course):
    (course.root / "submitted" / "fay" / "00-fixture").mkdir(parents=True)
    result = grade_lab(course, "00-fixture", progress=False)
    assert table(result)["fay"] == (0, "invalid-notebook")


def test_grading_an_unknown_or_unreleased_lab_is_refused(course, tmp_path):
    with pytest.raises(CourseError, match="no lab 'nope'"):
        grade_lab(course, "nope", progress=False)
    fresh = released_course(tmp_path / "fresh", released=False)
    with pytest.raises(CourseError, match="not released yet"):
        grade_lab(fresh, "00-fixture", progress=False)


def test_a_worker_process_that_dies_gets_status_error_and_a_rerun_grades_it(course, monkeypatch):
    import os

    import autograder.batch

    real = autograder.batch.grade_submission

    def dying(lab, student, *args, **kwargs):
        if student == "bob":
            os._exit(9)  # as if the OOM killer took the worker
        return real(lab, student, *args, **kwargs)

    monkeypatch.setattr(autograder.batch, "grade_submission", dying)
    result = grade_lab(course, "00-fixture", workers=2, progress=False)
    assert table(result)["bob"] == (0, "error")  # jobs queued in the broken pool may be "error" too
    assert all(table(result)[s] in (EXPECTED[s], (0, "error")) for s in EXPECTED)
    monkeypatch.setattr(autograder.batch, "grade_submission", real)
    assert table(grade_lab(course, "00-fixture", workers=2, progress=False)) == EXPECTED  # errors are retried
