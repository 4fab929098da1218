"""Impossible values and incompatible combinations, one :class:`~gankit.errors.ConfigError` line each.

:func:`validate` checks the shared sections, then the family's own (``_gan``, ``_translation``); each check
names the key to change and, where it helps, the value that would work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gankit.config.families import (
    DIFFAUGMENT_POLICIES,
    EXTRACTOR_NAMES,
    FAMILIES,
    LOSS_NAMES,
    METRIC_NAMES,
    PERCEPTUAL_LAYERS,
)
from gankit.config.sections import (
    DATASET_NAMES,
    DEGRADATIONS,
    EMOJI_DATASETS,
    FOLDER_DATASETS,
    PAIRED_DATASETS,
    TOY_DATASETS,
)
from gankit.errors import ConfigError

if TYPE_CHECKING:
    from gankit.config import Config


def _choice(key: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(options)}")


def _positive(key: str, value: float, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        word = "zero or more" if allow_zero else "greater than zero"
        raise ConfigError(f"{key}: must be {word}, got {value}")


def validate(cfg: Config) -> None:
    """Reject impossible values and incompatible combinations, one line each."""
    _data(cfg)
    {"gan": _gan, "pix2pix": _translation, "cyclegan": _translation, "sr": _sr}[cfg.task](cfg)
    _train(cfg)
    _eval(cfg)
    _augment(cfg)


def _data(cfg: Config) -> None:
    d = cfg.data
    family = FAMILIES[cfg.task]
    _choice("data.name", d.name, DATASET_NAMES)
    if d.name not in family.data:
        raise ConfigError(f"data.name={d.name} is not data for task {cfg.task}: it trains on {', '.join(family.data)}")
    if d.name in FOLDER_DATASETS and not d.path:
        raise ConfigError(f"data.name={d.name} needs a path: pass --data PATH (or set data.path)")
    splits = ("train", "test", "all") if d.name in EMOJI_DATASETS and cfg.task == "gan" else ("train", "test")
    if d.name in EMOJI_DATASETS or d.name in PAIRED_DATASETS:
        _choice("data.split", d.split, splits)
    _positive("data.subset", d.subset, allow_zero=True)
    if (d.subset or d.base_emoji_only) and cfg.task != "gan":
        raise ConfigError(f"data.subset and data.base_emoji_only pick training images for task gan, not {cfg.task}")
    if d.base_emoji_only and d.name not in EMOJI_DATASETS:
        raise ConfigError(f"data.base_emoji_only drops skin-tone variants of emoji ({', '.join(EMOJI_DATASETS)}), "
                          f"not of {d.name}")
    if d.path and d.name not in FOLDER_DATASETS:
        raise ConfigError(f"data.path is set but data.name is {d.name!r}: use data.name=folder with a path")
    if d.channels not in (1, 3):
        raise ConfigError(f"data.channels: must be 1 or 3, got {d.channels}")
    if len(d.background) != 3 or any(not 0 <= v <= 255 for v in d.background):
        raise ConfigError(f"data.background: must be three values 0..255, got {d.background}")
    _positive("data.resolution", d.resolution)
    _positive("data.crop_padding", d.crop_padding, allow_zero=True)
    if d.crop_padding >= d.resolution:
        raise ConfigError(f"data.crop_padding={d.crop_padding} must be smaller than data.resolution={d.resolution}")
    _choice("data.direction", d.direction, ("a2b", "b2a"))
    if d.unpaired_halves and d.name not in PAIRED_DATASETS:
        raise ConfigError(f"data.unpaired_halves splits paired data ({', '.join(PAIRED_DATASETS)}), not {d.name}")
    if d.unpaired_halves and cfg.task == "pix2pix":
        raise ConfigError("data.unpaired_halves=true takes the pairs apart, and pix2pix needs them: use task cyclegan")
    _positive("data.num_samples", d.num_samples)
    _positive("data.std", d.std)
    _positive("data.radius", d.radius)
    _positive("data.num_modes", d.num_modes)
    _positive("data.grid_size", d.grid_size)
    _positive("data.grid_spacing", d.grid_spacing)


def _gan(cfg: Config) -> None:
    d, m, lo, t = cfg.data, cfg.model, cfg.loss, cfg.train
    toy = d.name in TOY_DATASETS
    _choice("model.arch", m.arch, ("mlp", "dcgan", "stylegan2"))
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
    if m.arch in ("dcgan", "stylegan2"):
        if toy:
            raise ConfigError(f"model.arch={m.arch} needs image data; toy 2-D data uses model.arch=mlp")
        r = d.resolution
        if r < 8 or r & (r - 1) or (m.arch == "stylegan2" and r > 1024):
            raise ConfigError(f"data.resolution: {m.arch} needs a power of two >= 8, got {r}")
    if m.grow_start:
        _growing(cfg)
    if cfg.sample.truncation_psi < 0:
        raise ConfigError(f"sample.truncation_psi: must be 0 or more (1 = off), got {cfg.sample.truncation_psi}")
    if m.arch == "stylegan2":
        _stylegan2(cfg)
    else:
        if lo.pl_weight:
            raise ConfigError("loss.pl_weight is StyleGAN2's path-length regularizer: it needs model.arch=stylegan2")
    if m.conditional and toy:
        raise ConfigError("model.conditional=true needs labels; toy 2-D data has none")
    _positive("model.pack", m.pack)
    if m.pack > 1 and m.conditional:
        raise ConfigError("model.pack>1 (PacGAN) with model.conditional=true is not supported: use one of them")
    if t.batch_size % m.pack:
        raise ConfigError(f"train.batch_size={t.batch_size} must be a multiple of model.pack={m.pack}")

    _adversarial_loss(lo.name)
    if not 0 <= lo.label_smoothing < 1:
        raise ConfigError(f"loss.label_smoothing: must be in [0, 1), got {lo.label_smoothing}")
    if lo.label_smoothing > 0 and lo.name in ("wasserstein", "hinge"):
        raise ConfigError(f"loss.label_smoothing applies to minimax, nonsaturating and lsgan, not {lo.name}")
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
    batch_norm_d = m.d_norm == "batch" and m.arch != "stylegan2"  # StyleGAN2's D has no normalization layers
    if lo.gp_weight > 0 and batch_norm_d:
        raise ConfigError(
            "loss.gp_weight>0 with model.d_norm=batch: batch norm mixes samples, so the per-sample "
            "gradient penalty is wrong (Gulrajani et al. 2017); set model.d_norm=layer or none"
        )
    if lo.r1_gamma > 0 and batch_norm_d:
        raise ConfigError("loss.r1_gamma>0 with model.d_norm=batch: set model.d_norm=layer or none")
    penalty = lo.gp_weight > 0 or lo.r1_gamma > 0
    if t.compile and penalty:
        raise ConfigError("train.compile=true with a gradient penalty (loss.gp_weight / loss.r1_gamma): "
                          "torch.compile cannot differentiate twice; turn one of them off")
    if t.precision == "fp16" and penalty:
        raise ConfigError("train.precision=fp16 with a gradient penalty (loss.gp_weight / loss.r1_gamma) is not "
                          "supported (the penalty's inner gradient would underflow): use train.precision=bf16")
    if not 0 <= cfg.sample.jacobian_truncation < 1:
        raise ConfigError(
            f"sample.jacobian_truncation: the fraction of draws to reject must be in [0, 1) (0 = off), "
            f"got {cfg.sample.jacobian_truncation}"
        )
    _positive("sample.jacobian_projections", cfg.sample.jacobian_projections)


def _growing(cfg: Config) -> None:
    m, r = cfg.model, cfg.data.resolution
    if m.arch not in ("dcgan", "stylegan2"):
        raise ConfigError(f"model.grow_start: progressive growing is built for dcgan and stylegan2, not {m.arch}")
    s = m.grow_start
    if s < 8 or s & (s - 1) or s >= r:
        raise ConfigError(f"model.grow_start={s}: a power of two from 8 up to half of data.resolution={r} "
                          "(0 turns growing off)")
    _positive("model.grow_fade", m.grow_fade)
    _positive("model.grow_stable", m.grow_stable, allow_zero=True)
    if m.pack > 1:
        raise ConfigError("model.grow_start with model.pack>1 is not supported: use one of them")
    if m.conditional and m.cond_d == "concat" and m.arch == "dcgan":
        raise ConfigError("model.grow_start with model.cond_d=concat is not supported: use model.cond_d=projection")


def _stylegan2(cfg: Config) -> None:
    m, lo, t, sc = cfg.model, cfg.loss, cfg.train, cfg.sample
    for key in ("w_dim", "mapping_layers", "mapping_lr_mult", "channel_base", "mbstd_group"):
        _positive(f"model.{key}", getattr(m, key))
    if m.channel_base // cfg.data.resolution < 1:
        raise ConfigError(f"model.channel_base={m.channel_base} leaves no channels at {cfg.data.resolution} px: "
                          f"raise it to at least {cfg.data.resolution}")
    _choice("model.modconv", m.modconv, ("batched", "grouped"))
    if not 0 <= m.style_mixing <= 1:
        raise ConfigError(f"model.style_mixing: a probability in [0, 1], got {m.style_mixing}")
    if m.z_categories:
        raise ConfigError("model.z_categories is not supported by stylegan2: set it to 0")
    if m.pack > 1:
        raise ConfigError("model.pack>1 (PacGAN) is not supported by stylegan2 (its D has minibatch std): set it to 1")
    if m.spectral_norm:
        raise ConfigError("model.spectral_norm is not supported by stylegan2 (equalized learning rate instead)")
    _positive("loss.pl_weight", lo.pl_weight, allow_zero=True)
    _positive("loss.pl_every", lo.pl_every)
    _positive("loss.pl_batch_shrink", lo.pl_batch_shrink)
    if not 0 < lo.pl_decay <= 1:
        raise ConfigError(f"loss.pl_decay: must be in (0, 1], got {lo.pl_decay}")
    if lo.pl_weight > 0 and t.compile:
        raise ConfigError("train.compile=true with loss.pl_weight>0: torch.compile cannot differentiate twice; "
                          "turn one of them off")
    if lo.pl_weight > 0 and t.precision == "fp16":
        raise ConfigError("train.precision=fp16 with loss.pl_weight>0 is not supported: use train.precision=bf16")
    _positive("sample.truncation_cutoff", sc.truncation_cutoff, allow_zero=True)


def _augment(cfg: Config) -> None:
    a = cfg.augment
    _choice("augment.kind", a.kind, ("none", "diffaugment", "ada"))
    if a.kind == "none":
        return
    if cfg.task != "gan":
        raise ConfigError(f"augment.kind={a.kind}: D's augmentations are built for task gan so far, not {cfg.task}")
    if cfg.data.name in TOY_DATASETS:
        raise ConfigError(f"augment.kind={a.kind} augments images; 2-D toy data has none: set augment.kind=none")
    for op in a.policy:
        _choice("augment.policy", op, DIFFAUGMENT_POLICIES)
    if not 0 < a.target < 1:
        raise ConfigError(f"augment.target: the r_t that ADA aims at, in (0, 1), got {a.target}")
    _positive("augment.interval", a.interval)
    _positive("augment.speed_images", a.speed_images)
    if not 0 <= a.p_init < 1:
        raise ConfigError(f"augment.p_init: a probability in [0, 1), got {a.p_init}")
    if cfg.model.pack > 1:
        raise ConfigError("augment with model.pack>1 is not supported: set one of them off")


def _sr(cfg: Config) -> None:
    """sr: a generator that upscales by model.scale, HR patches that it divides, the loss terms' weights."""
    d, m, lo = cfg.data, cfg.model, cfg.loss
    _choice("model.generator", m.generator, ("srresnet", "rrdb"))
    if m.scale not in (2, 4, 8):
        raise ConfigError(f"model.scale: must be 2, 4 or 8, got {m.scale}")
    for key in ("width", "blocks", "growth", "d_width", "d_stages"):
        _positive(f"model.{key}", getattr(m, key))
    _choice("model.norm", m.norm, ("batch", "none"))
    _choice("model.residual", m.residual, ("none", "bicubic"))
    _choice("model.d_norm", m.d_norm, ("batch", "none"))
    _choice("data.degradation", d.degradation, DEGRADATIONS)
    _positive("data.patch", d.patch, allow_zero=True)
    _positive("data.blur", d.blur, allow_zero=True)
    _positive("data.noise", d.noise, allow_zero=True)
    if d.jpeg and not 1 <= d.jpeg <= 95:
        raise ConfigError(f"data.jpeg={d.jpeg}: the lowest JPEG quality, from 1 to 95 (0 = no JPEG compression)")
    if d.jpeg and d.channels not in (1, 3):
        raise ConfigError(f"data.jpeg needs 1 or 3 channels, not data.channels={d.channels}")
    if d.crop_padding:
        raise ConfigError("data.crop_padding does not apply to super-resolution (data.patch picks random patches): "
                          "set it to 0")
    side = d.patch or d.resolution
    if side > d.resolution or side % m.scale or side // m.scale < 4:
        raise ConfigError(f"data.patch={d.patch}: the HR patch must be at most data.resolution={d.resolution}, a "
                          f"multiple of model.scale={m.scale}, and give an LR patch of at least 4 px")
    _choice("model.discriminator", m.discriminator, ("vgg", "unet"))
    if side < 2 ** (m.d_stages + 1) and lo.gan_weight > 0:
        raise ConfigError(f"model.d_stages={m.d_stages} halves a {side} px patch too often: lower it")
    if m.discriminator == "unet" and side % 2**m.d_stages and lo.gan_weight > 0:
        raise ConfigError(f"model.discriminator=unet with model.d_stages={m.d_stages}: the HR patch ({side} px) "
                          f"must be a multiple of {2**m.d_stages}; change data.patch or model.d_stages")
    _choice("loss.name", lo.name, LOSS_NAMES + ("ragan",))
    _choice("loss.perceptual_layer", lo.perceptual_layer, PERCEPTUAL_LAYERS)
    for key in ("pixel_weight", "perceptual_weight", "gan_weight"):
        _positive(f"loss.{key}", getattr(lo, key), allow_zero=True)
    if not 1.0 <= lo.perceptual_resize <= 4.0:
        raise ConfigError(f"loss.perceptual_resize={lo.perceptual_resize}: use a factor from 1 (patches as they "
                          "are) to 4")
    if lo.pixel_weight == lo.perceptual_weight == lo.gan_weight == 0:
        raise ConfigError("loss: pixel_weight, perceptual_weight and gan_weight are all 0, so G learns nothing")


