"""The sandbox a submission's code runs in: limits, a throw-away uid, and the clean-up afterwards.

The grader process (usually root on a grading server) keeps all its files private (mode 700) and starts
the student's kernel through `autograder.kernel_launcher`, which, before it execs the kernel:

- starts a new session (its own process group);
- when root: unshares the network namespace (only a loopback device: no route out) and the mount
  namespace (the paths in `hide` are covered by an empty read-only tmpfs; /tmp, /var/tmp and /dev/shm by
  fresh private tmpfs, so submissions cannot pass files to each other or read the grader's temp files);
- sets rlimits: RLIMIT_AS (memory), RLIMIT_NPROC (processes of the sandbox uid), RLIMIT_FSIZE (largest
  file), RLIMIT_CPU (a backstop to the wall-clock watchdog), RLIMIT_CORE = 0;
- when root: drops to a dedicated unprivileged uid/gid (no supplementary groups, no_new_privs), one uid
  per concurrently running sandbox, so that RLIMIT_NPROC counts only this submission's processes and
  `kill_uid` can end every process it started, even those that left the process group (setsid, double fork).

Without root none of the uid/namespace parts are possible: the kernel runs as the grader's own user with
the rlimits except RLIMIT_NPROC (it would count the user's other processes), and clean-up is by process
group and descendants only. `isolation()` says which mode is in effect; autograder/README.md has the
threat model.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

UID_BASE = 2_000_000  # sandbox uids are UID_BASE + slot: far above any real account, no /etc/passwd entry needed
UID_SLOTS = 256  # concurrent sandboxes on one machine (one per grading worker)
_LOCK_DIR = Path(tempfile.gettempdir()) / "dscourse-sandbox-uids"


@dataclass
class Limits:
    """Resource limits of one submission (lab.toml [limits])."""

    timeout_s: float = 120  # wall time of the whole notebook
    cell_timeout_s: float = 60  # wall time of one cell (the cell is interrupted, the rest still runs)
    memory_mb: int = 4096  # address space of each sandboxed process (RLIMIT_AS); also the largest file written
    max_processes: int = 64  # processes + threads of the sandbox uid (RLIMIT_NPROC; root mode only)
    max_output_mb: float = 16  # total size of all cell outputs; past it the kernel is killed (output-limit)


def is_root() -> bool:
    return os.geteuid() == 0


def isolation() -> str:
    """A one-line description of what this process can enforce (for logs and `dscourse grade` output)."""
    if is_root():
        return "root: dedicated sandbox uid, network and mount namespaces, rlimits, kill by uid"
    return "not root: rlimits only (no separate uid, no network isolation, no RLIMIT_NPROC); kill by process group"


@contextlib.contextmanager
def sandbox_uid() -> Iterator[int | None]:
    """Reserve a sandbox uid for the duration of the block (None when not root).

    A uid is held through an flock on a private lock file, so parallel workers (and parallel graders)
    never share one. Any process a crashed earlier holder left behind is killed before the uid is handed out.
    """
    if not is_root():
        yield None
        return
    # Orphans of the sandbox (children of killed processes) are re-parented to us, not to PID 1, so that
    # kill_uid can reap them at once: a zombie still counts against the next holder's RLIMIT_NPROC.
    _check(_libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")
    _LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    for slot in range(UID_SLOTS):
        fd = os.open(_LOCK_DIR / f"{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        uid = UID_BASE + slot
        try:
            kill_uid(uid)
            yield uid
        finally:
            kill_uid(uid)
            os.close(fd)  # releases the lock
        return
    raise RuntimeError(f"sandbox: all {UID_SLOTS} sandbox uids are in use; run fewer parallel workers")


def processes_of(uid: int, *, zombies: bool = False) -> list[int]:
    """Pids of the processes whose real uid is `uid` (live ones only, unless zombies=True)."""
    return [pid for pid, _, _ in _scan(uid) if zombies or not _is_zombie(pid)]


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def _scan(uid: int) -> list[tuple[int, str, int]]:
    """(pid, state, ppid) of every process whose real uid is `uid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                status = f.read()
        except OSError:
            continue  # exited meanwhile
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if int(fields.get("Uid", "-1\t").split("\t")[0]) == uid:
            found.append((int(entry), fields.get("State", "?")[:1], int(fields.get("PPid", "0"))))
    return found


def kill_uid(uid: int, deadline_s: float = 5.0) -> None:
    """SIGKILL every process of `uid` (repeatedly, so that a fork bomb cannot outrun it) and reap the zombies
    re-parented to us (see sandbox_uid), until none is left.

    kill(-1, SIGKILL) from a helper that has become `uid` signals every process of that uid at once;
    a fork racing with it is caught by the next round.
    """
    end = time.monotonic() + deadline_s
    while procs := _scan(uid):
        if any(state != "Z" for _, state, _ in procs):
            pid = os.fork()
            if pid == 0:  # the helper: become uid, kill all of its processes, exit
                try:
                    os.setresuid(uid, uid, uid)
                    os.kill(-1, signal.SIGKILL)
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)
        for pid, _, ppid in procs:
            if ppid == os.getpid():
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > end:
            live = [pid for pid, state, _ in _scan(uid) if state != "Z"]
            if live:
                raise RuntimeError(f"sandbox: processes of uid {uid} survive SIGKILL: {live}")
            return  # zombies whose parent is not us: harmless but for RLIMIT_NPROC, reaped by init
        time.sleep(0.005)


def kill_group(pgid: int) -> None:
    """SIGKILL a process group (the kernel's session); no error if it is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def give_to(path: Path, uid: int | None) -> None:
    """Make `path` (a directory tree) owned by the sandbox uid, mode 700; symlinks are not followed."""
    if uid is None:
        return
    os.lchown(path, uid, uid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, uid)
    os.chmod(path, 0o700)


def private_dir(prefix: str) -> Path:
    """A fresh directory only the grader's uid can enter (mode 700), swept if the grader dies (scratch.py)."""
    from autograder import scratch

    return scratch.make(prefix)


# ---- used by kernel_launcher, inside the child, before exec ---------------------------------------------------

_CLONE_NEWNS = 0x00020000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 2, 4, 0x1000, 0x4000, 0x40000
_PR_SET_NO_NEW_PRIVS, _PR_SET_CHILD_SUBREAPER = 38, 36
_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def isolate_network() -> None:
    """Move this process into a new network namespace that has only a loopback device (brought up,
    so that localhost servers, e.g. torch.distributed in a lab, still work)."""
    _check(_libc.unshare(_CLONE_NEWNET), "unshare(CLONE_NEWNET)")
    import socket
    import struct

    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b""))


def hide_paths(paths: list[str]) -> None:
    """In a new mount namespace, cover each existing path (a directory) with an empty read-only tmpfs."""
    _check(_libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "mount --make-rprivate /")
    for p in paths:
        if os.path.isdir(p):
            flags = _MS_RDONLY | _MS_NOSUID | _MS_NODEV
            _check(_libc.mount(b"tmpfs", p.encode(), b"tmpfs", flags, b"size=4k,mode=755"), f"mount tmpfs on {p}")


TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


def private_tmp(keep: list[str], size_mb: int) -> list[str]:
    """Cover each of TEMP_DIRS with a fresh, empty tmpfs (mode 1777, at most `size_mb` MiB) seen only in this mount
    namespace; every path of `keep` that lay under one (the scratch dir, the kernel's connection dir, the venv when
    the repo itself lives in /tmp) is bind-mounted back in place, submounts included (a path hidden by hide_paths
    stays hidden). Call after hide_paths (in the new mount namespace), as root. Returns the directories covered."""
    targets = [os.path.realpath(p) for p in keep]
    fds = {p: os.open(p, os.O_PATH) for p in targets if os.path.exists(p)}
    covered = []
    try:
        for d in TEMP_DIRS:
            if os.path.islink(d) or not os.path.isdir(d):
                continue
            opts = f"size={int(size_mb)}m,mode=1777".encode()
            _check(_libc.mount(b"tmpfs", d.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, opts), f"tmpfs on {d}")
            covered.append(d)
        for path, fd in sorted(fds.items()):  # parents before children
            if any(path == d or path.startswith(d + "/") for d in covered):
                os.makedirs(path, mode=0o755, exist_ok=True)
                _check(
                    _libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, _MS_BIND | _MS_REC, None),
                    f"bind {path}",
                )
    finally:
        for fd in fds.values():
            os.close(fd)
    return covered


def expose(paths: list[str]) -> None:
    """Make each path reachable by the sandbox uid even where a parent is closed to others (e.g. the interpreter
    under /root/.pyenv, /root being 700): the closed parent is covered by a tmpfs (mode 755, empty, so the rest
    of it stays hidden) and the path is bind-mounted back in place. Call in the new mount namespace, as root."""
    covered: dict[str, list[tuple[str, int]]] = {}
    for path in paths:
        path = os.path.realpath(path)
        parts = path.split("/")[1:]
        for i in range(1, len(parts)):
            parent = "/" + "/".join(parts[:i])
            if not os.stat(parent).st_mode & 0o001:
                covered.setdefault(parent, []).append((path, os.open(path, os.O_PATH)))
                break
    for parent, inside in covered.items():
        _check(
            _libc.mount(b"tmpfs", parent.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, b"size=64k,mode=755"),
            f"tmpfs on {parent}",
        )
        for path, fd in inside:
            os.makedirs(path, mode=0o755, exist_ok=True)
            _check(
                _libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, _MS_BIND | _MS_REC, None),
                f"bind {path}",
            )
            os.close(fd)


def set_limits(limits: Limits, *, nproc: bool) -> None:
    import resource

    mem = int(limits.memory_mb) * 2**20
    cpu = int(limits.timeout_s * (os.cpu_count() or 1)) + 10  # CPU time of all threads; the wall watchdog comes first
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))


def drop_privileges(uid: int) -> None:
    """Become uid/gid `uid` for good: no supplementary groups, and no way back up (no_new_privs)."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    if os.geteuid() == 0:  # cannot happen after setresuid; belt and braces
        print("sandbox: failed to drop root", file=sys.stderr)
        os._exit(errno.EPERM)
