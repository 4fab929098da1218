#!/usr/bin/env bash
# Set up gankit in ./.venv: PyTorch, the package (editable, with test tools), the MNIST, Fashion-MNIST and
# emoji-pairs data and the FID Inception-v3 weights (each fetch may fail with a warning; the tests needing it then skip).
# Idempotent: a second run only checks what is there. Set GANKIT_TORCH to choose another torch
# requirement (default torch==2.13.0, the CPU wheel on the project's machines).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $("$PY" --version)"
  "$PY" -m venv .venv
fi
echo "[setup] installing ${GANKIT_TORCH:-torch==2.13.0} and gankit"
.venv/bin/python -m pip install -q "${GANKIT_TORCH:-torch==2.13.0}"
.venv/bin/python -m pip install -q -e ".[test]"
# GANKIT_FETCH: what to fetch (default all four; the quick start needs only mnist)
if [ "${GANKIT_SKIP_DATA:-0}" != "1" ]; then
  for what in ${GANKIT_FETCH:-mnist fashion-mnist emoji-pairs inception}; do
    .venv/bin/gankit fetch "$what" || echo "[setup] warning: $what not fetched: the tests that need it will be skipped"
  done
fi
echo "[setup] ready: .venv/bin/gankit --help"
