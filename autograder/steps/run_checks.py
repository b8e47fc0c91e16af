"""Step 4, RunChecks: the lab's hidden pytest artifact checks, run in the sandbox against the scratch dir.

One pytest process runs every check file, as a sandbox uid with the lab's limits, its cwd the submission's
scratch dir (where the notebook left its artifacts). Nothing the student left there can change how pytest
runs: no conftest.py (--noconftest), no pytest.ini/pyproject (-c points to our own empty ini), no module
shadowing (python -P: the cwd is not on sys.path; --import-mode=importlib), no pytest plugins installed
in the environment (PYTEST_DISABLE_PLUGIN_AUTOLOAD; it also saves seconds of start-up). The check files are copies in
a grader-owned directory; one check = one file, passed when all its tests pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from autograder import sandbox
from autograder.sandbox import Limits

MESSAGE_CHARS = 300


@dataclass
class CheckResult:
    name: str  # the check file's name
    passed: bool
    message: str  # why it failed (first failing test's message); "" when passed. Instructor-facing only.


def run_checks(check_files: list[Path], *, workdir: Path, limits: Limits) -> list[CheckResult]:
    """Run each pytest file in `check_files` against `workdir`; one CheckResult per file, in order."""
    check_files = [Path(f) for f in check_files]
    if not check_files:
        return []
    with sandbox.sandbox_uid() as uid:
        run_dir = sandbox.private_dir("dsc-")
        try:
            return _run(check_files, Path(workdir), limits, uid, run_dir)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)


def _run(check_files: list[Path], workdir: Path, limits: Limits, uid: int | None, run_dir: Path) -> list[CheckResult]:
    os.chmod(run_dir, 0o711)
    checks_dir, out_dir = run_dir / "checks", run_dir / "out"
    checks_dir.mkdir(mode=0o755)
    out_dir.mkdir(mode=0o700)
    (checks_dir / "pytest.ini").write_text("[pytest]\n")
    copies = []
    for i, f in enumerate(check_files):
        copy = checks_dir / f"c{i}_{f.stem}.py"
        shutil.copyfile(f, copy)
        os.chmod(copy, 0o644)
        copies.append(copy)
    sandbox.give_to(out_dir, uid)
    sandbox.give_to(workdir, uid)
    junit = out_dir / "junit.xml"
    pytest = [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest",
              "--import-mode=importlib", "-c", str(checks_dir / "pytest.ini"), "--rootdir", str(checks_dir),
              f"--junitxml={junit}", *map(str, copies)]  # fmt: skip
    argv = [sys.executable, "-m", "autograder.kernel_launcher", "--workdir", str(workdir), "--timeout-s", str(limits.timeout_s),
            "--memory-mb", str(int(limits.memory_mb)), "--max-processes", str(int(limits.max_processes))]  # fmt: skip
    argv += ["--env", "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1"]  # no third-party plugins: 0.1 s instead of 3 s here
    if uid is not None:
        argv += ["--uid", str(uid), "--keep", str(run_dir)]  # the check files and junit output, in the private /tmp
    try:
        proc = subprocess.run(
            [*argv, "--", *pytest], capture_output=True, text=True, timeout=limits.timeout_s, start_new_session=True
        )
        fallback = f"the checks did not run (pytest exit {proc.returncode}): {_last_line(proc.stdout + proc.stderr)}"
    except subprocess.TimeoutExpired:
        fallback = f"the checks ran past the {limits.timeout_s:g} s time limit"
    finally:
        if uid is not None:
            sandbox.kill_uid(uid)
    cases = _parse_junit(junit) if junit.is_file() else []
    results = []
    for i, f in enumerate(check_files):
        mine = [c for c in cases if c[0].startswith(f"c{i}_")]
        failed = [msg for _, ok, msg in mine if not ok]
        if not mine:
            results.append(CheckResult(f.name, False, fallback))
        elif failed:
            results.append(CheckResult(f.name, False, failed[0]))
        else:
            results.append(CheckResult(f.name, True, ""))
    return results


def _parse_junit(path: Path) -> list[tuple[str, bool, str]]:
    """(classname-or-name, passed, message) of every testcase; a collection error names the file in `name`."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return []
    cases = []
    for case in root.iter("testcase"):
        key = case.get("classname") or case.get("name") or ""
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        msg = "" if bad is None else " ".join((bad.get("message") or bad.text or "failed").split())[:MESSAGE_CHARS]
        cases.append((key, bad is None, msg))
    return cases


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:MESSAGE_CHARS] if lines else ""
