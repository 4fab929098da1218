"""Typed configs, YAML presets and ``--set a.b=c`` overrides.

A config is a tree of dataclasses. Everything that reaches it from outside (a preset, a
user's YAML file, a ``--set`` on the command line, the ``config.json`` of a run being
resumed) goes through :func:`from_dict`, which rejects unknown keys, wrong types and
impossible values with one :class:`~gankit.errors.ConfigError` line that names the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from gankit.errors import ConfigError

IMAGE_DATASETS = ("mnist", "fashion-mnist", "digits", "folder")
TOY_DATASETS = ("ring", "grid")


@dataclass
class DataConfig:
    """What to train on and how it is decoded and augmented."""

    name: str = "mnist"  # mnist | fashion-mnist | digits | folder | ring | grid
    path: str | None = None  # folder of images when name == "folder"
    split: str = "train"
    resolution: int = 32  # images are resized to resolution x resolution
    channels: int = 1  # 1 (grayscale) or 3 (RGB)
    background: list[int] = field(default_factory=lambda: [255, 255, 255])  # RGBA composited on this
    hflip: bool = False  # random horizontal flip, on batches, on the device
    crop_padding: int = 0  # random crop after reflect-padding by this many pixels (0 = off)
    # toy 2-D mixtures
    num_samples: int = 100_000  # points drawn once, with the run's seed
    num_modes: int = 8  # ring only: Gaussians on the circle
    radius: float = 1.0  # ring only
    grid_size: int = 5  # grid only: grid_size^2 Gaussians
    grid_spacing: float = 2.0  # grid only: distance between neighbouring centres
    std: float = 0.01  # std of every Gaussian


@dataclass
class ModelConfig:
    """Architecture of G and D."""

    arch: str = "dcgan"  # mlp | dcgan
    z_dim: int = 100
    z_categories: int = 0  # a categorical code of this many values beside z (0 = off); see gankit.latent
    width: float = 1.0  # dcgan: channel multiplier (1.0 = 64 base channels)
    max_channels: int = 512  # dcgan: cap on channels per layer
    g_hidden: list[int] = field(default_factory=lambda: [256, 512, 1024])  # mlp only
    d_hidden: list[int] = field(default_factory=lambda: [512, 256])  # mlp only
    g_norm: str = "batch"  # batch | none
    d_norm: str = "batch"  # batch | layer | none
    spectral_norm: bool = False  # spectral normalization on every layer of D
    pack: int = 1  # PacGAN (Lin et al. 2018): D judges packs of this many samples at once (1 = off)
    conditional: bool = False  # class labels into G and D (needs a labelled dataset)
    cond_d: str = "projection"  # concat | projection
    embed_dim: int = 0  # G's label embedding size (0 = number of classes)


@dataclass
class LossConfig:
    """The adversarial loss and the regularizers that change D's objective."""

    name: str = "nonsaturating"  # minimax | nonsaturating | lsgan | wasserstein | hinge
    label_smoothing: float = 0.0  # one-sided: D's real target becomes 1 - label_smoothing
    gp_weight: float = 0.0  # WGAN-GP gradient penalty weight (lambda)
    r1_gamma: float = 0.0  # R1 penalty weight; the term added is gamma/2 * ||grad D(x)||^2
    r1_every: int = 1  # lazy R1: apply every k D steps, scaled by k
    weight_clip: float = 0.0  # WGAN weight clipping of D's parameters to [-c, c] (0 = off)
    instance_noise: float = 0.0  # std of Gaussian noise added to D's inputs at step 0
    instance_noise_steps: int = 0  # linear anneal of that std to 0 over this many steps (0 = constant)
    topk: float = 1.0  # top-k training (Sinha et al. 2020): G learns from this fraction of its batch, the
    #                    samples D finds most real (1 = all)
    topk_steps: int = 0  # anneal the fraction linearly from 1 to topk over this many steps (0 = at once)


@dataclass
class OptimConfig:
    """One optimizer."""

    name: str = "adam"  # adam | rmsprop
    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])  # adam only
    weight_decay: float = 0.0
    fused: bool = True  # adam: one fused kernel for the whole update where PyTorch has it (CPU, CUDA)


