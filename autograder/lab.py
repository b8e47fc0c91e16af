"""A lab's manifest (labs/NN-slug/lab.toml) loaded and validated into a typed `Lab`.

Every error names the file and the field, e.g. "labs/01-autograd/lab.toml: [limits] timeout_s must be a positive
number, got 'fast'", so an instructor can fix the manifest without reading this code.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autograder.sandbox import Limits

STAGES = ("basic", "advanced", "practical", "research")
DEFAULT_LIMITS = {
    "timeout_s": 120.0,
    "cell_timeout_s": 60.0,
    "memory_mb": 4096,
    "max_processes": 64,
    "max_output_mb": 16,
}


class LabError(ValueError):
    """A lab manifest or lab directory is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Check:
    """A hidden artifact check: a pytest file run after the notebook in the submission's scratch dir."""

    name: str  # shown to students in feedback (never the file's content)
    file: str  # relative to the lab directory, e.g. "hidden/test_artifacts.py"
    points: float  # earned iff every test in the file passes

    @property
    def grade_id(self) -> str:
        """The gradebook id of this check: "check_" + the file's stem (unique within a lab)."""
        return "check_" + Path(self.file).stem


@dataclass(frozen=True)
class Lab:
    """One lab, as described by its lab.toml."""

    dir: Path  # the lab directory (labs/NN-slug)
    id: str  # == directory name == nbgrader assignment id
    title: str
    stage: str  # one of STAGES
    prerequisites: tuple[str, ...]  # lab ids that must be passed first
    hours: float  # estimated study time
    objectives: tuple[str, ...]  # learning objectives, one sentence each
    notebook: str  # the nbgrader source notebook's file name
    points: float  # total: test-cell points + checks' points
    limits: Limits  # sandbox limits for grading
    parameters: dict = field(default_factory=dict)  # papermill parameters for grading (FAST mode)
    checks: tuple[Check, ...] = ()
    # data files or folders beside the notebook (relative paths) that the release ships and the grader copies into
    # each submission's scratch dir; nothing else in the lab folder is released or copied (a model or plan the
    # source notebook saved when an instructor ran it in place would otherwise reach students and the grader)
    files: tuple[str, ...] = ()

    @property
    def notebook_id(self) -> str:
        """nbgrader's notebook id: the notebook's file name without .ipynb."""
        return Path(self.notebook).stem

    @property
    def notebook_path(self) -> Path:
        return self.dir / self.notebook


def load_lab(lab_dir: str | Path, *, student_copy: bool = False) -> Lab:
    """Load and validate `lab_dir/lab.toml`; raise LabError naming the field on any problem.
    student_copy=True accepts a student's copy of a released lab: its hidden/ check files are (rightly) absent
    and its folder may have any name."""
    from autograder.sandbox import Limits  # imported here: nbgrader_config.py imports this module

    lab_dir = Path(lab_dir)
    path = lab_dir / "lab.toml"
    if not path.is_file():
        raise LabError(f"{path}: no lab.toml here (every lab directory needs one; see labs/README.md)")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise LabError(f"{path}: not valid TOML: {e}") from None
    v = _Validator(path, raw)
    lab_id = v.string("id")
    if lab_id != lab_dir.resolve().name and not student_copy:
        raise LabError(f"{path}: id must equal the directory name {lab_dir.resolve().name!r}, got {lab_id!r}")
    stage = v.string("stage")
    if stage not in STAGES:
        raise LabError(f"{path}: stage must be one of {', '.join(STAGES)}, got {stage!r}")
    notebook = v.string("notebook")
    if not notebook.endswith(".ipynb") or "/" in notebook:
        raise LabError(f"{path}: notebook must be a file name ending in .ipynb, got {notebook!r}")
    if not (lab_dir / notebook).is_file():
        raise LabError(f"{path}: notebook {notebook!r} does not exist in {lab_dir}")
    limits_raw = raw.get("limits", {})
    if not isinstance(limits_raw, dict):
        raise LabError(f"{path}: [limits] must be a table")
    unknown = set(limits_raw) - set(DEFAULT_LIMITS)
    if unknown:
        raise LabError(f"{path}: [limits] has unknown keys {sorted(unknown)}; known: {sorted(DEFAULT_LIMITS)}")
    limits = {k: _positive(path, f"[limits] {k}", limits_raw.get(k, d)) for k, d in DEFAULT_LIMITS.items()}
    for k in ("memory_mb", "max_processes", "max_output_mb"):
        limits[k] = int(limits[k])
    parameters = raw.get("parameters", {})
    if not isinstance(parameters, dict):
        raise LabError(f"{path}: [parameters] must be a table of papermill parameters")
    checks = tuple(
        _check(path, lab_dir, i, c, not student_copy) for i, c in enumerate(v.list("checks", dict, default=[]))
    )
    if len({c.grade_id for c in checks}) != len(checks):
        raise LabError(f"{path}: [[checks]] file stems must be unique (they name the gradebook entries)")
    files = tuple(
        _data_file(path, lab_dir, f, notebook, need_file=not student_copy) for f in v.list("files", str, default=[])
    )
    return Lab(
        dir=lab_dir,
        id=lab_id,
        title=v.string("title"),
        stage=stage,
        prerequisites=tuple(v.list("prerequisites", str, default=[])),
        hours=_positive(path, "hours", v.get("hours")),
        objectives=tuple(v.list("objectives", str, default=[])),
        notebook=notebook,
        points=_positive(path, "points", v.get("points"), allow_zero=True),
        limits=Limits(**limits),
        parameters=dict(parameters),
        checks=checks,
        files=files,
    )


