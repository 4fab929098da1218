"""Checkpoints: safetensors for every tensor, JSON for everything else; never a pickle.

A checkpoint is a folder ``checkpoints/step-00001000/`` holding

* ``tensors.safetensors``: network weights and buffers (``net.G.*``, ``net.D_a.*``, ...), optimizer
  tensors (``optim.D.state.3.exp_avg``), random-number-generator states (``rng.cpu``, ``rng.cuda.0``,
  the task's own generators as ``rng.<name>``) and any tensors the task keeps (``task.*``: CycleGAN's
  image pool);
* ``state.json``: format name and version, step, the resolved config, optimizer hyper-parameters
  and scalar state, each batch sampler's position (``samplers``), the task's own small state
  (``task_state``), what inference needs to know of the data (``data``), the gankit version.

Version 1 (gankit 0.1, one sampler under ``sampler``) is read too: :func:`read_checkpoint` upgrades its
state to version 2 in memory.

It is written into a temporary folder and renamed into place, so a crash mid-write leaves either
the old set of checkpoints or the new one, never a half-written folder that looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from gankit import __version__
from gankit.errors import CheckpointError

FORMAT = "gankit-checkpoint"
VERSION = 2
READABLE_VERSIONS = (1, 2)
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
    state = {
        "format": FORMAT,
        "version": VERSION,
        "gankit_version": __version__,
        "step": step,
        "time": time.time(),
        "optimizers": optim_meta,
        **extra,
    }
    final = _step_dir(root, step)
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(tensors, str(tmp / TENSORS), metadata={"format": FORMAT, "version": str(VERSION)})
    with open(tmp / STATE, "w") as f:
        json.dump(state, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
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


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read (tensors, state) from a checkpoint folder, a run folder (latest) or its ``checkpoints``."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not (path / STATE).is_file():
        candidates = list_checkpoints(path / "checkpoints") or list_checkpoints(path)
        if not candidates:
            raise CheckpointError(f"no complete checkpoint in {path}: it is not a gankit run or checkpoint folder")
        path = candidates[-1]
    try:
        state = json.loads((path / STATE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {path}: {STATE} is unreadable ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gankit checkpoint (no '{FORMAT}' format tag in {STATE})")
    if state.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(
            f"checkpoint {path} has format version {state.get('version')}; this gankit reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}: use the gankit release that wrote it"
        )
    state = upgrade_state(state)
    try:
        tensors = load_file(str(path / TENSORS))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"checkpoint {path}: {TENSORS} is unreadable ({exc})") from None
    state["path"] = str(path)
    return tensors, state


def upgrade_state(state: dict) -> dict:
    """A version-1 state (one sampler, family implied) in version-2 form; a version-2 state unchanged.

    Version 1 was written by gankit 0.1, which had only the gan family and one batch sampler: its position
    moves under ``samplers["data"]`` and the config gets ``task: gan``.
    """
    if state.get("version") == 1:
        state = dict(state)
        if "sampler" in state:
            state["samplers"] = {"data": state.pop("sampler")}
        state.setdefault("task_state", {})
        if isinstance(state.get("config"), dict):
            state["config"] = {"task": "gan", **state["config"]}
        state["version"] = 2
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
