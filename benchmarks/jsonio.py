"""Benchmark results as JSON files, written atomically through dslib.serialization's writer (a temp file in the same
folder, fsync, rename): a reader, or a run killed midway, never sees half a file."""

from __future__ import annotations

import json
from pathlib import Path

from dslib.serialization import _write_atomic


def write_json(path, obj, indent: int = 1) -> None:
    """Write `obj` as JSON to `path` (its folder is created), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, (json.dumps(obj, indent=indent) + "\n").encode())
