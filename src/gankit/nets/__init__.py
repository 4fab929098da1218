"""Architectures: ``build_networks`` gives the gan family's (G, D) by ``model.arch`` (mlp, dcgan, stylegan2);
``build_translator`` and ``build_patch_discriminator`` the translation families' generators and PatchGAN
discriminators."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from gankit.config import ModelConfig
from gankit.latent import Latent
from gankit.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from gankit.nets.mlp import MLPDiscriminator, MLPGenerator

Builder = Callable[[ModelConfig, tuple[int, ...], tuple[int, ...], int, bool], tuple[nn.Module, nn.Module]]
ARCHITECTURES: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    """Register ``(cfg, g_shape, d_shape, num_classes, is_image) -> (G, D)`` under ``name``.

    ``g_shape`` is the shape of one sample; ``d_shape`` what D takes (several samples stacked along
    the first axis when packing).
    """

    def wrap(fn: Builder) -> Builder:
        ARCHITECTURES[name] = fn
        return fn

    return wrap


@register("mlp")
def _mlp(cfg: ModelConfig, shape: tuple[int, ...], d_shape: tuple[int, ...], num_classes: int, is_image: bool):
    z_in = cfg.z_dim + cfg.z_categories
    g = MLPGenerator(z_in, shape, cfg.g_hidden, cfg.g_norm, is_image, num_classes, cfg.embed_dim)
    d = MLPDiscriminator(d_shape, cfg.d_hidden, cfg.d_norm, num_classes, cfg.cond_d)
    return g, d


@register("dcgan")
def _dcgan(cfg: ModelConfig, shape: tuple[int, ...], d_shape: tuple[int, ...], num_classes: int, is_image: bool):
    channels, resolution = shape[0], shape[1]
    z_in = cfg.z_dim + cfg.z_categories
    grow = cfg.grow_start > 0  # progressive growing: extra toRGB / fromRGB layers at the lower resolutions
    g = DCGANGenerator(z_in, channels, resolution, cfg.width, cfg.max_channels, cfg.g_norm, num_classes, cfg.embed_dim,
                       grow)
    d = DCGANDiscriminator(
        d_shape[0], resolution, cfg.width, cfg.max_channels, cfg.d_norm, num_classes, cfg.cond_d, grow
    )
    return g, d


@register("stylegan2")
def _stylegan2(cfg: ModelConfig, shape: tuple[int, ...], d_shape: tuple[int, ...], num_classes: int,
               is_image: bool):
    from gankit.nets.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator

    channels, resolution = shape[0], shape[1]
    g = StyleGAN2Generator(cfg.z_dim, cfg.w_dim, resolution, channels, cfg.channel_base, cfg.max_channels,
                           cfg.mapping_layers, cfg.mapping_lr_mult, num_classes, cfg.style_mixing, modconv=cfg.modconv)
    d = StyleGAN2Discriminator(channels, resolution, cfg.channel_base, cfg.max_channels, num_classes, cfg.mbstd_group)
    return g, d


def build_networks(
    cfg: ModelConfig, data_shape: tuple[int, ...], num_classes: int = 0, is_image: bool = True
) -> tuple[nn.Module, nn.Module]:
    """Build (G, D) for data of ``data_shape``; ``num_classes`` > 0 makes both conditional."""
    shape = tuple(data_shape)
    d_shape = (shape[0] * cfg.pack, *shape[1:])  # PacGAN: D sees `pack` samples stacked on the first axis
    g, d = ARCHITECTURES[cfg.arch](cfg, shape, d_shape, num_classes, is_image)
    g.latent = Latent(cfg.z_dim, cfg.z_categories)  # what G takes, for everything that samples it
    if cfg.spectral_norm:
        from gankit.regularizers import apply_spectral_norm

        apply_spectral_norm(d)
    return g, d


def build_translator(cfg, in_channels: int, out_channels: int, resolution: int) -> nn.Module:
    """An image-to-image generator from a translation family's ``model`` section: ``unet`` (pix2pix) or
    ``resnet`` (CycleGAN)."""
    from gankit.nets.resnet_gen import ResnetGenerator
    from gankit.nets.unet import UNetGenerator

    if cfg.generator == "unet":
        return UNetGenerator(in_channels, out_channels, resolution, cfg.width, cfg.max_channels, cfg.depth,
                             cfg.norm, cfg.dropout, cfg.residual_output)
    return ResnetGenerator(in_channels, out_channels, cfg.width, cfg.resnet_blocks, cfg.max_channels, cfg.norm,
                           cfg.dropout, cfg.residual_output)


def build_patch_discriminator(cfg, in_channels: int, resolution: int) -> nn.Module:
    """A PatchGAN from a translation family's ``model`` section (``d_layers`` 0: the paper's share of the image)."""
    from gankit.nets.patchgan import PatchDiscriminator, patch_layers_for

    layers = cfg.d_layers or patch_layers_for(resolution)
    return PatchDiscriminator(in_channels, cfg.d_width, layers, cfg.max_channels, cfg.norm)
