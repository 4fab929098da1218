"""Run folders: never overwritten by accident, written file by file atomically."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from gankit.errors import GankitError


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def check_run_dir(out: str | Path, force: bool = False) -> bool:
    """Raise if ``out`` may not become a fresh run folder; True if it exists and ``force`` will replace it."""
    path = Path(out)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        if not force:
            raise GankitError(
                f"run folder {path} already exists: pass --resume {path} to continue it, "
                "--force to start over in it, or choose another --out"
            )
        if not (path.is_dir() and (path / "config.json").is_file()):
            raise GankitError(f"--force only replaces gankit run folders, and {path} is not one: choose another --out")
        return True
    return False


def prepare_run_dir(out: str | Path, force: bool = False) -> Path:
    """Create a fresh run folder; refuse an existing non-empty one unless ``force`` (then empty it)."""
    path = Path(out)
    if check_run_dir(path, force):
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path
