"""The lab format (labs/README.md), checked on every lab under labs/: manifest, cells, nbgrader metadata, release.

One parametrized copy of the checks every lab shares, so a new lab is covered the moment its folder exists; each
tests/labs/test_labNN.py keeps only what is particular to its lab (its point split, its blocked references, its
FAST run and its hidden artifact check).

    .venv/bin/pytest tests/labs/test_lab_format.py -q
"""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from tests.labs.notebook_tools import (
    BEGIN_HIDDEN,
    ROOT,
    grade_meta,
    graded_cells,
    load_lab,
    release,
    solution_cells,
    split_hidden,
)

LAB_IDS = sorted(p.parent.name for p in (ROOT / "labs").glob("*/lab.toml"))
STAGES = ("basic", "advanced", "practical", "research")


@pytest.fixture(scope="module", params=LAB_IDS)
def lab(request):
    return load_lab(request.param)


def _tasks(lab) -> list[str]:
    return sorted(solution_cells(lab.notebook), key=lambda t: tuple(map(int, t.split("."))))


def test_every_lab_folder_is_found():
    assert {"01-autograd", "02-resnet", "03-training", "04-vit"} <= set(LAB_IDS)


def test_manifest_fields(lab):
    m = lab.manifest
    assert m["id"] == lab.dir.name
    assert m["stage"] in STAGES and m["hours"] > 0 and len(m["objectives"]) >= 3
    assert all(p in LAB_IDS and p < m["id"] for p in m["prerequisites"]), "prerequisites are earlier labs"
    assert m["parameters"] == {"FAST": True}
    assert all((lab.dir / c["file"]).is_file() for c in m["checks"])
    assert sorted(p.name for p in lab.dir.iterdir() if not p.name.startswith(".")) == sorted(
        ["hidden", "lab.toml", m["notebook"]]
    )


def test_manifest_points_equal_the_test_cells_points_plus_the_checks_points(lab):
    cells = graded_cells(lab.notebook)
    total = sum(grade_meta(c)["points"] for c in cells.values()) + sum(c["points"] for c in lab.manifest["checks"])
    assert lab.manifest["points"] == total


def test_notebook_is_valid_nbformat_with_a_python_kernel_and_no_outputs(lab):
    nb = lab.notebook
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert all(not c.outputs and c.execution_count is None for c in nb.cells if c.cell_type == "code")


def test_first_code_cell_is_the_parameters_cell_in_full_mode(lab):
    first = next(c for c in lab.notebook.cells if c.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", [])
    assert re.search(r"^FAST = False$", first.source, re.M)


def test_tasks_are_numbered_after_the_lab_and_each_has_a_heading_a_solution_cell_and_a_test_cell_in_that_order(lab):
    nb = lab.notebook
    solutions, tests = solution_cells(nb), graded_cells(nb)
    tasks = _tasks(lab)
    number = int(lab.manifest["id"].split("-")[0])
    assert tasks == [f"{number}.{k}" for k in range(1, len(tasks) + 1)] and len(tasks) >= 3
    assert sorted(tests) == sorted(solutions)
    index = {id(c): i for i, c in enumerate(nb.cells)}
    for task in tasks:
        headings = [
            i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith(f"## Task {task} — ")
        ]
        assert len(headings) == 1, f"Task {task}: one markdown heading '## Task {task} — ...'"
        assert headings[0] < index[id(solutions[task])] < index[id(tests[task])]


def test_nbgrader_metadata_of_solution_and_test_cells(lab):
    nb = lab.notebook
    for task, cell in solution_cells(nb).items():
        n = task.replace(".", "_")
        assert grade_meta(cell) == {
            "solution": True,
            "grade": False,
            "locked": False,
            "grade_id": f"task_{n}",
            "schema_version": 3,
        }
    for task, cell in graded_cells(nb).items():
        meta = dict(grade_meta(cell))
        assert meta.pop("points") > 0
        n = task.replace(".", "_")
        assert meta == {"grade": True, "solution": False, "locked": True, "grade_id": f"test_{n}", "schema_version": 3}
    grade_ids = [grade_meta(c)["grade_id"] for c in nb.cells if grade_meta(c)]
    assert len(grade_ids) == len(set(grade_ids))


def test_each_test_cell_names_its_task_first_and_only_its_task_and_ends_with_its_hidden_tests(lab):
    for task, cell in graded_cells(lab.notebook).items():
        assert cell.source.splitlines()[0] == f"# Task {task} — tests"
        visible, hidden = split_hidden(cell.source)
        assert cell.source.count(BEGIN_HIDDEN) == 1 and hidden.strip()
        assert f'"Task {task}: visible tests passed"' in visible
        assert set(re.findall(r"Task (\d+\.\d+)", cell.source)) == {task}


def test_each_solution_region_sits_inside_a_function_or_class_decorated_with_its_task(lab):
    for task, cell in solution_cells(lab.notebook).items():
        tree = ast.parse(cell.source)
        decorated = [
            node for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.ClassDef)
            and any(ast.unparse(d) == f"labkit.task('{task}')" for d in node.decorator_list)
        ]  # fmt: skip
        assert decorated, f"Task {task}: no @labkit.task('{task}') in its solution cell"
        region = [i for i, line in enumerate(cell.source.splitlines()) if "### BEGIN SOLUTION" in line]
        spans = [(node.lineno - 1, node.end_lineno - 1) for node in decorated]
        assert region and all(any(a < r <= b for a, b in spans) for r in region)


def test_marker_words_appear_only_in_solution_and_test_cells(lab):
    for cell in lab.notebook.cells:
        if not grade_meta(cell):
            assert "BEGIN SOLUTION" not in cell.source and "HIDDEN TESTS" not in cell.source


def test_release_holds_no_solution_line_and_no_hidden_test_line(lab):
    released = release(lab.notebook)
    text = "\n".join(c.source for c in released.cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert "(hidden)" not in text and "_hidden" not in text  # every hidden message and helper is marked so
    public, secret = [], []  # the source's lines outside / inside solution regions and hidden parts
    for cell in lab.notebook.cells:
        inside = False
        for line in cell.source.splitlines():
            if "### BEGIN SOLUTION" in line or "### BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "### END SOLUTION" in line or "### END HIDDEN TESTS" in line:
                inside = False
            elif line.strip():
                (secret if inside else public).append(line.strip())
    released_lines = {line.strip() for line in text.splitlines()}
    leaked = [line for line in secret if line not in set(public) and line in released_lines]
    assert leaked == []
    assert len(secret) > 300  # the scan saw the solutions and hidden tests
