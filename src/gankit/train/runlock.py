"""One process per run folder: an advisory lock that names its holder.

A run folder holds ``.gankit.lock``. A process that trains (a new run, ``--force`` on an old one, or
``--resume``) takes an exclusive ``flock`` on it for as long as it runs and writes its pid, host and start time
into it. A second process that targets the same folder fails to take the lock, reads who holds it and stops with
one line naming them (exit 2), before it has touched anything.

The operating system drops a ``flock`` when its holder exits, however it exits (kill -9 included), so a lock file
left behind by a killed run is simply free: the next run takes it over, and says whose it was. The file itself is
never deleted (deleting a lock file while another process waits on it would let two processes both "hold" it), so
an ended run keeps an empty-looking ``.gankit.lock`` that every run-folder check ignores.

``flock`` is reliable on local file systems; on NFS it depends on the server, so two hosts sharing a run folder
over NFS should not rely on it. Where ``fcntl`` does not exist (Windows) the lock is a no-op.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from gankit.errors import GankitError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".gankit.lock"


class RunInUseError(GankitError):
    """Another live process holds the run folder's lock."""


def _holder(text: str) -> str:
    try:
        info = json.loads(text)
        return f"pid {info['pid']} on host {info['host']} (since {info['since']})"
    except (ValueError, KeyError, TypeError):
        return "another process (its lock file names no holder)"


def _current_holder(text: str) -> bool:
    try:
        info = json.loads(text)
    except ValueError:
        return False
    return isinstance(info, dict) and bool(info.get("pid")) and not info.get("released")


def _in_use(fd: int, run_dir: Path, wait: float = 2.0) -> RunInUseError:
    """The error for a lock that another process holds, naming it.

    A holder takes the lock first and writes its name just after, so a process that lost a race by a few
    milliseconds can find the file empty (or still naming the previous, released holder): read again for up to
    ``wait`` seconds before giving up on the name.
    """
    deadline = time.monotonic() + wait
    while True:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        if _current_holder(text) or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    who = _holder(text) if _current_holder(text) else "another process (its lock file names no holder yet)"
    return RunInUseError(f"run folder {run_dir} is in use by {who}: wait for it to end or stop it, or choose "
                         "another --out")


class RunLock:
    """The exclusive lock on one run folder; ``acquire`` creates the folder if needed."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, quiet: bool = False) -> RunLock:
        """Take the lock or raise :class:`RunInUseError` naming the holder."""
        if self._fd is not None:
            return self
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise GankitError(f"run folder {self.run_dir} is a file: choose another --out")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                try:
                    error = _in_use(fd, self.run_dir)
                finally:
                    os.close(fd)
                raise error from None
        previous = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
        if previous and not quiet:
            try:
                old = json.loads(previous)
                mine = old.get("pid") == os.getpid() and old.get("host") == socket.gethostname()
            except ValueError:
                old, mine = None, False
            if isinstance(old, dict) and old.get("pid") and not old.get("released") and not mine:
                print(f"[gankit] {self.path}: taking over the lock of {_holder(previous)}, which ended without "
                      "releasing it", file=sys.stderr)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        data = json.dumps(info).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Mark the lock released (so the next holder knows this one ended cleanly) and drop it."""
        if self._fd is None:
            return
        try:
            text = os.pread(self._fd, 4096, 0).decode("utf-8", "replace")
            info = json.loads(text)
            info["released"] = True
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, json.dumps(info).encode(), 0)
        except (OSError, ValueError):
            pass
        finally:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def check_not_in_use(run_dir: str | Path) -> None:
    """Raise :class:`RunInUseError` if a live process holds ``run_dir``'s lock (taking nothing, creating nothing)."""
    path = Path(run_dir) / LOCK_NAME
    if fcntl is None or not path.is_file():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            raise _in_use(fd, Path(run_dir)) from None
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
