#!/usr/bin/env bash
# Set up the project: a virtual environment at .venv/ with the pinned dependencies and dslib installed
# in editable mode. Safe to run again: it only reinstalls what changed.
#
#   bash scripts/setup.sh          (scripts/demo.sh and scripts/test.sh call it first)
#
# Needs Python 3.11 (python3.11 on PATH, or python3 that is 3.11, or PYTHON=/path/to/python3.11) and
# access to pip's package index. The first run downloads about 1.6 GB (torch is most of it): ~1-3 min.
#
# Stamps kept inside .venv/ (deleting .venv/ starts over):
#   .venv/.requirements.sha256  hash of requirements.txt at the last successful `pip install -r`
#   .venv/.editable.sha256      hash of pyproject.toml + the top-level packages at the last `pip install -e .`
#     (setuptools' editable finder maps the packages it saw at install time, so a new top-level
#      package such as autograder/ needs a re-install)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

VENV=.venv
start=$SECONDS

is_py311() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; }

if [[ ! -x $VENV/bin/python ]] || ! is_py311 "$VENV/bin/python"; then
    PY=${PYTHON:-}
    if [[ -z $PY ]]; then
        for candidate in python3.11 python3 python; do
            if command -v "$candidate" >/dev/null && is_py311 "$candidate"; then
                PY=$candidate
                break
            fi
        done
    fi
    [[ -n $PY ]] || die "Python 3.11 not found: install it, or run with PYTHON=/path/to/python3.11"
    is_py311 "$PY" || die "$PY is not Python 3.11 ($("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11"
    if [[ -e $VENV ]]; then
        say "removing $VENV/ (not a working Python 3.11 environment)"
        rm -rf "$VENV"
    fi
    say "creating $VENV/ with $("$PY" --version 2>&1) ($(command -v "$PY"))"
    "$PY" -m venv "$VENV" || die "'$PY -m venv' failed (on Debian/Ubuntu: apt-get install python3.11-venv)"
fi

VPY=$VENV/bin/python
sha256() { "$VPY" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'; }

req_hash=$(sha256 < requirements.txt)
if [[ "$(cat $VENV/.requirements.sha256 2>/dev/null)" != "$req_hash" ]]; then
    say "installing the pinned dependencies from requirements.txt (first time: ~1-3 min, ~1.6 GB)"
    rm -f $VENV/.requirements.sha256 $VENV/.editable.sha256
    "$VPY" -m pip install --disable-pip-version-check -r requirements.txt || die "pip install -r requirements.txt failed"
    echo "$req_hash" > $VENV/.requirements.sha256
else
    say "dependencies up to date (requirements.txt unchanged since the last install)"
fi

# The top-level packages (folders with an __init__.py) join the hash: see the note at the top.
packages=$(for d in */__init__.py; do [[ -e $d ]] && echo "${d%/__init__.py}"; done)
edit_hash=$({ cat pyproject.toml; echo "$packages"; } | sha256)
if [[ "$(cat $VENV/.editable.sha256 2>/dev/null)" != "$edit_hash" ]]; then
    say "installing this project in editable mode (pip install -e . --no-deps)"
    "$VPY" -m pip install --disable-pip-version-check --quiet -e . --no-deps || die "pip install -e . failed"
    echo "$edit_hash" > $VENV/.editable.sha256
fi

say "ready in $((SECONDS - start)) s: $VENV/ ($("$VPY" --version 2>&1))"
