"""The end-to-end submissions for lab 01, derived from the lab's own notebooks (nothing hard-coded about the lab).

Every submission is built from the instructor's *source* notebook (solutions, hidden tests, points) and the
*released* notebook (what a student starts from): `reference` fills each released stub with the source's
solution, `partial` only some of them, and each bad case is the reference (so its honest score is full marks)
plus one act of sabotage. `expected_*` helpers compute the scores the grader must give from the source's
nbgrader metadata and lab.toml, so the tests stay right when the lab's tasks or points change.

Cell roles follow nbgrader's metadata (cell.metadata.nbgrader): a solution cell has `solution: true`, a test
cell `grade: true` and `solution: false`; grade ids are `task_1_3` / `test_1_3` (labs/README.md), so a test's
task is its grade id's suffix, and an artifact check's task is the "Task 1.6" its name starts with.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import nbformat

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
# A marker that the fork bomb's children carry in their command line, to find any that survive grading.
FORK_MARKER = "dscourse-e2e-forkbomb-child"


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_solution(cell) -> bool:
    return bool(_nbgrader(cell).get("solution"))


def is_test(cell) -> bool:
    meta = _nbgrader(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def task_of(grade_id: str) -> str:
    """The task id of a grade id: task_1_3 or test_1_3 -> "1.3"."""
    match = re.fullmatch(r"(?:task|test)_(\d+)_(\d+)\w*", grade_id)
    assert match, f"grade id {grade_id!r} does not follow task_N_M / test_N_M (labs/README.md)"
    return f"{match[1]}.{match[2]}"


def strip_solution_markers(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.strip() not in SOLUTION_MARKERS)


def read(path: Path):
    return nbformat.read(str(path), as_version=4)


# ---- what the grader must give ----------------------------------------------------------------------------


def test_points(source) -> dict[str, float]:
    """grade_id -> points of every autograded test cell of the source notebook."""
    return {_nbgrader(c)["grade_id"]: float(_nbgrader(c).get("points", 0)) for c in source.cells if is_test(c)}


def solution_tasks(source) -> list[str]:
    """Task ids ("1.3") of the source's code solution cells, in notebook order."""
    tasks = [task_of(_nbgrader(c)["grade_id"]) for c in source.cells if is_solution(c) and c.cell_type == "code"]
    return list(dict.fromkeys(tasks))


def check_task(check: dict) -> str:
    """The task an artifact check belongs to: the "Task 1.6" its name starts with."""
    match = re.match(r"Task (\d+\.\d+)", check["name"])
    assert match, f"artifact check {check['name']!r} does not name its task (labs/README.md)"
    return match[1]


def expected_score(source, manifest: dict, tasks) -> float:
    """The score of a submission that solves exactly `tasks`: the points of their test cells and checks.

    Tests of a task may use earlier tasks' code, so callers pass a prefix of `solution_tasks` (see `partial`)."""
    tasks = set(tasks)
    score = sum(p for gid, p in test_points(source).items() if task_of(gid) in tasks)
    score += sum(float(c["points"]) for c in manifest.get("checks", []) if check_task(c) in tasks)
    return score


def hidden_texts(source, lab_dir: Path, released) -> list[str]:
    """Lines of hidden test text that must never reach a student: every line between the hidden markers of the
    source notebook and every assert of the lab's hidden/ files, minus lines short or common enough to appear
    legitimately (anything also in the released notebook, blank lines, lone brackets)."""
    public = "\n".join(c.source for c in released.cells)
    lines = []
    for cell in source.cells:
        inside = False
        for line in cell.source.splitlines():
            if line.strip() == HIDDEN_BEGIN:
                inside = True
            elif line.strip() == HIDDEN_END:
                inside = False
            elif inside:
                lines.append(line.strip())
    for path in sorted((lab_dir / "hidden").rglob("*.py")):
        lines += [line.strip() for line in path.read_text().splitlines() if line.strip().startswith("assert")]
    return [line for line in dict.fromkeys(lines) if len(line) >= 12 and line not in public]


# ---- building submissions ---------------------------------------------------------------------------------


