"""Step 3, Execute: run an already rebuilt notebook with papermill, its kernel inside the sandbox.

papermill injects the grading parameters and drives the cells through nbclient; this step adds what
neither has: the kernel starts through `autograder.kernel_launcher` (limits, sandbox uid, no network),
a watchdog ends the whole notebook at `limits.timeout_s`, a cell past `limits.cell_timeout_s` is
interrupted (the next cells still run), every cell runs even after an error (like nbgrader), output past
`limits.max_output_mb` kills the kernel, and afterwards every process the submission started is killed.

The kernel talks to the grader over Unix sockets (zmq ipc transport): in its own network namespace it
has no route to the grader's TCP loopback.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import json
import logging
import os
import shutil
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NotebookExecutionManager
from papermill.execute import prepare_notebook_metadata
from papermill.parameterize import parameterize_notebook

from autograder import sandbox
from autograder.capped_kernel import OUTPUT_LIMIT_MARK
from autograder.sandbox import Limits

log = logging.getLogger(__name__)

STATUSES = ("ok", "timeout", "memory", "dead-kernel", "output-limit", "error")
NOT_EXECUTED = "NotExecuted"  # ename recorded for a code cell that never ran to completion
CELL_TIMEOUT = "CellTimeoutError"  # ename recorded for a cell interrupted at the cell time limit
_MEMORY_SIGNS = ("MemoryError", "Cannot allocate memory", "can't allocate memory", "bad_alloc", "out of memory")
_PROCESS_SIGNS = ("Resource temporarily unavailable", "can't start new thread")  # RLIMIT_NPROC hit (EAGAIN)
_KERNEL_NAME = "dscourse-sandbox"


@dataclass
class ExecutionResult:
    """What running one notebook produced.

    cell_errors maps a code cell's index in `notebook` (same indices as the notebook passed in) to
    (ename, evalue) for every code cell that raised, was interrupted (CELL_TIMEOUT) or never completed
    (NOT_EXECUTED): a cell not in it ran to the end without error.
    """

    status: str  # one of STATUSES
    reason: str  # readable, for the student and the instructor ("" when ok)
    notebook: nbformat.NotebookNode  # the executed notebook (outputs capped), without papermill's injected cell
    cell_errors: dict[int, tuple[str, str]] = field(default_factory=dict)
    wall_s: float = 0.0


class _SandboxClient(PapermillNotebookClient):
    """papermill's client plus an output budget: past it, output is dropped and `on_overflow` is called once."""

    def __init__(self, nb_man, *, max_output_bytes: int, on_overflow, **kw):
        super().__init__(nb_man, **kw)
        self.output_left = max_output_bytes
        self.on_overflow = on_overflow

    def process_message(self, msg, cell, cell_index):
        if msg["msg_type"] in ("stream", "display_data", "execute_result", "update_display_data", "error", "comm_msg"):
            if self.output_left < 0:
                return None
            self.output_left -= _size(msg["content"])
            if self.output_left < 0:
                self.on_overflow()
                return None
        return super().process_message(msg, cell, cell_index)


