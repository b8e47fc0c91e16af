"""labs/03-training: the source notebook runs top to bottom in FAST mode within its time budget (and its hidden check
passes on the model it saved, and fails on a missing, foreign, untrained or off-schedule one); its manifest and
cells follow the lab format (labs/README.md); every hidden part blocks the reference it re-implements, by names
that exist; the released form hides every solution and hidden test, each stub names its task; every visible and
hidden test fails on the stubs.

The two tests that run the whole source notebook (papermill, and in-process in the grader's order) take about a
minute each on 2 busy cores, so they are marked slow:

    .venv/bin/pytest tests/labs/test_lab03.py -q            # the format, check and release tests
    .venv/bin/pytest tests/labs/test_lab03.py -q -m slow    # the FAST runs

The format checks every lab shares are in test_lab_format.py.
"""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest

from tests.labs.notebook_tools import (
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

LAB = load_lab("03-training")
NB = LAB.notebook
TASKS = [f"3.{n}" for n in range(1, 7)]
POINTS = {"3.1": 4, "3.2": 4, "3.3": 3, "3.4": 4, "3.5": 3, "3.6": 3}
MODEL_FILE = "digits_mlp.dslib"


# ----- the source notebook runs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The source notebook run by papermill in FAST mode in an empty directory: (notebook, seconds, directory)."""
    return run_fast(LAB, tmp_path_factory.mktemp("lab03"))


@pytest.mark.slow
def test_source_notebook_runs_without_error_in_fast_mode_within_the_time_limit(executed):
    nb, seconds, _ = executed
    assert seconds < LAB.manifest["limits"]["timeout_s"], f"FAST run took {seconds:.1f} s"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    printed = printed_text(nb)
    for task in TASKS:
        assert f"Task {task}: visible tests passed" in printed
    accuracy = float(re.search(r"held-out accuracy ([\d.]+)%", printed)[1]) / 100
    assert accuracy >= load_check(LAB).MIN_ACCURACY + 0.02  # the FAST model clears the check with a margin
    print(f"lab 03 FAST run: {seconds:.1f} s, held-out accuracy {accuracy:.1%}")


@pytest.mark.slow
def test_fast_run_shows_the_measurements_plots_and_the_schedule_explorer(executed):
    nb, _, _ = executed
    kinds = [k for c in nb.cells if c.cell_type == "code" for o in c.outputs for k in o.get("data", {})]
    # faults, prefetch timing, accumulation, loss scale, schedule figure, training curves, gradients, warmup
    assert kinds.count("image/png") >= 8
    assert "application/vnd.jupyter.widget-view+json" in kinds
    printed = printed_text(nb)
    gap = float(re.search(r"accumulated vs batch 64, over \d+ steps: ([\d.e+-]+)", printed)[1])
    assert gap < 1e-4  # the accumulation demo shows the equality it claims
    assert re.search(r"accelerator step, prefetch=2: waiting [\d.]+ ms", printed)


@pytest.mark.slow
def test_hidden_artifact_check_passes_on_what_the_fast_run_saved(executed, monkeypatch):
    _, _, workdir = executed
    monkeypatch.chdir(workdir)
    check = load_check(LAB)
    check.test_task_3_6_saved_file_holds_the_model_its_config_and_its_history()
    check.test_task_3_6_saved_model_classifies_held_out_digits()
    check.test_task_3_6_saved_history_follows_the_schedule_and_the_loss_falls()


@pytest.mark.slow
def test_every_test_passes_with_the_hidden_parts_moved_to_the_end_as_the_grader_runs_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parts, _ = run_in_process(NB, LAB.manifest["parameters"])
    failed = [(p.kind, p.task, repr(p.error)) for p in parts if p.error is not None]
    assert failed == []
    assert sorted(p.task for p in parts if p.kind == "hidden") == TASKS
    assert (tmp_path / MODEL_FILE).is_file()


# ----- the hidden artifact check ---------------------------------------------------------------------------------


def _trained_mlp(check, steps=150):
    """A reference MLP trained briefly on the training digits with plain SGD (what a correct notebook saves)."""
    import dslib
    import dslib.nn.functional as F
    from dslib.data.datasets import Digits

    ds = Digits(train=True)
    x = np.stack([ds[i][0].numpy() for i in range(len(ds))])
    y = np.array(ds.targets)
    dslib.manual_seed(0)
    model = check.reference_mlp()
    optimizer = dslib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        idx = rng.integers(0, len(x), 64)
        optimizer.zero_grad()
        F.cross_entropy(model(dslib.tensor(x[idx])), dslib.tensor(y[idx])).backward()
        optimizer.step()
    return model


def _history(config, lrs):
    steps = config["steps"]
    return {"loss": list(np.linspace(2.3, 0.2, steps)), "lr": lrs, "scale": [65536.0] * steps}


def test_hidden_artifact_check_fails_without_a_model_or_with_a_wrong_one(tmp_path, monkeypatch):
    import dslib

    monkeypatch.chdir(tmp_path)
    check = load_check(LAB)
    path = tmp_path / MODEL_FILE
    with pytest.raises(AssertionError, match=f"Task 3.6: {MODEL_FILE} was not saved"):
        check.test_task_3_6_saved_file_holds_the_model_its_config_and_its_history()
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(AssertionError, match="Task 3.6: .* is not a file written by dslib.save"):
        check.test_task_3_6_saved_model_classifies_held_out_digits()
    dslib.manual_seed(0)
    dslib.save(check.reference_mlp().state_dict(), path)  # a bare state dict
    with pytest.raises(AssertionError, match="Task 3.6: .* must hold a dict with the keys 'model', 'config'"):
        check.test_task_3_6_saved_file_holds_the_model_its_config_and_its_history()

    config = {"steps": 20, "base_lr": 0.1, "warmup_steps": 2, "eta_min": 0.001}
    lrs = _reference_lrs(0.1, 2, 20, 1e-3, 0.001)[:20]
    foreign = {"0.weight": dslib.zeros(64, 64)}
    dslib.save({"model": foreign, "config": config, "history": _history(config, lrs)}, path)
    with pytest.raises(AssertionError, match="Task 3.6: the saved 'model' is not a state dict of make_mlp"):
        check.test_task_3_6_saved_file_holds_the_model_its_config_and_its_history()

    untrained = check.reference_mlp().state_dict()
    dslib.save({"model": untrained, "config": config, "history": _history(config, lrs)}, path)
    check.test_task_3_6_saved_file_holds_the_model_its_config_and_its_history()
    check.test_task_3_6_saved_history_follows_the_schedule_and_the_loss_falls()
    with pytest.raises(AssertionError, match="Task 3.6: held-out accuracy"):
        check.test_task_3_6_saved_model_classifies_held_out_digits()

    trained = _trained_mlp(check).state_dict()
    dslib.save({"model": trained, "config": config, "history": _history(config, lrs)}, path)
    check.test_task_3_6_saved_model_classifies_held_out_digits()  # a trained model passes
    constant = [0.1] * 20  # trained without the schedule
    dslib.save({"model": trained, "config": config, "history": _history(config, constant)}, path)
    with pytest.raises(AssertionError, match="Task 3.6: the saved lr history is not the warmup \\+ cosine schedule"):
        check.test_task_3_6_saved_history_follows_the_schedule_and_the_loss_falls()
    short = _history(config, lrs)
    short["loss"] = short["loss"][:5]
    dslib.save({"model": trained, "config": config, "history": short}, path)
    with pytest.raises(AssertionError, match="Task 3.6: the saved history must hold 'loss' with one entry per step"):
        check.test_task_3_6_saved_file_holds_the_model_its_config_and_its_history()


def test_hidden_check_uses_the_held_out_split_the_notebook_never_trains_on():
    from dslib.data.datasets import Digits

    x, y = load_check(LAB).held_out_digits()
    assert x.shape == (360, 1, 8, 8) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert np.bincount(y).min() >= 35  # stratified: every class is there
    assert len(Digits(train=True)) == 1437  # the notebook's clean_train comes from these, never from the 360


# ----- the manifest and the cells follow the format -------------------------------------------------------------


def test_manifest_points_equal_the_test_cells_points_plus_the_checks_points():
    cells = graded_cells(NB)
    assert {task: grade_meta(c)["points"] for task, c in cells.items()} == POINTS
    total = sum(POINTS.values()) + sum(c["points"] for c in LAB.manifest["checks"])
    assert LAB.manifest["points"] == total == 24


def test_manifest_fields():
    m = LAB.manifest
    assert m["id"] == LAB.dir.name == "03-training"
    assert m["stage"] == "basic" and m["prerequisites"] == ["01-autograd", "02-resnet"] and m["hours"] > 0
    assert len(m["objectives"]) >= 3
    assert m["parameters"] == {"FAST": True}
    assert all((LAB.dir / c["file"]).is_file() for c in m["checks"])


def test_the_given_cells_the_tests_rely_on_are_locked():
    """The setup, the dirty data and the thread helper (the rest of the metadata: tests/labs/test_lab_format.py)."""
    locked = {grade_meta(c)["grade_id"] for c in NB.cells if grade_meta(c).get("locked")}
    assert {"setup_imports", "dirty_data", "thread_helper"} <= locked


BLOCKED_IN = {  # a name each task's hidden part must block (it is what the task re-implements)
    "3.1": ["dslib.data.validation.validate"],
    "3.2": ["dslib.data.DataLoader", "torch.utils.data.DataLoader"],
    "3.4": ["dslib.amp.GradScaler", "torch.amp.GradScaler", "torch._amp_update_scale_"],
    "3.5": ["dslib.optim.lr_scheduler.warmup_cosine", "torch.optim.lr_scheduler.CosineAnnealingLR.get_lr"],
    "3.6": ["dslib.data.DataLoader", "dslib.amp.GradScaler", "dslib.optim.lr_scheduler.warmup_cosine"],
}


def _blocked_names(hidden: str) -> tuple:
    match = re.search(r"_hidden_blocked = \((.*?)\)\n", hidden, re.S)
    if not match:
        return ()
    names = ast.literal_eval("(" + match[1] + ")")
    return (names,) if isinstance(names, str) else names


def test_every_hidden_part_blocks_the_reference_while_the_students_code_runs():
    for task, cell in graded_cells(NB).items():
        _, hidden = split_hidden(cell.source)
        if task in BLOCKED_IN:
            assert f'labkit.reference_blocked(*_hidden_blocked, task="{task}")' in hidden, task
            names = _blocked_names(hidden)
            assert set(BLOCKED_IN[task]) <= set(names), (task, names)
    _, hidden = split_hidden(graded_cells(NB)["3.3"].source)
    assert 'labkit.reference_blocked("torch.autograd.backward", "torch.Tensor.backward", task="3.3")' in hidden


def test_every_blocked_name_exists_in_the_order_it_is_blocked():
    """A renamed dslib function, or a class blocked before its own methods (blocking the class replaces its name),
    would make reference_blocked raise ValueError in a hidden part: catch it here."""
    import labkit

    for task, cell in graded_cells(NB).items():
        names = _blocked_names(split_hidden(cell.source)[1])
        if names:
            with labkit.reference_blocked(*names, task=task):
                pass


def _reference_lrs(base_lr, warmup, total, factor, eta_min):
    import dslib
    from dslib.optim.lr_scheduler import warmup_cosine

    param = dslib.zeros(1, requires_grad=True)
    optimizer = dslib.optim.SGD([param], lr=base_lr)
    scheduler = warmup_cosine(optimizer, warmup, total, warmup_start_factor=factor, eta_min=eta_min)
    out = []
    for _ in range(total + 1):
        out.append(optimizer.param_groups[0]["lr"])
        scheduler.step()
    return out


def test_the_dslib_schedule_the_hidden_tests_compare_with_equals_pytorchs_for_their_cases():
    """Task 3.5's hidden part compares with dslib's warmup_cosine (a torch optimizer would import torch._dynamo,
    seconds of a FAST run); here dslib's values are pinned to PyTorch's SequentialLR(LinearLR, CosineAnnealingLR)."""
    import warnings

    import torch

    _, hidden = split_hidden(graded_cells(NB)["3.5"].source)
    cases = ast.literal_eval(re.search(r"^_cases = (\[.*\])$", hidden, re.M)[1])
    assert len(cases) == 3
    for bases, warmup, total, factor, eta_min in cases:
        for base in bases:
            opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
            cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=eta_min)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if warmup:
                    linear = torch.optim.lr_scheduler.LinearLR(opt, factor, 1.0, total_iters=warmup)
                    sched = torch.optim.lr_scheduler.SequentialLR(opt, [linear, cosine], milestones=[warmup])
                else:
                    sched = cosine
                expected = []
                for _ in range(total + 1):
                    expected.append(opt.param_groups[0]["lr"])
                    opt.step()
                    sched.step()
            np.testing.assert_allclose(
                _reference_lrs(base, warmup, total, factor, eta_min), expected, rtol=1e-9, atol=1e-12
            )


