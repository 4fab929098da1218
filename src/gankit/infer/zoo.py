"""The model zoo: trained generators that ship inside the package, usable offline with ``--model NAME``.

Each model is a folder ``gankit/zoo/<name>/`` holding an ordinary gankit checkpoint reduced to what inference
needs (``state.json`` with the run's config and data description; ``tensors.safetensors`` with the inference
networks only, from their EMA copies, in bf16/fp16 where the card shows that changes no metric) and its model
card ``card.md`` (data and licence, the command that reproduces it, training time, measured metrics with their
protocol). ``gankit/zoo/index.json`` lists every model with the SHA-256 of each of its files; they are checked
before a model is loaded, and the checkpoint's own tensors checksum is checked again when it is read.

``gankit zoo pack --run RUN --name NAME --card CARD`` (:func:`pack`) makes a zoo folder from a finished run.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from gankit.errors import CheckpointError, GankitError

ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"
INDEX = "index.json"
FILES = ("state.json", "tensors.safetensors", "card.md")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _index(zoo: Path | None = None) -> dict:
    path = (zoo or ZOO_DIR) / INDEX
    if not path.is_file():
        return {}
    try:
        index = json.loads(path.read_text())
    except ValueError as exc:
        raise CheckpointError(f"the model zoo's {path} is unreadable ({exc}): reinstall gankit") from None
    return index if isinstance(index, dict) else {}


def list_models(zoo: Path | None = None) -> dict[str, dict]:
    """name -> index entry (description, family, files with their SHA-256 and sizes)."""
    return dict(sorted(_index(zoo).items()))


def model_dir(name: str, zoo: Path | None = None) -> Path:
    """The verified folder of zoo model ``name``: one line naming the choices when there is no such model, and
    one naming the file when a file is missing or does not match its SHA-256 in the index."""
    from gankit.fetch import sha256_file

    zoo = zoo or ZOO_DIR
    index = _index(zoo)
    if name not in index:
        known = ", ".join(sorted(index)) or "none installed"
        raise GankitError(f"--model {name!r}: no such model in the zoo (available: {known}; `gankit zoo` lists them)")
    folder = zoo / name
    for file, meta in index[name]["files"].items():
        path = folder / file
        if not path.is_file():
            raise CheckpointError(f"zoo model {name}: {path} is missing: reinstall gankit")
        if sha256_file(path) != meta["sha256"]:
            raise CheckpointError(f"zoo model {name}: {path} does not match its SHA-256 in the zoo index (damaged or "
                                  "edited): reinstall gankit")
    return folder


def pack(run: str, name: str, card: str, dtype: str = "bf16", description: str = "", zoo: Path | None = None,
         replace: bool = False) -> dict:
    """Copy ``run``'s inference networks (EMA copies where it has them) into ``zoo/<name>`` in ``dtype`` with the
    card text ``card``, and record it in the index. Returns the index entry."""
    import shutil

    from gankit.checkpoint import read_checkpoint, write_checkpoint_folder
    from gankit.config import from_dict
    from gankit.fetch import sha256_file
    from gankit.tasks import get_family

    zoo = zoo or ZOO_DIR
    if dtype not in DTYPES:
        raise GankitError(f"--dtype {dtype!r}: choose from {', '.join(DTYPES)}")
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise GankitError(f"--name {name!r}: letters, digits, '-', '_' and '.' only")
    tensors, state = read_checkpoint(run)
    cfg = from_dict(state["config"])
    nets = get_family(cfg.task).inference_networks(cfg, state.get("data"))
    kept: dict[str, torch.Tensor] = {}
    for net in nets:
        source = f"{net}_ema" if any(k.startswith(f"net.{net}_ema.") for k in tensors) else net
        part = {k: v for k, v in tensors.items() if k.startswith(f"net.{source}.")}
        if not part:
            raise CheckpointError(f"{run} has no network {net} to pack")
        for k, v in part.items():
            kept[k] = v.to(DTYPES[dtype]) if v.is_floating_point() else v
    folder = zoo / name
    if folder.exists():
        if not replace:
            raise GankitError(f"zoo model {name} exists: pass --replace to pack it again")
        shutil.rmtree(folder)
    extra = {"config": state["config"], "data": state.get("data", {}), "task_state": {}, "samplers": {},
             "zoo": {"name": name, "dtype": dtype, "packed_from_step": state["step"]}}
    write_checkpoint_folder(folder, kept, int(state["step"]), extra)
    (folder / "card.md").write_text(card.rstrip() + "\n")
    entry = {"description": description or cfg.description or name, "family": cfg.task,
             "dtype": dtype, "step": int(state["step"]),
             "files": {f: {"sha256": sha256_file(folder / f), "bytes": (folder / f).stat().st_size} for f in FILES}}
    index = _index(zoo)
    index[name] = entry
    (zoo / INDEX).write_text(json.dumps(dict(sorted(index.items())), indent=1) + "\n")
    return entry


def size_bytes(zoo: Path | None = None) -> int:
    """The zoo's size on disk: every model's files."""
    return sum(meta["bytes"] for entry in _index(zoo).values() for meta in entry["files"].values())