def _size(obj) -> int:
    """Approximate size in bytes of a message's content (strings dominate)."""
    if isinstance(obj, str | bytes):
        return len(obj)
    if isinstance(obj, dict):
        return sum(len(k) + _size(v) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return sum(_size(v) for v in obj)
    return 8


class _TailReader(threading.Thread):
    """Keeps the last `keep` bytes the kernel writes to its stdout/stderr file descriptors (a pipe)."""

    def __init__(self, fd: int, keep: int = 64 * 1024):
        super().__init__(daemon=True)
        self.fd, self.keep, self.chunks = fd, keep, collections.deque()

    def run(self):
        size = 0
        while chunk := os.read(self.fd, 65536):
            self.chunks.append(chunk)
            size += len(chunk)
            while size - len(self.chunks[0]) > self.keep:
                size -= len(self.chunks.popleft())
        os.close(self.fd)

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", "replace")


def _check_reachable(workdir: Path, uid: int | None) -> None:
    """The sandbox uid must be able to traverse every parent of workdir."""
    if uid is None:
        return
    for parent in workdir.resolve().parents:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            raise PermissionError(
                f"Execute: the sandbox uid cannot enter {parent} (mode {oct(os.stat(parent).st_mode & 0o777)}), "
                f"a parent of the scratch dir {workdir}: put scratch dirs under a directory with o+x"
            )


REPO = Path(__file__).resolve().parents[2]


def default_hidden() -> list[Path]:
    """What the kernel must not see unless told otherwise: this repo's labs/ (solutions, hidden tests and
    checks) and the current directory when it is an nbgrader course dir (gradebook, source, submissions)."""
    hidden = [REPO / "labs"]
    if (Path.cwd() / "nbgrader_config.py").is_file() or (Path.cwd() / "gradebook.db").is_file():
        hidden.append(Path.cwd())
    needed = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), REPO]
    # never hide a directory the kernel needs to start (the venv, the interpreter, this package)
    return [p for p in hidden if p.is_dir() and not any(n == p.resolve() or p.resolve() in n.parents for n in needed)]


def _kernel_argv(
    limits: Limits, workdir: Path, uid: int | None, hide: list[Path], kernel_name: str | None
) -> list[str]:
    inner = [
        sys.executable,
        "-m",
        "autograder.capped_kernel",
        "--max-output-mb",
        str(limits.max_output_mb),
        "-f",
        "{connection_file}",
    ]
    if kernel_name:
        inner = KernelSpecManager().get_kernel_spec(kernel_name).argv
    argv = [
        sys.executable,
        "-m",
        "autograder.kernel_launcher",
        "--workdir",
        str(workdir),
        "--timeout-s",
        str(limits.timeout_s),
        "--memory-mb",
        str(int(limits.memory_mb)),
        "--max-processes",
        str(int(limits.max_processes)),
    ]
    if uid is not None:
        argv += ["--uid", str(uid), "--connection-file", "{connection_file}"]
        for path in hide:
            argv += ["--hide", str(path)]
    return argv + ["--", *inner]


def _parameterize(nb: nbformat.NotebookNode, parameters: dict) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    nb.metadata.setdefault("papermill", {"default_parameters": {}, "parameters": {}, "environment_variables": {}})
    for cell in nb.cells:  # what papermill's load_notebook_node adds
        # a cell already tagged injected-parameters would be replaced by papermill, not inserted after: untag it
        cell.metadata["tags"] = [t for t in cell.metadata.get("tags", []) if t != "injected-parameters"]
        cell.metadata.setdefault("papermill", {})
    nb = prepare_notebook_metadata(nbformat.from_dict(nb), "", "")
    if parameters:
        nb = parameterize_notebook(nb, parameters, kernel_name="python3", language="python")
    return nb


