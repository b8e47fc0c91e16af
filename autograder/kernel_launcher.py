"""Start a program (the Jupyter kernel, or pytest for the artifact checks) inside the sandbox.

The kernelspec that `autograder.steps.execute` writes runs:

    python -m autograder.kernel_launcher --workdir DIR --memory-mb 4096 --max-processes 64 --timeout-s 120 \
        [--uid 2000000] [--hide PATH ...] [--keep PATH ...] [--connection-file {connection_file}] -- python -m ipykernel_launcher -f {connection_file}

As root it isolates network and mounts (a private /tmp too), sets the rlimits, hands the connection file to the sandbox uid,
drops privileges, chdirs into the scratch dir and execs the program (same pid, so the kernel manager's
signals reach it). See autograder/sandbox.py for what each step enforces.
"""

from __future__ import annotations

import argparse
import os
import sys

from autograder import sandbox


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m autograder.kernel_launcher", description=__doc__.splitlines()[0])
    p.add_argument("--workdir", required=True, help="the scratch dir (cwd and HOME of the program)")
    p.add_argument("--uid", type=int, help="sandbox uid to drop to (root only)")
    p.add_argument("--timeout-s", type=float, required=True)
    p.add_argument("--memory-mb", type=int, required=True)
    p.add_argument("--max-processes", type=int, required=True)
    p.add_argument("--hide", action="append", default=[], help="a directory to cover with an empty tmpfs")
    p.add_argument("--keep", action="append", default=[], help="a directory to keep visible in the private /tmp")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="an extra environment variable")
    p.add_argument("--connection-file", help="chown'd to the sandbox uid so the kernel can read it")
    p.add_argument("program", nargs=argparse.REMAINDER, help="-- then the program's argv")
    args = p.parse_args(argv)
    program = args.program[1:] if args.program[:1] == ["--"] else args.program
    if not program:
        p.error("no program given after --")

    if os.getpid() != os.getsid(0):
        os.setsid()
    limits = sandbox.Limits(timeout_s=args.timeout_s, memory_mb=args.memory_mb, max_processes=args.max_processes)
    if args.uid is not None:
        sandbox.isolate_network()
        sandbox.hide_paths(args.hide)
        needed = [sys.base_prefix, sys.prefix, os.path.dirname(os.path.dirname(sandbox.__file__))]
        keep = [args.workdir, *needed, *args.keep]
        if args.connection_file:
            keep.append(os.path.dirname(args.connection_file))
        sandbox.private_tmp(keep, size_mb=args.memory_mb)
        sandbox.expose(needed)
        if args.connection_file:
            os.chown(args.connection_file, args.uid, args.uid)
        sandbox.set_limits(limits, nproc=True)
        sandbox.drop_privileges(args.uid)
    else:
        sandbox.set_limits(limits, nproc=False)

    os.chdir(args.workdir)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": args.workdir,
        "USER": "student",
        "LOGNAME": "student",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "TMPDIR": args.workdir,
        "MPLCONFIGDIR": os.path.join(args.workdir, ".matplotlib"),
        "IPYTHONDIR": os.path.join(args.workdir, ".ipython"),
        "JUPYTER_RUNTIME_DIR": os.path.join(args.workdir, ".jupyter"),
        "MALLOC_ARENA_MAX": "2",  # glibc reserves 64 MB of address space per thread arena: keep RLIMIT_AS meaningful
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for key in ("JPY_PARENT_PID", "VIRTUAL_ENV"):
        if key in os.environ:
            env[key] = os.environ[key]
    # One BLAS/OpenMP thread per sandbox unless the grader's environment says otherwise: graders run one sandbox
    # per worker, and oversubscribed BLAS threads can make a matmul 100x slower than on one thread.
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[key] = os.environ.get(key, "1")
    env.update(item.split("=", 1) for item in args.env)
    sys.stdout.flush()
    os.execvpe(program[0], program, env)


if __name__ == "__main__":
    main()
