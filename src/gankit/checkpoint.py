"""Checkpoints: safetensors for every tensor, JSON for everything else; never a pickle.

A checkpoint is a folder ``checkpoints/step-00001000/`` holding

* ``tensors.safetensors``: network weights and buffers (``net.G.*``, ``net.D_a.*``, ...), optimizer
  tensors (``optim.D.state.3.exp_avg``), random-number-generator states (``rng.cpu``, ``rng.cuda.0``,
  the task's own generators as ``rng.<name>``) and any tensors the task keeps (``task.*``: CycleGAN's
  image pool);
* ``state.json``: format name and version, step, the resolved config, optimizer hyper-parameters
  and scalar state, each batch sampler's position (``samplers``), the task's own small state
  (``task_state``), what inference needs to know of the data (``data``), the gankit version.

Version 3 adds ``tensors_sha256`` to ``state.json``, the SHA-256 of ``tensors.safetensors``, checked on every read.
Versions 1 (gankit 0.1, one sampler under ``sampler``) and 2 (no checksum) are read too: :func:`read_checkpoint`
upgrades their state to version 3 in memory (a version-2 checkpoint is then checked by its safetensors header
and the tensor shapes alone).

Reading a run folder takes its newest checkpoint that verifies: a damaged newer one (truncated, bit-flipped,
unparsable ``state.json``) is reported and skipped, and when resuming it is moved aside to
``checkpoints/damaged-step-...`` for inspection (``keep_ckpts`` never deletes it).

It is written into a temporary folder and renamed into place, so a crash mid-write leaves either
the old set of checkpoints or the new one, never a half-written folder that looks complete.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from gankit import __version__
from gankit.errors import CheckpointError
from gankit.fetch import sha256_file

FORMAT = "gankit-checkpoint"
VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
TENSORS = "tensors.safetensors"
STATE = "state.json"


def _step_dir(root: Path, step: int) -> Path:
    return root / f"step-{step:08d}"


def list_checkpoints(root: str | Path) -> list[Path]:
    """Complete checkpoint folders under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [
        p for p in root.iterdir()
        if p.is_dir() and p.name.startswith("step-") and p.name[5:].isdigit()
        and (p / TENSORS).is_file() and (p / STATE).is_file()
    ]
    return sorted(found, key=lambda p: int(p.name[5:]))


