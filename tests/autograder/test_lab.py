"""autograder/lab.py: lab.toml is loaded into a typed Lab, and every mistake is reported naming the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.lab import LabError, find_labs, load_lab
from autograder.steps.score import graded_test_cells
from tests.autograder.support import FIXTURE_LAB

REPO_LABS = Path(__file__).resolve().parents[2] / "labs"


def lab_copy(tmp_path, edit=lambda text: text, name="00-fixture"):
    d = tmp_path / name
    shutil.copytree(FIXTURE_LAB, d)
    (d / "lab.toml").write_text(edit((FIXTURE_LAB / "lab.toml").read_text()))
    return d


def test_fixture_lab_loads_into_typed_fields():
    lab = load_lab(FIXTURE_LAB)
    assert (lab.id, lab.stage, lab.notebook, lab.notebook_id) == ("00-fixture", "basic", "fixture.ipynb", "fixture")
    assert lab.points == 6 and lab.hours == 0.5 and lab.prerequisites == ()
    assert lab.limits.timeout_s == 30 and lab.limits.memory_mb == 1024 and lab.limits.max_output_mb == 1
    assert lab.parameters == {"FAST": True}
    assert [(c.name, c.points, c.grade_id) for c in lab.checks] == [
        ("Task 0.2 saved answer", 1, "check_test_artifacts")
    ]


def test_limits_not_given_take_the_defaults(tmp_path):
    lab = load_lab(lab_copy(tmp_path, lambda t: t.replace("memory_mb = 1024\n", "")))
    assert lab.limits.memory_mb == 4096


@pytest.mark.parametrize("field", ["id", "title", "stage", "hours", "notebook", "points"])
def test_a_missing_field_is_named(tmp_path, field):
    d = lab_copy(tmp_path, lambda t: "\n".join(l for l in t.splitlines() if not l.startswith(f"{field} =")))
    with pytest.raises(LabError, match=f"'{field}'"):
        load_lab(d)


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('stage = "basic"', 'stage = "easy"', "stage must be one of basic, advanced, practical, research"),
        ("timeout_s = 30", 'timeout_s = "fast"', r"\[limits\] timeout_s must be a positive number"),
        ("memory_mb = 1024", "memory_mb = -1", r"\[limits\] memory_mb must be a positive number"),
        ("max_output_mb = 1", "max_output_mb = 1\ngpus = 2", r"unknown keys \['gpus'\]"),
        ('id = "00-fixture"', 'id = "01-other"', "id must equal the directory name"),
        ('notebook = "fixture.ipynb"', 'notebook = "missing.ipynb"', "notebook 'missing.ipynb' does not exist"),
        ('file = "hidden/test_artifacts.py"', 'file = "hidden/nope.py"', r"\[\[checks\]\] #1 file 'hidden/nope.py'"),
        ("prerequisites = []", 'prerequisites = "00-zero"', "prerequisites must be a list of str"),
        ("hours = 0.5", "hours = [", "not valid TOML"),
        ("points = 6", 'points = 6\nfiles = ["../secret.txt"]', "files must be paths inside the lab folder"),
        ("points = 6", 'points = 6\nfiles = ["/etc/passwd"]', "files must be paths inside the lab folder"),
        ("points = 6", 'points = 6\nfiles = ["hidden/test_artifacts.py"]', "files must not list 'hidden'"),
        ("points = 6", 'points = 6\nfiles = ["data.csv"]', "files lists 'data.csv', which does not exist"),
        ("points = 6", 'points = 6\nfiles = "data.csv"', "files must be a list of str"),
    ],
)
def test_an_invalid_field_is_reported_with_its_name(tmp_path, old, new, message):
    d = lab_copy(tmp_path, lambda t: t.replace(old, new))
    with pytest.raises(LabError, match=message) as e:
        load_lab(d)
    assert "lab.toml" in str(e.value)


def test_a_students_copy_loads_without_hidden_check_files_in_any_folder(tmp_path):
    d = lab_copy(tmp_path, name="my-work")
    shutil.rmtree(d / "hidden")
    with pytest.raises(LabError, match="id must equal the directory name"):
        load_lab(d)
    assert load_lab(d, student_copy=True).checks[0].points == 1


def test_a_directory_without_lab_toml_is_refused(tmp_path):
    with pytest.raises(LabError, match="no lab.toml"):
        load_lab(tmp_path)


@pytest.mark.parametrize("lab_dir", [FIXTURE_LAB, *sorted(p.parent for p in REPO_LABS.glob("*/lab.toml"))], ids=str)
def test_points_equal_the_test_cells_plus_the_checks(lab_dir):
    lab = load_lab(lab_dir)
    nb = nbformat.read(lab.notebook_path, as_version=4)
    cells = sum(points for _, _, points in graded_test_cells(nb))
    assert lab.points == cells + sum(c.points for c in lab.checks)


def test_find_labs_lists_every_lab_sorted(tmp_path):
    lab_copy(tmp_path, name="00-fixture")
    second = lab_copy(tmp_path, lambda t: t.replace('id = "00-fixture"', 'id = "00-second"'), name="00-second")
    assert [lab.id for lab in find_labs(tmp_path)] == ["00-fixture", "00-second"]
    assert find_labs(second / "nothing-here") == []