# ----- the released notebook --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def released():
    return release(NB)


@pytest.fixture(scope="module")
def released_run(released, tmp_path_factory):
    """The released notebook run in-process in the grader's order (visible parts, then the source's hidden parts)."""
    return run_released(LAB, released, tmp_path_factory.mktemp("lab03-released"))


def test_no_line_of_a_hidden_test_appears_anywhere_in_the_release(released):
    """Stricter than the line-by-line scan: a hidden-only line (12 characters or more) must not even be a substring of
    the released text, as the end-to-end grading test checks (a hidden `gc.collect()` would match a public
    `gc.collect()  # ...`)."""
    text = "\n".join(c.source for c in released.cells)
    hidden, public = [], set()
    for cell in NB.cells:
        inside = False
        for line in cell.source.splitlines():
            if line.strip() == "### BEGIN HIDDEN TESTS":
                inside = True
            elif line.strip() == "### END HIDDEN TESTS":
                inside = False
            else:
                (hidden.append if inside else public.add)(line.strip())
    hidden_only = [line for line in dict.fromkeys(hidden) if len(line) >= 12 and line not in public]
    assert len(hidden_only) > 200
    assert [line for line in hidden_only if line in text] == []


def _stub_calls(namespace):
    """(name, call) for every stub of the released notebook, each with arguments that get past the given checks."""
    import dslib

    param = dslib.zeros(2, requires_grad=True)
    optimizer = dslib.optim.SGD([param], lr=0.1)
    scaler = namespace["MyGradScaler"]()
    loader = namespace["PrefetchLoader"]([(np.zeros(2, np.float32), 0)], 1)
    return [
        ("find_issues", lambda: namespace["find_issues"]([], (1,), (0.0, 1.0), range(2))),
        ("clean_indices", lambda: namespace["clean_indices"]({}, 3)),
        ("__iter__", lambda: iter(loader)),
        ("accumulate_gradients", lambda: namespace["accumulate_gradients"](None, None, [])),
        ("scale", lambda: scaler.scale(param.sum())),
        ("unscale_", lambda: scaler.unscale_(optimizer)),
        ("step", lambda: scaler.step(optimizer)),
        ("update", lambda: scaler.update()),
        ("warmup_cosine_lr", lambda: namespace["warmup_cosine_lr"](0, 0.1, 1, 10)),
        ("get_lr", lambda: namespace["WarmupCosineLR"](optimizer, 1, 10)),
        ("train", lambda: namespace["train"](None, [], 1)),
    ]


