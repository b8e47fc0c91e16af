"""The sandbox's parts: uid slots, kill by uid, ownership hand-over, and what the launcher applies before exec."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.sandbox import Limits

ROOT = pytest.mark.skipif(not sandbox.is_root(), reason="needs root: sandbox uid and namespaces")


@pytest.fixture
def tmp():
    path = Path(tempfile.mkdtemp(prefix="dscourse-test-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_limits_default_to_the_issue_values():
    assert Limits() == Limits(timeout_s=120, cell_timeout_s=60, memory_mb=4096, max_processes=64, max_output_mb=16)


def test_isolation_says_what_is_enforced():
    assert sandbox.isolation().startswith("root:" if sandbox.is_root() else "not root:")


@ROOT
def test_concurrent_holders_get_distinct_uids_and_a_released_uid_is_reused():
    with sandbox.sandbox_uid() as a, sandbox.sandbox_uid() as b:
        assert a != b and min(a, b) >= sandbox.UID_BASE
    with sandbox.sandbox_uid() as c:
        assert c in (a, b)


@ROOT
def test_kill_uid_ends_processes_that_left_their_session():
    with sandbox.sandbox_uid() as uid:
        shell = "setsid sleep 1000 & (sleep 999 &) ; exit 0"
        subprocess.run(["sh", "-c", shell], user=uid, group=uid, start_new_session=True, check=True, cwd="/")
        assert len(sandbox.processes_of(uid)) == 2
        sandbox.kill_uid(uid)
        assert sandbox.processes_of(uid) == []


@ROOT
def test_give_to_does_not_follow_symlinks(tmp):
    target = tmp / "grader-secret"
    target.write_text("x")
    work = tmp / "work"
    work.mkdir()
    (work / "link").symlink_to(target)
    (work / "file").write_text("y")
    sandbox.give_to(work, sandbox.UID_BASE)
    assert os.stat(work / "file").st_uid == sandbox.UID_BASE
    assert os.lstat(work / "link").st_uid == sandbox.UID_BASE
    assert os.stat(target).st_uid == 0
    assert os.stat(work).st_mode & 0o777 == 0o700


def launch(tmp, code, *, uid=None, hide=()):
    """Run `code` through the launcher with small limits; returns its JSON report."""
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    argv = [sys.executable, "-m", "autograder.kernel_launcher", "--workdir", str(work), "--timeout-s", "5",
            "--memory-mb", "700", "--max-processes", "20"]  # fmt: skip
    if uid is not None:
        sandbox.give_to(work, uid)
        argv += ["--uid", str(uid)]
    for path in hide:
        argv += ["--hide", str(path)]
    out = subprocess.run([*argv, "--", sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


REPORT = """
import json, os, resource, socket
try:
    socket.create_connection(("1.1.1.1", 80), timeout=2); net = "connected"
except OSError as e:
    net = e.errno
print(json.dumps({"uid": os.getuid(), "groups": os.getgroups(), "cwd": os.getcwd(), "home": os.environ["HOME"],
    "as": resource.getrlimit(resource.RLIMIT_AS)[0], "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0],
    "core": resource.getrlimit(resource.RLIMIT_CORE)[0], "net": net, "sid": os.getsid(0) == os.getpid()}))
"""


def test_launcher_sets_limits_cwd_and_a_new_session_before_exec(tmp):
    r = launch(tmp, REPORT)
    assert r["as"] == 700 * 2**20 and r["core"] == 0
    assert r["cwd"] == r["home"] == str(tmp / "work")
    assert r["sid"]


@ROOT
def test_launcher_drops_to_the_sandbox_uid_without_groups_or_network(tmp):
    with sandbox.sandbox_uid() as uid:
        r = launch(tmp, REPORT, uid=uid)
    assert r["uid"] == uid and r["groups"] == []
    assert r["nproc"] == 20
    assert r["net"] == 101  # ENETUNREACH


@ROOT
def test_launcher_hides_directories_and_keeps_root_home_closed(tmp):
    # inside the scratch dir, which is bound back into the private /tmp: the hiding mount must come with it
    secret = tmp / "work" / "labs"
    secret.mkdir(parents=True)
    (secret / "hidden_tests.py").write_text("assert True")
    code = f"import json, os; print(json.dumps({{'labs': os.listdir({str(secret)!r}), 'root': os.listdir('/root')}}))"
    with sandbox.sandbox_uid() as uid:
        r = launch(tmp, code, uid=uid, hide=[secret])
    assert r["labs"] == []
    assert set(r["root"]) <= {".pyenv"}  # only the interpreter's directory is bound back, when it lives there


@ROOT
def test_launcher_gives_the_sandbox_a_private_tmp_and_keeps_its_scratch_dir(tmp):
    marker = Path(tempfile.mkdtemp(prefix="grader-secret-"))  # a grader's temp dir, e.g. another submission's
    (marker / "answers.txt").write_text("secret")
    code = (
        "import json, os; open('/tmp/from-student', 'w').write('x'); open('/dev/shm/s', 'w').write('x');"
        "open('scratch.txt', 'w').write('kept');"
        f"print(json.dumps({{'tmp': sorted(os.listdir('/tmp')), 'marker': os.path.exists({str(marker)!r}),"
        "'cwd': os.getcwd()}))"
    )
    try:
        with sandbox.sandbox_uid() as uid:
            r = launch(tmp, code, uid=uid)
        assert r["marker"] is False  # nothing of the real /tmp is visible ...
        assert r["cwd"] == str(tmp / "work")  # ... but the scratch dir, bound back in place
        assert not Path("/tmp/from-student").exists() and not Path("/dev/shm/s").exists()  # nothing leaks out
        assert (tmp / "work" / "scratch.txt").read_text() == "kept"  # what it writes in its scratch dir stays
    finally:
        shutil.rmtree(marker)


def test_launcher_runs_one_blas_thread_unless_the_grader_sets_more(tmp, monkeypatch):
    code = "import json, os; print(json.dumps({k: os.environ.get(k) for k in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS')}))"
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    assert launch(tmp, code) == {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert launch(tmp, code)["OMP_NUM_THREADS"] == "4"