def _optimizer_to_flat(name: str, opt: torch.optim.Optimizer, tensors: dict) -> dict:
    sd = opt.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{name}.state.{idx}.{key}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_from_flat(name: str, meta: dict, tensors: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"optim.{name}.state."
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, _, field = key[len(prefix):].partition(".")
            state.setdefault(int(idx), {})[field] = value
    for idx, fields in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(fields)
    groups = []
    for group in meta["param_groups"]:
        group = dict(group)
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    return {"state": state, "param_groups": groups}


def save_checkpoint(
    root: str | Path,
    step: int,
    networks: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    extra: dict,
    keep: int = 2,
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write the checkpoint for ``step`` atomically, then delete all but the newest ``keep``.

    ``extra_tensors`` (e.g. more generator states) are stored beside the networks under their own names.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for name, net in networks.items():
        for key, value in net.state_dict().items():
            tensors[f"net.{name}.{key}"] = value.detach().cpu().contiguous().clone()
    optim_meta = {name: _optimizer_to_flat(name, opt, tensors) for name, opt in optimizers.items()}
    tensors["rng.cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    for key, value in (extra_tensors or {}).items():
        tensors[key] = value.detach().cpu().contiguous().clone()
    final = _step_dir(root, step)
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    _clear_leftovers(root)
    try:
        _write_into(tmp, tensors, step, optim_meta, extra)
    except BaseException:  # a full disk, an interrupt: leave no partial folder behind, keep the older ones
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():  # re-writing a step: move the old one aside first
        old = root / f".old-{final.name}-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    for stale in list_checkpoints(root)[:-keep] if keep > 0 else []:
        shutil.rmtree(stale, ignore_errors=True)
    return final


def write_checkpoint_folder(final: str | Path, tensors: dict[str, torch.Tensor], step: int, extra: dict) -> Path:
    """Write a checkpoint folder holding only ``tensors`` (no optimizers) at ``final``, atomically; an existing
    ``final`` is refused. Used to pack inference weights (the model zoo)."""
    final = Path(final)
    if final.exists():
        raise CheckpointError(f"{final} already exists: remove it first or choose another name")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    try:
        _write_into(tmp, {k: v.contiguous() for k, v in tensors.items()}, step, {}, extra)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _clear_leftovers(root: Path) -> None:
    """Remove what a killed writer left: partial ``.tmp-*`` folders, and ``.old-step-*`` copies whose step was
    rewritten in full (one whose rewrite did not finish is the only copy of that step, so it stays). The run lock
    makes this process the only writer."""
    for p in root.iterdir():
        if p.name.startswith(".tmp-step-") or (p.name.startswith(".old-step-")
                                              and (root / p.name[5:].rsplit("-", 1)[0]).is_dir()):
            shutil.rmtree(p, ignore_errors=True)


def _write_into(tmp: Path, tensors: dict[str, torch.Tensor], step: int, optim_meta: dict, extra: dict) -> None:
    tmp.mkdir()
    try:
        save_file(tensors, str(tmp / TENSORS), metadata={"format": FORMAT, "version": str(VERSION)})
    except SafetensorError as exc:  # the Rust writer's I/O errors, as the OSError they are
        if "os error 28" in str(exc):
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp / TENSORS)) from None
        raise
    state = {
        "format": FORMAT,
        "version": VERSION,
        "gankit_version": __version__,
        "step": step,
        "time": time.time(),
        "tensors_sha256": sha256_file(tmp / TENSORS),
        "optimizers": optim_meta,
        **extra,
    }
    with open(tmp / TENSORS, "rb+") as f:  # on disk before the rename that makes the checkpoint visible
        os.fsync(f.fileno())
    with open(tmp / STATE, "w") as f:
        json.dump(state, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    # the safetensors writer creates its file 0600 whatever the umask; give it the permissions Python's open gave
    # state.json, so a run folder shared with a group (or a zoo model installed by root) stays readable
    os.chmod(tmp / TENSORS, (tmp / STATE).stat().st_mode & 0o777)


def read_checkpoint(path: str | Path, quarantine: bool = False) -> tuple[dict[str, torch.Tensor], dict]:
    """Read (tensors, state) from a checkpoint folder, or from the newest checkpoint that verifies in a run folder
    or its ``checkpoints``.

    In a run folder a damaged newer checkpoint is skipped with a warning; ``quarantine`` (resuming) also renames it
    to ``damaged-step-...`` so that it stays for inspection and is not written over. A checkpoint folder named
    directly must verify itself."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if (path / STATE).is_file():
        return _read_one(path)
    candidates = list_checkpoints(path / "checkpoints") or list_checkpoints(path)
    if not candidates:
        raise CheckpointError(f"no complete checkpoint in {path}: it is not a gankit run or checkpoint folder")
    damaged: list[tuple[Path, CheckpointError]] = []
    for candidate in reversed(candidates):
        try:
            result = _read_one(candidate)
        except CheckpointError as exc:
            damaged.append((candidate, exc))
            continue
        for bad, exc in damaged:  # only once a good one is found: with none, everything stays where it was
            note = ""
            if quarantine:
                aside = _aside(bad)
                os.replace(bad, aside)
                note = f"; moved aside to {aside}"
            print(f"[gankit] warning: {exc}{note}", file=sys.stderr)
        if damaged:
            print(f"[gankit] warning: using the newest checkpoint that verifies, {candidate}", file=sys.stderr)
        return result
    older = f" (and the {len(damaged) - 1} older one(s) fail too)" if len(damaged) > 1 else ""
    raise CheckpointError(f"{damaged[0][1]}{older}: no checkpoint in {path} verifies")


def _aside(candidate: Path) -> Path:
    target = candidate.with_name(f"damaged-{candidate.name}")
    n = 1
    while target.exists():
        n += 1
        target = candidate.with_name(f"damaged-{candidate.name}-{n}")
    return target


def _read_one(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    try:
        state = json.loads((path / STATE).read_text())
    except (OSError, ValueError) as exc:  # ValueError: not JSON, not UTF-8
        raise CheckpointError(f"checkpoint {path}: {STATE} is unreadable ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gankit checkpoint (no '{FORMAT}' format tag in {STATE})")
    if state.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(
            f"checkpoint {path} has format version {state.get('version')}; this gankit reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}: use the gankit release that wrote it"
        )
    state = upgrade_state(state)
    shape = {"step": int, "config": dict, "optimizers": dict}
    wrong = [k for k, t in shape.items() if not isinstance(state.get(k), t) or isinstance(state.get(k), bool)]
    if wrong or ("data" in state and not isinstance(state["data"], dict)) or not isinstance(
            state.get("tensors_sha256", ""), str):
        raise CheckpointError(f"checkpoint {path} is damaged: {STATE} lacks or garbles {', '.join(wrong) or 'data'}")
    expected = state.get("tensors_sha256")
    if expected is not None:
        try:
            actual = sha256_file(path / TENSORS)
        except OSError as exc:
            raise CheckpointError(f"checkpoint {path}: {TENSORS} is unreadable ({exc})") from None
        if actual != expected:
            raise CheckpointError(f"checkpoint {path} is damaged: {TENSORS} does not match the SHA-256 in {STATE}")
    try:
        tensors = load_file(str(path / TENSORS))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"checkpoint {path}: {TENSORS} is unreadable ({exc})") from None
    state["path"] = str(path)
    return tensors, state


def upgrade_state(state: dict) -> dict:
    """An older state in the current version's form (a current one unchanged).

    Version 1 was written by gankit 0.1, which had only the gan family and one batch sampler: its position
    moves under ``samplers["data"]`` and the config gets ``task: gan``. Version 2 lacks only the tensors'
    checksum, which stays absent (nothing to check it against).
    """
    if state.get("version") == 1:
        state = dict(state)
        if "sampler" in state:
            state["samplers"] = {"data": state.pop("sampler")}
        state.setdefault("task_state", {})
        if isinstance(state.get("config"), dict):
            state["config"] = {"task": "gan", **state["config"]}
        state["version"] = 2
    if state.get("version") == 2:
        state = {**state, "version": 3}
    return state


def load_network(net: nn.Module, name: str, tensors: dict[str, torch.Tensor], source: str = "") -> None:
    """Load ``net.<name>.*`` tensors into ``net``, strictly, with a one-line error on mismatch."""
    prefix = f"net.{name}."
    sd = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    if not sd:
        raise CheckpointError(f"checkpoint {source} has no network {name!r}")
    own = net.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = [k for k in own if k in sd and own[k].shape != sd[k].shape]
    if missing or unexpected or shapes:
        detail = (f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}" if unexpected
                  else f"shape mismatch at {shapes[:3]}")
        raise CheckpointError(
            f"checkpoint {source} does not fit network {name} ({detail}): it was written for another model config"
        )
    net.load_state_dict(sd)


def initialize_from(networks: dict[str, nn.Module], run: str | Path) -> list[str]:
    """Load another run's weights into ``networks`` (``train.init_from``): each network from the network of the
    same name there, a base network (``G``) from that run's EMA copy (``G_ema``) when it has one, an EMA copy
    from the same source as its base. Networks the other run lacks keep their initial weights (a discriminator
    added for adversarial fine-tuning). Returns "name <- source" lines; a one-line error when nothing fits."""
    tensors, state = read_checkpoint(run)
    loaded = []
    for name, net in networks.items():
        base = name[: -len("_ema")] if name.endswith("_ema") else name
        for source in (f"{base}_ema", base):
            if any(k.startswith(f"net.{source}.") for k in tensors):
                load_network(net, source, tensors, state["path"])
                loaded.append(f"{name} <- {source}")
                break
    if not loaded:
        raise CheckpointError(f"checkpoint {state['path']} has none of the networks {', '.join(networks)}: "
                              "train.init_from needs a run of the same family")
    return loaded


def _match_layouts(opt: torch.optim.Optimizer) -> None:
    """Give per-parameter optimizer states their parameter's memory layout (checkpoints store them
    contiguous; channels_last parameters want channels_last moments, and fused kernels insist)."""
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if isinstance(value, torch.Tensor) and value.shape == p.shape and value.stride() != p.stride():
                    opt.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def restore(
    tensors: dict[str, torch.Tensor],
    state: dict,
    networks: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
) -> None:
    """Put networks, optimizers and RNG states back as they were when ``state`` was saved."""
    source = state.get("path", "")
    for name, net in networks.items():
        load_network(net, name, tensors, source)
    for name, opt in optimizers.items():
        meta = state["optimizers"].get(name)
        if meta is None:
            raise CheckpointError(f"checkpoint {source} has no optimizer {name!r}")
        try:
            opt.load_state_dict(_optimizer_from_flat(name, meta, tensors))
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"checkpoint {source}: optimizer {name} does not fit ({exc})") from None
        _match_layouts(opt)
    torch.set_rng_state(tensors["rng.cpu"])
    cuda_states = [tensors[f"rng.cuda.{i}"] for i in range(torch.cuda.device_count()) if f"rng.cuda.{i}" in tensors]
    if cuda_states and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
