"""One course directory, graded once for the whole e2e module (session-scoped: grading is the slow part).

`graded_course` builds, in a tmp dir, what an instructor would: `dscourse init`, `dscourse release 01-autograd`, the
submissions of `SUBMISSIONS` written into submitted/<student>/01-autograd/autograd.ipynb, then
  1. `dscourse grade 01-autograd --workers 2`, killed (SIGKILL to its whole process group, as in a crash) as soon
     as the first results are staged: an interrupted batch;
  2. the same command again: it resumes and finishes the batch (every assertion is on this resumed result);
  3. the same command again: a rerun without --force, which must grade nothing;
  4. `dscourse feedback 01-autograd`;
  5. `dscourse grade 01-autograd --force --submissions DIR` on a copy of two submissions: a forced regrade.
Each command's exit code, stdout and stderr are kept in `Run` records for the tests. The expected score and status
of every submission are derived from the lab's source notebook and lab.toml (submissions.py), never hard-coded.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.autograder.e2e import submissions as subs

ROOT = Path(__file__).resolve().parents[3]
LAB = "01-autograd"
LAB_DIR = ROOT / "labs" / LAB
_SCRIPT = Path(sys.executable).parent / "dscourse"
# The installed console script; `python -m autograder.cli` (the same entry point) where it is not installed yet.
DSCOURSE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "autograder.cli"]
GRADE_TIMEOUT_S = 900  # far above the expected few minutes: a hang fails the tests instead of stalling them


@dataclass
class Run:
    """One finished command."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    wall_s: float


@dataclass
class Expected:
    score: float
    status: str


@dataclass
class GradedCourse:
    root: Path
    source: object  # the lab's source notebook (nbformat)
    released: object
    max_score: float
    expected: dict[str, Expected]
    interrupted: Run  # the killed first run
    staged_before_kill: set[str]  # students whose result was staged when the first run was killed
    resumed: Run  # the run that finished the batch
    rerun: Run  # the rerun without --force
    feedback: Run
    forced: Run  # --force over a copy of two submissions
    forced_students: list[str]
    grades_after_resume: str  # grades.csv right after the resumed run
    grades_after_rerun: str  # grades.csv right after the rerun without --force
    autograded_after_resume: dict[str, bytes]  # autograded notebook -> its bytes, right after the resumed run
    autograded_after_rerun: dict[str, bytes]  # the same right after the rerun (the --force run changes some)
    sandbox_processes: list[str] = field(default_factory=list)  # fork-bomb children alive after grading

    def runs(self) -> list[Run]:
        return [self.interrupted, self.resumed, self.rerun, self.feedback, self.forced]

    def grades(self) -> dict[str, dict]:
        with open(self.root / "grades.csv", newline="") as f:
            return {r["student"]: r for r in csv.DictReader(f)}


