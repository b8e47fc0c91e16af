"""autograder/steps/rebuild_notebook.py: instructor cells win, student answers are kept, hidden tests go last."""

from __future__ import annotations

import copy

import nbformat
import pytest
from nbgrader.preprocessors import ClearHiddenTests

from autograder.steps.rebuild_notebook import (
    merge_hidden_tests,
    rebuild_notebook,
    split_hidden_tests,
    strip_hidden_tests,
)
from tests.autograder.support import ADD_OK, HIDDEN_MARKERS, MUL_OK, answer, released_nb, source_nb, stub

TEST_SOURCE = (
    "# Task 1 — tests\nassert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 4, 'secret'\n### END HIDDEN TESTS\n"
)


def gid(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def find(nb, grade_id, part=None):
    cells = [c for c in nb.cells if gid(c) == grade_id or c.metadata.get("dscourse", {}).get("grade_id") == grade_id]
    if part:
        cells = [c for c in cells if c.metadata.get("dscourse", {}).get("part") == part]
    assert len(cells) == 1, [c.source for c in cells]
    return cells[0]


def student_with_answers():
    return answer(answer(released_nb(), "task_0_1", ADD_OK), "task_0_2", MUL_OK)


# --- the hidden-test parser ---------------------------------------------------------------------------------


def test_split_separates_visible_and_hidden_lines():
    visible, hidden = split_hidden_tests(TEST_SOURCE)
    assert visible == "# Task 1 — tests\nassert f(1) == 1\n"
    assert hidden == "assert f(2) == 4, 'secret'\n"


def test_split_joins_several_hidden_regions_in_order():
    src = "a = 1\n### BEGIN HIDDEN TESTS\nh1\n### END HIDDEN TESTS\nb = 2\n### BEGIN HIDDEN TESTS\nh2\n### END HIDDEN TESTS"
    assert split_hidden_tests(src) == ("a = 1\nb = 2\n", "h1\nh2\n")


def test_a_cell_without_markers_has_no_hidden_part():
    assert split_hidden_tests("assert True") == ("assert True\n", "")


@pytest.mark.parametrize(
    "src, message",
    [
        ("### BEGIN HIDDEN TESTS\nx\n", "without a matching"),
        ("### BEGIN HIDDEN TESTS\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS", "nested"),
        ("x\n### END HIDDEN TESTS", "without a '### BEGIN"),
    ],
)
def test_malformed_markers_are_refused(src, message):
    with pytest.raises(ValueError, match=message):
        split_hidden_tests(src)


def test_the_visible_part_is_exactly_what_nbgrader_releases():
    """Our parser and nbgrader's ClearHiddenTests agree on what is hidden, on every test cell of the lab."""
    for cell in source_nb().cells:
        if "BEGIN HIDDEN TESTS" in cell.source:
            theirs = copy.deepcopy(cell)
            ClearHiddenTests()._remove_hidden_test_region(theirs)
            assert split_hidden_tests(cell.source)[0].strip() == theirs.source.strip()


# --- rebuilding ---------------------------------------------------------------------------------------------


def test_student_answers_fill_the_solution_cells():
    nb = rebuild_notebook(source_nb(), student_with_answers(), released_nb())
    assert find(nb, "task_0_1").source == ADD_OK and find(nb, "task_0_2").source == MUL_OK


def test_hidden_parts_move_to_the_end_in_order_and_map_back_to_their_grade_id():
    nb = rebuild_notebook(source_nb(), student_with_answers(), released_nb())
    parts = [
        (c.metadata.dscourse["grade_id"], c.metadata.dscourse["part"]) for c in nb.cells if "dscourse" in c.metadata
    ]
    assert parts[-2:] == [("test_0_1", "hidden"), ("test_0_2", "hidden")]
    assert "HIDDEN_SECRET_0_1" in nb.cells[-2].source and "HIDDEN_SECRET_0_2" in nb.cells[-1].source
    first_hidden = len(nb.cells) - 2
    for cell in nb.cells[:first_hidden]:
        assert not any(m in cell.source for m in HIDDEN_MARKERS), cell.source
    assert find(nb, "test_0_1", "visible").source.startswith("# Task 0.1 — tests")


def test_a_deleted_solution_cell_gets_the_released_stub():
    student = student_with_answers()
    student.cells = [c for c in student.cells if gid(c) != "task_0_2"]
    nb = rebuild_notebook(source_nb(), student, released_nb())
    assert find(nb, "task_0_2").source == stub("task_0_2") and "NotImplementedError" in stub("task_0_2")
    assert find(nb, "task_0_1").source == ADD_OK


def test_deleted_or_edited_test_cells_are_put_back_from_the_instructor():
    student = student_with_answers()
    student.cells = [c for c in student.cells if gid(c) != "test_0_1"]
    edited = find(student, "test_0_2")
    edited.source = "pass  # no tests here"
    edited.metadata.nbgrader["points"] = 100
    edited.metadata.nbgrader["grade"] = False
    nb = rebuild_notebook(source_nb(), student, released_nb())
    assert find(nb, "test_0_1", "visible").metadata.nbgrader["points"] == 2
    t2 = find(nb, "test_0_2", "visible")
    assert t2.source.startswith("# Task 0.2 — tests") and t2.metadata.nbgrader["points"] == 3
    assert t2.metadata.nbgrader["grade"] is True


def test_student_cells_claiming_a_test_grade_id_are_dropped():
    student = student_with_answers()
    fake = nbformat.v4.new_code_cell("print('I am the test now')")
    fake.metadata.nbgrader = {"grade": True, "solution": False, "grade_id": "test_0_1", "points": 50}
    student.cells.insert(0, fake)
    nb = rebuild_notebook(source_nb(), student, released_nb())
    assert not any("I am the test now" in c.source for c in nb.cells)


def test_a_duplicated_solution_cell_counts_once_the_first_copy():
    student = student_with_answers()
    dup = copy.deepcopy(find(student, "task_0_1"))
    dup.source = "def add(a, b):\n    return 0"
    student.cells.append(dup)
    nb = rebuild_notebook(source_nb(), student, released_nb())
    assert find(nb, "task_0_1").source == ADD_OK
    assert not any("return 0" in c.source for c in nb.cells)


def test_a_solution_repointed_to_a_test_grade_id_is_dropped():
    student = student_with_answers()
    sol = find(student, "task_0_1")
    sol.metadata.nbgrader.update(grade_id="test_0_1", grade=True, solution=False, points=99)
    nb = rebuild_notebook(source_nb(), student, released_nb())
    assert find(nb, "task_0_1").source == stub("task_0_1")
    assert find(nb, "test_0_1", "visible").metadata.nbgrader["points"] == 2


def test_a_solution_with_flipped_flags_keeps_its_source_under_instructor_metadata():
    student = student_with_answers()
    find(student, "task_0_1").metadata.nbgrader.update(grade=True, solution=False, points=99)
    nb = rebuild_notebook(source_nb(), student, released_nb())
    sol = find(nb, "task_0_1")
    assert sol.source == ADD_OK
    assert sol.metadata.nbgrader["solution"] is True and "points" not in sol.metadata.nbgrader


def test_student_added_cells_stay_after_the_cell_they_followed_without_metadata():
    student = student_with_answers()
    i = student.cells.index(find(student, "task_0_1"))
    extra = nbformat.v4.new_code_cell("helper = 41 + 1")
    extra.metadata.tags = ["parameters"]  # must not hijack papermill's parameter injection
    extra.metadata.nbgrader = {"grade": False, "solution": False, "locked": False}
    extra.metadata.dscourse = {"grade_id": "test_0_1", "part": "visible"}
    student.cells.insert(i + 1, extra)
    nb = rebuild_notebook(source_nb(), student, released_nb())
    j = nb.cells.index(find(nb, "task_0_1"))
    assert nb.cells[j + 1].source == "helper = 41 + 1"
    assert dict(nb.cells[j + 1].metadata) == {}
    assert nb.cells[j + 2] is find(nb, "test_0_1", "visible")


def test_cell_ids_are_unique_and_outputs_cleared():
    student = student_with_answers()
    student.cells.append(copy.deepcopy(student.cells[-1]))
    for c in student.cells:
        if c.cell_type == "code":
            c.execution_count = 7
            c.outputs = [nbformat.v4.new_output("stream", text="old")]
    nb = rebuild_notebook(source_nb(), student, released_nb())
    assert len({c.id for c in nb.cells}) == len(nb.cells)
    assert all(c.execution_count is None for c in nb.cells if c.cell_type == "code")
    nbformat.validate(nb)


def test_merge_puts_hidden_parts_back_into_their_test_cells():
    nb = rebuild_notebook(source_nb(), student_with_answers(), released_nb())
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", text="hidden ran")]
    merged = merge_hidden_tests(nb)
    t2 = find(merged, "test_0_2")
    assert "### BEGIN HIDDEN TESTS" in t2.source and "HIDDEN_SECRET_0_2" in t2.source
    assert t2.outputs[-1].text == "hidden ran"
    assert not any("dscourse" in c.metadata for c in merged.cells)
    assert len(merged.cells) == len(nb.cells) - 2


def test_strip_hidden_tests_leaves_no_hidden_text_and_keeps_the_source_intact():
    src = source_nb()
    stripped = strip_hidden_tests(src)
    assert not any(m in c.source for c in stripped.cells for m in HIDDEN_MARKERS)
    assert any("HIDDEN_SECRET_0_1" in c.source for c in src.cells)


def test_the_instructors_parameters_cell_wins_even_when_unlocked():
    """papermill injects the grading parameters after the `parameters` cell: the student cannot edit or move it."""
    instructor = source_nb()
    del instructor.cells[0].metadata["nbgrader"]  # an unlocked parameters cell, as some labs have
    student = student_with_answers()
    params = student.cells[0]
    del params.metadata["nbgrader"]
    params.source = "FAST = False\nN = 10**9"
    student.cells.append(student.cells.pop(0))  # moved to the end, too
    nb = rebuild_notebook(instructor, student, released_nb())
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is nb.cells[0]
    assert tagged[0].source.startswith("FAST = False  # papermill parameter")
    assert not any("10**9" in c.source for c in nb.cells)
