"""Typed configs, YAML presets and ``--set a.b=c`` overrides.

A config is a tree of dataclasses. Its ``task`` key names the family (``gan``, ``pix2pix``, ``cyclegan``),
which decides what the ``model`` and ``loss`` sections are (:mod:`gankit.config.families`); ``data``,
``train``, ``eval``, ``sample`` and ``augment`` are shared (:mod:`gankit.config.sections`). Everything that reaches a
config from outside (a preset, a user's YAML file, a ``--set`` on the command line, the ``config.json`` of
a run being resumed) goes through :func:`from_dict`, which rejects unknown keys, wrong types and
impossible values with one :class:`~gankit.errors.ConfigError` line that names the key.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from gankit.config.families import (
    EXTRACTOR_NAMES,
    FAMILIES,
    LOSS_NAMES,
    METRIC_NAMES,
    CycleGANLossConfig,
    CycleGANModelConfig,
    Family,
    LossConfig,
    ModelConfig,
    Pix2PixLossConfig,
    Pix2PixModelConfig,
)
from gankit.config.parse import build_section, fix_yaml_numbers, load_yaml, merge, parse_override, shown_key
from gankit.config.sections import (
    DATASET_NAMES,
    FOLDER_DATASETS,
    IMAGE_DATASETS,
    PAIRED_DATASETS,
    TOY_DATASETS,
    UNPAIRED_DATASETS,
    AugmentConfig,
    DataConfig,
    EvalConfig,
    OptimConfig,
    SampleConfig,
    TrainConfig,
)
from gankit.errors import ConfigError

__all__ = [
    "Config", "AugmentConfig", "DataConfig", "OptimConfig", "TrainConfig", "EvalConfig", "SampleConfig",
    "ModelConfig", "LossConfig",
    "Pix2PixModelConfig", "Pix2PixLossConfig", "CycleGANModelConfig", "CycleGANLossConfig", "Family", "FAMILIES",
    "LOSS_NAMES", "METRIC_NAMES", "EXTRACTOR_NAMES", "IMAGE_DATASETS", "TOY_DATASETS", "PAIRED_DATASETS",
    "UNPAIRED_DATASETS", "FOLDER_DATASETS", "DATASET_NAMES", "from_dict", "to_dict", "merge", "parse_override",
    "load_yaml", "preset_names", "load_preset", "resolve",
]  # fmt: skip


@dataclass
class Config:
    """A whole run: the family (``task``), its own ``model`` and ``loss`` sections, and the shared ones."""

    description: str = ""
    task: str = "gan"  # gan | pix2pix | cyclegan | sr: decides what model and loss hold
    data: DataConfig = field(default_factory=DataConfig)
    model: Any = field(default_factory=ModelConfig)
    loss: Any = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    @property
    def family(self) -> Family:
        return FAMILIES[self.task]


_SHARED = {"data": DataConfig, "train": TrainConfig, "eval": EvalConfig, "sample": SampleConfig,
           "augment": AugmentConfig}


def from_dict(raw: dict) -> Config:
    """Build and validate a :class:`Config` from plain data (missing keys take defaults)."""
    from gankit.config.validate import validate

    if not isinstance(raw, dict):
        raise ConfigError(f"config: expected a mapping of keys, got {raw!r}")
    task = raw.get("task", "gan")
    if not isinstance(task, str) or task not in FAMILIES:
        raise ConfigError(f"task: {task!r} is not one of {', '.join(FAMILIES)}")
    family = FAMILIES[task]
    sections = {**_SHARED, "model": family.model, "loss": family.loss}
    kwargs: dict[str, Any] = {"task": task}
    for key, value in raw.items():
        if key == "task":
            continue
        if key == "description":
            if not isinstance(value, str):
                raise ConfigError(f"description: expected a string, got {value!r}")
            kwargs[key] = value
        elif key in sections:
            where = f"for task {task}" if key in ("model", "loss") else ""
            kwargs[key] = build_section(sections[key], value, f"{key}.", where)
        else:
            names = ["description", "task", *sections]
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {close[0]}?)" if close else f" (valid: {', '.join(names)})"
            raise ConfigError(f"unknown config key {shown_key(key)}{hint}")
    kwargs.setdefault("model", family.model())
    kwargs.setdefault("loss", family.loss())
    cfg = Config(**kwargs)
    validate(cfg)
    return cfg


def to_dict(cfg: Config) -> dict:
    """The plain-data form of a config, as written to ``config.json``."""
    return dataclasses.asdict(cfg)


# --------------------------------------------------------------------------- presets


def preset_names() -> list[str]:
    """Names of the presets shipped in the package."""
    folder = resources.files("gankit") / "presets"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict:
    """The raw data of a shipped preset."""
    names = preset_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ConfigError(f"unknown preset {name!r}: {hint}run `gankit presets` to list them")
    text = (resources.files("gankit") / "presets" / f"{name}.yaml").read_text()
    return fix_yaml_numbers(yaml.safe_load(text) or {})


def resolve(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
    extra: dict | None = None,
) -> Config:
    """Preset, then the user's file, then ``--set`` overrides, then ``extra``; validated."""
    raw: dict = load_preset(preset) if preset else {}
    if config_file:
        raw = merge(raw, load_yaml(config_file))
    for text in overrides or []:
        raw = merge(raw, parse_override(text))
    if extra:
        raw = merge(raw, extra)
    return from_dict(raw)
