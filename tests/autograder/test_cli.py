"""autograder/cli.py: `dscourse --help` is enough to use it, errors are one line, and each command works."""

from __future__ import annotations

import json
import shutil

import pytest

from autograder.cli import main
from tests.autograder.support import (
    ADD_OK,
    FIXTURE_LAB,
    MUL_OK,
    answer,
    released_course,
    released_nb,
    submit,
    use_fake_executor,
)

COMMANDS = ["init", "release", "grade", "feedback", "check", "progress"]


@pytest.fixture(autouse=True)
def progress_file(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv("DSCOURSE_PROGRESS", str(path))
    return path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_command_with_examples(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    for cmd in COMMANDS:
        assert f"dscourse {cmd}" in out
    assert "submitted/<student>" in out


@pytest.mark.parametrize("cmd", COMMANDS)
def test_each_command_has_help_with_an_example(capsys, cmd):
    with pytest.raises(SystemExit):
        main([cmd, "--help"])
    out = capsys.readouterr().out
    assert "example:" in out and f"dscourse {cmd}" in out


def test_errors_are_one_line_without_traceback(capsys, tmp_path):
    code, out, err = run(capsys, "release", "00-fixture", "--course-dir", str(tmp_path))
    assert code == 2 and err.startswith("dscourse: error:") and "dscourse init" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unknown_lab_is_a_one_line_error(capsys, tmp_path):
    course = released_course(tmp_path / "course")
    code, _, err = run(capsys, "grade", "99-nope", "--course-dir", str(course.root))
    assert code == 2 and "no lab '99-nope'" in err and "00-fixture" in err


def test_release_grade_feedback_from_inside_the_course_dir(capsys, tmp_path, monkeypatch):
    use_fake_executor(monkeypatch)
    course = released_course(tmp_path / "course", released=False)
    monkeypatch.chdir(course.root / "submitted")  # any folder inside the course dir finds it
    code, out, _ = run(capsys, "release", "00-fixture")
    assert code == 0 and "release/00-fixture/fixture.ipynb" in out
    submit(course, "ada", answer(answer(released_nb(), "task_0_1", ADD_OK), "task_0_2", MUL_OK))
    submit(course, "bob", released_nb())
    code, out, _ = run(capsys, "grade", "00-fixture", "--workers", "2")
    assert code == 0 and out.splitlines()[0].split() == ["students", "2"]
    assert "3.00 / 6" in out and "status graded" in out
    assert (course.root / "grades.csv").read_text().splitlines()[1:] == [
        "ada,00-fixture,6,6,graded",
        "bob,00-fixture,0,6,graded",
    ]
    code, out, _ = run(capsys, "feedback", "00-fixture")
    assert code == 0 and (course.root / "feedback" / "ada" / "00-fixture" / "fixture.html").is_file()


def test_grade_exits_1_when_a_submission_failed_to_grade(capsys, tmp_path, monkeypatch):
    use_fake_executor(monkeypatch)
    course = released_course(tmp_path / "course")
    submit(course, "ada", released_nb())
    submit(course, "zed", "not a notebook")
    code, out, _ = run(
        capsys, "grade", "00-fixture", "--course-dir", str(course.root), "--out", str(tmp_path / "g.csv")
    )
    assert code == 1 and "zed: invalid-notebook" in out
    assert (tmp_path / "g.csv").is_file()


def test_init_creates_an_nbgrader_course_directory(capsys, tmp_path):
    code, out, _ = run(capsys, "init", str(tmp_path / "course"), "--labs", str(FIXTURE_LAB.parent))
    root = tmp_path / "course"
    assert code == 0 and "dscourse release" in out
    assert (root / "source").resolve() == FIXTURE_LAB.parent.resolve()
    config = (root / "nbgrader_config.py").read_text()
    assert "c.CourseDirectory.root" in config and 'ignore.append("hidden")' in config and "gradebook.db" in config
    assert (root / "gradebook.db").is_file() and (root / "submitted").is_dir()


def student_copy(tmp_path, nb):
    """A student's folder: the released notebook and lab.toml (no hidden/)."""
    d = tmp_path / "student"
    d.mkdir()
    shutil.copy(FIXTURE_LAB / "lab.toml", d / "lab.toml")
    path = d / "fixture.ipynb"
    path.write_text(__import__("nbformat").writes(nb))
    return path


def test_check_prints_a_task_table_with_hints_and_exits_0(capsys, tmp_path, monkeypatch, progress_file):
    use_fake_executor(monkeypatch)
    path = student_copy(tmp_path, answer(released_nb(), "task_0_1", "def add(a, b):\n    return a - b"))
    code, out, _ = run(capsys, "check", str(path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["Task", "Points", "Status", "Hint"]
    assert "Task 0.1" in lines[1] and "0/2" in lines[1] and "AssertionError: add(1, 2) should be 3" in lines[1]
    assert "NotImplementedError: Task 0.2 — not started" in lines[2]
    assert "0 / 5 visible points" in out and "HIDDEN" not in out
    assert json.loads(progress_file.read_text())["labs"]["00-fixture"]["max_score"] == 5


def test_check_of_a_missing_notebook_is_a_tool_error(capsys, tmp_path):
    code, _, err = run(capsys, "check", str(tmp_path / "nope.ipynb"))
    assert code == 2 and "no notebook" in err


def make_labs(tmp_path):
    labs = tmp_path / "labs"
    shutil.copytree(FIXTURE_LAB, labs / "00-fixture")
    second = labs / "00-second"
    shutil.copytree(FIXTURE_LAB, second)
    text = (second / "lab.toml").read_text().replace('id = "00-fixture"', 'id = "00-second"')
    text = text.replace("prerequisites = []", 'prerequisites = ["00-fixture"]').replace(
        'stage = "basic"', 'stage = "advanced"'
    )
    (second / "lab.toml").write_text(text)
    return labs


def test_progress_shows_the_path_and_locks_labs_until_prerequisites_pass(capsys, tmp_path, monkeypatch):
    labs = make_labs(tmp_path)
    code, out, _ = run(capsys, "progress", "--labs", str(labs))
    assert code == 0
    fixture_line = next(l for l in out.splitlines() if "00-fixture" in l and "basic" in l)
    second_line = next(l for l in out.splitlines() if l.startswith("advanced"))
    assert "not started" in fixture_line and "0.5" in fixture_line
    assert "locked (pass 00-fixture first)" in second_line
    use_fake_executor(monkeypatch)
    path = student_copy(tmp_path, answer(released_nb(), "task_0_1", ADD_OK))
    run(capsys, "check", str(path))
    out = run(capsys, "progress", "--labs", str(labs))[1]
    assert "in progress (2/5)" in out
    path.write_text(
        __import__("nbformat").writes(answer(answer(released_nb(), "task_0_1", ADD_OK), "task_0_2", MUL_OK))
    )
    run(capsys, "check", str(path))
    out = run(capsys, "progress", "--labs", str(labs))[1]
    assert "passed" in next(l for l in out.splitlines() if "00-fixture" in l and "basic" in l)
    assert "not started" in next(l for l in out.splitlines() if l.startswith("advanced"))
    assert "1 of 2 labs passed" in out


def test_check_hint_names_the_task_whose_stub_raised():
    from autograder.check import hint
    from autograder.steps.score import GradeResult

    g = GradeResult("test_1_4", "Task 1.4", "test", 3, 0, visible_error="NotImplementedError: Task 1.1 — write mul")
    assert hint(g) == "NotImplementedError: Task 1.1 — not started"
    g.visible_error = "NotImplementedError"
    assert hint(g) == "NotImplementedError: Task 1.4 — not started"
    g.visible_error = "AssertionError: grad of x should be 2.0, got 0.0"
    assert hint(g) == "AssertionError: grad of x should be 2.0, got 0.0"


def test_files_an_instructors_run_left_in_the_lab_folder_are_neither_released_nor_graded_against(
    capsys, tmp_path, monkeypatch
):
    # Running the source notebook in place (JupyterLab starts kernels in the notebook's folder) saves the
    # artifact the hidden check reads: the release must not ship it and the grader must not copy it, or an
    # untouched submission earns the check's points with the instructor's file. Declared `files` still travel.
    use_fake_executor(monkeypatch)
    labs = tmp_path / "labs"
    shutil.copytree(FIXTURE_LAB, labs / "00-fixture")
    toml = labs / "00-fixture" / "lab.toml"
    toml.write_text(toml.read_text().replace("points = 6\n", 'points = 6\nfiles = ["data"]\n'))
    (labs / "00-fixture" / "data").mkdir()
    (labs / "00-fixture" / "data" / "table.csv").write_text("x\n1\n")
    (labs / "00-fixture" / "answer.txt").write_text("42")  # the instructor's run saved it
    (labs / "00-fixture" / "scratch").mkdir()
    (labs / "00-fixture" / "scratch" / "plot.png").write_bytes(b"png")
    assert run(capsys, "init", str(tmp_path / "course"), "--labs", str(labs))[0] == 0
    course = tmp_path / "course"

    code, out, _ = run(capsys, "release", "00-fixture", "--course-dir", str(course))
    released = course / "release" / "00-fixture"
    assert code == 0
    assert "left out of the release" in out and "answer.txt" in out and "scratch/plot.png" in out
    assert sorted(p.relative_to(released).as_posix() for p in released.rglob("*")) == [
        "data",
        "data/table.csv",
        "fixture.ipynb",
        "lab.toml",
    ]

    probe = 'import os\nassert open("data/table.csv").read() == "x\\n1\\n"\nassert not os.path.exists("answer.txt")\n'
    submit(type("C", (), {"root": course}), "bob", answer(released_nb(), "task_0_1", probe + ADD_OK))
    code, out, _ = run(capsys, "grade", "00-fixture", "--course-dir", str(course))
    assert (course / "grades.csv").read_text().splitlines()[1:] == ["bob,00-fixture,2,6,graded"]
