"""The grader's scratch directories: named after the process that made them, swept once that process is gone.

    from autograder import scratch
    d = scratch.make("dscourse-01-autograd-")   # /tmp/dscourse-01-autograd-<pid>-<random>, mode 700
    scratch.sweep()                             # remove scratch dirs whose grading process no longer exists

Every run removes its own scratch dir when it ends, but a grader killed with SIGKILL (or by the OOM killer,
or a machine reset of the container) cannot, and a batch that resumes afterwards grades into new dirs. So
each name carries the pid of the process that made it, and `dscourse grade` sweeps on start-up: a dir is
removed only when no process with its pid exists (a live pid, even an unrelated process that reused the
number, keeps its dir: a sweep never deletes anything a running grader may use).
Tests: .venv/bin/pytest tests/autograder/test_scratch.py -q
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

PREFIXES = ("dscourse-", "dsg-", "dsc-")  # a submission's work dir; execute's run dir; run_checks' run dir
_NAME = re.compile(r"^(?:dscourse-.+|dsg|dsc)-(\d+)-[a-z0-9_]{8}$")  # <prefix><pid>-<mkdtemp's 8 chars>


def make(prefix: str) -> Path:
    """A fresh directory only this uid can enter (mkdtemp: mode 700), named `<prefix><pid>-<random>`."""
    if not prefix.startswith(PREFIXES):
        raise ValueError(f"scratch.make({prefix!r}): the prefix must start with one of {PREFIXES}, so sweep() finds it")
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def sweep(root: Path | None = None) -> list[Path]:
    """Remove the scratch dirs under `root` (the temp dir) whose making process has exited; return them."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _NAME.match(p.name)
        if m is None or p.is_symlink() or not p.is_dir() or _alive(int(m.group(1))):
            continue
        shutil.rmtree(p, ignore_errors=True)
        if not p.exists():
            removed.append(p)
    return removed
