"""labs/06-compiler: the source notebook runs top to bottom in FAST mode within its time budget (and its hidden check
passes on the memory plan it saved, and fails on a missing, malformed, wrong, overlapping or loose one); its
manifest and cells follow the lab format (labs/README.md; the checks every lab shares are in
test_lab_format.py); the released form hides every solution and hidden test, each stub names its task; every
visible and hidden test fails on the stubs.

The two tests that run the whole notebook (papermill, and in-process in the grader's order) take about a minute
each on 2 quiet cores, so they are marked slow:

    .venv/bin/pytest tests/labs/test_lab06.py -q -p no:xdist            # the format and release checks
    .venv/bin/pytest tests/labs/test_lab06.py -q -p no:xdist -m slow    # the FAST runs
"""

from __future__ import annotations

import ast
import json
import re

import pytest

from tests.labs.notebook_tools import (
    assert_blocked_names_exist,
    assert_hidden_parts_block,
    grade_meta,
    graded_cells,
    load_check,
    load_lab,
    printed_text,
    release,
    run_fast,
    run_in_process,
    run_released,
    solution_cells,
    split_hidden,
)

LAB = load_lab("06-compiler")
NB = LAB.notebook
TASKS = [f"6.{n}" for n in range(1, 8)]
POINTS = {"6.1": 2, "6.2": 4, "6.3": 3, "6.4": 3, "6.5": 4, "6.6": 2, "6.7": 2}
PLAN_FILE = "memory_plan.json"


# ----- the source notebook runs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The source notebook run by papermill in FAST mode in an empty directory: (notebook, seconds, directory)."""
    return run_fast(LAB, tmp_path_factory.mktemp("lab06"))


@pytest.mark.slow
def test_source_notebook_runs_without_error_in_fast_mode_within_the_time_limit(executed):
    nb, seconds, _ = executed
    assert seconds < LAB.manifest["limits"]["timeout_s"], f"FAST run took {seconds:.1f} s"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    printed = printed_text(nb)
    for task in TASKS:
        assert f"Task {task}: visible tests passed" in printed
    print(f"lab 06 FAST run: {seconds:.1f} s")


@pytest.mark.slow
def test_fast_run_measures_every_variant_and_fusion_lowers_the_peak(executed):
    """The measurement cell prints one time per variant (times are machine-dependent: not compared) and the memory
    of the unfused and fused graphs: fusion lowers the peak, each arena lies between its peak and the naive sum;
    the ResNet-8 arena is within 10% of the peak of live bytes."""
    nb, _, _ = executed
    printed = printed_text(nb)
    ms = {m[1].strip(): float(m[2]) for m in re.finditer(r"^(compiled[^\n]*?|eager)\s+([\d.]+) ms", printed, re.M)}
    assert set(ms) == {"eager", "compiled, no passes", "compiled, your fusion", "compiled, dslib default"}, ms
    mem = {
        m[1].strip(): tuple(float(m[k]) for k in (2, 3, 4))
        for m in re.finditer(
            r"^(compiled[^\n]*?) memory: peak\s+([\d.]+) MiB, arena\s+([\d.]+) MiB, naive\s+([\d.]+)", printed, re.M
        )
    }
    before, after = mem["compiled, no passes"], mem["compiled, your fusion"]
    assert after[0] < before[0], mem
    for peak, arena, naive in mem.values():
        assert peak <= arena < naive, mem
    ratio = float(re.search(r"your arena\s+[\d.]+ MiB\s+\(([\d.]+) x the peak\)", printed)[1])
    assert 1.0 <= ratio <= 1.1, ratio
    assert "your memory_timeline == dslib's plan.timeline(): True" in printed  # the training step's plan
    print(f"lab 06 FAST timings (ms): {ms}; memory (peak, arena, naive MiB): {mem}")


@pytest.mark.slow
def test_fast_run_shows_plots_and_the_graph_viewer(executed):
    nb, _, _ = executed
    kinds = [k for c in nb.cells if c.cell_type == "code" for o in c.outputs for k in o.get("data", {})]
    assert kinds.count("image/png") >= 3  # the ResNet-8 arena, the time shares, time and memory
    assert kinds.count("application/vnd.jupyter.widget-view+json") >= 2  # the viewer, before and after planning


@pytest.mark.slow
def test_hidden_artifact_check_passes_on_what_the_fast_run_saved(executed, monkeypatch):
    _, _, workdir = executed
    monkeypatch.chdir(workdir)
    check = load_check(LAB)
    check.test_task_6_5_saved_plan_describes_the_resnet8_graph()
    check.test_task_6_5_saved_plan_is_valid_and_as_tight_as_greedy_by_size()


