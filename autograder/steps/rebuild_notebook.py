"""RebuildNotebook: the notebook the grader executes, built from the instructor's notebook and the student's answers.

Instructor metadata always wins. Starting from the instructor's notebook (the nbgrader *source*, hidden tests
included), the rebuilt notebook holds:
- every instructor cell that carries an nbgrader grade_id and is a grade, solution or locked cell (the "anchors"),
  in the instructor's order, with the instructor's source and metadata (points, grade ids, flags), and the
  instructor's papermill `parameters` cell (locked or not: a student cannot move or change grading parameters);
- in each solution anchor, the student's source for that grade_id (the first student cell with that grade_id and a
  solution flag), or the released stub when the student has none;
- every student cell without nbgrader claims ("free" cells: notes, scratch code) right after the anchor it followed
  in the student's notebook, its metadata reduced to nothing the grader or papermill reads.
Student cells that claim a test grade_id, an unknown grade_id, or a grade_id already taken are dropped.

Then every test cell is SPLIT (`split_hidden_tests`): its visible part stays in place and its hidden part (the
lines between nbgrader's `### BEGIN HIDDEN TESTS` / `### END HIDDEN TESTS`, matched the way nbgrader's
ClearHiddenTests matches them) moves to the end of the notebook, in order, so no hidden test text reaches the kernel
before every student cell has run. Each cell carries `metadata.dscourse = {"grade_id", "part"}` so Score can map
executed cells back to grade ids (papermill inserts a cell, so indices shift); `merge_hidden_tests` undoes the split
for the autograded notebook that formgrader shows.
"""

from __future__ import annotations

import copy

import nbformat

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"  # nbgrader's ClearHiddenTests.begin_test_delimeter (substring match)
END_HIDDEN = "END HIDDEN TESTS"
PARAMETERS = "(parameters)"  # the anchor key of the instructor's papermill `parameters` cell (not a grade_id)


def nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def is_test(cell) -> bool:
    """An autograded test cell: nbgrader grade=True and solution=False."""
    m = nbgrader_meta(cell)
    return bool(m.get("grade")) and not m.get("solution") and bool(m.get("grade_id"))


def is_solution(cell) -> bool:
    m = nbgrader_meta(cell)
    return bool(m.get("solution")) and bool(m.get("grade_id"))


def is_anchor(cell) -> bool:
    """An instructor cell the student cannot change: it has a grade_id and is a grade, solution or locked cell."""
    m = nbgrader_meta(cell)
    return bool(m.get("grade_id")) and bool(m.get("grade") or m.get("solution") or m.get("locked"))


def split_hidden_tests(source: str) -> tuple[str, str]:
    """Split a test cell's source into (visible, hidden), parsing nbgrader's hidden-test markers exactly as
    nbgrader's ClearHiddenTests does (a line containing "BEGIN HIDDEN TESTS" opens a region, one containing
    "END HIDDEN TESTS" closes it; marker lines belong to neither part). Several regions are joined in order."""
    visible, hidden = [], []
    in_hidden = False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            if in_hidden:
                raise ValueError("nested '### BEGIN HIDDEN TESTS' (close the first region with '### END HIDDEN TESTS')")
            in_hidden = True
        elif END_HIDDEN in line:
            if not in_hidden:
                raise ValueError("'### END HIDDEN TESTS' without a '### BEGIN HIDDEN TESTS' before it")
            in_hidden = False
        else:
            (hidden if in_hidden else visible).append(line)
    if in_hidden:
        raise ValueError("'### BEGIN HIDDEN TESTS' without a matching '### END HIDDEN TESTS'")
    return "\n".join(visible).rstrip() + "\n", "\n".join(hidden).strip("\n") + ("\n" if hidden else "")


