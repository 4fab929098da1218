"""The reliability drills (docs/reliability.md), in the bounded form CI runs: ``pytest -m drill``.

Deselected from the default run (pyproject's addopts). ``scripts/test.sh`` runs this group after the suite with
``GANKIT_DRILL_KILLS`` kill points (default 5) and ``GANKIT_FUZZ_EXAMPLES`` fuzz cases per fuzz test (default 60);
the figures in docs/reliability.md come from the same scripts run longer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.drill
ROOT = Path(__file__).resolve().parents[1]


def _script(name: str, *args: str, timeout: int = 900) -> dict:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "drills" / name), *args], capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout[proc.stdout.index("{"):])


def test_kill_9_at_random_moments_then_resume_is_bit_exact():
    kills = int(os.environ.get("GANKIT_DRILL_KILLS", "5"))
    summary = _script("kill9.py", "--kills", str(kills), "--seed", os.environ.get("GANKIT_DRILL_SEED", "0"))
    assert summary["all_bit_exact"] and summary["kills"] >= kills, summary


def test_a_full_disk_stops_cleanly_and_resumes():
    summary = _script("full_disk.py", "--levels", "3")
    assert summary["disk_full_cases"] >= 2 and summary["failed"] == 0, summary


def test_fuzz_with_more_cases(tmp_path):
    examples = os.environ.get("GANKIT_FUZZ_EXAMPLES_DRILL", "60")
    report = tmp_path / "fuzz.json"
    env = {**os.environ, "GANKIT_FUZZ_EXAMPLES": examples, "GANKIT_FUZZ_REPORT": str(report)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "tests" /
                                                                                              "test_fuzz.py")],
                          capture_output=True, text=True, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:]
    counts = json.loads(report.read_text())
    assert sum(c["cases"] for c in counts.values()) >= 6 * int(examples) * 0.5, counts
