"""Each family's own ``model`` and ``loss`` sections, chosen by the config's ``task`` key.

``task: gan`` (the default) reads ``model`` as :class:`ModelConfig` and ``loss`` as :class:`LossConfig`;
``task: pix2pix`` reads them as :class:`Pix2PixModelConfig` and :class:`Pix2PixLossConfig`, and so on. A key
that the chosen family does not have is an error that names the family, so no section carries keys that
only another family understands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# the vocabularies that configs are checked against; the modules that implement them assert they match
LOSS_NAMES: tuple[str, ...] = ("minimax", "nonsaturating", "lsgan", "wasserstein", "hinge")
METRIC_NAMES: tuple[str, ...] = ("fid", "kid", "is", "pr", "dc", "class")
EXTRACTOR_NAMES: tuple[str, ...] = ("inception", "mnist-classifier", "fashion-mnist-classifier")
PERCEPTUAL_LAYERS: tuple[str, ...] = ("conv2d_2b", "conv2d_4a")  # gankit.nets.perceptual cut points
DIFFAUGMENT_POLICIES: tuple[str, ...] = ("color", "translation", "cutout")  # gankit.data.d_augment


# --------------------------------------------------------------------------- gan: z -> sample


@dataclass
class ModelConfig:
    """Architecture of G and D (task gan)."""

    arch: str = "dcgan"  # mlp | dcgan | stylegan2
    z_dim: int = 100
    z_categories: int = 0  # a categorical code of this many values beside z (0 = off); see gankit.latent
    width: float = 1.0  # dcgan: channel multiplier (1.0 = 64 base channels)
    max_channels: int = 512  # dcgan, stylegan2: cap on channels per layer
    g_hidden: list[int] = field(default_factory=lambda: [256, 512, 1024])  # mlp only
    d_hidden: list[int] = field(default_factory=lambda: [512, 256])  # mlp only
    g_norm: str = "batch"  # batch | none
    d_norm: str = "batch"  # batch | layer | none
    spectral_norm: bool = False  # spectral normalization on every layer of D
    pack: int = 1  # PacGAN (Lin et al. 2018): D judges packs of this many samples at once (1 = off)
    conditional: bool = False  # class labels into G and D (needs a labelled dataset)
    cond_d: str = "projection"  # concat | projection
    embed_dim: int = 0  # G's label embedding size (0 = number of classes)
    # stylegan2 (Karras et al. 2020; docs/stylegan2.md): channels at resolution r are min(channel_base // r,
    # max_channels); z is normalized, mapped to w by an MLP, and w modulates every convolution
    w_dim: int = 512  # stylegan2: size of w (the mapping network's width)
    mapping_layers: int = 8  # stylegan2: layers of the mapping network
    mapping_lr_mult: float = 0.01  # stylegan2: the mapping network's learning-rate multiplier
    channel_base: int = 16384  # stylegan2: channels at resolution r = min(channel_base // r, max_channels)
    style_mixing: float = 0.9  # stylegan2: probability that a training batch mixes two w's at a random layer
    modconv: str = "batched"  # stylegan2: modulated convolution as a grouped conv or scaled inputs (same maths)
    mbstd_group: int = 4  # stylegan2: D's minibatch standard deviation over groups of this many samples
    # progressive growing (Karras et al. 2018; dcgan and stylegan2): start at this resolution (0 = off), train
    # grow_stable real images there, then fade in each doubling over grow_fade images and train grow_stable at it
    grow_start: int = 0
    grow_fade: int = 100_000
    grow_stable: int = 100_000


@dataclass
class LossConfig:
    """The adversarial loss and the regularizers that change D's objective (task gan)."""

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
    # path-length regularization (Karras et al. 2020, StyleGAN2 section 3.2; model.arch=stylegan2 only): a lazy
    # G phase every pl_every steps, on batch_size // pl_batch_shrink samples, adds
    # pl_weight * pl_every * E[(||J_w^T y|| - a)^2], a the running mean of the lengths (decay pl_decay)
    pl_weight: float = 0.0  # 0 = off; the paper: 2
    pl_every: int = 4
    pl_decay: float = 0.01
    pl_batch_shrink: int = 2


# --------------------------------------------------------------------------- image-to-image translation


@dataclass
class Pix2PixModelConfig:
    """Generator and PatchGAN discriminator of an image-to-image translator (task pix2pix; Isola et al. 2017)."""

    generator: str = "unet"  # unet (encoder-decoder with skips) | resnet (Johnson et al. 2016 residual blocks)
    width: int = 64  # G's first-layer channels (ngf); doubled at each downsampling up to max_channels
    max_channels: int = 512  # cap on G's and D's channels (8 * 64 in the papers)
    depth: int = 0  # unet: downsamplings (0 = down to 1x1: log2(resolution)); resnet: 2 always
    resnet_blocks: int = 9  # resnet: residual blocks at the lowest resolution (6 or 9 in the CycleGAN paper)
    norm: str = "instance"  # instance | batch | layer | none: G's and D's normalization
    dropout: float = 0.5  # unet: in the decoder layers next to the bottleneck; resnet: inside each block
    # G's output as a change of its input, tanh(atanh(x) + h), with the last layer zero-initialized: G starts as
    # the identity map (not in the papers; needs as many output channels as input ones)
    residual_output: bool = False
    d_width: int = 64  # D's first-layer channels (ndf)
    # PatchGAN: stride-2 convolutions; each patch logit sees 16 (1), 34 (2), 70 (3) or 142 (4) pixels;
    # 0 = about the paper's 70/256 of the image side (1 at 64 px, 2 at 128, 3 at 256)
    d_layers: int = 0
    d_conditional: bool = True  # D judges (input, output) pairs (pix2pix); false: the output alone