def _adversarial_loss(name: str) -> None:
    _choice("loss.name", name, LOSS_NAMES)


def _translation(cfg: Config) -> None:
    """pix2pix and cyclegan: image pairs or two image sets, a U-Net or ResNet generator, PatchGAN discriminators."""
    d, m, lo, t = cfg.data, cfg.model, cfg.loss, cfg.train
    _choice("model.generator", m.generator, ("unet", "resnet"))
    _choice("model.norm", m.norm, ("instance", "batch", "layer", "none"))
    for key in ("width", "d_width", "max_channels"):
        _positive(f"model.{key}", getattr(m, key))
    _positive("model.depth", m.depth, allow_zero=True)
    _positive("model.resnet_blocks", m.resnet_blocks, allow_zero=True)
    _positive("model.d_layers", m.d_layers, allow_zero=True)
    if not 0 <= m.dropout < 1:
        raise ConfigError(f"model.dropout: must be in [0, 1), got {m.dropout}")
    r = d.resolution
    if m.generator == "unet":
        depth = m.depth or (r.bit_length() - 1)
        if r % (2**depth) or depth < 1:
            raise ConfigError(f"data.resolution={r}: a unet of depth {depth} needs a multiple of {2 ** depth}; "
                              f"set data.resolution to a power of two or lower model.depth")
    elif r % 4:
        raise ConfigError(f"data.resolution={r}: the resnet generator halves the size twice, so it needs a multiple "
                          f"of 4")
    d_layers = m.d_layers or 1
    if r < 2 ** (d_layers + 2):
        raise ConfigError(f"model.d_layers={d_layers}: a {r}x{r} image is too small for that PatchGAN; lower it")
    if cfg.task == "cyclegan" and m.d_conditional:
        raise ConfigError("model.d_conditional=true needs input/output pairs; cyclegan's data is unpaired")
    _adversarial_loss(lo.name)
    _positive("loss.gan_weight", lo.gan_weight, allow_zero=True)
    if cfg.task == "pix2pix":
        _positive("loss.l1_weight", lo.l1_weight, allow_zero=True)
    else:
        _positive("loss.cycle_weight", lo.cycle_weight, allow_zero=True)
        _positive("loss.identity_weight", lo.identity_weight, allow_zero=True)
        _positive("loss.pool_size", lo.pool_size, allow_zero=True)
    if t.n_critic != 1:
        raise ConfigError(f"train.n_critic={t.n_critic}: {cfg.task} takes one D step per G step; set it to 1")
    if t.reuse_fake:
        raise ConfigError(f"train.reuse_fake is a gan option; {cfg.task} always reuses G's output for D")


