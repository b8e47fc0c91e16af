"""benchmarks/graph_mode.py and benchmarks/torch_vit.py: the --quick run prints its table and writes its JSON,
the PyTorch ViT mirrors dslib's, and the ratios and goals are computed from the right rows (not a benchmark).

    .venv/bin/pytest tests/benchmarks/test_graph_mode.py -q -p no:xdist
"""

import json
import mmap
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import graph_mode
from benchmarks.graph_mode import FRAMEWORKS, add_ratios, check_goals, format_goals, format_table, op_family, select
from benchmarks.torch_vit import VisionTransformer, vit_small

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_prints_one_row_per_framework_and_writes_the_json(tmp_path):
    out = tmp_path / "graph_mode.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "graph_mode.py"), "--quick", "--cases", "vit_small"]
    proc = subprocess.run(cmd + ["--output", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    report = json.loads(out.read_text())
    rows = {r["framework"]: r for r in report["rows"]}
    assert list(rows) == list(FRAMEWORKS)
    failed = [fw for fw, r in rows.items() if "error" in r]
    assert proc.returncode == (1 if failed else 0), proc.stdout + proc.stderr
    for fw in ("pytorch", "numpy-eager", "torch-eager"):  # eager rows must always work
        assert fw not in failed, rows[fw].get("traceback", rows[fw]["error"])

    table = [line for line in proc.stdout.splitlines() if line.startswith("vit_small ")]
    assert [line.split()[1] for line in table] == list(FRAMEWORKS)
    for line, (fw, r) in zip(table, rows.items()):
        if fw in failed:  # a failing row is shown with its error, and the run went on
            assert line.split(None, 2)[2] == f"failed: {r['error']}"
        else:
            assert float(line.split()[3]) == pytest.approx(r["images_per_s"], abs=0.01)
    assert "load average before: " in proc.stdout and "goals (issue 5):" in proc.stdout
    assert "profile of one step" not in proc.stdout
    shown = subprocess.run(cmd[:2] + ["--show", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert [line for line in shown.stdout.splitlines() if line.startswith("vit_small ")] == table  # from the JSON

    assert report["quick"] and report["complete"] and report["threads"] == 2 and len(report["load_average_after"]) == 3
    ok = {fw: r for fw, r in rows.items() if fw not in failed}
    assert len({r["parameters"] for r in ok.values()}) == 1  # the same model everywhere
    ref = rows["pytorch"]
    assert ref["x_torch_throughput"] == 1.0 and ref["x_torch_memory"] == 1.0
    for fw, r in ok.items():
        assert r["steps"] == 2 and len(r["step_s_all"]) == 2 and r["images_per_s"] == pytest.approx(2 / r["step_s"])
        assert r["peak_mb"] >= r["base_mb"] > 0 and r["work_mb"] == pytest.approx(r["peak_mb"] - r["base_mb"])
        assert "profile" not in r  # only with --profile
        # same weights, data and optimizer: every framework's losses follow PyTorch's
        np.testing.assert_allclose(r["losses"], ref["losses"], rtol=1e-3, atol=1e-4, err_msg=fw)
    for fw in ("numpy-graph", "torch-graph"):
        if fw in ok:
            assert ok[fw]["recaptured_in_timed_steps"] is False and ok[fw]["x_eager_throughput"] > 0
    goals = {(g["model"], g["row"]): g for g in report["goals"]}
    assert set(goals) == {("vit_small", "torch-graph"), ("vit_small", "numpy-graph")}
    assert (goals[("vit_small", "torch-graph")]["throughput_ratio"] is None) == ("torch-graph" in failed)


def test_quick_profile_run_splits_one_step_into_op_families_update_and_overhead(tmp_path):
    out = tmp_path / "graph_mode.json"
    cases = "vit_small:pytorch,vit_small:numpy-eager,vit_small:numpy-graph"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "graph_mode.py"), "--quick", "--profile", "--cases", cases]
    proc = subprocess.run(cmd + ["--output", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    rows = {r["framework"]: r for r in json.loads(out.read_text())["rows"]}
    failed = {fw: r["error"] for fw, r in rows.items() if "error" in r}
    assert not set(failed) - {"numpy-graph"}, failed
    for fw, r in rows.items():
        if fw in failed:
            continue
        p = r["profile"]
        assert p["profiler"] == ("torch.profiler" if fw == "pytorch" else "dslib.profiler")
        assert p["wall_s"] > 0 and sum(p["shares"].values()) == pytest.approx(1.0)
        assert p["shares"]["matmul"] > 0 and p["shares"]["elementwise"] > 0 and p["shares"]["update"] > 0
        assert p["shares"]["unaccounted"] > -0.01  # op times lie within the step's wall time
        top = p["top"]
        assert 1 <= len(top) <= 10 and [t["self_s"] for t in top] == sorted((t["self_s"] for t in top), reverse=True)
        assert all(t["share"] == pytest.approx(t["self_s"] / p["wall_s"]) for t in top)
        assert f"profile of one step, vit_small / {fw}:" in proc.stdout
    if "numpy-eager" not in failed:  # eager dslib: ops by class; the raw-array optimizer as one update row
        names = {t["name"] for t in rows["numpy-eager"]["profile"]["top"]}
        assert "Linear" in names or "LinearBackward" in names
    if "numpy-graph" not in failed:  # a replay: nodes by op_name with their phase
        phases = {t["phase"] for t in rows["numpy-graph"]["profile"]["top"]}
        assert {"forward", "backward"} <= phases


def test_op_family_puts_conv_and_matmul_kernels_forward_and_backward_together():
    for name in ("Conv2d", "conv2d.backward", "LinearBackward", "matmul", "aten::addmm", "aten::bmm", "Einsum"):
        assert op_family(name) == "matmul", name
    assert op_family("aten::_scaled_dot_product_flash_attention_for_cpu") == "matmul"
    for name in ("LayerNorm", "gelu.backward", "fused[mul, add, relu]", "softmax", "aten::native_layer_norm"):
        assert op_family(name) == "elementwise", name


def test_torch_vit_small_mirrors_dslib_vit():
    """Same parameter names and count at ViT-small's sizes; same logits from the same weights at a tiny size."""
    import dslib
    from benchmarks.cases import load_torch_weights
    from dslib.models import vit

    big_t = vit_small()
    big_d = vit(10, 3, 32, 4, embed_dim=384, depth=12, num_heads=6)
    n = sum(p.numel() for p in big_t.parameters())
    assert n == sum(p.numel() for p in big_d.parameters()) and 21_000_000 < n < 22_000_000
    assert set(big_t.state_dict()) - {"num_batches_tracked"} == set(big_d.state_dict())
    del big_t, big_d

    torch.manual_seed(0)
    t = VisionTransformer(16, 4, 3, 10, embed_dim=32, depth=2, num_heads=2)
    d = load_torch_weights(vit(10, 3, 16, 4, embed_dim=32, depth=2, num_heads=2), t, "numpy")
    x = np.random.default_rng(0).standard_normal((3, 3, 16, 16), dtype=np.float32)
    expected = t(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(d(dslib.tensor(x)).detach().numpy(), expected, rtol=1e-4, atol=1e-5)


def test_cases_pick_rows_by_model_framework_or_both():
    assert select("resnet18") == [("resnet18", fw) for fw in FRAMEWORKS]
    assert select("torch-graph,pytorch") == [
        ("resnet18", "pytorch"), ("resnet18", "torch-graph"), ("vit_small", "pytorch"), ("vit_small", "torch-graph")
    ]  # fmt: skip
    assert select("vit_small:numpy-eager,vit_small") == [("vit_small", fw) for fw in FRAMEWORKS]
    with pytest.raises(ValueError, match="unknown case 'resnet50'"):
        select("resnet50")


def _row(fw, ips, mb, model="resnet18", losses=(2.3, 2.2)):
    r = {"model": model, "framework": fw, "step_s": 64 / ips, "images_per_s": ips, "work_mb": mb}
    return dict(r, losses=list(losses), last_loss=losses[-1])


def test_ratios_and_goals_compare_graph_rows_with_pytorch_and_with_eager():
    rows = [_row("pytorch", 20.0, 600.0), _row("numpy-eager", 10.0, 1000.0), _row("numpy-graph", 16.0, 500.0)]
    rows += [_row("torch-eager", 18.0, 700.0), _row("torch-graph", 22.0, 450.0, losses=(2.3, 2.5))]
    add_ratios(rows)
    by = {r["framework"]: r for r in rows}
    assert by["torch-graph"]["x_torch_throughput"] == pytest.approx(1.1)
    assert by["torch-graph"]["x_eager_memory"] == pytest.approx(450 / 700)
    assert by["numpy-graph"]["x_eager_throughput"] == pytest.approx(1.6)
    assert by["numpy-eager"]["x_eager_throughput"] is None  # eager rows have no eager baseline
    assert by["torch-graph"]["loss_diff"] == pytest.approx(0.3) and by["numpy-graph"]["loss_diff"] == 0.0
    assert "3.0e-01" in format_table(rows).splitlines()[-1]
    goals = {g["row"]: g for g in check_goals(rows)}
    torch_goal, numpy_goal = goals["torch-graph"], goals["numpy-graph"]
    assert torch_goal["versus"] == "pytorch" and torch_goal["throughput_met"] is True
    assert torch_goal["memory_ratio"] == pytest.approx(0.75) and torch_goal["memory_met"] is False
    assert numpy_goal["versus"] == "numpy-eager" and numpy_goal["throughput_met"] and numpy_goal["memory_met"]
    text = format_goals(check_goals(rows))
    assert "1.10x met" in text and "0.75x NOT met" in text and "1.60x met" in text


def test_a_failed_row_is_shown_with_its_error_and_its_goals_are_not_applicable():
    rows = [_row("pytorch", 20.0, 600.0, "vit_small")]
    rows.append({"model": "vit_small", "framework": "torch-graph", "error": "NotImplementedError: backward capture"})
    add_ratios(rows)
    assert "vit_small  torch-graph  failed: NotImplementedError: backward capture" in format_table(rows)
    (goal,) = check_goals(rows)
    assert goal["throughput_ratio"] is None and goal["throughput_met"] is None
    assert goal["missing"] == ["vit_small:torch-graph"]
    assert "n/a" in format_goals([goal]) and "no result: vit_small:torch-graph" in format_goals([goal])


def test_peak_rss_sees_memory_touched_after_reset():
    # A fresh anonymous mapping, not np.ones: after a long test run malloc may serve 64 MiB from heap pages
    # that are freed but still resident, and touching those does not raise the RSS at all (seen in CI).
    rss = graph_mode.PeakRss()
    rss.reset()
    before = graph_mode._rss_kb()
    size = 64 * 2**20
    block = mmap.mmap(-1, size)
    block.write(b"\x01" * size)  # touch every page
    assert rss.peak() - before > 60 * 1024
    block.close()
    assert rss.peak() - before > 60 * 1024, "the peak must outlive the memory that made it"
