"""The config sections every family shares: data, optimizers, the loop, evaluation, sampling.

Each key is documented where it is defined; the families' own ``model`` and ``loss`` sections are in
:mod:`gankit.config.families`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# what each kind of data holds: single images (with labels where there are classes), 2-D points, or
# two image domains A and B (aligned pairs, or two unmatched sets)
IMAGE_DATASETS = ("mnist", "fashion-mnist", "digits", "folder")
TOY_DATASETS = ("ring", "grid")
PAIRED_DATASETS = ("emoji-pairs", "paired-folder")
UNPAIRED_DATASETS = ("unpaired-folder",)
EMOJI_DATASETS = ("fluent-emoji-3d",)  # 256 px RGB pictures: super-resolution, and z -> image at any size
FOLDER_DATASETS = ("folder", "paired-folder", "unpaired-folder")
DATASET_NAMES = IMAGE_DATASETS + TOY_DATASETS + PAIRED_DATASETS + UNPAIRED_DATASETS + EMOJI_DATASETS
DEGRADATIONS = ("bicubic",)


@dataclass
class DataConfig:
    """What to train on and how it is decoded and augmented."""

    # mnist | fashion-mnist | digits | folder | ring | grid (one image or point per sample);
    # emoji-pairs | paired-folder (aligned A/B pairs) | unpaired-folder (two unmatched sets A and B);
    # fluent-emoji-3d (256 px RGB pictures: super-resolution, or z -> image at data.resolution)
    name: str = "mnist"
    path: str | None = None  # the folder for folder, paired-folder and unpaired-folder
    split: str = "train"  # train | test; fluent-emoji-3d in the gan family also: all (train and test)
    # a fixed random subset of this many images (0 = all), drawn with subset_seed (small-data experiments);
    # base_emoji_only first drops skin-tone variants (emoji data), so the subset holds no recoloured twins
    subset: int = 0
    subset_seed: int = 0
    base_emoji_only: bool = False
    resolution: int = 32  # images are resized to resolution x resolution
    channels: int = 1  # 1 (grayscale) or 3 (RGB)
    background: list[int] = field(default_factory=lambda: [255, 255, 255])  # RGBA composited on this
    hflip: bool = False  # random horizontal flip, on batches, on the device (both images of a pair alike)
    crop_padding: int = 0  # random crop after reflect-padding by this many pixels (0 = off; pairs alike)
    # translation data: which domain is the input (a2b: A -> B, b2a: B -> A)
    direction: str = "a2b"
    # train a paired source as unpaired data: A images from one half of the training pairs, B images from the
    # other half (split by base emoji for emoji-pairs), so no pair is ever seen whole
    unpaired_halves: bool = False
    # super-resolution (task sr): the high-resolution images are cut into random patches of this side (0 = the
    # whole image) and the low-resolution inputs made from them on the device: optional Gaussian blur (sigma in
    # HR pixels), antialiased bicubic downsampling by model.scale, optional Gaussian noise (std in 0..255
    # levels), rounding to 8-bit levels, optional JPEG at a random quality from `jpeg` to 95 (0 = no JPEG;
    # Real-ESRGAN: 30) (docs/super-resolution.md)
    patch: int = 0
    degradation: str = "bicubic"
    blur: float = 0.0
    noise: float = 0.0
    jpeg: int = 0
    rot90: bool = False  # random 90-degree rotations of the patches (with hflip: all 8 orientations)
    # toy 2-D mixtures
    num_samples: int = 100_000  # points drawn once, with the run's seed
    num_modes: int = 8  # ring only: Gaussians on the circle
    radius: float = 1.0  # ring only
    grid_size: int = 5  # grid only: grid_size^2 Gaussians
    grid_spacing: float = 2.0  # grid only: distance between neighbouring centres
    std: float = 0.01  # std of every Gaussian


@dataclass
class AugmentConfig:
    """Differentiable augmentation of everything D sees, real and generated alike (task gan), for small datasets:
    DiffAugment (Zhao et al. 2020) or ADA's adaptive pipeline (Karras et al. 2020); docs/small-data.md."""

    kind: str = "none"  # none | diffaugment | ada
    policy: list[str] = field(default_factory=lambda: ["color", "translation", "cutout"])  # diffaugment's ops
    # ada: p starts at p_init; every `interval` steps it moves by sign(r_t - target) * images / speed_images,
    # where r_t = E[sign(D(real))] over those steps, so p can go from 0 to 1 in speed_images images
    target: float = 0.6
    interval: int = 4
    speed_images: int = 500_000
    p_init: float = 0.0
    adaptive: bool = True  # ada: false keeps p at p_init (a fixed augmentation probability)


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

    steps: int = 3000  # training steps (each runs every phase that is due)
    batch_size: int = 64
    n_critic: int = 1  # gan: D steps (each on a new batch) per G step
    # gan: G's step scores the fake batch of the step's last D step again (one G forward per step, as the
    # textbook DCGAN loop does) instead of drawing fresh noise; same distribution, fewer FLOPs. (The translation
    # families always work this way.)
    reuse_fake: bool = False
    g_optim: OptimConfig = field(default_factory=OptimConfig)  # the generator(s)
    d_optim: OptimConfig = field(default_factory=OptimConfig)  # the discriminator(s)
    lr_decay: str = "none"  # none | linear | cosine: learning rates fall to 0 at the last step
    lr_decay_start: float = 0.0  # fraction of the run after which the decay begins
    # learning rates rise linearly from 1/lr_warmup of their value to all of it over the first lr_warmup steps
    # (0 = off): it keeps a net without normalization from blowing up its activations in its first Adam steps
    lr_warmup: int = 0
    ema: float = 0.999  # decay of the EMA copy of each generator used for samples (0 = no EMA)
    ema_start: int = 0  # copy G into the EMA until this step, then average
    # EMA ramp-up (StyleGAN2-ADA): the EMA's half-life is at most this fraction of the steps so far (0 = off),
    # so early weights are forgotten fast: decay_t = min(ema, 0.5 ** (1 / (ema_rampup * step)))
    ema_rampup: float = 0.0
    seed: int = 0
    device: str = "auto"  # auto (cuda > mps > cpu) | cpu | cuda | cuda:N | mps
    deterministic: bool = False  # torch.use_deterministic_algorithms; bit-exact resume on CPU
    threads: int = 0  # torch intra-op threads (0 = leave PyTorch's default)
    log_every: int = 50  # steps between stats.jsonl lines (and the only host syncs)
    sample_every: int = 500  # steps between fixed-input sample grids
    ckpt_every: int = 1000  # steps between checkpoints (the last step always gets one)
    keep_ckpts: int = 2  # keep only the newest k checkpoints
    # a NaN/Inf loss or weight (seen at a log step or before a checkpoint) rolls the run back to its newest good
    # checkpoint with the learning rates times nan_lr_factor and fresh noise, at most nan_retries times
    nan_retries: int = 3
    nan_lr_factor: float = 0.5
    grid_size: int = 64  # samples in the fixed-input grid
    tensorboard: bool = True
    # time budgets, counted from the start of this invocation (a resumed run gets a fresh one): training stops
    # cleanly (checkpoint, samples, metrics) at the first step past it, whatever train.steps says; 0 = off
    max_seconds: float = 0.0  # wall-clock seconds
    max_cpu_seconds: float = 0.0  # CPU seconds of this process (user + system, all threads)
    # with a time budget: measure the speed over the run's first steps and fit its length to the steps that the
    # budget allows (at most train.steps), so that the lr decay ends, and the last step's samples, checkpoint and
    # evaluation happen, when the budget does; the fitted length is saved and kept on resume
    fit_to_budget: bool = False
    # speed (docs/performance.md): autocast precision of the training step, memory layout, compilation
    precision: str = "fp32"  # fp32 | bf16 | fp16 (CUDA only) | auto (bf16 where the hardware runs it fast)
    channels_last: bool = True  # image networks and batches in NHWC layout (faster convolutions)
    compile: bool = False  # torch.compile the trained networks (dynamic=False); the first steps include compiling
    # start the networks from another run's latest checkpoint (each network from the same name there, a base
    # network from that run's EMA copy when it has one); the optimizers, counters and data positions start fresh
    init_from: str = ""