def _train(cfg: Config) -> None:
    t = cfg.train
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
    _positive("train.ema_rampup", t.ema_rampup, allow_zero=True)
    _positive("train.ema_start", t.ema_start, allow_zero=True)
    for key in ("log_every", "sample_every", "ckpt_every", "keep_ckpts", "grid_size"):
        _positive(f"train.{key}", getattr(t, key))
    _positive("train.threads", t.threads, allow_zero=True)
    _positive("train.nan_retries", t.nan_retries, allow_zero=True)
    if t.lr_warmup < 0:
        raise ConfigError(f"train.lr_warmup: must be >= 0 (steps; 0 = off), got {t.lr_warmup}")
    if not 0 < t.nan_lr_factor <= 1:
        raise ConfigError(f"train.nan_lr_factor: must be in (0, 1], got {t.nan_lr_factor}")
    _positive("train.max_seconds", t.max_seconds, allow_zero=True)
    _positive("train.max_cpu_seconds", t.max_cpu_seconds, allow_zero=True)
    if t.fit_to_budget and not (t.max_seconds or t.max_cpu_seconds):
        raise ConfigError("train.fit_to_budget=true needs a time budget: set train.max_seconds or "
                          "train.max_cpu_seconds")
    _choice("train.precision", t.precision, ("fp32", "bf16", "fp16", "auto"))
    dev = t.device
    if not (dev in ("auto", "cpu", "cuda", "mps") or (dev.startswith("cuda:") and dev[5:].isdigit())):
        raise ConfigError(f"train.device: {dev!r} is not one of auto, cpu, cuda, cuda:N, mps")


def _eval(cfg: Config) -> None:
    e = cfg.eval
    _positive("eval.num_samples", e.num_samples)
    _positive("eval.every", e.every, allow_zero=True)
    _positive("eval.n", e.n)
    if e.every:
        bad = [m for m in e.metrics.split(",") if m.strip() not in METRIC_NAMES]
        if bad or not e.metrics.strip():
            raise ConfigError(f"eval.metrics: {e.metrics!r} is not a comma-separated list of "
                              f"{', '.join(METRIC_NAMES)}")
        if e.extractor:
            _choice("eval.extractor", e.extractor, EXTRACTOR_NAMES)
        if cfg.data.name in TOY_DATASETS:
            raise ConfigError("eval.every: feature metrics are for images; 2-D mixtures get mode metrics at the end")
