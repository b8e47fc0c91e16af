"""Scratch dirs carry their grader's pid; sweep() removes those of dead graders and keeps every live one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from autograder import scratch


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid  # reaped: no process has this pid now (barring immediate reuse, checked below)


def test_make_names_the_dir_after_this_process_and_keeps_it_private(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    d = scratch.make("dscourse-01-autograd-")
    assert d.parent == tmp_path and d.name.startswith(f"dscourse-01-autograd-{os.getpid()}-")
    assert (d.stat().st_mode & 0o777) == 0o700


def test_make_rejects_a_prefix_sweep_would_not_find():
    with pytest.raises(ValueError, match="must start with one of"):
        scratch.make("tmp-")


def test_sweep_removes_the_dirs_of_dead_graders_and_keeps_live_ones_and_strangers(tmp_path):
    dead = _dead_pid()
    if scratch._alive(dead):
        pytest.skip("the pid was reused at once")
    stale = [tmp_path / f"dscourse-01-autograd-{dead}-abc_1234", tmp_path / f"dsg-{dead}-zz99yy88"]
    live = tmp_path / f"dsc-{os.getpid()}-q1w2e3r4"
    stranger = tmp_path / f"dscourse-notes-{dead}"  # no random suffix: not a scratch dir
    uid_locks = tmp_path / "dscourse-sandbox-uids"
    for d in [*stale, live, stranger, uid_locks]:
        (d / "k").mkdir(parents=True)
        (d / "k" / "f.txt").write_text("x")
    removed = scratch.sweep(tmp_path)
    assert sorted(removed) == sorted(stale)
    assert not any(d.exists() for d in stale)
    assert live.exists() and stranger.exists() and uid_locks.exists()


def test_sweep_of_a_missing_root_removes_nothing(tmp_path):
    assert scratch.sweep(tmp_path / "absent") == []


def test_grade_lab_sweeps_once_the_lab_is_known_and_released(monkeypatch):
    import autograder.batch as batch

    class Stop(Exception):
        pass

    def sweep(*args):
        raise Stop  # reached: stop before grading anything

    class Course:
        def lab(self, lab_id):
            return lab_id

    monkeypatch.setattr(batch.scratch, "sweep", sweep)
    monkeypatch.setattr(batch, "require_released", lambda course, lab: None)
    with pytest.raises(Stop):
        batch.grade_lab(Course(), "01-autograd")
