"""StyleGAN2 networks (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"), in plain
PyTorch: no custom CUDA or C++ ops.

* Equalized learning rate (Karras et al. 2018, "Progressive Growing of GANs", section 4.1): every weight is stored
  ~ N(0, 1) and scaled at run time by He's constant 1/sqrt(fan_in) (:class:`EqualLinear`, :class:`EqualConv2d`),
  so Adam's per-parameter step sizes are the same for all layers. ``lr_mult`` (the mapping network's 0.01) stores
  weights divided by it and multiplies them back at run time, which slows those layers' learning by that factor.
  ``lrelu`` is LeakyReLU(0.2) times sqrt(2), which keeps the signal's magnitude.
* :class:`StyleGAN2Generator`: z (and a label) -> a mapping network of ``mapping_layers`` dense layers -> w, the same
  w for every layer of the synthesis network (``num_ws = 2 log2(R) - 2`` of them: two per resolution from 8 up, one
  conv and one toRGB at 4x4, each toRGB sharing its w with the next block's first conv). Synthesis: a learned 4x4
  constant; one modulated 3x3 conv at 4x4; then per resolution 8..R an x2 upsampling and two modulated 3x3 convs.
  Modulation/demodulation (the paper's section 2.2, eq. 1-3) replaces AdaIN: the style s = affine(w) scales the conv
  weight's input channels, and each output channel's weight is divided by its L2 norm, which restores unit
  output variance for unit input without normalizing the activations themselves (the cause of StyleGAN's
  "droplet" artefacts). Per-pixel noise times a learned strength, a bias and ``lrelu`` follow each conv. The skip
  architecture (section 4.1): each resolution's toRGB (a modulated 1x1 conv, not demodulated) is added to the
  upsampled image so far. Training uses style mixing (two w's, a random crossover) and tracks the average w for the
  truncation trick (``psi``).
* :class:`StyleGAN2Discriminator`: the residual architecture (section 4.1): fromRGB at the input resolution, then per
  resolution R..8 two 3x3 convs (the second down-sampling) plus a 1x1 skip, summed and scaled by sqrt(0.5); at 4x4
  a minibatch standard deviation layer (Karras et al. 2018, section 3), a 3x3 conv and two dense layers to one
  logit, or projection conditioning (Miyato & Koyama 2018): out = <h, embed(y)> / sqrt(cmap_dim).

Simplifications against the paper's official code:

* G upsamples with ``F.interpolate(mode="bilinear", align_corners=False)`` and then runs a same-size conv, instead of
  a stride-2 transposed conv followed by the [1, 3, 3, 1] FIR filter. Bilinear x2 upsampling *is* the [1, 3, 3, 1]
  filter (the weights 1/4 and 3/4 on the two nearest source pixels); it differs only at the border (edge pixels are
  repeated rather than zero-padded) and in costing a conv at the output resolution rather than the input one.
* D down-samples as the paper does: a [1, 3, 3, 1] (outer product, normalized) depthwise blur, then the conv at
  stride 2. This costs a quarter of a full-resolution conv followed by ``avg_pool2d(2)``.
* No fp16 clamping of activations, no path-length or R1 regularizers here (those live with the losses).

Progressive growing hooks (Karras et al. 2018), for a later task: ``synthesis(stop_at=r, alpha=a)`` stops at
resolution r and fades its last toRGB in by a; D takes images at any resolution 8..R through a per-resolution
fromRGB and blends with the next lower one when ``alpha < 1``. At the defaults both are plain StyleGAN2.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gankit.nets.growing import upsample_to
from gankit.nets.layers import soft_onehot

SQRT2 = math.sqrt(2.0)
ACTIVATIONS = ("linear", "lrelu")
MODCONV_IMPLS = ("batched", "grouped")
NOISE_MODES = ("random", "const", "none")


def _check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * SQRT2


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row to unit mean square (the mapping network's input normalization)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def stylegan2_channels(resolution: int, channel_base: int, channel_max: int) -> int:
    """Feature channels at a resolution: ``min(channel_base // resolution, channel_max)``."""
    return min(channel_base // resolution, channel_max)


def _check_resolution(resolution: int) -> int:
    """log2(resolution) for a power of two in [8, 256]."""
    if resolution < 8 or resolution > 256 or resolution & (resolution - 1):
        raise ValueError(f"StyleGAN2 resolution must be a power of two in [8, 256], got {resolution}")
    return resolution.bit_length() - 1


def _upsample(x: torch.Tensor) -> torch.Tensor:
    # Bilinear x2 = the [1, 3, 3, 1] FIR filter on the zero-stuffed image, up to the border handling.
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class EqualLinear(nn.Module):
    """Dense layer with equalized learning rate; effective weight = stored * lr_mult / sqrt(in_features),
    effective bias = stored * lr_mult (it starts at ``bias_init``)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mult: float = 1.0, activation: str = "linear"):
        super().__init__()
        _check_activation(activation)
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mult)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mult)) if bias else None
        self.weight_gain = lr_mult / math.sqrt(in_features)
        self.bias_gain = lr_mult

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.bias_gain if self.bias is not None else None
        x = F.linear(x, self.weight * self.weight_gain, bias)
        return _lrelu(x) if self.activation == "lrelu" else x

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, activation={self.activation}"


class EqualConv2d(nn.Module):
    """Conv with equalized learning rate (weight scale 1/sqrt(in_ch * k * k)), "same" padding.

    ``down=True`` halves the resolution: a normalized [1, 3, 3, 1] depthwise blur (the low-pass), then the conv at
    stride 2, with the padding that keeps ``H -> H / 2`` exactly (the paper's down-sampling conv).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, bias: bool = True, activation: str = "linear",
                 down: bool = False):
        super().__init__()
        _check_activation(activation)
        if kernel % 2 == 0:
            raise ValueError(f"EqualConv2d needs an odd kernel, got {kernel}")
        self.in_ch, self.out_ch, self.kernel, self.activation, self.down = in_ch, out_ch, kernel, activation, down
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_ch * kernel * kernel)
        if down:
            f = torch.tensor([1.0, 3.0, 3.0, 1.0])
            f = torch.outer(f, f)
            self.register_buffer("blur", (f / f.sum())[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        if self.down:
            # 4-tap blur then a stride-2 k x k conv: total padding (4 - 2) + (k - 1), split evenly.
            pad = (self.kernel + 1) // 2
            c = x.shape[1]
            x = F.conv2d(x, self.blur.to(x.dtype).expand(c, 1, 4, 4), padding=pad, groups=c)
            x = F.conv2d(x, w, self.bias, stride=2)
        else:
            x = F.conv2d(x, w, self.bias, padding=self.kernel // 2)
        return _lrelu(x) if self.activation == "lrelu" else x

    def extra_repr(self) -> str:
        return f"{self.in_ch}, {self.out_ch}, kernel={self.kernel}, activation={self.activation}, down={self.down}"


class ModulatedConv2d(nn.Module):
    """The modulated (and demodulated) convolution of StyleGAN2, eq. 1-3; ``forward(x, w)`` is the conv alone (no
    noise, bias or activation: :class:`SynthesisLayer` adds those).

    s = affine(w) (bias starting at 1, so the initial styles are ~1); w'_oikk = w_oikk * s_i;
    demodulated: w''_oikk = w'_oikk / sqrt(sum_ikk w'_oikk^2 + 1e-8).

    ``impl="grouped"`` builds the per-sample weights and runs one conv with groups=B (the paper's code).
    ``impl="batched"`` scales the input by s, runs one ordinary conv with the shared weight and scales the output
    by the demodulation coefficients, which is the same linear map (the per-sample scaling commutes with the conv);
    it avoids materializing B weight tensors.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, w_dim: int, demodulate: bool = True,
                 impl: str = "batched"):
        super().__init__()
        if impl not in MODCONV_IMPLS:
            raise ValueError(f"modconv must be one of {MODCONV_IMPLS}, got {impl!r}")
        self.in_ch, self.out_ch, self.kernel, self.demodulate, self.impl = in_ch, out_ch, kernel, demodulate, impl
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.weight_gain = 1.0 / math.sqrt(in_ch * kernel * kernel)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)  # (B, in_ch)
        weight = self.weight * self.weight_gain
        b, pad = x.shape[0], self.kernel // 2
        if self.impl == "grouped":
            wb = weight[None] * styles[:, None, :, None, None]  # (B, out, in, k, k)
            if self.demodulate:
                wb = wb * (wb.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8).rsqrt()
            x = x.reshape(1, b * self.in_ch, *x.shape[2:])
            out = F.conv2d(x, wb.reshape(b * self.out_ch, self.in_ch, self.kernel, self.kernel), padding=pad,
                           groups=b)
            return out.reshape(b, self.out_ch, *out.shape[2:])
        out = F.conv2d(x * styles[:, :, None, None].to(x.dtype), weight, padding=pad)
        if self.demodulate:
            # sum_{i,kh,kw} (w_oi s_i)^2 = sum_i s_i^2 * sum_{kh,kw} w_oi^2: a (B, in) x (in, out) product.
            dcoefs = (styles.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8).rsqrt()
            out = out * dcoefs[:, :, None, None].to(out.dtype)
        return out

    def extra_repr(self) -> str:
        return f"{self.in_ch}, {self.out_ch}, kernel={self.kernel}, demodulate={self.demodulate}, impl={self.impl}"


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv, per-pixel noise times a learned strength (starting at 0), bias, ``lrelu``.

    The ``const`` noise is a buffer drawn at construction, so it is saved with the weights and a checkpoint renders
    the same images everywhere.
    """

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, resolution: int, impl: str = "batched"):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, w_dim, demodulate=True, impl=impl)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        x = self.conv(x, w)
        if noise_mode == "random":
            x = x + torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype) * self.noise_strength
        elif noise_mode == "const":
            x = x + self.noise_const.to(x.dtype) * self.noise_strength
        return _lrelu(x + self.bias[None, :, None, None])


class ToRGB(nn.Module):
    """Modulated 1x1 conv to image channels, not demodulated, plus bias; no activation."""

    def __init__(self, in_ch: int, channels: int, w_dim: int, impl: str = "batched"):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, channels, 1, w_dim, demodulate=False, impl=impl)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network. At 4x4: the learned constant and one conv; above: upsample x2 and
    two convs. Then a toRGB. Uses ``ws[:, w_index : w_index + num_conv + 1]`` (the toRGB's w is the last one)."""

    def __init__(self, in_ch: int, out_ch: int, channels: int, w_dim: int, resolution: int, w_index: int,
                 impl: str = "batched"):
        super().__init__()
        self.resolution, self.w_index = resolution, w_index
        if resolution == 4:
            self.const = nn.Parameter(torch.randn(out_ch, 4, 4))
            self.convs = nn.ModuleList([SynthesisLayer(out_ch, out_ch, w_dim, 4, impl)])
        else:
            self.const = None
            self.convs = nn.ModuleList([SynthesisLayer(in_ch, out_ch, w_dim, resolution, impl),
                                        SynthesisLayer(out_ch, out_ch, w_dim, resolution, impl)])
        self.torgb = ToRGB(out_ch, channels, w_dim, impl)

    def forward(self, x: torch.Tensor | None, ws: torch.Tensor, noise_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, ws) -> (features at this resolution, this block's toRGB image)."""
        if self.const is not None:
            x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        else:
            x = _upsample(x)
        for i, layer in enumerate(self.convs):
            x = layer(x, ws[:, self.w_index + i], noise_mode)
        return x, self.torgb(x, ws[:, self.w_index + len(self.convs)])


class StyleGAN2Generator(nn.Module):
    """z (B, z_dim) [, labels (B,)] -> image (B, channels, R, R), roughly in [-1, 1] (no output activation)."""

    def __init__(self, z_dim: int, w_dim: int, resolution: int, channels: int, channel_base: int, channel_max: int,
                 mapping_layers: int = 8, mapping_lr_mult: float = 0.01, num_classes: int = 0,
                 mixing_prob: float = 0.9, w_avg_beta: float = 0.995, modconv: str = "batched"):
        super().__init__()
        log2 = _check_resolution(resolution)
        if modconv not in MODCONV_IMPLS:
            raise ValueError(f"modconv must be one of {MODCONV_IMPLS}, got {modconv!r}")
        self.z_dim, self.w_dim, self.resolution, self.channels = z_dim, w_dim, resolution, channels
        self.num_classes, self.mixing_prob, self.w_avg_beta = num_classes, mixing_prob, w_avg_beta
        self.num_ws = 2 * log2 - 2

        # Mapping network. The label embedding is normalized like z, so neither dominates the first layer.
        self.embed = EqualLinear(num_classes, w_dim) if num_classes > 0 else None
        dims = [z_dim + (w_dim if num_classes > 0 else 0)] + [w_dim] * mapping_layers
        self.mapping_net = nn.Sequential(*(EqualLinear(a, b, lr_mult=mapping_lr_mult, activation="lrelu")
                                           for a, b in zip(dims[:-1], dims[1:])))
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.grow_resolution, self.grow_alpha = resolution, 1.0  # progressive growing (gankit.nets.growing)

        # Synthesis network: blocks[i] is resolution 2^(i+2); its first w index is 2i - 1 (0 at 4x4).
        self.blocks = nn.ModuleList()
        in_ch = 0
        for i in range(log2 - 1):
            res = 4 * 2**i
            out_ch = stylegan2_channels(res, channel_base, channel_max)
            self.blocks.append(SynthesisBlock(in_ch, out_ch, channels, w_dim, res, max(0, 2 * i - 1), modconv))
            in_ch = out_ch

    # --- mapping ---------------------------------------------------------------------------------------------

    def mapping(self, z: torch.Tensor, labels: torch.Tensor | None = None, psi: float = 1.0,
                cutoff: int | None = None, update_w_avg: bool = False) -> torch.Tensor:
        """z -> ws (B, num_ws, w_dim): the same w for every layer, truncated toward ``w_avg`` by ``psi`` in
        layers ``[:cutoff]``. ``update_w_avg`` moves ``w_avg`` toward this batch's mean w (an EMA, training only)."""
        x = normalize_2nd_moment(z)
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is conditional: pass labels")
            y = self.embed(soft_onehot(labels, self.num_classes, x.dtype))
            x = torch.cat([x, normalize_2nd_moment(y).to(x.dtype)], dim=1)
        w = self.mapping_net(x)
        if update_w_avg:
            with torch.no_grad():
                self.w_avg.copy_(w.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        ws = w[:, None, :].repeat(1, self.num_ws, 1)  # a copy, not a view: callers may edit single layers
        return self.truncate(ws, psi, cutoff)

    def truncate(self, ws: torch.Tensor, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
        """The truncation trick: ``w_avg + psi * (w - w_avg)`` in layers ``[:cutoff]`` (None: all)."""
        if psi == 1:
            return ws
        w_avg = self.w_avg.to(ws.dtype)
        truncated = w_avg + psi * (ws - w_avg)
        if cutoff is None:
            return truncated
        return torch.cat([truncated[:, :cutoff], ws[:, cutoff:]], dim=1)

    @staticmethod
    def mix_styles(ws_a: torch.Tensor, ws_b: torch.Tensor, crossover: int) -> torch.Tensor:
        """ws_a's layers before ``crossover``, ws_b's from it on."""
        return torch.cat([ws_a[:, :crossover], ws_b[:, crossover:]], dim=1)

    def training_ws(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The ws a training step uses: the mapping (updating ``w_avg``), and with probability ``mixing_prob`` style
        mixing regularization (section 3.4 of the StyleGAN paper): from a crossover uniform in [1, num_ws) on, the
        w of a second z (same labels). RNG draws, in order: ``torch.rand(())`` and ``torch.randint`` on the global
        CPU generator, then ``torch.randn_like(z)``."""
        ws = self.mapping(z, labels, update_w_avg=True)
        if self.mixing_prob > 0 and torch.rand(()).item() < self.mixing_prob:
            crossover = int(torch.randint(1, self.num_ws, ()).item())
            ws2 = self.mapping(torch.randn_like(z), labels)
            ws = self.mix_styles(ws, ws2, crossover)
        return ws

    # --- synthesis -------------------------------------------------------------------------------------------

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "random", stop_at: int | None = None,
                  alpha: float | None = None) -> torch.Tensor:
        """ws (B, num_ws, w_dim) -> image (B, channels, stop_at, stop_at). The last block's toRGB is faded in by
        ``alpha``: ``img = upsample(img_prev) + alpha * toRGB(x)`` (not applied at 4x4, where nothing precedes it).
        ``stop_at`` and ``alpha`` default to ``grow_resolution`` and ``grow_alpha`` (progressive growing; the full
        resolution and 1 unless :func:`gankit.nets.growing.set_growth` changed them)."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        stop_at = self.grow_resolution if stop_at is None else stop_at
        alpha = self.grow_alpha if alpha is None else alpha
        if stop_at < 4 or stop_at > self.resolution or stop_at & (stop_at - 1):
            raise ValueError(f"stop_at must be a power of two in [4, {self.resolution}], got {stop_at}")
        last = stop_at.bit_length() - 3
        x, img = None, None
        for i, block in enumerate(self.blocks[: last + 1]):
            x, rgb = block(x, ws, noise_mode)
            if img is None:
                img = rgb
            else:
                img = _upsample(img).to(rgb.dtype) + (alpha * rgb if i == last and alpha != 1 else rgb)
        return img

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None, psi: float = 1.0,
                cutoff: int | None = None, noise_mode: str | None = None) -> torch.Tensor:
        """Training mode: :meth:`training_ws` (w_avg update, style mixing), random noise by default. Eval mode: no
        mixing, no w_avg update, constant noise by default. ``psi`` truncates in both (default 1: none)."""
        if self.training:
            ws = self.truncate(self.training_ws(z, labels), psi, cutoff)
            return self.synthesis(ws, noise_mode or "random")
        ws = self.mapping(z, labels, psi, cutoff)
        # a network still growing: its image enlarged to the full size (grids, metrics)
        return upsample_to(self.synthesis(ws, noise_mode or "const"), self.resolution)


class DiscriminatorBlock(nn.Module):
    """Residual block: (conv3x3 lrelu, conv3x3 lrelu down) + 1x1 conv down (no bias), times sqrt(0.5)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv0 = EqualConv2d(in_ch, in_ch, 3, activation="lrelu")
        self.conv1 = EqualConv2d(in_ch, out_ch, 3, activation="lrelu", down=True)
        self.skip = EqualConv2d(in_ch, out_ch, 1, bias=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # sqrt(0.5) keeps the sum of two unit-variance branches at unit variance.
        return (self.skip(x) + self.conv1(self.conv0(x))) * math.sqrt(0.5)


class MinibatchStd(nn.Module):
    """Appends ``num_channels`` feature maps holding the standard deviation over a group of samples (Karras et al.
    2018, section 3): std over the group per feature and pixel, averaged over each channel slice and the pixels.

    Groups are consecutive samples. The group size is the largest divisor of B not above ``group_size`` (so any
    batch works; B = 1 gives std 0).
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g = min(self.group_size, b)
        while b % g:
            g -= 1
        f = self.num_channels
        y = x.reshape(b // g, g, f, c // f, h, w).float()
        y = (y.var(dim=1, unbiased=False) + 1e-8).sqrt()  # (n, F, c/F, H, W)
        y = y.mean(dim=(2, 3, 4))  # (n, F)
        y = y[:, None, :, None, None].expand(-1, g, -1, h, w).reshape(b, f, h, w)
        return torch.cat([x, y.to(x.dtype)], dim=1)


class StyleGAN2Discriminator(nn.Module):
    """image (B, channels, r, r) for any r in 8..R (``R = resolution``) [, labels (B,)] -> logits (B,)."""

    mixes_batch = True  # minibatch std: a sample's logit depends on the others in its group (keep real, fake apart)

    def __init__(self, channels: int, resolution: int, channel_base: int, channel_max: int, num_classes: int = 0,
                 mbstd_group: int = 4, mbstd_channels: int = 1):
        super().__init__()
        log2 = _check_resolution(resolution)
        self.channels, self.resolution, self.num_classes = channels, resolution, num_classes
        self.grow_resolution, self.grow_alpha = resolution, 1.0  # progressive growing (gankit.nets.growing)
        res_list = [2**i for i in range(log2, 2, -1)]  # R, R/2, ..., 8
        ch = {r: stylegan2_channels(r, channel_base, channel_max) for r in [*res_list, 4]}
        if ch[4] % mbstd_channels:
            raise ValueError(f"mbstd_channels ({mbstd_channels}) must divide the 4x4 channels ({ch[4]})")
        # One fromRGB per resolution (tiny), so progressive growing can enter at any block.
        self.from_rgb = nn.ModuleDict({str(r): EqualConv2d(channels, ch[r], 1, activation="lrelu") for r in res_list})
        self.blocks = nn.ModuleDict({str(r): DiscriminatorBlock(ch[r], ch[r // 2]) for r in res_list})
        self.mbstd = MinibatchStd(mbstd_group, mbstd_channels)
        self.conv = EqualConv2d(ch[4] + mbstd_channels, ch[4], 3, activation="lrelu")
        self.fc = EqualLinear(ch[4] * 16, ch[4], activation="lrelu")
        # Projection conditioning: the output layer gives a cmap_dim vector, scored against the label's embedding.
        self.cmap_dim = ch[4] if num_classes > 0 else 0
        self.out = EqualLinear(ch[4], self.cmap_dim or 1)
        self.embed = EqualLinear(num_classes, self.cmap_dim) if num_classes > 0 else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, alpha: float | None = None
                ) -> torch.Tensor:
        r = x.shape[-1]
        if alpha is None:  # progressive growing: the fade-in weight of the resolution being grown
            alpha = self.grow_alpha if r == self.grow_resolution else 1.0
        if str(r) not in self.blocks or x.shape[-2] != r:
            raise ValueError(f"input must be square with a power-of-two side in [8, {self.resolution}], "
                             f"got {tuple(x.shape[-2:])}")
        h = self.blocks[str(r)](self.from_rgb[str(r)](x))
        if alpha < 1 and r > 8:
            # Fade-in of a new top block (progressive growing): blend with the lower resolution's path.
            h = alpha * h + (1 - alpha) * self.from_rgb[str(r // 2)](F.avg_pool2d(x, 2))
        res = r // 2
        while res >= 8:
            h = self.blocks[str(res)](h)
            res //= 2
        h = self.conv(self.mbstd(h))
        out = self.out(self.fc(h.flatten(1)))
        if self.embed is None:
            return out.squeeze(1)
        if labels is None:
            raise ValueError("this discriminator is conditional: pass labels")
        cmap = self.embed(F.one_hot(labels, self.num_classes).to(out.dtype))
        return (out * cmap).sum(dim=1) / math.sqrt(self.cmap_dim)