@dataclass
class TrainConfig:
    """The loop: budget, batch, schedule of phases, logging and checkpoints."""

    steps: int = 3000  # generator steps
    batch_size: int = 64
    n_critic: int = 1  # D steps (each on a new batch) per G step
    # G's step scores the fake batch of the step's last D step again (one G forward per step, as the textbook
    # DCGAN loop does) instead of drawing fresh noise; same distribution, fewer FLOPs
    reuse_fake: bool = False
    g_optim: OptimConfig = field(default_factory=OptimConfig)
    d_optim: OptimConfig = field(default_factory=OptimConfig)
    lr_decay: str = "none"  # none | linear | cosine: learning rates fall to 0 at the last step
    lr_decay_start: float = 0.0  # fraction of train.steps after which the decay begins
    ema: float = 0.999  # decay of the EMA copy of G used for samples (0 = no EMA)
    ema_start: int = 0  # copy G into the EMA until this step, then average
    seed: int = 0
    device: str = "auto"  # auto (cuda > mps > cpu) | cpu | cuda | cuda:N | mps
    deterministic: bool = False  # torch.use_deterministic_algorithms; bit-exact resume on CPU
    threads: int = 0  # torch intra-op threads (0 = leave PyTorch's default)
    log_every: int = 50  # steps between stats.jsonl lines (and the only host syncs)
    sample_every: int = 500  # steps between fixed-noise sample grids
    ckpt_every: int = 1000  # steps between checkpoints (the last step always gets one)
    keep_ckpts: int = 2  # keep only the newest k checkpoints
    grid_size: int = 64  # samples in the fixed-noise grid
    tensorboard: bool = True
    # time budgets, counted from the start of this invocation (a resumed run gets a fresh one): training stops
    # cleanly (checkpoint, samples, metrics) at the first step past it, whatever train.steps says; 0 = off
    max_seconds: float = 0.0  # wall-clock seconds
    max_cpu_seconds: float = 0.0  # CPU seconds of this process (user + system, all threads)
    # speed (docs/performance.md): autocast precision of the training step, memory layout, compilation
    precision: str = "fp32"  # fp32 | bf16 | fp16 (CUDA only) | auto (bf16 where the hardware runs it fast)
    channels_last: bool = True  # image networks and batches in NHWC layout (faster convolutions)
    compile: bool = False  # torch.compile G and D (dynamic=False); the first steps then include compiling


@dataclass
class EvalConfig:
    """Quality numbers: at the end of training (metrics.json) and, with ``every``, during it (metrics.jsonl)."""

    num_samples: int = 2000  # generated (and real) samples used by the end-of-run metrics
    every: int = 0  # feature metrics (as `gankit eval`) every this many steps and at the last; 0 = off
    metrics: str = "fid,kid"  # comma-separated: fid, kid, is, pr, dc, class
    extractor: str = ""  # "" = the dataset's classifier for MNIST / Fashion-MNIST, else inception
    reference: str = ""  # real images: "" = the test split of a built-in, or the training folder
    n: int = 5000  # generated samples per evaluation, and at most this many real ones


@dataclass
class SampleConfig:
    """How samples are drawn from the trained G: end-of-run metrics, ``gankit sample``, ``gankit bench``.

    The fixed-noise grids written during training ignore this section (they track training).
    """

    jacobian_truncation: float = 0.0  # reject this fraction of draws with the largest ||dG/dz|| (JBT); 0 = off
    jacobian_projections: int = 8  # directions for the ||dG/dz|| estimate (exact when z_dim <= this)


@dataclass
class Config:
    """A whole run."""

    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)