@dataclass
class EvalConfig:
    """Quality numbers: at the end of training (metrics.json) and, with ``every``, during it (metrics.jsonl)."""

    num_samples: int = 2000  # gan: generated (and real) samples used by the end-of-run metrics
    every: int = 0  # feature metrics (as `gankit eval`) every this many steps and at the last; 0 = off
    metrics: str = "fid,kid"  # comma-separated: fid, kid, is, pr, dc, class
    extractor: str = ""  # "" = the dataset's classifier for MNIST / Fashion-MNIST, else inception
    # real images: "" = the test split of a built-in (translation: its test targets), or the training folder
    reference: str = ""
    n: int = 5000  # generated samples per evaluation, and at most this many real ones


@dataclass
class SampleConfig:
    """How samples are drawn from a trained unconditional/conditional G (gan family): end-of-run metrics,
    ``gankit sample``, ``gankit bench``. The fixed-noise grids written during training ignore this section.
    """

    jacobian_truncation: float = 0.0  # reject this fraction of draws with the largest ||dG/dz|| (JBT); 0 = off
    jacobian_projections: int = 8  # directions for the ||dG/dz|| estimate (exact when z_dim <= this)
    # gankit's one fidelity/diversity knob (1 = off): StyleGAN2 truncates in W (Karras et al. 2019),
    # w = w_avg + psi (w - w_avg) for the first truncation_cutoff layers (0 = all; psi 0 = the average image);
    # every other generator samples z * psi (reduced temperature; psi 0 = G(0))
    truncation_psi: float = 1.0
    truncation_cutoff: int = 0
