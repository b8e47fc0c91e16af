"""labs/04-vit: the source notebook runs top to bottom in FAST mode within its time budget (and its hidden check
passes on the DS-ViT it saved, and fails on a missing, foreign, half-unlocked or untrained one); its manifest and
cells follow the lab format (labs/README.md); the released form hides every solution and hidden test, each stub
names its task; every visible and hidden test fails on the stubs.

The two tests that run the whole notebook (papermill, and in-process in the grader's order) train the model for
about a minute each on 2 quiet cores, so they are marked slow:

    .venv/bin/pytest tests/labs/test_lab04.py -q            # the format and release checks (seconds)
    .venv/bin/pytest tests/labs/test_lab04.py -q -m slow    # the FAST runs

The format checks every lab shares are in test_lab_format.py.
"""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest

from tests.labs.notebook_tools import (
    assert_blocked_names_exist,
    assert_hidden_parts_block,
    grade_meta,
    graded_cells,
    load_check,
    load_lab,
    release,
    run_fast,
    run_in_process,
    run_released,
    solution_cells,
    split_hidden,
)

LAB = load_lab("04-vit")
NB = LAB.notebook
TASKS = [f"4.{n}" for n in range(1, 9)]
POINTS = {"4.1": 2, "4.2": 3, "4.3": 3, "4.4": 2, "4.5": 3, "4.6": 4, "4.7": 3, "4.8": 2}
MODEL_FILE = "ds_vit_digits.ckpt"
CONFIG = dict(image_size=8, patch_size=1, in_channels=1, num_classes=10, embed_dim=32, depth=2, num_heads=4,
              mlp_ratio=2.0, window_size=3, shift=True)  # fmt: skip


# ----- the source notebook runs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The source notebook run by papermill in FAST mode in an empty directory: (notebook, seconds, directory)."""
    return run_fast(LAB, tmp_path_factory.mktemp("lab04"))


@pytest.mark.slow
def test_source_notebook_runs_without_error_in_fast_mode_within_the_time_limit(executed):
    nb, seconds, _ = executed
    assert seconds < LAB.manifest["limits"]["timeout_s"], f"FAST run took {seconds:.1f} s"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    for task in TASKS:
        assert f"Task {task}: visible tests passed" in printed
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", printed)[1]) / 100
    assert accuracy >= load_check(LAB).MIN_ACCURACY + 0.05  # the FAST model clears the check with a margin
    print(f"lab 04 FAST run: {seconds:.1f} s, test accuracy {accuracy:.1%}")


@pytest.mark.slow
def test_fast_run_shows_plots_and_the_attention_viewer(executed):
    nb, _, _ = executed
    kinds = [k for c in nb.cells if c.cell_type == "code" for o in c.outputs for k in o.get("data", {})]
    assert kinds.count("image/png") >= 6  # digits, windows, masks, FLOPs, training curves, attention map
    assert "application/vnd.jupyter.widget-view+json" in kinds


@pytest.mark.slow
def test_hidden_artifact_check_passes_on_what_the_fast_run_saved(executed, monkeypatch):
    _, _, workdir = executed
    monkeypatch.chdir(workdir)
    check = load_check(LAB)
    check.test_task_4_8_saved_model_is_a_ds_vit_with_every_head_unlocked()
    check.test_task_4_8_saved_model_classifies_held_out_digits()


@pytest.mark.slow
def test_every_test_passes_with_the_hidden_parts_moved_to_the_end_as_the_grader_runs_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parts, _ = run_in_process(NB, LAB.manifest["parameters"])
    failed = [(p.kind, p.task, repr(p.error)) for p in parts if p.error is not None]
    assert failed == []
    assert sorted(p.task for p in parts if p.kind == "hidden") == TASKS
    assert (tmp_path / MODEL_FILE).is_file()


# ----- the hidden artifact check ---------------------------------------------------------------------------------


def _save(path, config, state_dict):
    import dslib

    dslib.save({"config": config, "state_dict": state_dict}, path)


