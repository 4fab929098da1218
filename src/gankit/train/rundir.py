"""Run folders: never overwritten by accident, written file by file atomically."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from gankit.errors import GankitError
from gankit.train.runlock import LOCK_NAME, RunLock, check_not_in_use


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_run_dir(out: str | Path, force: bool = False) -> bool:
    """Raise if ``out`` may not become a fresh run folder; True if it exists and ``force`` will replace it."""
    path = Path(out)
    if path.exists() and (not path.is_dir() or any(p.name != LOCK_NAME for p in path.iterdir())):
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
    """Create a fresh run folder; refuse an existing non-empty one unless ``force`` (then empty it).

    Takes no lock: :func:`open_run_dir` is the locked form that ``gankit train`` uses."""
    path = Path(out)
    if check_run_dir(path, force):
        _empty(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _empty(path: Path) -> None:
    for child in path.iterdir():
        if child.name == LOCK_NAME:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def open_run_dir(out: str | Path, force: bool = False) -> RunLock:
    """Lock a fresh run folder for this process (see :mod:`gankit.train.runlock`) and return the held lock.

    A folder another process trains in is refused with its holder named, before anything is created or removed;
    then the usual checks (:func:`check_run_dir`) run again under the lock, so two runs started at the same moment
    cannot both pass them."""
    path = Path(out)
    check_not_in_use(path)
    check_run_dir(path, force)
    lock = RunLock(path).acquire()
    try:
        prepare_run_dir(path, force)
    except BaseException:
        lock.release()
        raise
    return lock