def solve(released, source, tasks) -> nbformat.NotebookNode:
    """The released notebook with the solution cells of `tasks` replaced by the source's solutions (markers
    stripped, as a student would type them); every other cell as released."""
    solutions = {_nbgrader(c)["grade_id"]: c for c in source.cells if is_solution(c)}
    nb = copy.deepcopy(released)
    for cell in nb.cells:
        gid = _nbgrader(cell).get("grade_id")
        if is_solution(cell) and gid in solutions and task_of(gid) in set(tasks):
            cell.source = strip_solution_markers(solutions[gid].source)
    return nb


def reference(released, source):
    return solve(released, source, solution_tasks(source))


def partial(released, source, n_tasks: int):
    """The first `n_tasks` tasks solved, the rest left as released stubs."""
    return solve(released, source, solution_tasks(source)[:n_tasks])


def _code(source: str):
    return nbformat.v4.new_code_cell(source)


def _solution_cells(nb) -> list:
    return [c for c in nb.cells if is_solution(c) and c.cell_type == "code"]


def _test_cells(nb) -> list:
    return [c for c in nb.cells if is_test(c)]


def append_to_last_solution(nb, code: str):
    """`code` appended to the last code solution cell (runs after every solution has been defined)."""
    nb = copy.deepcopy(nb)
    cell = _solution_cells(nb)[-1]
    cell.source = cell.source.rstrip("\n") + "\n\n" + code
    return nb


def add_cell_after_first_solution(nb, code: str):
    """`code` as a new, student-added cell right after the first code solution cell."""
    nb = copy.deepcopy(nb)
    index = nb.cells.index(_solution_cells(nb)[0])
    nb.cells.insert(index + 1, _code(code))
    return nb


INFINITE_LOOP = "while True:  # a student's loop that never ends\n    pass\n"

# Asks for 8 GiB at once: past the lab's memory limit, the allocation fails with MemoryError, and nothing stays
# allocated, so the cells after it run normally (a hog that kept memory would make their outcome arbitrary).
MEMORY_HOG = """import numpy as np
hog = np.ones((8, 2**30), dtype=np.uint8)
"""

KILL_KERNEL = "import os\nos._exit(1)\n"

# Bounded: at most 2,000 children that sleep (not spin), each named with FORK_MARKER and in its own session (so a
# process-group kill alone does not reach them). The parent stops at the first failed fork (the process limit),
# then kills and reaps all but FORK_KEEP of them: the survivors test the clean-up after grading, and the freed
# slots let the rest of the notebook start threads again (with a full process table the student's own later
# cells would fail, which is their doing but would make the expected score depend on the lab's code).
FORK_KEEP = 8
FORK_BOMB = f"""import os, signal
children = []
for _ in range(2000):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        try:
            os.setsid()
            os.execv("/bin/sleep", ["{FORK_MARKER}", "600"])
        finally:
            os._exit(0)
    children.append(pid)
print("forked", len(children), "children")
for pid in children[{FORK_KEEP}:]:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
"""

# 2 GB of output in 1 MB lines.
PRINT_GIGABYTES = """line = "x" * (2**20 - 1)
for _ in range(2048):
    print(line)
"""


def delete_test_cell(nb):
    nb = copy.deepcopy(nb)
    nb.cells.remove(_test_cells(nb)[0])
    return nb


def rewrite_test_cell(nb):
    nb = copy.deepcopy(nb)
    for cell in _test_cells(nb):
        cell.source = "pass"
    return nb


def duplicate_test_cell(nb):
    nb = copy.deepcopy(nb)
    first = _test_cells(nb)[0]
    twin = copy.deepcopy(first)
    twin.id = first.id + "-copy"  # what Jupyter's copy-paste does: same source and metadata, a new cell id
    nb.cells.insert(nb.cells.index(first) + 1, twin)
    return nb


def edit_test_metadata(nb):
    """Every test cell claims 100 points; the first one is re-pointed to the second's grade id."""
    nb = copy.deepcopy(nb)
    tests = _test_cells(nb)
    for cell in tests:
        cell.metadata.nbgrader["points"] = 100
    tests[0].metadata.nbgrader["grade_id"] = tests[1].metadata.nbgrader["grade_id"]
    return nb