def test_hidden_artifact_check_fails_without_a_model_or_with_a_wrong_one(tmp_path, monkeypatch):
    import dslib
    from dslib.models import ds_vit, vit

    monkeypatch.chdir(tmp_path)
    check = load_check(LAB)
    path = tmp_path / MODEL_FILE
    with pytest.raises(AssertionError, match=f"Task 4.8: {MODEL_FILE} was not saved"):
        check.test_task_4_8_saved_model_is_a_ds_vit_with_every_head_unlocked()
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(AssertionError, match="Task 4.8: .* is not a file written by dslib.save"):
        check.test_task_4_8_saved_model_is_a_ds_vit_with_every_head_unlocked()
    dslib.save(ds_vit(**CONFIG).state_dict(), path)  # a bare state dict, no config
    with pytest.raises(AssertionError, match='Task 4.8: .* must hold {"config": ..., "state_dict": ...}'):
        check.test_task_4_8_saved_model_is_a_ds_vit_with_every_head_unlocked()
    _save(path, {**CONFIG, "image_size": 32}, ds_vit(**CONFIG).state_dict())
    with pytest.raises(AssertionError, match="Task 4.8: the saved model must take 8x8 one-channel digits"):
        check.test_task_4_8_saved_model_is_a_ds_vit_with_every_head_unlocked()
    _save(path, {**CONFIG, "window_size": None}, ds_vit(**CONFIG).state_dict())  # a plain ViT is not a DS-ViT
    with pytest.raises(AssertionError, match="Task 4.8: config window_size must be an int"):
        check.test_task_4_8_saved_model_is_a_ds_vit_with_every_head_unlocked()
    _save(path, {**CONFIG, "pool": "cls"}, ds_vit(**CONFIG).state_dict())
    with pytest.raises(AssertionError, match="keys a DS-ViT does not take: \\['pool'\\]"):
        check.test_task_4_8_saved_model_is_a_ds_vit_with_every_head_unlocked()
    kw = {k: v for k, v in CONFIG.items() if k not in ("window_size", "shift")}
    _save(path, CONFIG, vit(**kw, pool="cls").state_dict())  # a foreign state dict (class token, no bias tables)
    with pytest.raises(AssertionError, match="Task 4.8: the saved state dict does not fit dslib.models.ds_vit"):
        check.test_task_4_8_saved_model_is_a_ds_vit_with_every_head_unlocked()
    half = ds_vit(**CONFIG)
    half.set_active_heads(2)
    _save(path, CONFIG, half.state_dict())
    with pytest.raises(AssertionError, match="Task 4.8: blocks.0.attn.head_mask is \\[1.0, 1.0, 0.0, 0.0\\]"):
        check.test_task_4_8_saved_model_is_a_ds_vit_with_every_head_unlocked()
    dslib.manual_seed(0)
    _save(path, CONFIG, ds_vit(**CONFIG).state_dict())  # the right architecture, never trained
    check.test_task_4_8_saved_model_is_a_ds_vit_with_every_head_unlocked()
    with pytest.raises(AssertionError, match="Task 4.8: held-out accuracy"):
        check.test_task_4_8_saved_model_classifies_held_out_digits()


def test_hidden_check_uses_the_notebooks_held_out_split():
    """The check's 360 digits are Digits(train=False), pixels scaled as the notebook does."""
    x, y = load_check(LAB).held_out_digits()
    assert x.shape == (360, 1, 8, 8) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert np.bincount(y).min() >= 35  # stratified: every class is there
    assert "X_test = test_set.data.transpose(0, 3, 1, 2).astype(np.float32) / 255.0" in _given_source()


def _given_source() -> str:
    return "\n".join(c.source for c in NB.cells if c.cell_type == "code" and not grade_meta(c))


# ----- the manifest and the cells follow the format -------------------------------------------------------------


def test_manifest_points_equal_the_test_cells_points_plus_the_checks_points():
    cells = graded_cells(NB)
    assert {task: grade_meta(c)["points"] for task, c in cells.items()} == POINTS
    total = sum(POINTS.values()) + sum(c["points"] for c in LAB.manifest["checks"])
    assert LAB.manifest["points"] == total == 25


def test_manifest_fields():
    m = LAB.manifest
    assert m["id"] == LAB.dir.name == "04-vit"
    assert m["stage"] == "advanced" and m["prerequisites"] == ["01-autograd", "02-resnet"] and m["hours"] > 0
    assert len(m["objectives"]) >= 3
    assert m["parameters"] == {"FAST": True}
    assert all((LAB.dir / c["file"]).is_file() for c in m["checks"])
    assert sorted(p.name for p in LAB.dir.iterdir() if not p.name.startswith(".")) == [
        "hidden",
        "lab.toml",
        "vit.ipynb",
    ]


def test_no_cell_after_a_task_redefines_a_task_name_or_a_given_class():
    """The grader moves hidden parts to the end: a later cell redefining `Attention` would change what they test."""
    defined: dict[str, int] = {}
    for i, cell in enumerate(NB.cells):
        if cell.cell_type != "code":
            continue
        source = split_hidden(cell.source)[0] if grade_meta(cell).get("grade") else cell.source
        for node in ast.parse("\n".join(line for line in source.splitlines() if not line.startswith("%"))).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                assert node.name not in defined, f"{node.name} defined in cells {defined[node.name]} and {i}"
                defined[node.name] = i


