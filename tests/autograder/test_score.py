"""autograder/steps/score.py (through steps 2-5): exact points per test cell and check, and the status."""

from __future__ import annotations

import shutil

import pytest

from autograder.lab import load_lab
from autograder.steps import grade_submission
from autograder.steps.score import GradeResult, SubmissionScore, error_message, score_submission
from tests.autograder.support import (
    ADD_OK,
    ADD_VISIBLE_ONLY,
    FIXTURE_LAB,
    MUL_NO_FILE,
    MUL_OK,
    answer,
    released_nb,
    source_nb,
    submit,
    use_fake_executor,
)


@pytest.fixture
def grade(monkeypatch, tmp_path):
    """grade(answers: {grade_id: source}) -> SubmissionScore of the fixture lab, through the fake executor."""
    use_fake_executor(monkeypatch)
    lab = load_lab(FIXTURE_LAB)
    from autograder.course import add_check_cells

    instructor = add_check_cells(source_nb(), lab)

    def run(answers, raw=None):
        nb = released_nb()
        for gid, src in answers.items():
            answer(nb, gid, src)
        path = tmp_path / "sub.ipynb"
        path.write_text(raw if raw is not None else __import__("nbformat").writes(nb))
        return grade_submission(lab, "ada", path, instructor, add_check_cells(released_nb(), lab)).score

    return run


def points(score: SubmissionScore) -> dict:
    return {g.grade_id: g.points for g in score.grades}


def test_the_reference_solution_earns_full_marks(grade):
    s = grade({"task_0_1": ADD_OK, "task_0_2": MUL_OK})
    assert (s.status, s.score, s.max_score) == ("graded", 6, 6)
    assert points(s) == {"test_0_1": 2, "test_0_2": 3, "check_test_artifacts": 1}


def test_the_untouched_release_earns_zero_and_is_still_graded(grade):
    s = grade({})
    assert (s.status, s.score, s.max_score) == ("graded", 0, 6)
    assert [g.visible_error for g in s.grades if g.kind == "test"] == ["NotImplementedError", "NotImplementedError"]


def test_partial_answers_earn_exact_partial_scores(grade):
    s = grade({"task_0_1": ADD_OK, "task_0_2": MUL_NO_FILE})
    assert points(s) == {"test_0_1": 2, "test_0_2": 3, "check_test_artifacts": 0} and s.score == 5
    s = grade({"task_0_2": MUL_OK})
    assert points(s) == {"test_0_1": 0, "test_0_2": 3, "check_test_artifacts": 1} and s.score == 4


def test_passing_visible_but_failing_hidden_tests_earns_nothing_and_keeps_no_detail(grade):
    s = grade({"task_0_1": ADD_VISIBLE_ONLY, "task_0_2": MUL_OK})
    g = s.grades[0]
    assert (g.points, g.visible_error, g.hidden_failed) == (0, None, True)
    assert s.score == 4


def test_after_a_timeout_the_running_cell_and_all_later_cells_earn_zero(grade):
    s = grade({"task_0_1": ADD_OK, "task_0_2": "# FAKE: timeout\n" + MUL_OK})
    assert s.status == "timeout" and s.reason
    assert points(s) == {"test_0_1": 0, "test_0_2": 0, "check_test_artifacts": 0}
    assert not s.grades[1].ran


def test_a_dead_kernel_in_a_late_cell_keeps_the_points_of_tests_that_completed(grade):
    """test_0_1's visible part ran before the kernel died, but its hidden part (at the end) never did."""
    s = grade({"task_0_1": ADD_OK, "task_0_2": MUL_OK + "\n# FAKE: dead-kernel"})
    assert s.status == "dead-kernel" and s.score == 0
    assert [g.ran for g in s.grades] == [False, False, False]


def test_an_unreadable_notebook_scores_zero_with_status_invalid_notebook(grade):
    s = grade({}, raw='{"cells": [')
    assert (s.status, s.score, s.max_score) == ("invalid-notebook", 0, 6)
    assert "not valid JSON" in s.reason


def test_score_uses_the_executed_notebooks_tags_not_cell_positions():
    """papermill inserts an injected-parameters cell: cell_errors indices refer to the executed notebook."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("assert x == 2")]
    nb.cells[1].metadata.dscourse = {"grade_id": "t", "part": "visible"}
    for i, c in enumerate(nb.cells):
        c.execution_count = i + 1
    s = score_submission("a", "lab", [("t", "Task 1", 2.0)], nb, "ok", "", {1: ("AssertionError", "")})
    assert s.grades[0].points == 0 and s.grades[0].visible_error == "AssertionError"
    s = score_submission("a", "lab", [("t", "Task 1", 2.0)], nb, "ok", "", {0: ("NameError", "y")})
    assert s.grades[0].points == 2


def test_a_test_cell_missing_from_the_executed_notebook_earns_zero():
    s = score_submission("a", "lab", [("t", "Task 1", 2.0)], None, "error", "kernel failed to start", {})
    assert (s.status, s.score, s.max_score, s.grades[0].ran) == ("error", 0, 2, False)


def test_error_messages_are_one_truncated_line():
    msg = error_message("AssertionError", "x" * 1000 + "\nTraceback (most recent call last)")
    assert len(msg) == 300 and "\n" not in msg and msg.startswith("AssertionError: xxx")
    assert error_message("ValueError", "") == "ValueError"


def test_scores_round_trip_through_json_dicts():
    s = SubmissionScore("a", "lab", "graded", "", [GradeResult("t", "Task 1", "test", 2.0, 2.0)], 1.5)
    d = s.to_dict()
    assert d["score"] == 2 and d["max_score"] == 2
    assert SubmissionScore.from_dict(d) == s


def test_artifact_checks_run_in_the_scratch_dir_with_the_labs_data_files(grade, tmp_path, monkeypatch):
    """The data files lab.toml declares are copied into the scratch dir; hidden/ and undeclared files are not."""
    lab_dir = tmp_path / "labs" / "00-fixture"
    shutil.copytree(FIXTURE_LAB, lab_dir)
    (lab_dir / "lab.toml").write_text(
        (lab_dir / "lab.toml").read_text().replace("points = 6\n", 'points = 6\nfiles = ["data.txt"]\n')
    )
    (lab_dir / "data.txt").write_text("7")
    (lab_dir / "notes.txt").write_text("undeclared")
    lab = load_lab(lab_dir)
    from autograder.course import add_check_cells

    probe = 'import os\nassert open("data.txt").read() == "7"\nassert not os.path.exists("hidden")\n'
    probe += 'assert not os.path.exists("notes.txt")\n' + MUL_OK
    nb = answer(answer(released_nb(), "task_0_1", ADD_OK), "task_0_2", probe)
    path = tmp_path / "sub.ipynb"
    path.write_text(__import__("nbformat").writes(nb))
    s = grade_submission(lab, "ada", path, add_check_cells(source_nb(), lab), released_nb()).score
    assert s.score == 6, s


def test_submit_helper_writes_nbgrader_layout(tmp_path):
    class C:
        root = tmp_path

    p = submit(C, "bob", "{}")
    assert p == tmp_path / "submitted" / "bob" / "00-fixture" / "fixture.ipynb"
