"""End to end on every lab after 01 (each `labs/0[2-9]*` folder): release it, grade two submissions through the real
autograder, write feedback, and check the scores and that no hidden test leaks.

One course directory serves the whole module (`dscourse init`, module-scoped); for each lab (a module-scoped
fixture parametrized over the lab folders, so each lab is graded once for all its tests):
  1. `dscourse release LAB`;
  2. two submissions: `reference` (the released notebook with every stub replaced by the source notebook's
     solution) and `untouched` (the released notebook as a student receives it);
  3. `dscourse grade LAB --workers 2`, then `dscourse feedback LAB`.
The reference must get the full points of lab.toml (test cells and artifact checks), the untouched release 0 with
status "graded" (its tests fail, nothing crashes). Lab 01 has its own, much larger class (test_lab01.py).

    .venv/bin/pytest tests/autograder/e2e/test_lab_grading.py -q -m slow

Marked slow: each lab's grading runs its reference notebook in full FAST mode (about 20-40 s of CPU per lab on a
quiet machine, plus nbgrader), and labs 02 + 04 together took 8.7 minutes on the shared 2-core machine (load ~10).
"""

from __future__ import annotations

import csv
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.autograder.e2e import submissions as subs
from tests.autograder.e2e.conftest import ROOT, Run, dscourse

LAB_DIRS = sorted(p for p in (ROOT / "labs").glob("0[2-9]*") if p.is_dir())
STUDENTS = ("reference", "untouched")


@dataclass
class GradedLab:
    lab_dir: Path
    manifest: dict
    course: Path
    source: object  # the lab's source notebook (nbformat)
    released: object  # the notebook `dscourse release` wrote
    grade: Run
    feedback: Run

    @property
    def lab(self) -> str:
        return self.lab_dir.name

    def grades(self) -> dict[str, dict]:
        with open(self.course / "grades.csv", newline="") as f:
            return {r["student"]: r for r in csv.DictReader(f) if r["lab"] == self.lab}

    def feedback_pages(self) -> dict[str, str]:
        name = Path(self.manifest["notebook"]).with_suffix(".html").name
        return {s: (self.course / "feedback" / s / self.lab / name).read_text() for s in STUDENTS}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("e2e-labs")
    run = dscourse("init", str(tmp / "course"), cwd=tmp)
    assert run.returncode == 0, f"dscourse init failed:\n{run.stdout}\n{run.stderr}"
    return tmp / "course"


@pytest.fixture(scope="module", params=LAB_DIRS, ids=[p.name for p in LAB_DIRS])
def graded(request, course) -> GradedLab:
    lab_dir = request.param
    if not (lab_dir / "lab.toml").is_file():
        pytest.fail(f"{lab_dir} has no lab.toml: every labs/0[2-9]* folder must be a complete lab (labs/README.md)")
    manifest = tomllib.loads((lab_dir / "lab.toml").read_text())
    lab = lab_dir.name
    run = dscourse("release", lab, cwd=course)
    assert run.returncode == 0, f"dscourse release {lab} failed:\n{run.stdout}\n{run.stderr}"
    source = subs.read(lab_dir / manifest["notebook"])
    released = subs.read(course / "release" / lab / manifest["notebook"])
    for student, nb in (("reference", subs.reference(released, source)), ("untouched", released)):
        subs.write(nb, course / "submitted" / student / lab / manifest["notebook"])
    grade = dscourse("grade", lab, "--workers", "2", cwd=course)
    feedback = dscourse("feedback", lab, cwd=course)
    for name, r in (("grade", grade), ("feedback", feedback)):  # kept for debugging a failure
        (course.parent / f"{lab}-{name}.log").write_text(f"{r.args} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return GradedLab(lab_dir, manifest, course, source, released, grade, feedback)


def test_there_are_labs_to_grade():
    assert LAB_DIRS, "no labs/0[2-9]* folder: this module grades the labs after 01"


def test_grading_finishes_normally(graded):
    assert graded.grade.returncode == 0, graded.grade.stdout + graded.grade.stderr  # 0: every submission graded
    assert "Traceback" not in graded.grade.stderr, graded.grade.stderr
    print(f"{graded.lab}: dscourse grade took {graded.grade.wall_s:.1f} s")


def test_the_reference_gets_full_points_and_the_untouched_release_none(graded):
    rows = graded.grades()
    full = float(graded.manifest["points"])
    assert sorted(rows) == sorted(STUDENTS)
    assert (rows["reference"]["status"], float(rows["reference"]["score"])) == ("graded", full), rows["reference"]
    assert (rows["untouched"]["status"], float(rows["untouched"]["score"])) == ("graded", 0.0), rows["untouched"]
    assert {float(r["max_score"]) for r in rows.values()} == {full}
    # the points come from the test cells and the artifact checks together, as lab.toml says
    assert full == sum(subs.test_points(graded.source).values()) + sum(c["points"] for c in graded.manifest["checks"])


def test_each_student_gets_a_feedback_page_with_their_score_and_the_tasks(graded):
    assert graded.feedback.returncode == 0, graded.feedback.stdout + graded.feedback.stderr
    rows, pages = graded.grades(), graded.feedback_pages()
    full = float(graded.manifest["points"])
    for student in STUDENTS:
        assert f"score <b>{float(rows[student]['score']):g} / {full:g}</b>" in pages[student], student
    for task in subs.solution_tasks(graded.source):
        assert f"Task {task}" in pages["untouched"]


def _hidden_only_lines(source) -> list[str]:
    """Lines of the source's hidden tests that appear nowhere else in the source notebook (12 characters or more)."""
    hidden, public = [], set()
    for cell in source.cells:
        inside = False
        for line in cell.source.splitlines():
            if line.strip() == subs.HIDDEN_BEGIN:
                inside = True
            elif line.strip() == subs.HIDDEN_END:
                inside = False
            else:
                (hidden.append if inside else public.add)(line.strip())
    return [line for line in dict.fromkeys(hidden) if len(line) >= 12 and line not in public]


def test_the_released_notebook_holds_no_hidden_test_and_no_solution(graded):
    text = "\n".join(c.source for c in graded.released.cells)
    hidden = _hidden_only_lines(graded.source)
    assert len(hidden) > 20, "the scan found the lab's hidden tests"
    assert [line for line in hidden if line in text] == []
    assert not re.search(r"BEGIN (SOLUTION|HIDDEN TESTS)|\(hidden\)", text)
    assert not (graded.course / "release" / graded.lab / "hidden").exists()


def test_no_hidden_test_text_appears_in_feedback_or_command_output(graded):
    hidden = subs.hidden_texts(graded.source, graded.lab_dir, graded.released)
    assert hidden, "the lab has hidden tests: the list of their lines must not be empty"
    places = {f"feedback of {s}": page for s, page in graded.feedback_pages().items()}
    places["grades.csv"] = (graded.course / "grades.csv").read_text()
    for run in (graded.grade, graded.feedback):
        places[f"dscourse {' '.join(run.args)} output"] = run.stdout + run.stderr
    leaks = [(where, line) for where, text in places.items() for line in hidden if line in text]
    assert not leaks, leaks[:5]
