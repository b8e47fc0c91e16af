"""Step 3 (execute_notebook) in the real sandbox: each bad behaviour of a submission gets the right status,
the cells around it are still graded where possible, and nothing it started survives the call.

Tiny notebooks built here, small limits (a few seconds, 512 MB) so the file runs in well under a minute.
Tests that need root (the sandbox uid, namespaces) are skipped with the reason elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import sandbox
from autograder.sandbox import Limits
from autograder.steps import execute as execute_step
from autograder.steps.execute import CELL_TIMEOUT, NOT_EXECUTED, execute_notebook

ROOT = pytest.mark.skipif(not sandbox.is_root(), reason="needs root: sandbox uid and namespaces")
LIMITS = Limits(timeout_s=6, cell_timeout_s=2, memory_mb=512, max_processes=32, max_output_mb=1)


@pytest.fixture
def tmp():
    """A directory under /tmp that the sandbox uid may pass through (pytest's tmp_path sits in a 700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="dscourse-test-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def used_uids(monkeypatch):
    """The sandbox uids the calls in a test used; after the test, none of them has a live process left."""
    uids, real = [], sandbox.sandbox_uid

    def recording():
        cm = real()
        uid = cm.__enter__()
        uids.append(uid)
        try:
            yield uid
        finally:
            cm.__exit__(None, None, None)

    monkeypatch.setattr(sandbox, "sandbox_uid", contextlib.contextmanager(recording))
    yield uids
    for uid in uids:
        if uid is not None:
            assert sandbox.processes_of(uid, zombies=True) == [], f"processes of sandbox uid {uid} left behind"


def run(sources, tmp, limits=LIMITS, parameters=None):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    workdir = tmp / "scratch"
    return execute_notebook(nb, parameters=parameters or {}, limits=limits, workdir=workdir)


def stdout(result, index):
    return "".join(o.get("text", "") for o in result.notebook.cells[index].outputs if o.output_type == "stream")


def test_parameters_injected_every_cell_runs_after_an_error_and_indices_match_the_input(tmp, used_uids):
    nb = new_notebook(
        cells=[
            new_markdown_cell("# Lab"),
            new_code_cell("FAST = False", metadata={"tags": ["parameters"]}),
            new_code_cell("print(FAST)", metadata={"tags": ["injected-parameters"]}),  # a student's stray tag
            new_code_cell("1 / 0"),
            new_code_cell("print('after')"),
        ]
    )
    r = execute_notebook(nb, parameters={"FAST": True}, limits=LIMITS, workdir=tmp / "w")
    assert r.status == "ok" and r.reason == ""
    assert len(r.notebook.cells) == len(nb.cells)  # papermill's injected cell is not in the result
    assert stdout(r, 2) == "True\n"
    assert r.cell_errors == {3: ("ZeroDivisionError", "division by zero")}
    assert stdout(r, 4) == "after\n"
    assert r.notebook.metadata.papermill.parameters == {"FAST": True}
    assert 0 < r.wall_s < LIMITS.timeout_s


def test_an_endless_cell_is_interrupted_at_the_cell_limit_and_later_cells_still_run(tmp, used_uids):
    r = run(["x = 1", "while True: pass", "print(x)"], tmp)
    assert r.status == "timeout"
    assert "cell 1" in r.reason and "2 s" in r.reason
    assert r.cell_errors == {1: (CELL_TIMEOUT, "the cell ran past its 2 s limit and was interrupted")}
    assert stdout(r, 2) == "1\n"


def test_the_whole_notebook_limit_stops_cells_that_each_stay_under_the_cell_limit(tmp, used_uids):
    r = run(["import time"] + ["time.sleep(1.5)"] * 6, tmp, Limits(3, 2, 512, 32, 1))
    assert r.status == "timeout"
    assert "3 s time limit" in r.reason
    assert r.cell_errors[6] == (NOT_EXECUTED, "the notebook stopped before this cell finished")
    assert r.wall_s < 3 + 3  # the watchdog, not the cells, ended it


def test_a_failed_allocation_is_status_memory(tmp, used_uids):
    r = run(["import numpy as np", "a = np.ones(10**9)", "print('after')"], tmp)
    assert r.status == "memory"
    assert "512 MB" in r.reason
    assert r.cell_errors[1][0] == "MemoryError"
    assert stdout(r, 2) == "after\n"


def test_a_kernel_dying_of_memory_is_status_memory_not_dead_kernel():
    state = {"watchdog": False, "overflow": False, "current": 3}
    status, reason = execute_step._classify(state, {}, DeadKernelError("Kernel died"), "terminate called after throwing an instance of 'std::bad_alloc'", LIMITS)  # fmt: skip
    assert (status, reason) == ("memory", "the kernel ran out of memory (limit 512 MB) and died (in cell 3)")


def test_a_kernel_that_exits_is_status_dead_kernel_and_later_cells_did_not_run(tmp, used_uids):
    r = run(["x = 1", "import os; os._exit(1)", "print(x)"], tmp)
    assert r.status == "dead-kernel"
    assert "cell 1" in r.reason
    assert 0 not in r.cell_errors
    assert r.cell_errors[1][0] == NOT_EXECUTED and r.cell_errors[2][0] == NOT_EXECUTED


def test_gigabytes_of_printed_output_are_status_output_limit_and_are_not_kept(tmp, used_uids):
    # unflushed: the kernel buffers faster than it sends; the cap inside the kernel (capped_kernel) stops it
    r = run(["line = 'x' * (2**20 - 1)\nfor _ in range(2048):\n    print(line)", "print('never')"], tmp)
    assert r.status == "output-limit"
    assert "1 MB" in r.reason
    kept = sum(len(o.get("text", "")) for c in r.notebook.cells for o in c.get("outputs", []))
    assert kept <= 2**20
    assert r.cell_errors[0][0] == NOT_EXECUTED and r.cell_errors[1][0] == NOT_EXECUTED


def test_a_flood_of_displayed_output_is_stopped_by_the_graders_own_count(tmp, used_uids):
    flood = "from IPython.display import display\nfor i in range(10**5):\n    display({'text/plain': 'x' * 10_000}, raw=True)"
    r = run([flood, "print('never')"], tmp)
    assert r.status == "output-limit"
    kept = sum(len(o.get("data", {}).get("text/plain", "")) for c in r.notebook.cells for o in c.get("outputs", []))
    assert kept <= 2**20
    assert r.cell_errors[1][0] == NOT_EXECUTED


@ROOT
def test_a_fork_bomb_is_stopped_by_the_process_limit_and_leaves_nothing(tmp, used_uids):
    r = run(["import os\nwhile True:\n    os.fork()", "print('after')"], tmp)
    # Which symptom comes first is a race: the kernel's fork fails (EAGAIN: the cell errors, the notebook goes
    # on, status ok), the cell limit interrupts it, or the kernel's own threads fail to start (zmq aborts).
    # Either way the bomb is bounded and, by the fixture, leaves nothing behind.
    assert r.status in ("ok", "timeout", "dead-kernel"), r.reason
    if r.status == "ok":
        assert r.cell_errors[0] == ("BlockingIOError", "[Errno 11] Resource temporarily unavailable")
    assert r.wall_s < LIMITS.timeout_s + 3


@ROOT
def test_background_processes_that_left_the_process_group_are_killed(tmp, used_uids):
    spawn = (
        "import subprocess; subprocess.Popen(['setsid', 'sleep', '1000']); subprocess.Popen('sleep 999 &', shell=True)"
    )
    r = run([spawn, "import time; time.sleep(0.3)"], tmp)
    assert r.status == "ok", r.cell_errors
    (uid,) = used_uids
    assert sandbox.processes_of(uid) == []


@ROOT
def test_the_kernel_is_unprivileged_offline_and_cannot_write_grader_files(tmp, used_uids):
    gradebook = tmp / "course" / "gradebook.db"
    gradebook.parent.mkdir()
    gradebook.write_text("scores")
    probe = f"""
import os, socket
print(os.getuid(), os.getcwd() == {str(tmp / "scratch")!r})
try:
    open({str(gradebook)!r}, "a").write("forged")
except OSError as e:
    print("gradebook:", type(e).__name__)
try:
    socket.create_connection(("1.1.1.1", 80), timeout=2)
except OSError as e:
    print("network:", e.errno)
print(sorted(os.listdir("/root")), os.listdir({str(execute_step.REPO / "labs")!r}))
open("artifact.txt", "w").write("mine")
"""
    r = run([probe], tmp)
    assert r.status == "ok", r.cell_errors
    who, gradebook_err, network, root_listing = stdout(r, 0).splitlines()
    uid, cwd_ok = who.split()
    assert int(uid) == used_uids[0] >= sandbox.UID_BASE and cwd_ok == "True"
    # under /tmp the grader's files are not even there (the sandbox has a private /tmp); elsewhere: not writable
    in_tmp = any(str(gradebook).startswith(d + "/") for d in sandbox.TEMP_DIRS)
    assert gradebook_err == ("gradebook: FileNotFoundError" if in_tmp else "gradebook: PermissionError")
    assert network == "network: 101"  # ENETUNREACH: the namespace has no route
    # root's home is covered (only the interpreter is bound back); the repo's labs/ is hidden by default
    assert root_listing in ("[] []", "['.pyenv'] []")
    assert gradebook.read_text() == "scores"
    assert (tmp / "scratch" / "artifact.txt").read_text() == "mine"
    assert os.stat(tmp / "scratch").st_uid == used_uids[0]


@ROOT
def test_hidden_directories_are_empty_inside_the_kernel(tmp, used_uids):
    # inside the scratch dir, which stays visible even in the sandbox's private /tmp, so the hiding itself is tested
    secret = tmp / "scratch" / "labs"
    secret.mkdir(parents=True)
    (secret / "solutions.ipynb").write_text("{}")
    nb = new_notebook(cells=[new_code_cell(f"import os; print(os.listdir({str(secret)!r}))")])
    r = execute_notebook(nb, parameters={}, limits=LIMITS, workdir=tmp / "scratch", hide=[secret])
    assert stdout(r, 0) == "[]\n"


def test_a_scratch_dir_the_sandbox_cannot_enter_is_a_readable_error(tmp, used_uids):
    if not sandbox.is_root():
        pytest.skip("needs root: without a sandbox uid every directory is reachable")
    closed = tmp / "closed"
    closed.mkdir(mode=0o700)
    nb = new_notebook(cells=[new_code_cell("1")])
    r = execute_notebook(nb, parameters={}, limits=LIMITS, workdir=closed / "scratch")
    assert r.status == "error" and "cannot enter" in r.reason
