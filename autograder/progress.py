"""The learner's progress: the learning path (stages, labs, prerequisites, hours) and a small local status file.

The status file is JSON, by default ~/.dscourse/progress.json (override with the DSCOURSE_PROGRESS environment
variable). `dscourse check` writes the latest visible-test score of a lab into it; `dscourse progress` reads it:
    {"labs": {"01-autograd": {"score": 12.0, "max_score": 18.0, "checked_at": "2026-01-01T10:00:00+00:00"}}}
A lab is "passed" when its latest check earned every visible point, "locked" while a prerequisite is not passed.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from autograder.lab import STAGES, Lab


def progress_file() -> Path:
    return Path(os.environ.get("DSCOURSE_PROGRESS") or Path.home() / ".dscourse" / "progress.json")


def load_progress(path: Path | None = None) -> dict:
    """The status file's content ({"labs": {}} when it does not exist yet)."""
    path = path or progress_file()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"labs": {}}
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} is not a valid progress file ({e}); delete it to start afresh") from None
    data.setdefault("labs", {})
    return data


def record_check(lab_id: str, score: float, max_score: float, path: Path | None = None) -> None:
    """Store the latest `dscourse check` result of `lab_id` (atomically)."""
    from autograder.steps.record import write_atomic

    path = path or progress_file()
    data = load_progress(path)
    data["labs"][lab_id] = {"score": score, "max_score": max_score, "checked_at": datetime.now(UTC).isoformat()}
    write_atomic(path, json.dumps(data, indent=1).encode())


def lab_status(lab_id: str, data: dict) -> str:
    """'passed', 'in progress (12/18)' or 'not started'."""
    entry = data["labs"].get(lab_id)
    if not entry:
        return "not started"
    if entry["max_score"] > 0 and entry["score"] >= entry["max_score"]:
        return "passed"
    return f"in progress ({entry['score']:g}/{entry['max_score']:g})"


def render_progress(labs: list[Lab], data: dict) -> str:
    """The learning path as a text table, stage by stage, with the learner's status per lab."""
    status = {lab.id: lab_status(lab.id, data) for lab in labs}
    rows = [("Stage", "Lab", "Title", "Hours", "Prerequisites", "Status")]
    for stage in STAGES:
        for lab in sorted((lab for lab in labs if lab.stage == stage), key=lambda lab: lab.id):
            missing = [p for p in lab.prerequisites if status.get(p) != "passed"]
            st = status[lab.id]
            if missing and st == "not started":
                st = f"locked (pass {', '.join(missing)} first)"
            rows.append((stage, lab.id, lab.title, f"{lab.hours:g}", ", ".join(lab.prerequisites) or "-", st))
    if len(rows) == 1:
        return "no labs found"
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total = sum(lab.hours for lab in labs)
    passed = sum(1 for s in status.values() if s == "passed")
    lines.append(f"\n{passed} of {len(labs)} labs passed; {total:g} hours in all.")
    return "\n".join(lines)
