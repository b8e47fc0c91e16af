"""An nbgrader course directory for this repo's labs: create it, release a lab, keep its students in the gradebook.

Layout (nbgrader's own, so `nbgrader ...` and formgrader work on it as usual):
    COURSE/nbgrader_config.py   CourseDirectory.root, db_url; "hidden" never released; AddCheckCells (below)
    COURSE/gradebook.db         nbgrader's sqlite gradebook
    COURSE/source -> labs/      the repo's labs (nbgrader source notebooks + lab.toml + hidden/)
    COURSE/release/ submitted/<student>/<LAB>/ autograded/ feedback/   nbgrader's folders
    COURSE/.dscourse/staging/<LAB>/<student>.json   per-submission results (dscourse grade)

Artifact checks (lab.toml [[checks]]) have no cell in the source notebook, so `AddCheckCells`, an nbgrader
preprocessor that the course config puts first in GenerateAssignment, appends one locked, graded code cell per check
(just a comment naming it). nbgrader then records the check as a grade cell and formgrader shows its score.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.lab import Lab, LabError, load_lab

CONFIG = "nbgrader_config.py"
CONFIG_TEMPLATE = '''"""nbgrader configuration of a dscourse course directory (written by `dscourse init`)."""

from nbgrader.converters import GenerateAssignment

from autograder.course import AddCheckCells

c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = {db_url!r}
c.CourseDirectory.ignore.append("hidden")  # a lab's hidden artifact checks are never released
# One graded cell per lab.toml [[checks]] entry, so the checks' points live in the gradebook too.
c.GenerateAssignment.preprocessors = [AddCheckCells] + list(GenerateAssignment().preprocessors)
'''


class CourseError(RuntimeError):
    """A course-directory problem the user can fix; the message says how."""


@dataclass(frozen=True)
class CourseDir:
    """Paths of an nbgrader course directory."""

    root: Path

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    def lab(self, lab_id: str) -> Lab:
        """The lab `lab_id` from source/, with a clear error when it does not exist."""
        if not (self.source / lab_id).is_dir():
            known = ", ".join(sorted(p.parent.name for p in self.source.glob("*/lab.toml"))) or "none"
            raise CourseError(f"no lab {lab_id!r} in {self.source} (labs: {known})")
        return load_lab(self.source / lab_id)

    def released_notebook(self, lab: Lab) -> Path:
        return self.root / "release" / lab.id / lab.notebook

    def submissions(self, lab: Lab, submitted: Path | None = None) -> dict[str, Path]:
        """{student: notebook path} for every submitted/<student>/<LAB>/<notebook>; a student folder without the
        lab's notebook maps to the path it should have (graded as invalid-notebook)."""
        base = submitted or self.root / "submitted"
        return {d.name: d / lab.id / lab.notebook for d in sorted(base.iterdir()) if (d / lab.id).is_dir()}

    def autograded_notebook(self, lab: Lab, student: str) -> Path:
        return self.root / "autograded" / student / lab.id / lab.notebook

    def feedback_html(self, lab: Lab, student: str) -> Path:
        return self.root / "feedback" / student / lab.id / (lab.notebook_id + ".html")

    def staging(self, lab: Lab) -> Path:
        return self.root / ".dscourse" / "staging" / lab.id


def find_course_dir(path: str | Path | None = None) -> CourseDir:
    """The course directory at `path`, or the nearest one above the current directory (holding nbgrader_config.py)."""
    if path is not None:
        root = Path(path).resolve()
        if not (root / CONFIG).is_file():
            raise CourseError(f"{root} is not a course directory (no {CONFIG}); create one with `dscourse init {path}`")
        return CourseDir(root)
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / CONFIG).is_file():
            return CourseDir(d)
    raise CourseError(
        f"not inside a course directory (no {CONFIG} here or above); pass --course-dir or run `dscourse init DIR`"
    )


def tools_on_path() -> None:
    """Put this Python's bin folder on PATH: nbgrader runs `alembic` (and kernels) from there, and a console script
    or `.venv/bin/python` run without an activated venv would not find them."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def init_course(root: str | Path, labs_dir: str | Path) -> CourseDir:
    """Create (or refresh) a course directory at `root` whose source/ links to `labs_dir`."""
    tools_on_path()
    course = CourseDir(Path(root).resolve())
    labs_dir = Path(labs_dir).resolve()
    if not labs_dir.is_dir():
        raise CourseError(f"labs directory {labs_dir} does not exist")
    course.root.mkdir(parents=True, exist_ok=True)
    for name in ("release", "submitted", "autograded", "feedback"):
        (course.root / name).mkdir(exist_ok=True)
    if course.source.is_symlink() or not course.source.exists():
        if course.source.is_symlink():
            course.source.unlink()
        course.source.symlink_to(labs_dir, target_is_directory=True)
    elif course.source.resolve() != labs_dir:
        raise CourseError(f"{course.source} exists and is not a link to {labs_dir}; move it away first")
    (course.root / CONFIG).write_text(CONFIG_TEMPLATE.format(root=str(course.root), db_url=course.db_url))
    _create_gradebook(course.db_url)
    return course


def _create_gradebook(db_url: str) -> None:
    """Create gradebook.db with nbgrader's schema. nbgrader stamps a new database with its alembic head by running
    the `alembic` CLI (seconds); we ask alembic's Python API for the same head instead."""
    import nbgrader
    import nbgrader.api
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_current_head()
    original = nbgrader.api.get_alembic_version
    nbgrader.api.get_alembic_version = lambda: head
    try:
        nbgrader.api.Gradebook(db_url).close()
    finally:
        nbgrader.api.get_alembic_version = original


