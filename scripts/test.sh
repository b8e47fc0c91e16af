#!/usr/bin/env bash
# The whole check: set up .venv/ (scripts/setup.sh), lint and format checks (ruff), then the test
# suite (pytest; pyproject's addopts leave out tests marked slow).
#
#   bash scripts/test.sh                      (arguments go to pytest: -k conv, -m slow, tests/dslib)
# .ci/run runs exactly this command.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

echo "[test] ruff check ."
.venv/bin/ruff check .
echo "[test] ruff format --check ."
.venv/bin/ruff format --check .

# In one process by default: measured on the 2-core machine, `-n 2` (pytest-xdist) was slower (75-101 s vs
# 57 s for the same suite): the heavy tests already use both cores. PYTEST_WORKERS=2 runs two workers.
workers=${PYTEST_WORKERS:-0}
if [[ $workers != 0 ]]; then
    set -- -n "$workers" "$@"
fi
echo "[test] pytest $*"
start=$SECONDS
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
echo "[test] pytest exited with $rc after $((SECONDS - start)) s"
# Exit code 5 means "no tests collected": with this suite that is a mistake (a bad -k or path), not a pass.
exit $rc
