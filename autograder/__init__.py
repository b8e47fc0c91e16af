"""The autograder: grades dslib course labs with nbgrader's gradebook and papermill, sandboxed and in parallel.

Python API (the `dscourse` command in autograder/cli.py is a thin wrapper over it):
    init_course(root, labs_dir)                  an nbgrader course directory whose source/ links to labs/
    release_lab(course, lab_id)                  nbgrader generate_assignment --force, pruned to the lab.toml `files`
    grade_lab(course, lab_id, workers=N, ...)    grade every submission; gradebook + autograded/ + grades.csv
    write_feedback(course, lab_id)               per-student HTML feedback
    check_notebook(path)                         a student's own check (visible tests only)
    load_lab(lab_dir), find_labs(labs_dir)       lab manifests as typed Lab objects
The pipeline's steps are in autograder/steps/ (ordered list and rules in steps/__init__.py).
Names are imported on first use, so `import autograder.sandbox` stays light (no nbgrader import).
"""

import importlib

_API = {
    "BatchResult": "autograder.batch",
    "grade_lab": "autograder.batch",
    "check_notebook": "autograder.check",
    "CourseDir": "autograder.course",
    "find_course_dir": "autograder.course",
    "init_course": "autograder.course",
    "release_lab": "autograder.course",
    "Lab": "autograder.lab",
    "LabError": "autograder.lab",
    "find_labs": "autograder.lab",
    "load_lab": "autograder.lab",
    "write_feedback": "autograder.steps.feedback",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'autograder' has no attribute {name!r}")
