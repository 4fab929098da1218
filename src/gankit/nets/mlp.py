"""The MLP GAN of Goodfellow et al. (2014): fully connected G and D on flattened data."""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit.nets.layers import DiscriminatorHead, label_embedding, mlp_stack


class MLPGenerator(nn.Module):
    """z -> hidden layers with LeakyReLU(0.2) -> data; Tanh on images, linear on 2-D points."""

    def __init__(
        self,
        z_dim: int,
        out_shape: tuple[int, ...],
        hidden: list[int],
        norm: str = "none",
        tanh: bool = True,
        num_classes: int = 0,
        embed_dim: int = 0,
    ):
        super().__init__()
        self.z_dim = z_dim
        self.out_shape = tuple(out_shape)
        self.num_classes = num_classes
        self.cond = label_embedding(num_classes, embed_dim)
        layers, width = mlp_stack(z_dim + (self.cond.dim if self.cond else 0), hidden, norm)
        layers.append(nn.Linear(width, math.prod(self.out_shape)))
        if tanh:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.cond is not None:
            z = self.cond(z, labels)
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """Flattened data -> hidden layers with LeakyReLU(0.2) -> one logit.

    Conditioning: ``concat`` appends the one-hot label to the input; ``projection`` adds
    <embed(y), h> to the output (Miyato & Koyama 2018).
    """

    def __init__(
        self,
        in_shape: tuple[int, ...],
        hidden: list[int],
        norm: str = "none",
        num_classes: int = 0,
        cond: str = "projection",
    ):
        super().__init__()
        self.num_classes = num_classes
        self.concat = num_classes > 0 and cond == "concat"
        layers, width = mlp_stack(math.prod(in_shape) + (num_classes if self.concat else 0), hidden, norm)
        self.features = nn.Sequential(*layers)
        self.head = DiscriminatorHead(width, num_classes if (num_classes and not self.concat) else 0)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = x.flatten(1)
        if self.concat:
            onehot = nn.functional.one_hot(labels, self.num_classes).to(h.dtype)
            h = torch.cat([h, onehot], dim=1)
        return self.head(self.features(h), None if self.concat else labels)