def write_scores_attack(course_dir: Path) -> str:
    """A cell that tries to write the gradebook, grades.csv and other students' files, knowing their paths."""
    targets = [
        "../../gradebook.db",
        "../gradebook.db",
        str(course_dir / "gradebook.db"),
        str(course_dir / "grades.csv"),
        str(course_dir / "autograded" / "reference" / "01-autograd" / "autograd.ipynb"),
        str(course_dir / "submitted" / "reference" / "01-autograd" / "autograd.ipynb"),
    ]
    return f"""import os
for target in {targets!r}:
    try:
        with open(target, "a") as f:
            f.write("attacker,01-autograd,1000,20,graded\\n")
        print("WROTE", target)
    except OSError as e:
        print("could not write", target, type(e).__name__)
    try:
        os.remove(target)
        print("REMOVED", target)
    except OSError as e:
        print("could not remove", target, type(e).__name__)
with open("grades.csv", "w") as f:
    f.write("student,lab,score,max_score,status\\nwrite-scores,01-autograd,1000,20,graded\\n")
"""


def read_hidden_attack(course_dir: Path, lab_dir: Path) -> str:
    """A cell that hunts for the course's hidden tests and prints anything it finds, two ways: reading the
    files where it can find them (the course dir, the lab dir, and the labs/ dir of the repo that the importable
    dslib lives in, found from dslib.__file__), and an IPython hook that echoes every later cell's source (the
    hidden tests run after the student's cells) to the cell output and to the kernel's raw fds 1 and 2."""
    roots = [str(course_dir), str(lab_dir), str(lab_dir.parent)]
    return f"""import glob, itertools, os
import dslib
roots = {roots!r} + [os.path.join(os.path.dirname(os.path.dirname(dslib.__file__)), "labs")]
found = set()
for root in roots:
    for pattern in ("**/autograd.ipynb", "**/hidden/*.py", "**/lab.toml"):
        try:
            found.update(itertools.islice(glob.iglob(os.path.join(root, pattern), recursive=True), 50))
        except OSError:
            pass
for path in sorted(found):
    try:
        text = open(path).read()
    except OSError as e:
        print("cannot read", path, type(e).__name__)
        continue
    if "HIDDEN" in text or "/hidden/" in path:
        print("LEAK", path)
        print(text)

def _echo_cell(info):
    text = "ECHO " + info.raw_cell
    print(text)
    os.write(1, text.encode())
    os.write(2, text.encode())

get_ipython().events.register("pre_run_cell", _echo_cell)
"""


# A cell that swaps every later cell's source for `pass` through IPython's input transformers: tests that run
# in the same kernel after it would all "pass" without running. Built on the untouched release: it earns nothing.
NEUTER_TESTS = """def _neuter(lines):
    return ["pass\\n"]

get_ipython().input_transformers_cleanup.append(_neuter)
"""


def write(nb_or_text, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb_or_text, str):
        path.write_text(nb_or_text)
    else:
        nbformat.write(nb_or_text, str(path))


def truncated_json(nb) -> str:
    text = nbformat.writes(nb)
    return text[: len(text) // 2]


NOT_NBFORMAT = json.dumps({"cells": "not a list", "nbformat": 4, "nbformat_minor": 5, "metadata": []})


def last_solution_id(source) -> str:
    return _nbgrader(_solution_cells(source)[-1])["grade_id"]


def expected_score_stopped_in(source, solution_id: str) -> float:
    """The score when execution stops inside solution cell `solution_id` (timeout, memory, dead kernel, output
    limit), by Score's rule (autograder/steps/score.py): a test earns its points only if its visible part and its
    hidden part both ran; hidden parts run at the very end, so only tests before that cell without a hidden part
    count, and artifact checks (run only after a complete execution) earn nothing."""
    score = 0.0
    for cell in source.cells:
        if is_solution(cell) and _nbgrader(cell)["grade_id"] == solution_id:
            return score
        if is_test(cell) and HIDDEN_BEGIN not in cell.source:
            score += float(_nbgrader(cell).get("points", 0))
    raise AssertionError(f"no solution cell {solution_id!r} in the source notebook")


def expected_score_interrupted_cell(source) -> float:
    """The score when one solution cell is stopped (cell time limit, MemoryError) after the task's code was
    defined, and the notebook goes on (autograder/steps/execute.py: "the next cells still run"): every test earns
    its points, but artifact checks run only after a complete execution (status ok), so they earn nothing."""
    return sum(test_points(source).values())