# --------------------------------------------------------------------------- parsing


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (ints widen to floats)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported type {_type_name(tp)}")  # pragma: no cover


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        full = f"{prefix}{key}"
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else f" (valid: {', '.join(names)})"
            raise ConfigError(f"unknown config key {full}{hint}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value, f"{full}.")
        else:
            kwargs[key] = _coerce(value, tp, full)
    return cls(**kwargs)


def from_dict(raw: dict) -> Config:
    """Build and validate a :class:`Config` from plain data (missing keys take defaults)."""
    cfg = _build(Config, raw, "")
    validate(cfg)
    return cfg


def to_dict(cfg: Config) -> dict:
    """The plain-data form of a config, as written to ``config.json``."""
    return dataclasses.asdict(cfg)


def merge(base: dict, update: dict) -> dict:
    """Deep-merge ``update`` into a copy of ``base`` (mappings merge, everything else replaces)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> dict:
    """Turn ``a.b=c`` into ``{"a": {"b": c}}``, the value parsed as YAML (``1e-4``, ``[1,2]``, ``true``)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. --set train.batch_size=128")
    key, _, value_text = text.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: empty key")
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: cannot parse the value ({exc.problem})") from None
    value = _fix_yaml_numbers(value)
    out: dict = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def load_yaml(path: str | Path) -> dict:
    """Read a YAML config file into plain data, with one-line errors."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {p} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {p} must hold a mapping of keys at the top level")
    return _fix_yaml_numbers(raw)


_SCI_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _fix_yaml_numbers(node: Any) -> Any:
    """YAML 1.1 leaves ``1e-4`` (no dot) as a string; read such strings as floats."""
    if isinstance(node, dict):
        return {k: _fix_yaml_numbers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_fix_yaml_numbers(v) for v in node]
    if isinstance(node, str) and _SCI_NUMBER.match(node.strip()):
        return float(node)
    return node


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
    return _fix_yaml_numbers(yaml.safe_load(text) or {})


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


# --------------------------------------------------------------------------- validation


def _choice(key: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(options)}")


def _positive(key: str, value: float, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        word = "zero or more" if allow_zero else "greater than zero"
        raise ConfigError(f"{key}: must be {word}, got {value}")


def validate(cfg: Config) -> None:
    """Reject impossible values and incompatible combinations, one line each."""
    d, m, lo, t = cfg.data, cfg.model, cfg.loss, cfg.train
    _choice("data.name", d.name, IMAGE_DATASETS + TOY_DATASETS)
    if d.name == "folder" and not d.path:
        raise ConfigError("data.name=folder needs a path: pass --data PATH (or set data.path)")
    if d.path and d.name != "folder":
        raise ConfigError(f"data.path is set but data.name is {d.name!r}: use data.name=folder with a path")
    if d.channels not in (1, 3):
        raise ConfigError(f"data.channels: must be 1 or 3, got {d.channels}")
    if len(d.background) != 3 or any(not 0 <= v <= 255 for v in d.background):
        raise ConfigError(f"data.background: must be three values 0..255, got {d.background}")
    _positive("data.resolution", d.resolution)
    _positive("data.crop_padding", d.crop_padding, allow_zero=True)
    _positive("data.num_samples", d.num_samples)
    _positive("data.std", d.std)
    _positive("data.radius", d.radius)
    _positive("data.num_modes", d.num_modes)
    _positive("data.grid_size", d.grid_size)
    _positive("data.grid_spacing", d.grid_spacing)
    toy = d.name in TOY_DATASETS

    _choice("model.arch", m.arch, ("mlp", "dcgan"))
    _choice("model.g_norm", m.g_norm, ("batch", "none"))
    _choice("model.d_norm", m.d_norm, ("batch", "layer", "none"))
    _choice("model.cond_d", m.cond_d, ("concat", "projection"))
    _positive("model.z_dim", m.z_dim)
    _positive("model.z_categories", m.z_categories, allow_zero=True)
    _positive("model.width", m.width)
    _positive("model.max_channels", m.max_channels)
    _positive("model.embed_dim", m.embed_dim, allow_zero=True)
    for key, sizes in (("model.g_hidden", m.g_hidden), ("model.d_hidden", m.d_hidden)):
        if not sizes or any(s <= 0 for s in sizes):
            raise ConfigError(f"{key}: must be a non-empty list of positive sizes, got {sizes}")
    if m.arch == "dcgan":
        if toy:
            raise ConfigError("model.arch=dcgan needs image data; toy 2-D data uses model.arch=mlp")
        r = d.resolution
        if r < 8 or r & (r - 1):
            raise ConfigError(f"data.resolution: dcgan needs a power of two >= 8, got {r}")
    if m.conditional and toy:
        raise ConfigError("model.conditional=true needs labels; toy 2-D data has none")
    _positive("model.pack", m.pack)
    if m.pack > 1 and m.conditional:
        raise ConfigError("model.pack>1 (PacGAN) with model.conditional=true is not supported: use one of them")
    if cfg.train.batch_size % m.pack:
        raise ConfigError(f"train.batch_size={cfg.train.batch_size} must be a multiple of model.pack={m.pack}")

    from gankit.losses import LOSS_NAMES  # local: losses imports torch

    _choice("loss.name", lo.name, LOSS_NAMES)
    if not 0 <= lo.label_smoothing < 1:
        raise ConfigError(f"loss.label_smoothing: must be in [0, 1), got {lo.label_smoothing}")
    if lo.label_smoothing > 0 and lo.name in ("wasserstein", "hinge"):
        raise ConfigError(
            f"loss.label_smoothing applies to minimax, nonsaturating and lsgan, not {lo.name}"
        )
    for key in ("gp_weight", "r1_gamma", "weight_clip", "instance_noise"):
        _positive(f"loss.{key}", getattr(lo, key), allow_zero=True)
    _positive("loss.r1_every", lo.r1_every)
    _positive("loss.instance_noise_steps", lo.instance_noise_steps, allow_zero=True)
    if not 0 < lo.topk <= 1:
        raise ConfigError(f"loss.topk: must be in (0, 1] (1 turns top-k training off), got {lo.topk}")
    _positive("loss.topk_steps", lo.topk_steps, allow_zero=True)
    if lo.weight_clip > 0 and lo.gp_weight > 0:
        raise ConfigError("loss.weight_clip and loss.gp_weight both bound D's Lipschitz constant: pick one")
    if lo.weight_clip > 0 and lo.name != "wasserstein":
        raise ConfigError(
            f"loss.weight_clip is the WGAN critic constraint; it needs loss.name=wasserstein, not {lo.name}"
        )
    if lo.gp_weight > 0 and m.d_norm == "batch":
        raise ConfigError(
            "loss.gp_weight>0 with model.d_norm=batch: batch norm mixes samples, so the per-sample "
            "gradient penalty is wrong (Gulrajani et al. 2017); set model.d_norm=layer or none"
        )
    if lo.r1_gamma > 0 and m.d_norm == "batch":
        raise ConfigError("loss.r1_gamma>0 with model.d_norm=batch: set model.d_norm=layer or none")

    _positive("train.steps", t.steps)
    _positive("train.batch_size", t.batch_size)
    _positive("train.n_critic", t.n_critic)
    for key, opt in (("train.g_optim", t.g_optim), ("train.d_optim", t.d_optim)):
        _choice(f"{key}.name", opt.name, ("adam", "rmsprop"))
        _positive(f"{key}.lr", opt.lr)
        _positive(f"{key}.weight_decay", opt.weight_decay, allow_zero=True)
        if len(opt.betas) != 2 or any(not 0 <= b < 1 for b in opt.betas):
            raise ConfigError(f"{key}.betas: must be two numbers in [0, 1), got {opt.betas}")
    _choice("train.lr_decay", t.lr_decay, ("none", "linear", "cosine"))
    if not 0 <= t.lr_decay_start < 1:
        raise ConfigError(f"train.lr_decay_start: must be in [0, 1), got {t.lr_decay_start}")
    if not 0 <= t.ema < 1:
        raise ConfigError(f"train.ema: must be in [0, 1) (0 turns EMA off), got {t.ema}")
    _positive("train.ema_start", t.ema_start, allow_zero=True)
    for key in ("log_every", "sample_every", "ckpt_every", "keep_ckpts", "grid_size"):
        _positive(f"train.{key}", getattr(t, key))
    _positive("train.threads", t.threads, allow_zero=True)
    _positive("train.max_seconds", t.max_seconds, allow_zero=True)
    _positive("train.max_cpu_seconds", t.max_cpu_seconds, allow_zero=True)
    _choice("train.precision", t.precision, ("fp32", "bf16", "fp16", "auto"))
    if t.compile and (lo.gp_weight > 0 or lo.r1_gamma > 0):
        raise ConfigError("train.compile=true with a gradient penalty (loss.gp_weight / loss.r1_gamma): "
                          "torch.compile cannot differentiate twice; turn one of them off")
    if t.precision == "fp16" and (lo.gp_weight > 0 or lo.r1_gamma > 0):
        raise ConfigError("train.precision=fp16 with a gradient penalty (loss.gp_weight / loss.r1_gamma) is not "
                          "supported (the penalty's inner gradient would underflow): use train.precision=bf16")
    dev = t.device
    if not (dev in ("auto", "cpu", "cuda", "mps") or (dev.startswith("cuda:") and dev[5:].isdigit())):
        raise ConfigError(f"train.device: {dev!r} is not one of auto, cpu, cuda, cuda:N, mps")
    _positive("eval.num_samples", cfg.eval.num_samples)
    _positive("eval.every", cfg.eval.every, allow_zero=True)
    _positive("eval.n", cfg.eval.n)
    if cfg.eval.every:
        from gankit.evaluation import METRIC_NAMES
        from gankit.metrics.features import EXTRACTOR_NAMES

        bad = [m for m in cfg.eval.metrics.split(",") if m.strip() not in METRIC_NAMES]
        if bad or not cfg.eval.metrics.strip():
            raise ConfigError(f"eval.metrics: {cfg.eval.metrics!r} is not a comma-separated list of "
                              f"{', '.join(METRIC_NAMES)}")
        if cfg.eval.extractor:
            _choice("eval.extractor", cfg.eval.extractor, EXTRACTOR_NAMES)
        if d.name in ("ring", "grid"):
            raise ConfigError("eval.every: feature metrics are for images; 2-D mixtures get mode metrics at the end")
    if not 0 <= cfg.sample.jacobian_truncation < 1:
        raise ConfigError(
            f"sample.jacobian_truncation: the fraction of draws to reject must be in [0, 1) (0 = off), "
            f"got {cfg.sample.jacobian_truncation}"
        )
    _positive("sample.jacobian_projections", cfg.sample.jacobian_projections)