@pytest.mark.slow
def test_every_test_passes_with_the_hidden_parts_moved_to_the_end_as_the_grader_runs_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parts, _ = run_in_process(NB, LAB.manifest["parameters"])
    failed = [(p.kind, p.task, repr(p.error)) for p in parts if p.error is not None]
    assert failed == []
    assert sorted(p.task for p in parts if p.kind == "hidden") == TASKS
    assert (tmp_path / PLAN_FILE).is_file()


# ----- the hidden artifact check ---------------------------------------------------------------------------------


def _good_plan(check, batch=8) -> dict:
    """A plan of the check's own graph with dslib's greedy placement (no alignment), as the notebook saves it."""
    ref = check._reference(batch)
    spans = {name: (first, last) for name, (_, first, last, _) in ref.items()}
    offsets, arena = check.place(spans, {name: size for name, (_, _, _, size) in ref.items()}, alignment=1)
    buffers = [
        {"node": name, "op": op, "first": first, "last": last, "size": size, "offset": offsets[name]}
        for name, (op, first, last, size) in ref.items()
    ]
    return {"model": "resnet8", "input_shape": [batch, 1, 8, 8], "arena_bytes": arena, "buffers": buffers}


def _both(check):
    check.test_task_6_5_saved_plan_describes_the_resnet8_graph()
    check.test_task_6_5_saved_plan_is_valid_and_as_tight_as_greedy_by_size()


def test_hidden_artifact_check_passes_on_a_greedy_plan_and_fails_on_wrong_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check = load_check(LAB)
    path = tmp_path / PLAN_FILE
    with pytest.raises(AssertionError, match=f"Task 6.5: {PLAN_FILE} was not saved"):
        _both(check)
    path.write_text("{not json")
    with pytest.raises(AssertionError, match="Task 6.5: .* is not JSON"):
        _both(check)
    good = _good_plan(check)
    path.write_text(json.dumps(good))
    _both(check)  # the reference plan passes both tests

    def fails(plan, match, test="describes"):
        path.write_text(json.dumps(plan))
        fn = getattr(check, next(n for n in dir(check) if n.startswith("test_") and test in n))
        with pytest.raises(AssertionError, match=match):
            fn()

    fails({**good, "input_shape": [8, 3, 32, 32]}, "input_shape must be")
    fails({**good, "buffers": good["buffers"][1:]}, "missing")
    late = [dict(b, last=b["last"] + 1) if i == 3 else b for i, b in enumerate(good["buffers"])]
    fails({**good, "buffers": late}, "differ")  # a lifetime one step too long
    stacked = [dict(b, offset=0) for b in good["buffers"]]  # everything at offset 0: overlaps
    fails({**good, "buffers": stacked, "arena_bytes": max(b["size"] for b in stacked)}, "overlap", "valid")
    offsets, top = [], 0  # every buffer its own slot: valid, but far above greedy by size
    for b in good["buffers"]:
        offsets.append(dict(b, offset=top))
        top += b["size"]
    fails({**good, "buffers": offsets, "arena_bytes": top}, "above greedy by size", "valid")
    fails({**good, "arena_bytes": good["arena_bytes"] + 64}, "highest offset", "valid")


# ----- the manifest and the cells follow the format -------------------------------------------------------------


def test_manifest_points_equal_the_test_cells_points_plus_the_checks_points():
    cells = graded_cells(NB)
    assert {task: grade_meta(c)["points"] for task, c in cells.items()} == POINTS
    total = sum(POINTS.values()) + sum(c["points"] for c in LAB.manifest["checks"])
    assert LAB.manifest["points"] == total == 23


def test_manifest_fields():
    m = LAB.manifest
    assert m["id"] == LAB.dir.name == "06-compiler"
    assert m["stage"] == "advanced" and m["prerequisites"] == ["01-autograd", "02-resnet"] and m["hours"] > 0
    assert len(m["objectives"]) >= 3
    assert m["parameters"] == {"FAST": True}
    assert m["notebook"] == "compiler.ipynb"
    assert (LAB.dir / m["checks"][0]["file"]).is_file()


def test_no_cell_after_a_task_redefines_a_task_name_or_a_given_class():
    """The grader moves hidden parts to the end: a later cell redefining `fuse` would change what they test."""
    defined: dict[str, int] = {}
    for i, cell in enumerate(NB.cells):
        if cell.cell_type != "code":
            continue
        source = split_hidden(cell.source)[0] if grade_meta(cell).get("grade") else cell.source
        for node in ast.parse("\n".join(line for line in source.splitlines() if not line.startswith("%"))).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                assert node.name not in defined, f"{node.name} defined in cells {defined[node.name]} and {i}"
                defined[node.name] = i