def dscourse(*args: str, cwd: Path, timeout: float = GRADE_TIMEOUT_S) -> Run:
    start = time.perf_counter()
    proc = subprocess.run([*DSCOURSE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return Run([*args], proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)


def build_submissions(course: Path, source, released, manifest: dict) -> dict[str, tuple[object, Expected]]:
    """student -> (notebook or raw text, expected grade)."""
    full = float(manifest["points"])
    ref = subs.reference(released, source)
    tasks = subs.solution_tasks(source)
    n_partial = max(1, len(tasks) // 2)
    stopped = subs.expected_score_stopped_in(source, subs.last_solution_id(source))  # the kernel is gone
    interrupted = subs.expected_score_interrupted_cell(source)  # the cell is stopped, the notebook goes on

    def bad(code: str):
        return subs.append_to_last_solution(ref, code)

    graded = "graded"
    return {
        "reference": (ref, Expected(full, graded)),
        "untouched": (released, Expected(0.0, graded)),
        "partial": (
            subs.partial(released, source, n_partial),
            Expected(subs.expected_score(source, manifest, tasks[:n_partial]), graded),
        ),
        "infinite-loop": (bad(subs.INFINITE_LOOP), Expected(interrupted, "timeout")),
        "memory-hog": (bad(subs.MEMORY_HOG), Expected(interrupted, "memory")),
        "dead-kernel": (bad(subs.KILL_KERNEL), Expected(stopped, "dead-kernel")),
        "fork-bomb": (bad(subs.FORK_BOMB), Expected(full, graded)),
        "print-gigabytes": (bad(subs.PRINT_GIGABYTES), Expected(stopped, "output-limit")),
        "delete-test": (subs.delete_test_cell(ref), Expected(full, graded)),
        "rewrite-tests": (subs.rewrite_test_cell(ref), Expected(full, graded)),
        "duplicate-test": (subs.duplicate_test_cell(ref), Expected(full, graded)),
        "edit-test-metadata": (subs.edit_test_metadata(ref), Expected(full, graded)),
        "invalid-json": (subs.truncated_json(ref), Expected(0.0, "invalid-notebook")),
        "not-nbformat": (subs.NOT_NBFORMAT, Expected(0.0, "invalid-notebook")),
        "write-scores": (bad(subs.write_scores_attack(course)), Expected(full, graded)),
        "read-hidden": (bad(subs.read_hidden_attack(course, LAB_DIR)), Expected(full, graded)),
        "neuter-tests": (subs.add_cell_after_first_solution(released, subs.NEUTER_TESTS), Expected(0.0, graded)),
    }


def staged(course: Path) -> set[str]:
    return {p.stem for p in (course / ".dscourse" / "staging" / LAB).glob("*.json")}


def interrupted_grade(course: Path) -> tuple[Run, set[str]]:
    """Start `dscourse grade`, SIGKILL its process group once a first result is staged (or after 90 s)."""
    args = ["grade", LAB, "--workers", "2"]
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*DSCOURSE, *args],
        cwd=course,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    while proc.poll() is None and not staged(course) and time.perf_counter() - start < 90:
        time.sleep(0.2)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    out, err = proc.communicate()
    return Run(args, proc.returncode, out, err, time.perf_counter() - start), staged(course)


def autograded_files(course: Path) -> dict[str, bytes]:
    return {str(p.relative_to(course)): p.read_bytes() for p in sorted((course / "autograded").rglob("*.ipynb"))}


def fork_bomb_children() -> list[str]:
    import psutil

    alive = []
    for p in psutil.process_iter(["pid", "cmdline", "username"]):
        cmdline = " ".join(p.info["cmdline"] or [])
        if subs.FORK_MARKER in cmdline:
            alive.append(f"{p.info['pid']} {p.info['username']} {cmdline}")
    return alive


@pytest.fixture(scope="session")
def graded_course(tmp_path_factory) -> GradedCourse:
    import tomllib

    if not (LAB_DIR / "lab.toml").is_file():
        pytest.fail(f"lab {LAB} is missing ({LAB_DIR / 'lab.toml'})")
    tmp = tmp_path_factory.mktemp("e2e")
    course = tmp / "course"
    for run in (dscourse("init", str(course), cwd=tmp), dscourse("release", LAB, cwd=course)):
        assert run.returncode == 0, f"dscourse {run.args} failed:\n{run.stdout}\n{run.stderr}"

    manifest = tomllib.loads((LAB_DIR / "lab.toml").read_text())
    source = subs.read(LAB_DIR / manifest["notebook"])
    released = subs.read(course / "release" / LAB / manifest["notebook"])
    expected = {}
    for student, (nb, exp) in build_submissions(course, source, released, manifest).items():
        subs.write(nb, course / "submitted" / student / LAB / manifest["notebook"])
        expected[student] = exp

    interrupted, before_kill = interrupted_grade(course)
    resumed = dscourse("grade", LAB, "--workers", "2", cwd=course)
    grades_after_resume = (course / "grades.csv").read_text() if (course / "grades.csv").is_file() else ""
    autograded = autograded_files(course)
    alive = fork_bomb_children()
    rerun = dscourse("grade", LAB, "--workers", "2", cwd=course)
    grades_after_rerun = (course / "grades.csv").read_text()
    autograded_after_rerun = autograded_files(course)
    feedback = dscourse("feedback", LAB, cwd=course)

    forced_students = ["reference", "untouched"]
    subset = tmp / "subset"
    for student in forced_students:
        shutil.copytree(course / "submitted" / student, subset / student)
    forced = dscourse(
        "grade",
        LAB,
        "--workers",
        "2",
        "--force",
        "--submissions",
        str(subset),
        "--out",
        str(tmp / "forced.csv"),
        cwd=course,
    )

    for i, run in enumerate([interrupted, resumed, rerun, feedback, forced]):  # kept for debugging a failure
        (tmp / f"run{i}-{run.args[0]}.log").write_text(f"{run.args} -> {run.returncode}\n{run.stdout}\n{run.stderr}")
    return GradedCourse(
        root=course,
        source=source,
        released=released,
        max_score=float(manifest["points"]),
        expected=expected,
        interrupted=interrupted,
        staged_before_kill=before_kill,
        resumed=resumed,
        rerun=rerun,
        feedback=feedback,
        forced=forced,
        forced_students=forced_students,
        grades_after_resume=grades_after_resume,
        grades_after_rerun=grades_after_rerun,
        autograded_after_resume=autograded,
        autograded_after_rerun=autograded_after_rerun,
        sandbox_processes=alive,
    )
