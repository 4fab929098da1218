"""Small pieces shared by the architectures: norms, init, label conditioning."""

from __future__ import annotations

import torch
from torch import nn


def norm_1d(kind: str, features: int) -> nn.Module:
    """A normalization for (B, F) activations: ``batch``, ``layer`` or ``none``."""
    if kind == "batch":
        return nn.BatchNorm1d(features)
    if kind == "layer":
        return nn.LayerNorm(features)
    return nn.Identity()


def norm_2d(kind: str, channels: int) -> nn.Module:
    """A normalization for (B, C, H, W) activations: ``batch``; ``layer`` over (C, H, W); ``instance`` over
    (H, W) per sample and channel, without learned scale and shift (as the pix2pix/CycleGAN code uses it,
    Ulyanov et al. 2016); ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


class _FlattenFn(torch.autograd.Function):
    """(B, C, H, W) -> (B, C*H*W) in C, H, W order; the gradient goes back in the input's memory layout."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.shape = x.shape
        ctx.channels_last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last)
        return x.flatten(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.reshape(ctx.shape)
        return grad.contiguous(memory_format=torch.channels_last) if ctx.channels_last else grad


class Flatten(nn.Module):
    """``nn.Flatten(1)`` that keeps a channels_last input's layout for its gradient.

    A plain flatten hands back an NCHW gradient, and the element-wise backward before it (LeakyReLU) then
    mixes an NCHW gradient with a channels_last activation, a slow path in PyTorch (measured: about 30x
    slower than with matching layouts). The values are the same either way.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _FlattenFn.apply(x)


def dcgan_init_(module: nn.Module) -> None:
    """Weights ~ N(0, 0.02), norm scales ~ N(1, 0.02), biases 0 (Radford et al. 2016, section 4)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
            if m.weight is not None:
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)


# inputs are scaled by this before atanh so that a pure white or black pixel (+-1) stays finite
_RESIDUAL_SQUASH = 0.999


def residual_tanh(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """tanh(atanh(0.999 x) + h): an image-to-image generator's output as a change ``h`` of its input ``x`` (both
    in [-1, 1] image space, same shape) made in the pre-tanh space, so that h = 0 returns the input (times 0.999)
    and the output stays in (-1, 1). With the last layer zero-initialized, the generator starts as the identity
    map."""
    z = x.clamp(-1.0, 1.0) * _RESIDUAL_SQUASH
    return torch.tanh(0.5 * torch.log((1 + z) / (1 - z)) + h)  # atanh written out: ONNX export has no atanh


def check_residual_channels(in_channels: int, out_channels: int) -> None:
    """A residual output adds to the input, so it needs as many output channels as input ones."""
    if in_channels != out_channels:
        raise ValueError(f"a residual output needs as many output channels as input ones ({in_channels}), "
                         f"not {out_channels}")


def zero_init_(layer: nn.Module) -> None:
    """Weights and bias of ``layer`` set to 0 (the last layer of a generator that starts as the identity map)."""
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


def soft_onehot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """Class labels (B,) as one-hot rows, or soft labels (B, num_classes) of class weights as they are.

    Soft labels let inference morph between classes: a conditional G sees the weighted mix of their embeddings.
    """
    if labels.is_floating_point():
        if labels.dim() != 2 or labels.shape[1] != num_classes:
            raise ValueError(f"soft labels must be (batch, {num_classes}), got {tuple(labels.shape)}")
        return labels.to(dtype)
    return nn.functional.one_hot(labels, num_classes).to(dtype)


class LabelEmbedding(nn.Module):
    """Class label -> learned vector, concatenated to G's noise (Mirza & Osindero 2014).

    Soft labels (B, num_classes) give the same weighted mix of the class vectors (:func:`soft_onehot`)."""

    def __init__(self, num_classes: int, dim: int = 0):
        super().__init__()
        self.dim = dim or num_classes
        self.embed = nn.Embedding(num_classes, self.dim)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if labels.is_floating_point():
            vec = soft_onehot(labels, self.embed.num_embeddings, self.embed.weight.dtype) @ self.embed.weight
        else:
            vec = self.embed(labels)
        return torch.cat([z, vec.to(z.dtype)], dim=1)


def label_embedding(num_classes: int, dim: int = 0) -> LabelEmbedding | None:
    """G's label embedding (``dim`` 0 means one dimension per class), or None when unconditional."""
    return LabelEmbedding(num_classes, dim) if num_classes else None


def mlp_stack(width: int, hidden: list[int], norm: str) -> tuple[list[nn.Module], int]:
    """Linear layers of the given sizes with LeakyReLU(0.2), normalized after all but the first."""
    layers: list[nn.Module] = []
    for i, size in enumerate(hidden):
        layers.append(nn.Linear(width, size))
        if i > 0:
            layers.append(norm_1d(norm, size))
        layers.append(nn.LeakyReLU(0.2))
        width = size
    return layers, width


class DiscriminatorHead(nn.Module):
    """D's output from its features h: ``w.h + b``, plus ``<embed(y), h>`` for projection.

    The projection discriminator of Miyato & Koyama (2018): D(x, y) = psi(phi(x)) + y^T V phi(x).
    """

    def __init__(self, features: int, num_classes: int = 0):
        super().__init__()
        self.linear = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features) if num_classes > 0 else None
        if self.embed is not None:
            # Embedding's default N(0, 1) over thousands of features would make <embed(y), h>
            # dwarf the unconditional term at the start; start it as small as the linear part.
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, h: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.linear(h).squeeze(1)
        if self.embed is not None:
            if labels is None:
                raise ValueError("this discriminator is conditional: pass labels")
            out = out + (self.embed(labels) * h).sum(dim=1)
        return out
