"""Graph mode against PyTorch: one training step of ResNet-18 and ViT-small, eager and compiled, side by side.

    .venv/bin/python benchmarks/graph_mode.py                        # every row, 2 threads (7 min on 2 quiet cores)
    .venv/bin/python benchmarks/graph_mode.py --cases resnet18       # one model, all five frameworks
    .venv/bin/python benchmarks/graph_mode.py --cases torch-graph,pytorch --steps 5
    .venv/bin/python benchmarks/graph_mode.py --quick                # smoke run: tiny models, a few seconds a row
    .venv/bin/python benchmarks/graph_mode.py --cases resnet18:numpy-graph --profile   # + one step op by op
    .venv/bin/python benchmarks/graph_mode.py --show benchmarks/results/graph_mode.json   # print a run's table again

Models (issue 5, section 5): the CIFAR ResNet-18 (benchmarks/torch_resnet.py vs dslib.models.resnet18) and
ViT-small (embed 384, depth 12, 6 heads, patch 4, 32x32 input: benchmarks/torch_vit.py vs dslib.models.vit),
both at batch 64 on random images and labels (the same arrays and initial weights everywhere; parameter counts
are asserted equal). One step = zero_grad, forward, cross-entropy, backward, SGD(lr 0.01, momentum 0.9) update.
Frameworks: `pytorch` (eager, torch.autograd: the reference), `numpy-eager` / `torch-eager` (dslib on that
device) and `numpy-graph` / `torch-graph` (the same step function through dslib.compile: the first call runs
eagerly and captures forward, backward and update; later calls replay the graph).

Each row runs in a fresh subprocess with the same threads (--threads, default 2: torch.set_num_threads and
OMP/OPENBLAS/MKL_NUM_THREADS). Throughput = batch / median step time over the timed steps, after the warm-up
steps (the graph rows capture in the first). Working memory = peak resident memory during the timed steps minus
the resident memory after model, optimizer and data were created: the activations, gradients, momentum buffers,
temporaries and whatever the graph keeps (its arena). The peak is Linux's VmHWM, reset (/proc/self/clear_refs)
after the warm-up, so it is exact, catches every page and costs the timed steps nothing; where clear_refs is not
writable a background thread samples /proc/self/statm every 2 ms instead (`memory_method` in the JSON says
which). Before the baseline and again before the timed steps, freed memory that malloc still holds is given
back (gc + glibc malloc_trim(0), in every row alike): otherwise the RSS left over from the warm-up, above all
from the graph rows' capture step, would count as working memory. The warm-up's own peak (the capture) is
kept in the JSON as `warmup_work_mb`.

Ratios: throughput and working memory of every row to PyTorch eager on the same model, and of each graph row to
the eager row of its device. The goals of the issue are printed under the table: graph on torch >= 1.0x
PyTorch's throughput at <= 0.6x its working memory; graph vs eager on numpy >= 1.5x throughput at <= 0.6x
memory. A row that fails (e.g. capture not supported yet) shows "failed: <first line of the error>" and the
run goes on. The table also goes to benchmarks/results/graph_mode.json (--output; written atomically) with
every step time and loss, the load average before and after, and the tracebacks of failed rows; it is rewritten
after every row, so a run cut short keeps the rows it finished. Timings on a shared
machine are noisy: compare the ratios of one run. Smoke test: tests/benchmarks/test_graph_mode.py.

--profile: after the timed steps (and after the memory peak is read) each row runs one more step under
dslib.profiler (eager rows: one event per op and backward op; graph rows: one per replayed node, with its phase),
or torch.profiler for `pytorch`, and prints and stores (`profile` in the row's JSON) the top-10 ops by self time
with their share of that step's wall time, and the step split into: conv/matmul-family kernels (conv2d, matmul,
linear, einsum, aten mm/addmm/bmm and SDPA; forward and backward), every other op (elementwise, normalization,
softmax, reductions, copies), the optimizer update (graph: the update-phase nodes; eager dslib: step() and
zero_grad(), timed around the call because SGD works on raw arrays and records no ops; PyTorch: the ops under
Optimizer.step/zero_grad) and the unaccounted rest = wall time - all of the above: the Python between ops
(autograd bookkeeping, module calls, the graph's dispatch loop) that graph mode can remove. The profilers' own
bookkeeping is off the clock for dslib (its `_lost`); torch.profiler's is not (a few us per op). Without
--profile nothing changes.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import traceback
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.jsonio import write_json  # noqa: E402 - after the path set-up, so the script runs from anywhere

MODELS = ("resnet18", "vit_small")
FRAMEWORKS = ("pytorch", "numpy-eager", "numpy-graph", "torch-eager", "torch-graph")
REFERENCE = "pytorch"
SEED, LR, MOMENTUM = 0, 0.01, 0.9
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# (batch, image size, ViT embed_dim, depth, num_heads, patch): the issue's sizes, and tiny ones for --quick
FULL_SIZES = {"batch": 64, "image": 32, "embed_dim": 384, "depth": 12, "num_heads": 6, "patch": 4}
QUICK_SIZES = {"batch": 2, "image": 16, "embed_dim": 32, "depth": 2, "num_heads": 2, "patch": 4}
DEFAULT_STEPS = {"resnet18": (2, 5), "vit_small": (2, 3)}  # (warm-up, timed) steps per model
QUICK_STEPS = (2, 2)
GOALS = {  # (row, compared with): (min throughput ratio, max working-memory ratio)
    ("torch-graph", "pytorch"): (1.0, 0.6),
    ("numpy-graph", "numpy-eager"): (1.5, 0.6),
}


# ---------------------------------------------------------------- child: one (model, framework) row


def _rss_kb(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(f"/proc/self/status has no {field}")


class PeakRss:
    """Peak resident memory (kB) between reset() and peak(): VmHWM reset through /proc/self/clear_refs, or,
    where that file is not writable, a daemon thread sampling /proc/self/statm every `interval` seconds."""

    def __init__(self, interval: float = 0.002):
        self.interval, self._max, self._thread = interval, 0, None
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.method = "VmHWM, reset by /proc/self/clear_refs"
        except OSError:
            self.method = f"/proc/self/statm sampled every {1e3 * interval:g} ms"
            self._page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self):
        with open("/proc/self/statm") as f:
            while True:
                f.seek(0)
                self._max = max(self._max, int(f.read().split()[1]) * self._page_kb)
                time.sleep(self.interval)

    def reset(self):
        if self._thread is None:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        else:
            self._max = _rss_kb()

    def peak(self) -> int:
        return _rss_kb("VmHWM") if self._thread is None else max(self._max, _rss_kb())


def release_freed_memory() -> bool:
    """gc, then glibc's malloc_trim(0): hand memory that was freed but kept by malloc back to the OS, so the
    RSS reads live memory (the capture step's temporaries must not count as the graph's working memory)."""
    gc.collect()
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0) >= 0)
    except (OSError, AttributeError):  # not glibc: RSS may include freed memory
        return False


def torch_model(model: str, s: dict):
    if model == "resnet18":
        from benchmarks.torch_resnet import resnet18

        return resnet18(num_classes=10)
    from benchmarks.torch_vit import VisionTransformer

    return VisionTransformer(s["image"], s["patch"], 3, 10, s["embed_dim"], s["depth"], s["num_heads"])


def dslib_model(model: str, s: dict):
    from dslib.models import resnet18, vit

    if model == "resnet18":
        return resnet18(num_classes=10)
    return vit(10, 3, s["image"], s["patch"], s["embed_dim"], s["depth"], s["num_heads"])


def build(model: str, framework: str, s: dict):
    """(step() -> loss, parameter count, the compiled function or None) for one row; same weights and data."""
    import torch

    torch.manual_seed(SEED)
    ref = torch_model(model, s).train()
    n_ref = sum(p.numel() for p in ref.parameters())
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((s["batch"], 3, s["image"], s["image"]), dtype=np.float32)
    y = rng.integers(0, 10, size=s["batch"]).astype(np.int64)
    if framework == REFERENCE:
        net_t, xt, yt = ref, torch.from_numpy(x), torch.from_numpy(y)
        opt = torch.optim.SGD(net_t.parameters(), lr=LR, momentum=MOMENTUM)

        def torch_step():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net_t(xt), yt)
            loss.backward()
            opt.step()
            return loss

        torch_step.optimizer = opt  # --profile times its step() and zero_grad()
        return torch_step, n_ref, None

    import dslib
    from benchmarks.cases import load_torch_weights

    device, mode = framework.split("-")
    net = load_torch_weights(dslib_model(model, s), ref, device).train()
    n = sum(p.numel() for p in net.parameters())
    if n != n_ref:
        raise AssertionError(f"{model}: dslib has {n:,} parameters, the PyTorch reference {n_ref:,}")
    del ref
    opt = dslib.optim.SGD(net.parameters(), lr=LR, momentum=MOMENTUM)
    xd, yd = dslib.tensor(x, device=device), dslib.tensor(y, device=device)

    def train_step(x, y):
        opt.zero_grad()
        loss = dslib.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    compiled = dslib.compile(train_step) if mode == "graph" else None
    fn = train_step if compiled is None else compiled

    def step():
        return fn(xd, yd)

    step.optimizer = opt  # --profile times its step() and zero_grad() in eager rows
    return step, n, compiled


def _error_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:200]


def measure(
    model: str, framework: str, warmup: int, steps: int, threads: int, quick: bool, profile: bool = False
) -> dict:
    import torch

    torch.set_num_threads(threads)
    s = QUICK_SIZES if quick else FULL_SIZES
    row = {"model": model, "framework": framework, "batch": s["batch"], "warmup": warmup, "steps": steps}
    row["threads"] = torch.get_num_threads()
    stage = "setup"
    try:
        t0 = time.perf_counter()
        step, row["parameters"], compiled = build(model, framework, s)
        row["setup_s"] = time.perf_counter() - t0
        row["malloc_trim"] = release_freed_memory()
        base = _rss_kb()
        rss = PeakRss()
        row["memory_method"] = rss.method
        losses = []
        for i in range(warmup):
            stage = "capture (first call)" if compiled is not None and i == 0 else "warm-up"
            t = time.perf_counter()
            losses.append(float(step().item()))
            row.setdefault("warmup_s", []).append(time.perf_counter() - t)
        row["warmup_work_mb"] = (rss.peak() - base) / 1024
        graph = getattr(compiled, "graph", None)
        release_freed_memory()
        rss.reset()
        stage, times = "timed steps", []
        for _ in range(steps):
            t = time.perf_counter()
            loss = step()
            times.append(time.perf_counter() - t)
            losses.append(float(loss.item()))
        peak = rss.peak()
        if profile:  # one extra step, after the timed ones and the memory peak: it changes neither
            stage = "profiled step"
            row["profile"] = profile_step(step, framework, compiled is not None)
    except Exception as e:  # a failing row is reported in the table, not raised
        row.update(error=_error_line(e), stage=stage, traceback=traceback.format_exc()[-4000:])
        return row
    if compiled is not None:
        final = getattr(compiled, "graph", None)
        row["graph_nodes"] = None if final is None else len(final.nodes)
        row["recaptured_in_timed_steps"] = final is not graph
    step_s = statistics.median(times)
    row.update(step_s=step_s, step_s_all=times, images_per_s=s["batch"] / step_s, base_mb=base / 1024)
    row.update(peak_mb=peak / 1024, work_mb=(peak - base) / 1024, retained_mb=(_rss_kb() - base) / 1024)
    row.update(first_loss=losses[0], last_loss=losses[-1], losses=losses)
    return row


# ---------------------------------------------------------------- child: --profile, one step op by op

# op names (dslib eager class, graph node op_name, aten op; lower-cased, ".backward"/"Backward" included) of the
# matrix kernels: conv2d, matmul, linear, einsum, torch's mm/addmm/bmm and its fused attention (SDPA)
MATMUL_WORDS = ("conv", "matmul", "linear", "einsum", "mm", "scaled_dot_product", "attention")
TOP_OPS = 10


def op_family(name: str) -> str:
    """'matmul' (conv2d/matmul-like, forward or backward) or 'elementwise' (every other op: elementwise,
    normalization, softmax, reductions, reshapes and copies)."""
    n = name.lower().removeprefix("aten::")
    return "matmul" if any(w in n for w in MATMUL_WORDS) and not n.startswith("fused[") else "elementwise"


def _timed_optimizer(opt, spent: list):
    """Wrap opt.step / opt.zero_grad (instance attributes) so their time adds to spent[0]; returns an undo."""
    originals = {name: getattr(opt, name) for name in ("step", "zero_grad")}

    def wrap(fn):
        def timed(*a, **k):
            t = time.perf_counter_ns()
            try:
                return fn(*a, **k)
            finally:
                spent[0] += time.perf_counter_ns() - t

        return timed

    for name, fn in originals.items():
        setattr(opt, name, wrap(fn))
    return lambda: [delattr(opt, name) for name in originals]


def _dslib_ops(step, compiled: bool):
    """(wall ns, [(name, phase, self ns, calls)]) of one step under dslib.profiler; the profiler's own
    bookkeeping is taken off the wall time as it is off the op times. Eager rows: the optimizer works on raw
    arrays (no op events), so its step()/zero_grad() time is one 'sgd.step+zero_grad' row of phase update."""
    import dslib

    spent = [0]
    undo = None if compiled else _timed_optimizer(step.optimizer, spent)
    try:
        t = time.perf_counter_ns()
        with dslib.profiler.profile() as prof:
            step().item()
        wall = time.perf_counter_ns() - t - prof._lost
    finally:
        if undo:
            undo()
    ops = [(r.key, r.cat, r.self_ns, r.calls) for r in prof.key_averages()]
    if not compiled:
        ops.append(("sgd.step+zero_grad", "update", spent[0], 2))
    return wall, ops


def _torch_ops(step):
    """(wall ns, ops) of one PyTorch step under torch.profiler (CPU). The ops run inside Optimizer.step /
    zero_grad are summed into one update row; the others are grouped by aten name by self time."""
    import torch

    t = time.perf_counter_ns()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step().item()
    wall = time.perf_counter_ns() - t
    groups: dict = {}
    for ev in prof.events():
        up, in_update = ev, False
        while up is not None and not in_update:
            in_update, up = up.name.startswith("Optimizer."), up.cpu_parent
        key = ("optimizer (step+zero_grad)", "update") if in_update else (ev.name, "op")
        if ev.name.startswith("Optimizer.") and not in_update:
            continue
        ns, calls = groups.get(key, (0, 0))
        groups[key] = (ns + int(ev.self_cpu_time_total * 1e3), calls + 1)
    return wall, [(name, cat, ns, calls) for (name, cat), (ns, calls) in groups.items()]


def profile_step(step, framework: str, compiled: bool) -> dict:
    """One more step, op by op: the top-10 ops by self time and the shares of the step's wall time spent in
    conv/matmul kernels, in the other ops, in the optimizer update, and unaccounted (Python and bookkeeping
    between ops: what graph mode can remove)."""
    wall, ops = _torch_ops(step) if framework == REFERENCE else _dslib_ops(step, compiled)
    seconds = {"matmul": 0, "elementwise": 0, "update": 0}
    for name, cat, ns, _ in ops:
        seconds["update" if cat == "update" else op_family(name)] += ns
    seconds["unaccounted"] = wall - sum(seconds.values())
    top = sorted(ops, key=lambda o: -o[2])[:TOP_OPS]
    return {
        "profiler": "torch.profiler" if framework == REFERENCE else "dslib.profiler",
        "wall_s": wall / 1e9,
        "ops": len(ops),
        "events": sum(o[3] for o in ops),
        "shares": {k: v / wall for k, v in seconds.items()},
        "top": [
            {
                "name": n,
                "phase": c,
                "self_s": ns / 1e9,
                "share": ns / wall,
                "calls": k,
                "family": "update" if c == "update" else op_family(n),
            }
            for n, c, ns, k in top
        ],
    }


def format_profile(p: dict) -> str:
    s = p["shares"]
    out = [
        f"  {p['profiler']}: step {p['wall_s']:.3f} s, {p['events']} events; conv/matmul {100 * s['matmul']:.1f}%, "
        f"other ops (elementwise, norm, softmax, copies) {100 * s['elementwise']:.1f}%, update {100 * s['update']:.1f}%, "
        f"unaccounted (Python, bookkeeping) {100 * s['unaccounted']:.1f}%",
        f"  {'op':<48} {'phase':<9} {'self s':>7} {'share':>6} {'calls':>6}",
    ]
    for t in p["top"]:
        out.append(
            f"  {t['name'][:48]:<48} {t['phase']:<9} {t['self_s']:>7.3f} {100 * t['share']:>5.1f}% {t['calls']:>6}"
        )
    return "\n".join(out)


# ---------------------------------------------------------------- parent: rows, ratios, table, goals


def select(spec: str) -> list[tuple[str, str]]:
    """'resnet18' (its five rows), 'torch-graph' (that framework for both models) or 'vit_small:pytorch'."""
    rows = []
    for item in filter(None, (t.strip() for t in spec.split(","))):
        model, _, fw = item.partition(":")
        if model in FRAMEWORKS and not fw:
            model, fw = "", model
        if (model and model not in MODELS) or (fw and fw not in FRAMEWORKS):
            raise ValueError(
                f"unknown case {item!r}: give a model ({', '.join(MODELS)}), a framework ({', '.join(FRAMEWORKS)}) "
                "or model:framework"
            )
        rows += [(m, f) for m in MODELS for f in FRAMEWORKS if m == (model or m) and f == (fw or f)]
    return [(m, f) for m in MODELS for f in FRAMEWORKS if (m, f) in rows]  # the table's order, once each


def run_row(model: str, framework: str, args) -> dict:
    warmup, steps = QUICK_STEPS if args.quick else DEFAULT_STEPS[model]
    warmup, steps = args.warmup if args.warmup is not None else warmup, args.steps or steps
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", f"{model}:{framework}"]
    cmd += ["--threads", str(args.threads), "--warmup", str(warmup), "--steps", str(steps)]
    cmd += ["--quick"] if args.quick else []
    cmd += ["--profile"] if args.profile else []
    env = dict(os.environ, **{v: str(args.threads) for v in THREAD_VARS})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    failed = {"model": model, "framework": framework}
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return dict(failed, error=f"timed out after {args.timeout:g} s (--timeout)")
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines() or [f"exit status {proc.returncode}"]
        return dict(failed, error=f"process died: {tail[-1][:200]}", stderr=proc.stderr[-4000:])
    return json.loads(lines[-1])


def _ratio(row: dict | None, base: dict | None, key: str):
    if row is None or base is None or "error" in row or "error" in base or base[key] <= 0:
        return None
    return row[key] / base[key]


def add_ratios(rows: list[dict]) -> None:
    """x_torch_*: to PyTorch eager on the same model; x_eager_*: a graph row to the eager row of its device."""
    by = {(r["model"], r["framework"]): r for r in rows}
    for r in rows:
        ref = by.get((r["model"], REFERENCE))
        eager = by.get((r["model"], r["framework"].replace("-graph", "-eager"))) if "graph" in r["framework"] else None
        r["x_torch_throughput"], r["x_torch_memory"] = _ratio(r, ref, "images_per_s"), _ratio(r, ref, "work_mb")
        r["x_eager_throughput"], r["x_eager_memory"] = _ratio(r, eager, "images_per_s"), _ratio(r, eager, "work_mb")
        same = ref is not None and "error" not in r and "error" not in ref and len(r["losses"]) == len(ref["losses"])
        r["loss_diff"] = max(abs(a - b) for a, b in zip(r["losses"], ref["losses"])) if same else None


def check_goals(rows: list[dict]) -> list[dict]:
    by = {(r["model"], r["framework"]): r for r in rows}
    goals = []
    for model in dict.fromkeys(r["model"] for r in rows):
        for (fw, other), (min_thr, max_mem) in GOALS.items():
            row, base = by.get((model, fw)), by.get((model, other))
            if row is None and base is None:
                continue
            thr, mem = _ratio(row, base, "images_per_s"), _ratio(row, base, "work_mb")
            missing = [f"{model}:{f}" for f, r in ((fw, row), (other, base)) if r is None or "error" in r]
            goals.append(
                {
                    "model": model,
                    "row": fw,
                    "versus": other,
                    "throughput_ratio": thr,
                    "memory_ratio": mem,
                    "min_throughput_ratio": min_thr,
                    "max_memory_ratio": max_mem,
                    "throughput_met": None if thr is None else thr >= min_thr,
                    "memory_met": None if mem is None else mem <= max_mem,
                    "missing": missing,
                }
            )
    return goals


def _num(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def format_table(rows: list[dict]) -> str:
    head = f"{'model':<10} {'framework':<12} {'step s':>7} {'img/s':>7} {'work MB':>8} "
    head += f"{'thr x pt':>8} {'mem x pt':>8} {'thr x eager':>11} {'mem x eager':>11} {'last loss':>9} {'dloss pt':>8}"
    out = [head, "-" * len(head)]
    for r in rows:
        start = f"{r['model']:<10} {r['framework']:<12} "
        if "error" in r:
            out.append(start + f"failed: {r['error']}")
            continue
        out.append(
            start + f"{r['step_s']:>7.3f} {r['images_per_s']:>7.2f} {r['work_mb']:>8.1f} "
            f"{_num(r['x_torch_throughput'], '.2f'):>8} {_num(r['x_torch_memory'], '.2f'):>8} "
            f"{_num(r['x_eager_throughput'], '.2f'):>11} {_num(r['x_eager_memory'], '.2f'):>11} "
            f"{r['last_loss']:>9.4f} {_num(r['loss_diff'], '.1e'):>8}"
        )
    return "\n".join(out)


def format_goals(goals: list[dict]) -> str:
    def verdict(v, met, goal):
        return f"{goal}: " + ("n/a" if v is None else f"{v:.2f}x {'met' if met else 'NOT met'}")

    out = []
    for g in goals:
        line = f"  {g['model']:<10} {g['row']} vs {g['versus']}: "
        line += verdict(
            g["throughput_ratio"], g["throughput_met"], f"throughput (goal >= {g['min_throughput_ratio']}x)"
        )
        line += "; " + verdict(g["memory_ratio"], g["memory_met"], f"working memory (goal <= {g['max_memory_ratio']}x)")
        out.append(line + (f"  [no result: {', '.join(g['missing'])}]" if g["missing"] else ""))
    return "\n".join(out)


def print_results(report: dict) -> int:
    """The table, its legend, the goals and the load; 0 when every row has a result, else 1."""
    rows = report["rows"]
    print()
    print(format_table(rows))
    print(
        "\nimg/s: batch / median step time (timed steps after warm-up). work MB: peak RSS during the timed steps "
        "minus RSS after model creation.\nthr/mem x pt: ratio to PyTorch eager on the same model; x eager: graph "
        "row to the eager row of its device. last loss: after the last step; dloss pt: largest difference of a\n"
        "step's loss from PyTorch's (same weights, data and optimizer everywhere: a check that the rows compute the "
        "same thing; a graph that skipped its backward or update would show here)."
    )
    if report.get("goals"):
        print("goals (issue 5):\n" + format_goals(report["goals"]))
    for r in rows:
        if r.get("profile"):
            print(f"\nprofile of one step, {r['model']} / {r['framework']}:\n" + format_profile(r["profile"]))
    before, after = report["load_average_before"], report.get("load_average_after", [])
    print(
        f"load average before: {' '.join(f'{x:.2f}' for x in before)}; after: {' '.join(f'{x:.2f}' for x in after)}; "
        f"wall {report.get('wall_s', 0):.0f} s"
    )
    return 1 if any("error" in r for r in rows) else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--cases", default=",".join(MODELS), help="rows: models, frameworks or model:framework, comma-separated"
    )
    p.add_argument("--threads", type=int, default=2, help="threads for every row (torch and BLAS; default 2)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps (the first captures; default: per model)")
    p.add_argument("--steps", type=int, default=None, help="timed steps, median taken (default: per model)")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny models, batch 2, 2 + 2 steps")
    p.add_argument(
        "--profile",
        action="store_true",
        help="one more step per row under dslib.profiler (torch.profiler for pytorch): top-10 ops and time shares",
    )
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed per row")
    p.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "graph_mode.json")
    p.add_argument("--show", type=Path, help="print the table of an earlier (or cut-short) run's JSON; measure nothing")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads < 1 or (args.steps is not None and args.steps < 1) or (args.warmup or 0) < 0:
        p.error("--threads and --steps must be >= 1, --warmup >= 0")
    if args.child:
        model, framework = args.child.split(":")
        row = measure(model, framework, args.warmup, args.steps, args.threads, args.quick, args.profile)
        sys.stdout.write(json.dumps(row) + "\n")
        return 0
    if args.show:
        report = json.loads(args.show.read_text())
        print(f"{args.show}: {report['command']} at {report['created']}, complete: {report.get('complete')}")
        return print_results(report)
    try:
        cases = select(args.cases)
    except ValueError as e:
        p.error(str(e))
    if not cases:
        p.error("--cases selected no rows")

    versions = {"python": platform.python_version(), "numpy": version("numpy"), "torch": version("torch")}
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    openblas = {v: os.environ.get(v) for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    load_before = os.getloadavg()
    mode = " (--quick: tiny sizes)" if args.quick else ""
    print(f"graph mode benchmark{mode}: batch {sizes['batch']}, {args.threads} threads (of {os.cpu_count()} cores)")
    print(", ".join(f"{k} {v}" for k, v in versions.items()) + f"; openblas env: {openblas}")
    print("load average before: " + " ".join(f"{x:.2f}" for x in load_before), flush=True)
    started, rows = time.time(), []
    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(sys.argv[0]).name] + (sys.argv[1:] if argv is None else list(argv))),
        "quick": args.quick,
        "sizes": sizes,
        "threads": args.threads,
        "cores": os.cpu_count(),
        "versions": versions,
        "openblas_env": openblas,
        "load_average_before": load_before,
        "complete": False,  # the JSON is rewritten after every row, so a run cut short keeps its rows
        "rows": rows,
    }
    for model, fw in cases:
        t = time.time()
        r = run_row(model, fw, args)
        rows.append(r)
        msg = f"failed: {r['error']}" if "error" in r else f"{r['images_per_s']:.2f} img/s, {r['work_mb']:.0f} MB"
        print(f"  {model} / {fw}: {msg} ({time.time() - t:.0f} s)", file=sys.stderr, flush=True)
        add_ratios(rows)
        report.update(goals=check_goals(rows), load_average_after=os.getloadavg(), wall_s=time.time() - started)
        report["complete"] = len(rows) == len(cases)
        write_json(args.output, report)

    print_results(report)
    print(f"wrote {args.output}")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
