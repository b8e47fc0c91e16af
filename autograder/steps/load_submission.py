"""LoadSubmission: read a submitted notebook and validate it as JSON and nbformat v4.

A file that is not UTF-8 JSON, not a notebook, or fails nbformat's schema raises `InvalidNotebook` with a short,
readable reason; the batch turns that into the status `invalid-notebook` (zero points) and grades the rest.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

MAX_NOTEBOOK_MB = 64  # a submission larger than this is refused before parsing


class InvalidNotebook(ValueError):
    """The submission cannot be read as a notebook; str(e) is the reason shown in grades and feedback."""


def load_submission(path: str | Path):
    """The submission at `path` as an nbformat v4 NotebookNode, or InvalidNotebook."""
    path = Path(path)
    try:
        size_mb = path.stat().st_size / 2**20
        if size_mb > MAX_NOTEBOOK_MB:
            raise InvalidNotebook(f"{path.name} is {size_mb:.0f} MB (limit {MAX_NOTEBOOK_MB} MB)")
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidNotebook(f"{path.name} is not valid JSON: {e}") from None
    if not isinstance(raw, dict) or "cells" not in raw or not isinstance(raw.get("nbformat"), int):
        raise InvalidNotebook(f"{path.name} is JSON but not a notebook (no 'cells' / 'nbformat')")
    if raw["nbformat"] != 4:
        raise InvalidNotebook(f"{path.name} has nbformat {raw['nbformat']}; version 4 is required")
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # nbformat raises several types (ValidationError, NotJSONError, KeyError, ...)
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InvalidNotebook(f"{path.name} is not a valid notebook: {first_line[:200]}") from None
    return nb