BLOCKED_IN = {  # a name each hidden part must block while the student's code runs
    "4.1": ("dslib.nn.functional.conv2d", "torch.nn.functional.conv2d", "dslib.models.vit.PatchEmbed.forward"),
    "4.2": ("dslib.nn.functional.scaled_dot_product_attention", "torch.nn.functional.scaled_dot_product_attention"),
    "4.3": ("dslib.models.attention.Attention.forward", "torch.nn.MultiheadAttention.forward"),
    "4.4": ("dslib.models.window_attention.window_partition", "dslib.models.window_attention.window_reverse"),
    "4.5": ("dslib.models.window_attention.relative_position_index",),
    "4.6": ("dslib.models.window_attention.WindowAttention.forward", "dslib.models.window_attention.window_mask"),
    "4.7": ("dslib.models.vit.VisionTransformer.forward", "dslib.models.vit.Block.forward"),
    "4.8": ("dslib.models.vit.ProgressiveHeads.step",),
}


def test_every_hidden_part_blocks_the_reference_while_the_students_code_runs():
    assert_hidden_parts_block(NB, BLOCKED_IN)


def test_every_blocked_name_exists():
    """A renamed reference would make reference_blocked raise ValueError in a hidden part: catch it here."""
    assert_blocked_names_exist(NB)


# ----- the released notebook --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def released():
    return release(NB)


@pytest.fixture(scope="module")
def released_run(released, tmp_path_factory):
    """The released notebook run in-process in the grader's order (hidden parts from the source, at the end)."""
    return run_released(LAB, released, tmp_path_factory.mktemp("lab04-released"))


def _stub_calls(namespace):
    """(task, name, call) for every task function and method of the release, with arguments that get past the
    given argument checks (and the given constructors) to the stub's body."""
    import dslib

    ns = namespace
    images = dslib.zeros(2, 1, 8, 8)
    tokens = dslib.zeros(2, 64, 8)
    grid = dslib.zeros(2, 8, 8, 4)
    windows = dslib.zeros(2, 9, 9, 4)
    mod = dslib.nn.Module()
    return [
        ("4.1", "patchify", lambda: ns["patchify"](images, 2)),
        ("4.1", "forward", lambda: ns["PatchEmbed"](8, 2, 1, 4)(images)),
        ("4.2", "attention_weights", lambda: ns["attention_weights"](tokens, tokens)),
        ("4.2", "scaled_dot_product_attention", lambda: ns["scaled_dot_product_attention"](tokens, tokens, tokens)),
        ("4.3", "forward", lambda: ns["Attention"](8, 2)(tokens)),
        ("4.4", "window_partition", lambda: ns["window_partition"](grid, 3)),
        ("4.4", "window_reverse", lambda: ns["window_reverse"](windows, 3, 8, 8)),
        ("4.5", "relative_position_index", lambda: ns["relative_position_index"](3)),
        ("4.5", "forward", lambda: ns["RelativePositionBias"].forward(mod)),  # its constructor needs 4.5 done
        ("4.6", "window_mask", lambda: ns["window_mask"]((8, 8), 3, 1)),
        ("4.6", "forward", lambda: ns["WindowAttention"](8, 2, relative_position_bias=False)(tokens, (8, 8))),
        ("4.7", "forward", lambda: ns["Block"](8, 2).forward(tokens)),
        ("4.7", "forward", lambda: ns["DSViT"].forward(mod, images)),  # its constructor builds 4.5's bias
        ("4.7", "attention_flops", lambda: ns["attention_flops"]((8, 8), 32)),
        ("4.8", "heads_at", lambda: ns["heads_at"]({0: 1}, 0)),
        ("4.8", "train_progressive", lambda: ns["train_progressive"](mod, None, None, 1, {0: 1})),
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


def test_a_task_that_needs_an_earlier_one_names_the_earlier_task(released_run):
    _, namespace, _ = released_run
    with pytest.raises(NotImplementedError, match=r"^Task 4\.5 — not implemented yet"):
        namespace["WindowAttention"](8, 2)  # its relative position bias is Task 4.5


def test_every_visible_and_hidden_test_fails_on_the_released_stubs(released_run):
    parts, _, workdir = released_run
    passing = [(p.kind, p.task) for p in parts if p.kind in ("visible", "hidden") and p.error is None]
    assert passing == []
    assert sorted(p.task for p in parts if p.kind == "hidden") == TASKS
    assert not (workdir / MODEL_FILE).exists()  # nothing trained, nothing saved
