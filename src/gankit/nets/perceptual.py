"""A perceptual loss on features of the FID Inception-v3, standing in for the VGG19 features of SRGAN and ESRGAN.

SRGAN (Ledig et al. 2017) and ESRGAN (Wang et al. 2018) compare output and target in the feature space of an
ImageNet VGG19 (ESRGAN: conv5_4, before its activation). VGG weights cannot be fetched on the machines gankit is
built on; the one pretrained ImageNet network that can be is the FID Inception-v3 (``gankit fetch inception``:
the TensorFlow 2015-12-05 weights as TorchScript, see :mod:`gankit.metrics.features`). Its stem is a chain of
convolutions, each a 3x3 (or 1x1) conv, a batch norm without scale and a ReLU, fused in the script; the weights
are read out of the script and the chain is run here, so that the features can be taken *before* the last ReLU,
as ESRGAN prefers (post-activation features are sparse and weaker as a loss):

* ``conv2d_2b``: after Conv2d_1a (3x3 stride 2), Conv2d_2a (3x3) and Conv2d_2b (3x3, padded): 64 channels at
  about 1/2 of the input's size; low-level edges and texture.
* ``conv2d_4a``: then a 3x3 stride-2 max-pool, Conv2d_3b (1x1) and Conv2d_4a (3x3): 192 channels at about 1/4;
  mid-level structure (closest in depth to what VGG's conv3-conv4 layers see).

Differences from the papers: Inception's features, not VGG19's; taken at the input's own resolution by default (the
papers feed 96-128 px patches to VGG at that size too, but Inception was trained on 299 px images; ``resize``
enlarges the patches bilinearly first, at a cost of resize**2 in the stem's compute); a shallower cut
than conv5_4, because the deeper Inception blocks halve the map to a few pixels at patch sizes that train on a
CPU. Images enter as Inception's TensorFlow preprocessing expects: 8-bit values v -> v / 128 - 1.

The loss is the mean absolute difference of the features (ESRGAN's L1), target features without gradient. The
network is frozen and kept out of ``state_dict`` (its weights belong to the Inception file, not to a run).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import GankitError

LAYERS = {"conv2d_2b": ("conv", "conv_1", "conv_2"),
          "conv2d_4a": ("conv", "conv_1", "conv_2", "pool0", "conv_3", "conv_4")}
BN_EPS = 0.001  # the scripted layers' batch norm epsilon


class InceptionPerceptual(nn.Module):
    """Pre-activation Inception-v3 stem features of images in [-1, 1], and the L1 loss between two batches."""

    def __init__(self, path: str | Path | None = None, layer: str = "conv2d_4a", resize: float = 1.0):
        super().__init__()
        from gankit.metrics.features import inception_path

        if layer not in LAYERS:
            raise GankitError(f"perceptual layer {layer!r}: choose one of {', '.join(LAYERS)}")
        path = Path(path) if path else inception_path()
        if not path.is_file():
            raise GankitError(f"the perceptual loss needs the FID Inception weights, not found at {path}: run "
                              "gankit fetch inception")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            script = torch.jit.load(str(path), map_location="cpu")
        stem = script.net.layers
        self.layer = layer
        self.resize = float(resize)
        # (weight, mean, var, beta, stride, padding) per conv, or None for the max-pool; plain attributes, so that
        # they are neither trained nor saved
        self._ops: list[tuple | None] = []
        for name in LAYERS[layer]:
            if name.startswith("pool"):
                self._ops.append(None)
                continue
            m = getattr(stem, name)
            self._ops.append((m.weight.detach().clone(), m.mean.detach().clone(), m.var.detach().clone(),
                              m.beta.detach().clone(), int(m.stride), int(m.padding)))
        self._device = torch.device("cpu")

    def _to(self, device: torch.device) -> None:
        if device != self._device:
            self._ops = [None if op is None else tuple(t.to(device) if torch.is_tensor(t) else t for t in op)
                         for op in self._ops]
            self._device = device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> features before the cut point's ReLU."""
        self._to(x.device)
        h = ((x.float() + 1) * 127.5) / 128.0 - 1.0  # model space -> 8-bit values -> TF Inception's range
        if self.resize != 1.0:  # nearer the scale Inception was trained at (and FID's 299 px resize sees)
            h = F.interpolate(h, scale_factor=self.resize, mode="bilinear", align_corners=False)
        last = len(self._ops) - 1
        for i, op in enumerate(self._ops):
            if op is None:
                h = F.max_pool2d(h, 3, 2)
                continue
            weight, mean, var, beta, stride, padding = op
            h = F.conv2d(h, weight.to(h.dtype), None, stride, padding)
            h = F.batch_norm(h.float(), mean, var, None, beta, False, 0.0, BN_EPS)
            if i < last:
                h = F.relu(h)
        return h

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """mean |phi(output) - phi(target)|, phi(target) without gradient."""
        with torch.no_grad():
            want = self(target)
        return (self(output).float() - want.float()).abs().mean()