def test_notebook_links_the_dslib_source_files_it_teaches():
    text = "\n".join(c.source for c in NB.cells if c.cell_type == "markdown")
    for path in ("dslib/graph/ir.py", "dslib/graph/passes/fusion.py", "dslib/graph/memory_plan.py", "dslib/profiler/"):
        assert f"(../../{path})" in text, path
        assert (LAB.dir / "../.." / path).resolve().exists(), path


BLOCKED_IN = {  # a name each hidden part must block while the student's code runs
    "6.1": ("dslib.graph.ir.Graph.users", "dslib.graph.memory_plan.nbytes"),
    "6.2": ("dslib.graph.passes.fusion.fuse_elementwise",),
    "6.3": ("dslib.graph.passes.fusion.fuse_elementwise",),
    "6.4": ("dslib.graph.memory_plan.liveness", "dslib.graph.executor.Executor.__init__"),
    "6.5": ("dslib.graph.memory_plan.place", "dslib.graph.memory_plan.plan_memory"),
    "6.6": ("dslib.profiler.averages.KeyAverages.table",),
    "6.7": ("dslib.graph.memory_plan.MemoryPlan.timeline", "labkit.compiler_widgets.live_bytes"),
}


def test_every_hidden_part_blocks_the_reference_while_the_students_code_runs():
    assert_hidden_parts_block(NB, BLOCKED_IN)


def test_every_blocked_name_exists():
    """A renamed reference would make reference_blocked raise ValueError in a hidden part: catch it here."""
    import labkit.compiler_widgets  # noqa: F401 - the notebook imports it, so its names can be blocked

    assert_blocked_names_exist(NB)


# ----- the released notebook --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def released():
    return release(NB)


@pytest.fixture(scope="module")
def released_run(released, tmp_path_factory):
    """The released notebook run in-process in the grader's order (hidden parts from the source, at the end)."""
    return run_released(LAB, released, tmp_path_factory.mktemp("lab06-released"))


def _stub_calls(namespace):
    """(task, name, call) for every task function of the release, with arguments that reach the stub's body."""
    import dslib

    ns = namespace
    graph = ns["raw"].graph  # the captured GeluMLP block (a given cell)
    return [
        ("6.1", "value_bytes", lambda: ns["value_bytes"](((2, 3), "float32"))),
        ("6.1", "readers", lambda: ns["readers"](graph)),
        ("6.2", "is_fusible", lambda: ns["is_fusible"](graph.nodes[-1])),
        ("6.2", "fusion_groups", lambda: ns["fusion_groups"](graph)),
        ("6.3", "fuse_group", lambda: ns["fuse_group"](graph.nodes[-2:])),
        ("6.3", "fuse", lambda: ns["fuse"](graph)),
        ("6.4", "lifetimes", lambda: ns["lifetimes"](graph)),
        ("6.5", "plan_offsets", lambda: ns["plan_offsets"]({"a": (0, 1)}, {"a": 4})),
        ("6.6", "time_by_kind", lambda: ns["time_by_kind"]([])),
        ("6.6", "bottleneck", lambda: ns["bottleneck"]([])),
        ("6.7", "median_time", lambda: ns["median_time"](dslib.zeros, 1)),
        ("6.7", "memory_timeline", lambda: ns["memory_timeline"]({}, {}, 1)),
    ]


def test_released_stubs_raise_not_implemented_naming_their_task(released_run, released):
    parts, namespace, _ = released_run
    assert all(p.error is None for p in parts if p.kind == "solution")  # defining the stubs works
    calls = _stub_calls(namespace)
    assert sorted({task for task, _, _ in calls}) == sorted(solution_cells(released)) == TASKS
    for task, name, call in calls:
        with pytest.raises(NotImplementedError, match=rf"^Task {re.escape(task)} — not implemented yet") as info:
            call()
        assert name in str(info.value), (task, name, str(info.value))


def test_every_visible_and_hidden_test_fails_on_the_released_stubs(released_run):
    parts, _, workdir = released_run
    passing = [(p.kind, p.task) for p in parts if p.kind in ("visible", "hidden") and p.error is None]
    assert passing == []
    assert sorted(p.task for p in parts if p.kind == "hidden") == TASKS
    assert not (workdir / PLAN_FILE).exists()  # nothing planned, nothing saved