@dataclass
class Pix2PixLossConfig:
    """Conditional adversarial loss + lambda * L1 (Isola et al. 2017, eq. 4)."""

    name: str = "nonsaturating"  # the adversarial loss: minimax | nonsaturating | lsgan | wasserstein | hinge
    gan_weight: float = 1.0  # weight of G's adversarial term
    l1_weight: float = 100.0  # lambda: weight of ||y - G(x)||_1 (100 in the paper)


@dataclass
class CycleGANModelConfig(Pix2PixModelConfig):
    """Two generators (A -> B and B -> A) and two PatchGAN discriminators (task cyclegan; Zhu et al. 2017)."""

    generator: str = "resnet"
    dropout: float = 0.0
    d_conditional: bool = False  # unpaired: there is no input to pair D's image with


@dataclass
class CycleGANLossConfig:
    """LSGAN loss, cycle consistency and identity (Zhu et al. 2017), and D's history of generated images."""

    name: str = "lsgan"  # the adversarial loss
    # weight of G's adversarial term; 2 makes it the paper's E[(D(G(x)) - 1)^2], twice Mao et al.'s 1/2 (D - 1)^2
    # that loss.name=lsgan computes
    gan_weight: float = 2.0
    cycle_weight: float = 10.0  # lambda: ||F(G(x)) - x||_1 + ||G(F(y)) - y||_1
    identity_weight: float = 0.5  # identity term ||G(y) - y||_1 + ||F(x) - x||_1, in units of lambda (0 = off)
    pool_size: int = 50  # D sees generated images drawn from a history of this many (0 = the newest only)


# --------------------------------------------------------------------------- super-resolution


@dataclass
class SRModelConfig:
    """A super-resolution generator and its discriminator (task sr; Ledig et al. 2017, Wang et al. 2018)."""

    generator: str = "rrdb"  # srresnet (SRGAN's generator) | rrdb (ESRGAN's residual-in-residual dense blocks)
    scale: int = 4  # upscaling factor: 2, 4 or 8
    width: int = 64  # feature channels of G's trunk
    blocks: int = 16  # residual blocks (srresnet) or RRDBs (rrdb; 23 in ESRGAN)
    growth: int = 32  # rrdb: channels each dense layer adds
    norm: str = "none"  # srresnet: batch (as in SRGAN) | none (as EDSR/ESRGAN, which find batch norm harmful)
    residual: str = "none"  # none (as the papers) | bicubic: G adds its output to the bicubic upscale (VDSR)
    discriminator: str = "vgg"  # vgg (SRGAN/ESRGAN: one logit per patch) | unet (Real-ESRGAN: one per pixel)
    d_width: int = 64  # D's first-layer channels
    d_stages: int = 4  # D's stride-2 stages (each halves the image; Real-ESRGAN's U-Net: 3)
    d_norm: str = "batch"  # vgg: batch | none (the U-Net always uses spectral norm, as Real-ESRGAN)
    d_spectral_norm: bool = False  # vgg: spectral norm instead of d_norm


@dataclass
class SRLossConfig:
    """Pixel, perceptual and adversarial terms of G's loss (ESRGAN, Wang et al. 2018, eq. 3). With gan_weight 0
    there is no discriminator: the PSNR-oriented stage."""

    name: str = "ragan"  # the adversarial loss: ragan (relativistic average, ESRGAN) or one of LOSS_NAMES
    pixel_weight: float = 1.0  # weight of mean |y - G(x)| (ESRGAN: 1e-2 in its GAN stage)
    perceptual_weight: float = 0.0  # weight of the Inception-feature L1 (ESRGAN's VGG term: 1)
    perceptual_layer: str = "conv2d_4a"  # the cut point of gankit.nets.perceptual (FID Inception-v3 layers)
    perceptual_resize: float = 1.0  # enlarge patches (bilinear) by this factor before the Inception stem
    gan_weight: float = 0.0  # weight of G's adversarial term (ESRGAN: 5e-3); 0 = no D (PSNR-oriented training)


@dataclass(frozen=True)
class Family:
    """What the config knows of a family: its two sections and the data kinds it trains on."""

    model: type
    loss: type
    data: tuple[str, ...]
    description: str


FAMILIES: dict[str, Family] = {
    "gan": Family(ModelConfig, LossConfig,
                  ("mnist", "fashion-mnist", "digits", "folder", "fluent-emoji-3d", "ring", "grid"),
                  "noise (and labels) -> samples: MLP GAN, DCGAN, conditional GAN, StyleGAN2"),
    "pix2pix": Family(Pix2PixModelConfig, Pix2PixLossConfig, ("emoji-pairs", "paired-folder"),
                      "paired image-to-image translation (Isola et al. 2017)"),
    "cyclegan": Family(CycleGANModelConfig, CycleGANLossConfig, ("emoji-pairs", "paired-folder", "unpaired-folder"),
                       "unpaired image-to-image translation (Zhu et al. 2017)"),
    "sr": Family(SRModelConfig, SRLossConfig, ("fluent-emoji-3d", "folder"),
                 "single-image super-resolution: SRResNet/SRGAN (Ledig et al. 2017), RRDB/ESRGAN (Wang et al. 2018)"),
}
