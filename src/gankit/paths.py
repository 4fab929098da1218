"""Where gankit keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The cache root: ``$GANKIT_CACHE`` if set, else ``~/.cache/gankit``."""
    root = os.environ.get("GANKIT_CACHE")
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "gankit"
    path.mkdir(parents=True, exist_ok=True)
    return path
