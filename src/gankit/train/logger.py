"""Run-folder logging: ``stats.jsonl`` (one JSON object per logged step) and TensorBoard."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def read_stats(path: str | Path) -> list[dict]:
    """All records of a ``stats.jsonl``; a last line cut short (a run killed while writing it) is left out."""
    path = Path(path)
    if not path.is_file():
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    records = []
    for i, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i != len(lines) - 1:
                raise
    return records


def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one JSON object as a line (``metrics.jsonl`` of ``gankit eval`` and of training-time evaluation)."""
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")


def drop_after(path: str | Path, step: int) -> None:
    """Rewrite a JSON-lines file without its records whose ``step`` is after ``step`` (atomic)."""
    path = Path(path)
    if not path.is_file():
        return
    keep = [r for r in read_stats(path) if r.get("step", 0) <= step]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in keep))
    os.replace(tmp, path)


class RunLogger:
    """Appends stats to ``stats.jsonl`` and, if enabled, to TensorBoard event files.

    On resume from step n, records after n are dropped from ``stats.jsonl`` and ``metrics.jsonl``
    (they belong to the part of the interrupted run that is redone) and TensorBoard purges its events after n.
    """

    def __init__(self, run_dir: Path, tensorboard: bool = True, resume_step: int | None = None):
        self.path = run_dir / "stats.jsonl"
        if resume_step is not None:
            drop_after(self.path, resume_step)
            drop_after(run_dir / "metrics.jsonl", resume_step)
        self.file = open(self.path, "a")
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=resume_step)

    def log(self, record: dict) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        self.scalars("train", {k: v for k, v in record.items() if k != "step"}, record["step"])

    def rewind(self, step: int, event: dict) -> None:
        """Forget the records after ``step`` (a rollback redoes them) and write ``event`` (a dict with a string
        ``event`` key, which the loss curve and TensorBoard skip) in their place."""
        self.file.close()
        drop_after(self.path, step)
        drop_after(self.path.parent / "metrics.jsonl", step)
        self.file = open(self.path, "a")
        self.file.write(json.dumps(event) + "\n")
        self.file.flush()

    def scalars(self, prefix: str, values: dict, step: int) -> None:
        """The numeric entries of ``values`` to TensorBoard as ``prefix/key``."""
        if self.tb is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.tb.add_scalar(f"{prefix}/{key}", value, step)

    def image(self, tag: str, grid: np.ndarray, step: int) -> None:
        """A (H, W, C) uint8 grid to TensorBoard."""
        if self.tb is not None:
            self.tb.add_image(tag, grid, step, dataformats="HWC")

    def close(self) -> None:
        self.file.close()
        if self.tb is not None:
            self.tb.close()


class NullLogger:
    """What processes other than process 0 of a multi-process run log: nothing."""

    def log(self, record: dict) -> None:
        pass

    def rewind(self, step: int, event: dict) -> None:
        pass

    def scalars(self, prefix: str, values: dict, step: int) -> None:
        pass

    def image(self, tag: str, grid: np.ndarray, step: int) -> None:
        pass

    def close(self) -> None:
        pass