def test_released_stubs_raise_not_implemented_naming_their_task(released, released_run):
    parts, namespace, _ = released_run
    assert all(p.error is None for p in parts if p.kind == "solution")  # defining the stubs works
    tasks = {
        "find_issues": "3.1", "clean_indices": "3.1", "__iter__": "3.2", "accumulate_gradients": "3.3",
        "scale": "3.4", "unscale_": "3.4", "step": "3.4", "update": "3.4", "warmup_cosine_lr": "3.5",
        "get_lr": "3.5", "train": "3.6",
    }  # fmt: skip
    calls = _stub_calls(namespace)
    assert sorted(name for name, _ in calls) == sorted(tasks)
    for name, call in calls:
        task = tasks[name]
        with pytest.raises(NotImplementedError, match=rf"^Task {re.escape(task)} — not implemented yet") as info:
            call()
        assert name in str(info.value), (name, str(info.value))
    stubbed = {t for t, cell in solution_cells(released).items() if "raise NotImplementedError()" in cell.source}
    assert stubbed == set(TASKS)


def test_every_visible_and_hidden_test_fails_on_the_released_stubs(released_run):
    parts, _, workdir = released_run
    passing = [(p.kind, p.task) for p in parts if p.kind in ("visible", "hidden") and p.error is None]
    assert passing == []
    assert sorted(p.task for p in parts if p.kind == "hidden") == TASKS
    assert not (workdir / MODEL_FILE).exists()  # nothing trained, nothing saved
    # each hidden part fails on its own task's stub, not on a slip in the test code
    hidden = {p.task: p.error for p in parts if p.kind == "hidden"}
    for task, error in hidden.items():
        assert isinstance(error, NotImplementedError) and str(error).startswith(f"Task {task} —"), (task, repr(error))