def _without_injected_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop papermill's injected-parameters cell so indices match the notebook given to execute_notebook
    (the parameters stay recorded in nb.metadata.papermill.parameters)."""
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    return nb


def execute_notebook(
    nb: nbformat.NotebookNode,
    *,
    parameters: dict,
    limits: Limits,
    workdir: Path,
    kernel_name: str | None = None,
    hide: list[Path] | None = None,
) -> ExecutionResult:
    """Run every cell of `nb` in the sandbox with `parameters` injected; never raises for what the code does.

    workdir is the submission's scratch dir (cwd of the kernel; handed to the sandbox uid). kernel_name
    picks an installed kernelspec to run inside the sandbox (default: this Python's ipykernel). hide lists
    directories (course dir, labs) covered by an empty tmpfs while the code runs (root only); None means
    `default_hidden()`.
    """
    hide = default_hidden() if hide is None else [Path(p) for p in hide]
    start = time.monotonic()
    run_nb = _parameterize(nb, parameters)
    injected = {i for i, c in enumerate(run_nb.cells) if "injected-parameters" in c.metadata.get("tags", [])}
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with sandbox.sandbox_uid() as uid:
        try:
            _check_reachable(workdir, uid)
        except PermissionError as e:
            return ExecutionResult("error", str(e), _without_injected_cell(run_nb), {}, time.monotonic() - start)
        state, errors, failure, kernel_output = _run(run_nb, limits, workdir, uid, hide, kernel_name)
    # re-key from the parameterized notebook's indices to the caller's
    shift = {i: i - sum(1 for j in injected if j < i) for i in range(len(run_nb.cells)) if i not in injected}
    errors = {shift[i]: e for i, e in errors.items() if i in shift}
    state["current"] = shift.get(state["current"], state["current"])
    status, reason = _classify(state, errors, failure, kernel_output, limits)
    return ExecutionResult(status, reason, _without_injected_cell(run_nb), errors, time.monotonic() - start)


def _run(nb, limits: Limits, workdir: Path, uid: int | None, hide: list[Path], kernel_name: str | None):
    """Execute `nb` in place; returns (state, cell errors, exception that stopped it or None, kernel output tail)."""
    run_dir = sandbox.private_dir("dsg-")  # 711: the sandbox uid may pass through to its own k/ but list nothing
    os.chmod(run_dir, 0o711)
    grader_dir, kernel_dir = run_dir / "g", run_dir / "k"  # g/: kernelspec (root only); k/: connection file + sockets
    grader_dir.mkdir(mode=0o700)
    kernel_dir.mkdir(mode=0o700)
    sandbox.give_to(kernel_dir, uid)
    sandbox.give_to(workdir, uid)
    spec_dir = grader_dir / "kernels" / _KERNEL_NAME
    spec_dir.mkdir(parents=True)
    argv = _kernel_argv(limits, workdir, uid, hide, kernel_name)
    (spec_dir / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "sandbox", "language": "python"}))

    km = AsyncKernelManager(  # async: a blocking client would wait forever on a dead kernel's iopub
        kernel_name=_KERNEL_NAME,
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(grader_dir / "kernels")]),
        transport="ipc",
        ip=str(kernel_dir / "c-ipc"),
        connection_file=str(kernel_dir / "c.json"),
    )
    state = {"overflow": False, "watchdog": False, "current": None, "executed": set()}
    errors: dict[int, tuple[str, str]] = {}

    def kill_kernel():
        proc = getattr(km.provisioner, "process", None) if km.provisioner else None
        if proc is not None:
            sandbox.kill_group(proc.pid)

    def on_overflow():
        state["overflow"] = True
        kill_kernel()

    def on_timeout():
        state["watchdog"] = True
        kill_kernel()

    def on_cell_execute(cell, cell_index):
        state["current"] = cell_index

    def on_cell_executed(cell, cell_index, execute_reply):
        state["executed"].add(cell_index)
        content = execute_reply.get("content", {})
        if content.get("status") == "error":
            errors[cell_index] = (str(content.get("ename", "Error")), str(content.get("evalue", "")))

    nb_man = NotebookExecutionManager(nb, progress_bar=False)
    nb_man.notebook_start()
    cell_timeout = int(max(1, limits.cell_timeout_s))
    client = _SandboxClient(
        nb_man,
        km=km,
        max_output_bytes=int(limits.max_output_mb * 2**20),
        on_overflow=on_overflow,
        kernel_name=_KERNEL_NAME,
        timeout=cell_timeout,
        interrupt_on_timeout=True,
        error_on_timeout={
            "ename": CELL_TIMEOUT,
            "evalue": f"the cell ran past its {cell_timeout} s limit and was interrupted",
            "traceback": [],
        },
        allow_errors=True,
        startup_timeout=30,
        on_cell_execute=on_cell_execute,
        on_cell_executed=on_cell_executed,
        log=log,
    )
    rfd, wfd = os.pipe()
    tail = _TailReader(rfd)
    tail.start()
    watchdog = threading.Timer(limits.timeout_s, on_timeout)
    failure: BaseException | None = None
    pgid_snapshot: list[int] = []
    try:
        watchdog.start()
        client.execute(stdout=wfd, stderr=wfd)
    except DeadKernelError as e:
        failure = e
    except Exception as e:  # kernel failed to start, timeout waiting for IOPub after an interrupt, ...
        failure = e
    finally:
        watchdog.cancel()
        os.close(wfd)
        if uid is None and km.provisioner is not None and getattr(km.provisioner, "process", None) is not None:
            pgid_snapshot = _descendants(km.provisioner.process.pid)
        kill_kernel()
        with contextlib.suppress(Exception):
            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=True)
        with contextlib.suppress(Exception):
            run_sync(km.cleanup_resources)()
        if client.kc is not None:
            client.kc.stop_channels()
        if uid is not None:
            sandbox.kill_uid(uid)
        for pid in pgid_snapshot:
            sandbox.kill_group(pid)
        with contextlib.suppress(Exception):
            nb_man.notebook_complete()
        tail.join(timeout=2)
        shutil.rmtree(run_dir, ignore_errors=True)

    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source.strip() and i not in state["executed"]:
            errors.setdefault(i, (NOT_EXECUTED, "the notebook stopped before this cell finished"))
    return state, errors, failure, tail.text()


def _descendants(pid: int) -> list[int]:
    import psutil

    with contextlib.suppress(psutil.Error):
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    return []


def _classify(state, errors, failure, kernel_output: str, limits: Limits) -> tuple[str, str]:
    at = f" (in cell {state['current']})" if state["current"] is not None else ""
    cells = {i: f"{ename}: {evalue}" for i, (ename, evalue) in errors.items()}
    memory = [i for i, text in cells.items() if any(s in text for s in _MEMORY_SIGNS)]
    processes = [i for i, text in cells.items() if any(s in text for s in _PROCESS_SIGNS)]
    timed_out = [i for i, (ename, _) in errors.items() if ename == CELL_TIMEOUT]
    hit = processes or any(s in kernel_output for s in _PROCESS_SIGNS)
    note = f" (the limit of {limits.max_processes} processes was reached)" if hit else ""
    if state["watchdog"]:
        return "timeout", f"the notebook ran past its {limits.timeout_s:g} s time limit and was stopped{at}{note}"
    if state["overflow"] or OUTPUT_LIMIT_MARK in kernel_output:
        return (
            "output-limit",
            f"the notebook printed more than {limits.max_output_mb:g} MB of output and was stopped{at}",
        )
    if failure is not None and state["current"] is None:
        detail = kernel_output.strip().splitlines()[-1:] or [""]
        return "error", f"the kernel could not be started: {type(failure).__name__}: {failure} {detail[0]}".strip()
    if failure is not None:  # the kernel died, or broke the protocol (e.g. a message cut short by a failed allocation)
        if memory or any(s in kernel_output for s in _MEMORY_SIGNS):
            return "memory", f"the kernel ran out of memory (limit {limits.memory_mb} MB) and died{at}"
        if timed_out:
            return (
                "timeout",
                f"cell {timed_out[0]} ran past its {limits.cell_timeout_s:g} s limit and could not be interrupted{note}",
            )
        how = (
            "died"
            if isinstance(failure, DeadKernelError)
            else f"stopped responding ({type(failure).__name__}: {failure})"
        )
        return "dead-kernel", f"the kernel {how}{at}; the cells after it did not run{note}"
    if timed_out:
        return (
            "timeout",
            f"cell {timed_out[0]} ran past its {limits.cell_timeout_s:g} s limit and was interrupted{note}",
        )
    if memory:
        return "memory", f"cell {memory[0]} ran out of memory (limit {limits.memory_mb} MB)"
    return "ok", ""
