"""`dscourse check NOTEBOOK`: the grading pipeline on a student's own notebook, visible tests only.

The student does not have the hidden tests, so none are loaded: the notebook itself (with any hidden-test region
stripped) is the skeleton its test cells are taken from. The lab (parameters, limits) is the lab.toml beside the
notebook, else the repo lab whose notebook has the same file name, else defaults. The result is a per-task table
with a hint per failed task, and the score goes into the learner's progress file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autograder.lab import DEFAULT_LIMITS, Lab, find_labs, load_lab
from autograder.steps import grade_submission
from autograder.steps.load_submission import load_submission
from autograder.steps.rebuild_notebook import strip_hidden_tests
from autograder.steps.score import TASK_RE, SubmissionScore

REPO_LABS = Path(__file__).resolve().parents[1] / "labs"


@dataclass
class CheckReport:
    lab: Lab
    score: SubmissionScore

    def table(self) -> str:
        rows = [("Task", "Points", "Status", "Hint")]
        for g in self.score.grades:
            status = "passed" if g.points == g.max_points else ("not run" if not g.ran else "failed")
            rows.append((g.task, f"{g.points:g}/{g.max_points:g}", status, hint(g) if status != "passed" else ""))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3] for r in rows]
        lines = [line.rstrip() for line in lines]
        s = self.score
        footer = f"\n{s.lab}: {s.score:g} / {s.max_score:g} visible points"
        if s.status != "graded":
            footer += f" — execution stopped: {s.status}" + (f" ({s.reason})" if s.reason else "")
        return "\n".join(lines) + footer


def hint(g) -> str:
    """The first line of a failure message, or 'NotImplementedError: Task 1.3 — not started' (the task the stub's
    message names, else the test's own task)."""
    if not g.ran:
        return "execution stopped before this test"
    if g.visible_error is None:
        return "failed"
    if g.visible_error.startswith("NotImplementedError"):
        named = TASK_RE.search(g.visible_error)  # a test may fail on an earlier task's stub: name that one
        return f"NotImplementedError: {named.group(0) if named else g.task} — not started"
    return g.visible_error.splitlines()[0]


def find_lab_for(notebook: Path) -> Lab:
    """The lab of `notebook`: lab.toml beside it, else a repo lab with the same notebook name, else defaults."""
    if (notebook.parent / "lab.toml").is_file():
        return load_lab(notebook.parent, student_copy=True)
    if REPO_LABS.is_dir():
        for lab in find_labs(REPO_LABS):
            if lab.notebook == notebook.name:
                return lab
    from autograder.sandbox import Limits

    return Lab(notebook.parent, notebook.stem, notebook.stem, "basic", (), 1.0, (), notebook.name, 0.0,
               Limits(**DEFAULT_LIMITS), {}, ())  # fmt: skip


def check_notebook(path: str | Path, *, record: bool = True) -> CheckReport:
    """Run the visible tests of the notebook at `path`; record the score in the progress file."""
    from autograder.progress import record_check

    path = Path(path).resolve()
    lab = find_lab_for(path)
    skeleton = strip_hidden_tests(load_submission(path))
    graded = grade_submission(lab, "me", path, skeleton, skeleton, visible_only=True)
    if record:
        record_check(lab.id, graded.score.score, graded.score.max_score)
    return CheckReport(lab, graded.score)
