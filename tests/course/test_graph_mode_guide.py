"""course/graph_mode.md: every Python block runs, in order, and prints what the guide shows below it.

A ```text block right after a ```python block (only blank lines between) is that block's printed output.
Its lines must match the output's lines in order; a line `...` skips any number of output lines, and a
line ending in `...` matches an output line that starts with what comes before the dots (for values that
vary between runs, such as timings). Other blocks (bash) are not run.

    .venv/bin/pytest tests/course/test_graph_mode_guide.py -q -p no:xdist
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "course" / "graph_mode.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.M | re.S)


def blocks(text: str) -> list:
    """[(line number, python source, expected output or None)] for each ```python block of a guide."""
    found, last_end = [], None
    for m in FENCE.finditer(text):
        lang, body, line = m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1
        if lang == "python":
            found.append([line, body, None])
        elif lang == "text" and found and last_end is not None and not text[last_end : m.start()].strip():
            if found[-1][2] is None and found[-1][0] < line:
                found[-1][2] = body
        last_end = m.end() if lang == "python" else None
    return [tuple(b) for b in found]


def matches(expected: str, output: str) -> str | None:
    """None when `output` matches `expected` (rules in the module docstring), else what did not match."""
    out = [line.rstrip() for line in output.splitlines()]
    i, skip = 0, False
    for want in (line.rstrip() for line in expected.splitlines()):
        if want.strip() == "...":
            skip = True
            continue

        def ok(line, want=want):
            return line.startswith(want[:-3]) if want.endswith("...") else line == want

        while i < len(out) and skip and not ok(out[i]):
            i += 1
        if i >= len(out) or not ok(out[i]):
            return f"expected {want!r}, got {out[i] if i < len(out) else '<end of output>'!r}"
        i, skip = i + 1, False
    if not skip and i < len(out):
        return f"unexpected extra output from line {i + 1}: {out[i]!r}"
    return None


def test_the_matcher_accepts_skips_and_prefixes_and_rejects_differences():
    assert matches("a\n...\nd\ne...", "a\nb\nc\nd\ne 1.5 ms") is None
    assert "expected 'c'" in matches("a\nc", "a\nb\nc")
    assert "extra output" in matches("a", "a\nb")
    assert matches("a\n...", "a\nb") is None


def test_the_guide_pairs_python_blocks_with_their_outputs():
    found = blocks(
        "```python\nx = 1\n```\n\n```text\n1\n```\n\n```bash\nls\n```\n```python\ny\n```\nprose\n```text\n2\n```\n"
    )
    assert [(src, out) for _, src, out in found] == [("x = 1\n", "1\n"), ("y\n", None)]


def test_every_python_block_of_the_guide_runs_and_prints_what_the_guide_shows(tmp_path, monkeypatch):
    text = GUIDE.read_text()
    found = blocks(text)
    assert len(found) >= 10 and sum(out is not None for *_, out in found) >= 8
    monkeypatch.chdir(tmp_path)  # the guide writes graph.dot and trace.json into the working directory
    namespace: dict = {"__name__": "__graph_mode_guide__"}
    for line, source, expected in found:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            try:
                exec(compile(source, f"{GUIDE.name}:{line}", "exec", dont_inherit=True), namespace)
            except Exception as e:  # name the block, keep the traceback
                pytest.fail(f"the python block at course/graph_mode.md:{line} raised {type(e).__name__}: {e}")
        if expected is not None:
            problem = matches(expected, buffer.getvalue())
            assert problem is None, f"course/graph_mode.md:{line}: {problem}\n--- printed:\n{buffer.getvalue()}"
    assert (tmp_path / "graph.dot").read_text().startswith("digraph")
    assert (tmp_path / "trace.json").stat().st_size > 0


def test_every_file_the_guide_names_exists():
    text = GUIDE.read_text()
    paths = set(re.findall(r"`((?:dslib|benchmarks|tests|course)/[\w/.]+\.(?:py|md))`", text))
    assert len(paths) > 15
    assert not [p for p in sorted(paths) if not (ROOT / p).exists()]
