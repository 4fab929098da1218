#!/usr/bin/env bash
# Set up, then run the linter, the whole test suite and, in bounded form, the reliability drills
# (docs/reliability.md). Arguments go to the suite's pytest and skip the drills (e.g. `scripts/test.sh -k lock`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# the web page's browser test drives Debian's Chromium headless; install it where we may (root with apt), else
# that one test is skipped with its reason. GANKIT_NO_BROWSER=1 skips the install.
if [ -z "${GANKIT_NO_BROWSER:-}" ] && ! command -v chromedriver > /dev/null && command -v apt-get > /dev/null \
    && [ "$(id -u)" = 0 ]; then
  echo "[test] installing Debian's chromium and chromium-driver for the browser test"
  (DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver > /tmp/gankit-apt.log 2>&1 \
    || (apt-get update -q > /dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q chromium chromium-driver >> /tmp/gankit-apt.log 2>&1)) \
    || echo "[test] could not install chromium (see /tmp/gankit-apt.log): the browser test will be skipped"
fi
.venv/bin/ruff check src tests scripts
if [ "$#" -gt 0 ]; then
  exec .venv/bin/python -m pytest -q "$@"
fi
.venv/bin/python -m pytest -q
echo "[test] reliability drills: ${GANKIT_DRILL_KILLS:=5} kill points, ${GANKIT_FUZZ_EXAMPLES_DRILL:=60} fuzz cases per fuzz test"
GANKIT_DRILL_KILLS="$GANKIT_DRILL_KILLS" GANKIT_FUZZ_EXAMPLES_DRILL="$GANKIT_FUZZ_EXAMPLES_DRILL" \
  exec .venv/bin/python -m pytest -q -m drill
