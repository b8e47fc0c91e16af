#!/usr/bin/env bash
# The main job: set up .venv/ (scripts/setup.sh), then run the course demo (course/demo.py), which
# trains a small dslib network on scikit-learn's bundled digits and prints its test accuracy.
#
#   bash scripts/demo.sh                      (arguments pass through: --device torch --epochs 5)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
echo "[demo] .venv/bin/python course/demo.py $*"
exec .venv/bin/python course/demo.py "$@"
