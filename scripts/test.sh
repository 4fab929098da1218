#!/usr/bin/env bash
# Set up, then run the linter, the whole test suite and, in bounded form, the reliability drills
# (docs/reliability.md). Arguments go to the suite's pytest and skip the drills (e.g. `scripts/test.sh -k lock`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests scripts
if [ "$#" -gt 0 ]; then
  exec .venv/bin/python -m pytest -q "$@"
fi
.venv/bin/python -m pytest -q
echo "[test] reliability drills: ${GANKIT_DRILL_KILLS:=5} kill points, ${GANKIT_FUZZ_EXAMPLES_DRILL:=60} fuzz cases per fuzz test"
GANKIT_DRILL_KILLS="$GANKIT_DRILL_KILLS" GANKIT_FUZZ_EXAMPLES_DRILL="$GANKIT_FUZZ_EXAMPLES_DRILL" \
  exec .venv/bin/python -m pytest -q -m drill
