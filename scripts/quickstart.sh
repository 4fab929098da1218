#!/usr/bin/env bash
# Quick start: set up, then train the default preset (DCGAN on MNIST) and print where the results are.
set -euo pipefail
cd "$(dirname "$0")/.."
GANKIT_FETCH="${GANKIT_FETCH:-mnist}" bash scripts/setup.sh
exec .venv/bin/gankit train "$@"