@dataclass(frozen=True)
class Released:
    notebook: Path  # release/<LAB>/<notebook>
    left_out: tuple[str, ...]  # files in the lab folder the release did not ship (not in lab.toml `files`)


def release_lab(course: CourseDir, lab_id: str) -> Released:
    """Generate the student version of `lab_id` into release/ with nbgrader's generate_assignment (--force);
    this also records the lab and its cells in the gradebook. The release holds the student notebook, lab.toml and
    the lab's declared `files`, nothing else: what an instructor's run of the source notebook saved beside it (a
    trained model, a memory plan: answers to artifact checks) is removed from it and listed in `left_out`.

    nbgrader runs in a child process (`python -m nbgrader`, about 2 s): its application leaves process-wide state
    behind (logging, event loops) that made a later papermill execution in the same process hang."""
    import subprocess

    tools_on_path()
    lab = course.lab(lab_id)
    argv = [sys.executable, "-m", "nbgrader", "generate_assignment", lab.id, "--force",
            f"--CourseDirectory.root={course.root}", f"--CourseDirectory.db_url={course.db_url}"]  # fmt: skip
    proc = subprocess.run(argv, cwd=course.root, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [l for l in (proc.stderr + proc.stdout).splitlines() if "ERROR" in l or "Error" in l]
        detail = lines[-1].strip() if lines else (proc.stderr.strip().splitlines() or ["no detail"])[-1]
        raise CourseError(f"nbgrader generate_assignment failed for {lab.id}: {detail}")
    out = course.released_notebook(lab)
    if not out.is_file():
        raise CourseError(f"nbgrader generate_assignment wrote no {out}")
    return Released(out, tuple(prune_release(lab, out.parent)))


def prune_release(lab: Lab, release_dir: Path) -> list[str]:
    """Remove from `release_dir` everything but the notebook, lab.toml and the lab's declared files (and the
    folders on the way to them); return the removed paths, relative to `release_dir`, sorted."""
    keep = {Path(lab.notebook), Path("lab.toml")} | {Path(f) for f in lab.files}
    removed = []
    for p in sorted(release_dir.rglob("*"), key=lambda q: len(q.parts), reverse=True):  # children first
        rel = p.relative_to(release_dir)
        if rel in keep or any(k in rel.parents for k in keep):
            continue  # a kept file, or inside a kept folder
        if p.is_dir() and not p.is_symlink() and any(rel in k.parents for k in keep):
            continue  # a folder on the way to a kept file
        if p.is_dir() and not p.is_symlink():
            if not any(p.iterdir()):
                p.rmdir()
            continue
        p.unlink()
        removed.append(rel.as_posix())
    return sorted(removed)


def require_released(course: CourseDir, lab: Lab) -> None:
    """Raise CourseError unless `lab` has been released (its assignment and cells are in the gradebook)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url) as gb:
        try:
            gb.find_notebook(lab.notebook_id, lab.id)
        except MissingEntry:
            raise CourseError(f"lab {lab.id} is not released yet: run `dscourse release {lab.id}` first") from None
    if not course.released_notebook(lab).is_file():
        raise CourseError(f"{course.released_notebook(lab)} is missing: run `dscourse release {lab.id}` again")


def add_check_cells(nb, lab: Lab):
    """Append one locked, graded code cell per artifact check of `lab` (in place); returns `nb`."""
    have = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.cells}
    for check in lab.checks:
        if check.grade_id in have:
            continue
        cell = nbformat.v4.new_code_cell(
            f"# Artifact check: {check.name} ({check.points:g} point{'' if check.points == 1 else 's'})\n"
            "# Run by the grader after the notebook, on the files it saved. Nothing to do in this cell."
        )
        cell.metadata.nbgrader = {
            "grade": True,
            "solution": False,
            "locked": True,
            "grade_id": check.grade_id,
            "points": check.points,
            "schema_version": 3,
        }
        nb.cells.append(cell)
    return nb


class AddCheckCells(NbGraderPreprocessor):
    """nbgrader preprocessor: append the lab's artifact-check cells (from lab.toml beside the notebook)."""

    def preprocess(self, nb, resources):
        lab_dir = Path(resources.get("metadata", {}).get("path", "."))
        if (lab_dir / "lab.toml").is_file():
            try:
                add_check_cells(nb, load_lab(lab_dir))
            except LabError as e:
                raise CourseError(str(e)) from None
        return nb, resources