def find_labs(labs_dir: str | Path) -> list[Lab]:
    """Every lab under `labs_dir` (each subdirectory holding a lab.toml), sorted by id."""
    return [load_lab(p.parent) for p in sorted(Path(labs_dir).glob("*/lab.toml"))]


def _check(path: Path, lab_dir: Path, i: int, raw: dict, need_file: bool) -> Check:
    where = f"[[checks]] #{i + 1}"
    for key in ("name", "file", "points"):
        if key not in raw:
            raise LabError(f"{path}: {where} is missing the field {key!r}")
    if not isinstance(raw["name"], str) or not isinstance(raw["file"], str):
        raise LabError(f"{path}: {where} name and file must be strings")
    if need_file and not (lab_dir / raw["file"]).is_file():
        raise LabError(f"{path}: {where} file {raw['file']!r} does not exist in {lab_dir}")
    return Check(name=raw["name"], file=raw["file"], points=_positive(path, f"{where} points", raw["points"]))


def _data_file(path: Path, lab_dir: Path, name: str, notebook: str, need_file: bool) -> str:
    p = Path(name)
    if not name or p.is_absolute() or ".." in p.parts:
        raise LabError(f"{path}: files must be paths inside the lab folder, like 'data/train.csv'; got {name!r}")
    if p.parts[0] in ("hidden", "lab.toml", notebook):
        raise LabError(f"{path}: files must not list {p.parts[0]!r}: it is part of every lab and handled already")
    if need_file and not (lab_dir / p).exists():
        raise LabError(f"{path}: files lists {name!r}, which does not exist in {lab_dir}")
    return p.as_posix()


def _positive(path: Path, name: str, value, allow_zero: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and (value > 0 or (allow_zero and value == 0))
    if not ok:
        raise LabError(f"{path}: {name} must be a positive number, got {value!r}")
    return float(value)


class _Validator:
    """Typed access to the top-level fields of a parsed lab.toml, with errors that name the field."""

    def __init__(self, path: Path, raw: dict):
        self.path, self.raw = path, raw

    def get(self, key: str):
        if key not in self.raw:
            raise LabError(f"{self.path}: missing the field {key!r}")
        return self.raw[key]

    def string(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str) or not value:
            raise LabError(f"{self.path}: {key} must be a non-empty string, got {value!r}")
        return value

    def list(self, key: str, item_type: type, default=None) -> list:
        value = self.raw.get(key, default) if default is not None else self.get(key)
        if not isinstance(value, list) or not all(isinstance(x, item_type) for x in value):
            raise LabError(f"{self.path}: {key} must be a list of {item_type.__name__}, got {value!r}")
        return value
