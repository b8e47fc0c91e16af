"""Count dslib's code lines: the number the line budget limits and the README reports.

    .venv/bin/python scripts/count_lines.py            # per-folder counts and the total vs the budget
    .venv/bin/python scripts/count_lines.py --files    # per-file counts too

A code line is a line that holds part of a Python token other than a comment, i.e. blank lines,
comment lines and docstrings (any string literal standing alone as a statement) do not count.
tests/test_project.py checks the total against LINE_BUDGET.
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
import tokenize
from collections import defaultdict
from pathlib import Path

LINE_BUDGET = 13_500  # for the whole course framework (tensors, autograd, nn, optim, data, ...)
ROOT = Path(__file__).resolve().parent.parent

_NOT_CODE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
_NOT_CODE |= {tokenize.ENCODING, tokenize.ENDMARKER}


def _docstring_lines(tree: ast.AST) -> set[int]:
    """Lines of string literals that stand alone as statements (docstrings and the like)."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def count_code_lines(source: str) -> int:
    """Number of code lines in Python `source` (blank lines, comments and docstrings excluded)."""
    skip = _docstring_lines(ast.parse(source))
    code = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in _NOT_CODE:
            continue
        span = range(tok.start[0], tok.end[0] + 1)
        code.update(n for n in span if n not in skip)
    return len(code)


def count_tree(root: Path) -> dict[Path, int]:
    """Code lines of every .py file under `root` (paths relative to `root`'s parent)."""
    return {p.relative_to(root.parent): count_code_lines(p.read_text()) for p in sorted(root.rglob("*.py"))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", action="store_true", help="also list every file")
    args = ap.parse_args(argv)
    counts = count_tree(ROOT / "dslib")
    folders = defaultdict(int)
    for path, n in counts.items():
        folders[path.parent.as_posix()] += n
        if args.files:
            print(f"{n:7,d}  {path.as_posix()}")
    if args.files:
        print()
    for folder, n in sorted(folders.items()):
        print(f"{n:7,d}  {folder}/")
    total = sum(counts.values())
    print(f"{total:7,d}  code lines in dslib/ (budget {LINE_BUDGET:,d}; comments, docstrings, blanks excluded)")
    return 0 if total <= LINE_BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