def strip_hidden_tests(nb):
    """A copy of `nb` with every hidden-test region removed (what a student's own notebook can hold)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = split_hidden_tests(cell.source)[0] if BEGIN_HIDDEN in cell.source else cell.source
    return nb


def rebuild_notebook(instructor, student, released=None):
    """The notebook to execute: instructor anchors + student answers + student free cells, tests split.

    instructor: the instructor's notebook (source, hidden tests included; for `dscourse check` the student's own
        notebook with hidden regions stripped). student: the submitted notebook. released: the student version
        (stubs for missing solutions); defaults to `instructor` itself.
    """
    released = released if released is not None else instructor
    anchors = [c for c in instructor.cells if _anchor_key(c)]
    anchor_ids = {_anchor_key(c) for c in anchors}
    solution_ids = {nbgrader_meta(c)["grade_id"] for c in anchors if is_solution(c)}
    stubs = {nbgrader_meta(c)["grade_id"]: c for c in released.cells if is_solution(c)}

    answers, free_after = {}, {None: []}  # grade_id -> student source; anchor key -> free cells after it
    last_anchor = None
    for cell in student.cells:
        meta = nbgrader_meta(cell)
        key = meta.get("grade_id") or (PARAMETERS if _has_parameters_tag(cell) else None)
        if key in solution_ids and key not in answers:  # matched by grade_id alone: its flags are ignored
            answers[key] = cell.get("source", "")
            last_anchor = key
        elif key in anchor_ids and key not in answers and key not in free_after:
            last_anchor = key  # the student's copy of an instructor cell: replaced by the instructor's
            free_after.setdefault(key, [])
        elif _claims_nothing(meta) and cell.get("cell_type") in ("code", "markdown", "raw"):
            free_after.setdefault(last_anchor, []).append(_free_cell(cell))
        # else: a duplicated grade_id, a test/unknown grade_id, or a solution re-pointed elsewhere: dropped

    out = nbformat.v4.new_notebook(metadata=copy.deepcopy(instructor.metadata))
    out.cells.extend(free_after[None])
    hidden_cells, seen = [], set()
    for cell in instructor.cells:
        gid = _anchor_key(cell)
        if gid is None or gid in seen:
            continue  # an unlocked instructor cell: the student's copy (a free cell) stands in for it
        seen.add(gid)
        cell = _clean(copy.deepcopy(cell))
        if gid in solution_ids:
            stub = stubs.get(gid, cell)
            cell.source = answers.get(gid, stub.source)
            cell.metadata.dscourse = {"grade_id": gid, "part": "solution", "answered": gid in answers}
        elif is_test(cell):
            visible, hidden = split_hidden_tests(cell.source)
            cell.source = visible
            cell.metadata.dscourse = {"grade_id": gid, "part": "visible"}
            if hidden:
                hidden_cell = nbformat.v4.new_code_cell(hidden)
                hidden_cell.metadata.dscourse = {"grade_id": gid, "part": "hidden"}
                hidden_cells.append(hidden_cell)
        out.cells.append(cell)
        out.cells.extend(free_after.get(gid, []))
    out.cells.extend(hidden_cells)
    for i, cell in enumerate(out.cells):
        cell.id = f"cell-{i}"  # unique ids: student copies may repeat the instructor's
    return out


def merge_hidden_tests(nb):
    """Undo the split on an executed notebook: each hidden part's source and outputs go back into its test cell
    (the shape nbgrader's formgrader expects), and the `dscourse` metadata is removed."""
    nb = copy.deepcopy(nb)
    hidden = {c.metadata.dscourse["grade_id"]: c for c in nb.cells if _part(c) == "hidden"}
    cells = []
    for cell in nb.cells:
        if _part(cell) == "hidden":
            continue
        gid = cell.metadata.get("dscourse", {}).get("grade_id")
        if _part(cell) == "visible" and gid in hidden:
            h = hidden[gid]
            cell.source = cell.source.rstrip("\n") + "\n### BEGIN HIDDEN TESTS\n" + h.source + "### END HIDDEN TESTS"
            cell.outputs = list(cell.get("outputs", [])) + list(h.get("outputs", []))
        cell.metadata.pop("dscourse", None)
        cells.append(cell)
    nb.cells = cells
    return nb


def _anchor_key(cell) -> str | None:
    """The key an instructor cell is matched by: its grade_id if it is an nbgrader anchor; PARAMETERS for the
    papermill `parameters` cell even when unlocked (the grading parameters must land after the instructor's)."""
    if is_anchor(cell):
        return nbgrader_meta(cell)["grade_id"]
    return PARAMETERS if _has_parameters_tag(cell) else None


def _has_parameters_tag(cell) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return isinstance(tags, list) and "parameters" in tags


def _part(cell) -> str | None:
    d = cell.get("metadata", {}).get("dscourse")
    return d.get("part") if isinstance(d, dict) else None


def _claims_nothing(meta: dict) -> bool:
    return not (meta.get("grade_id") or meta.get("grade") or meta.get("solution") or meta.get("locked"))


def _free_cell(cell):
    """A student-added cell with only its type and source: no nbgrader, papermill or dscourse metadata."""
    kind = cell.get("cell_type")
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    if kind == "code":
        return nbformat.v4.new_code_cell(source)
    if kind == "markdown":
        return nbformat.v4.new_markdown_cell(source)
    return nbformat.v4.new_raw_cell(source)


def _clean(cell):
    """An instructor cell without outputs or execution count, ready to run."""
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    cell.metadata.pop("dscourse", None)
    return cell
