"""Batch grading of a lab: a process pool runs steps 1-5 per submission; the parent records results serially.

Each worker stages its result atomically under COURSE/.dscourse/staging/<LAB>/: the autograded notebook
(<student>.ipynb) first, then <student>.json (the commit marker, holding the submission file's sha256).
A rerun reuses every staged result whose submission file is unchanged and grades only the rest, unless
force=True; recording into the gradebook and grades.csv is idempotent, so an interrupted batch just resumes.
A submission the grader itself fails on (status "error") is not staged, so the next run retries it.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat
from tqdm import tqdm

from autograder import scratch
from autograder.course import CourseDir, add_check_cells, require_released
from autograder.lab import Lab
from autograder.steps import grade_submission
from autograder.steps.record import record_submission, write_atomic, write_autograded, write_grades_csv
from autograder.steps.score import SubmissionScore, graded_test_cells, unreadable


@dataclass
class BatchResult:
    """Every submission's score (graded now or reused from staging) and how many were graded now."""

    scores: list[SubmissionScore]
    graded_now: int

    @property
    def failed(self) -> list[SubmissionScore]:
        """Submissions that did not finish normally (any status other than "graded")."""
        return [s for s in self.scores if s.status != "graded"]


def grade_lab(course: CourseDir, lab_id: str, *, submissions: Path | None = None, workers: int = 1,
              out: Path | None = None, force: bool = False, progress: bool = True) -> BatchResult:  # fmt: skip
    """Grade every submitted/<student>/<LAB>/<notebook>, record the scores and write grades.csv (see module doc)."""
    from nbgrader.api import Gradebook

    lab = course.lab(lab_id)
    require_released(course, lab)
    scratch.sweep()  # scratch dirs left by an earlier grader that was killed (SIGKILL, OOM) before it could clean up
    instructor = add_check_cells(nbformat.read(lab.notebook_path, as_version=4), lab)
    released = nbformat.read(course.released_notebook(lab), as_version=4)
    subs = course.submissions(lab, Path(submissions) if submissions else None)
    staging = course.staging(lab)
    staging.mkdir(parents=True, exist_ok=True)

    scores, todo = {}, []
    for student, path in subs.items():
        staged = None if force else _load_staged(staging, student, path)
        if staged is not None:
            scores[student] = staged
        else:
            todo.append((student, path))

    with Gradebook(course.db_url) as gb:
        for student in sorted(scores):  # reused results: recording is idempotent
            _record(gb, course, lab, scores[student], staging, subs[student])
        hide = (course.root, *_labs_to_hide(lab))  # gradebook, staging, other students; every lab's hidden tests
        jobs = [(lab, student, path, instructor, released, staging, hide) for student, path in todo]
        bar = tqdm(total=len(jobs), desc=f"grading {lab.id}", unit="nb", disable=not progress or not jobs)
        for score in _run(jobs, workers):
            scores[score.student] = score
            _record(gb, course, lab, score, staging, subs[score.student])
            bar.update(1)
        bar.close()
    result = BatchResult([scores[s] for s in sorted(scores)], len(todo))
    write_grades_csv(Path(out) if out else course.root / "grades.csv", result.scores)
    return result


def _run(jobs: list, workers: int):
    """Yield scores as jobs finish: inline for one worker, else a fork-based process pool (kernels are
    subprocesses either way; fork keeps start-up cheap and lets tests swap the executor)."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield _grade_job(job)
        return
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(_grade_job, job): job for job in jobs}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as e:  # a worker process died (e.g. killed by the OOM killer): status "error"
                yield _error_score(futures[fut], e)


def _labs_to_hide(lab: Lab) -> list[Path]:
    """The lab's folder and, when it is safe, the folder of all labs (other labs' solutions and hidden tests):
    never a folder that holds what the kernel needs to start (the interpreter, the venv, this package)."""
    here, labs = lab.dir.resolve(), lab.dir.resolve().parent
    needed = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(__file__).resolve().parent]
    if any(labs == n or labs in n.parents for n in needed):
        return [here]
    return [here, labs]


def _grade_job(job) -> SubmissionScore:
    """Steps 1-5 for one submission in a worker; stages the result unless the grader itself failed."""
    lab, student, path, instructor, released, staging, hide = job
    try:
        graded = grade_submission(lab, student, path, instructor, released, hide=hide)
    except Exception as e:  # a grader bug must not stop the batch: this submission gets status "error"
        traceback.print_exc()
        return _error_score(job, e)
    if graded.score.status != "error":
        _stage(staging, graded, path)
    return graded.score


def _error_score(job, e: BaseException) -> SubmissionScore:
    """Status "error", every test and check at 0: the grader (not the submission) failed; never staged."""
    lab, student, _, instructor = job[:4]
    tests = [t for t in graded_test_cells(instructor) if t[0] not in {c.grade_id for c in lab.checks}]
    score = unreadable(student, lab.id, tests, lab.checks, f"grader error: {type(e).__name__}: {e}")
    score.status = "error"
    return score


def _stage(staging: Path, graded, path: Path) -> None:
    student = graded.score.student
    if graded.notebook is not None:
        write_atomic(staging / f"{student}.ipynb", nbformat.writes(graded.notebook).encode())
    else:
        (staging / f"{student}.ipynb").unlink(missing_ok=True)
    record = {"submission": _fingerprint(path), "score": graded.score.to_dict()}
    write_atomic(staging / f"{student}.json", json.dumps(record, indent=1).encode())


def _load_staged(staging: Path, student: str, path: Path) -> SubmissionScore | None:
    try:
        record = json.loads((staging / f"{student}.json").read_text())
        if record["submission"] != _fingerprint(path):
            return None
        return SubmissionScore.from_dict(record["score"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_staged_scores(course: CourseDir, lab: Lab) -> list[SubmissionScore]:
    """Every staged score of `lab` (what `dscourse feedback` renders)."""
    out = []
    for p in sorted(course.staging(lab).glob("*.json")):
        try:
            out.append(SubmissionScore.from_dict(json.loads(p.read_text())["score"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def _fingerprint(path: Path) -> str | None:
    """The submission's sha256: a staged result is reused only for the very same file."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _record(gb, course: CourseDir, lab: Lab, score: SubmissionScore, staging: Path, path: Path) -> None:
    record_submission(gb, score, lab.notebook_id, _timestamp(path))
    staged_nb = staging / f"{score.student}.ipynb"
    target = course.autograded_notebook(lab, score.student)
    if score.status == "error":
        return
    if staged_nb.is_file():
        write_autograded(target, nbformat.read(staged_nb, as_version=4))
    else:
        target.unlink(missing_ok=True)  # nothing ran (invalid notebook): no stale notebook from an earlier grade


def _timestamp(path: Path):
    """The submission time from nbgrader's submitted/<student>/<LAB>/timestamp.txt, if any."""
    from nbgrader.utils import parse_utc

    try:
        return parse_utc((path.parent / "timestamp.txt").read_text().strip())
    except (OSError, ValueError):
        return None
