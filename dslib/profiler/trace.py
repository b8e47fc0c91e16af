"""Chrome trace export: profiler events as the JSON that chrome://tracing and https://ui.perfetto.dev open.

    prof.export_chrome_trace("trace.json")

Format (Trace Event Format, "JSON Object Format"): {"traceEvents": [...], "displayTimeUnit": "ms"}; each event
is a complete event (ph "X") with ts and dur in microseconds, pid and tid, and args (input shapes and dtypes,
FLOPs, bytes moved, bytes allocated, the enclosing module). Everything runs on the one recorded thread, so
module events enclose the op events they ran, and the viewer draws them nested. Written to a temporary file in
the same folder, then renamed over `path`, so a reader never sees a half-written trace.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

_CATS = {"op": "cpu_op", "backward": "cpu_op,backward", "module": "python_function,module"}


def chrome_trace(events, tid: int) -> dict:
    pid = os.getpid()
    tid = tid % 2**31  # some viewers want a 32-bit thread id
    out = [
        {"ph": "M", "name": "process_name", "pid": pid, "tid": tid, "args": {"name": "dslib"}},
        {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": "dslib main thread"}},
    ]
    # parents first at equal start times, so viewers that nest by order see the module before its first op
    for ev in sorted(events, key=lambda e: (e.start, -e.end)):
        args = {}
        if ev.cat == "module":
            args["module type"] = ev.type
        if ev.module:
            args["module"] = ev.module
        if ev.shapes is not None:
            args["Input Dims"] = [list(s) for s in ev.shapes]
            args["Input type"] = list(ev.dtypes)
        for name, value in (("FLOPs", ev.flops), ("bytes moved", ev.nbytes), ("bytes allocated", ev.alloc)):
            if value:
                args[name] = value
        cat = _CATS.get(ev.cat, ev.cat)  # (a replayed graph node: its phase, forward or update)
        out.append(
            {"ph": "X", "cat": cat, "name": ev.name, "pid": pid, "tid": tid, "ts": ev.start / 1e3,
             "dur": (ev.end - ev.start) / 1e3, "args": args}
        )  # fmt: skip
    return {"traceEvents": out, "displayTimeUnit": "ms"}


def write_json_atomic(path, obj) -> None:
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"export_chrome_trace: folder {str(path.parent)!r} does not exist; create it first")
    from ..serialization import _write_atomic  # temp file, fsync, rename (and the directory fsync)

    _write_atomic(path, json.dumps(obj).encode())
