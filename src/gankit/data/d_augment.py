"""Differentiable augmentations of D's inputs, real and generated alike, for training on small datasets.

D sees every image (real or from G) through the same random augmentation, so it cannot memorise the few real
images, and G, trained through the augmentation (every op here is differentiable in the images), is never
pushed to produce augmented-looking images as long as the augmentations are "non-leaking".

* DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"): colour
  (brightness, saturation, contrast), integer translation with zero fill and cutout, applied to every image.
* ADA (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data"): a subset of the paper's
  pipeline, each op applied to each image with probability p, and the controller that adapts p from the
  overfitting heuristic r_t = E[sign(D(real))] (:class:`AdaptiveAugment`).

Images are (B, C, H, W) in [-1, 1] (model space) with C = 1, 3 or a multiple of 3 (a pair of images stacked on
channels): the colour ops act on every group of 3 channels with the same parameters; with C = 1 the colour ops
that need RGB (saturation, hue, luma flip) are skipped. Everything is whole-batch tensor work on the images'
device with no host synchronisation (it runs every step): per-sample choices are masks and ``torch.where``, and
the random draws use ``generator`` when one is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

DIFFAUGMENT_POLICIES: tuple[str, ...] = ("color", "translation", "cutout")
ADA_GEOMETRIC_OPS: tuple[str, ...] = (
    "xflip",
    "rotate90",
    "int_translation",
    "iso_scale",
    "aniso_scale",
    "frac_translation",
)
ADA_COLOR_OPS: tuple[str, ...] = ("brightness", "contrast", "lumaflip", "hue", "saturation")
ADA_OPS: tuple[str, ...] = ADA_GEOMETRIC_OPS + ADA_COLOR_OPS
D_AUGMENT_KINDS: tuple[str, ...] = ("none", "diffaugment", "ada")

_RGB_ONLY_OPS = frozenset({"lumaflip", "hue", "saturation"})  # meaningless (or skipped) on one grey channel

# ADA's strengths (Karras et al. 2020, appendix B); log-normal factors are drawn as 2^N(0, std^2), i.e. with a
# standard deviation of std * ln 2 in natural log
_INT_TRANSLATION_MAX = 0.125  # of the image size
_SCALE_STD = 0.2  # log2 of the isotropic and of the anisotropic scale
_FRAC_TRANSLATION_STD = 0.125  # of the image size
_BRIGHTNESS_STD = 0.2
_CONTRAST_STD = 0.5  # log2
_SATURATION_STD = 1.0  # log2

P_MAX = 1.0 - 1e-6  # AdaptiveAugment keeps p below 1: at p = 1 every image would always be augmented


def _check_names(names: Iterable[str], valid: tuple[str, ...], what: str) -> tuple[str, ...]:
    """``names`` as a tuple, each one of ``valid`` (a lone string is refused: it would iterate over letters)."""
    if isinstance(names, str):
        raise ValueError(f"{what}: expected a tuple of names, got the string {names!r}; choose from {valid}")
    names = tuple(names)
    bad = [n for n in names if n not in valid]
    if bad:
        raise ValueError(f"unknown {what} {', '.join(map(repr, bad))}: choose from {', '.join(valid)}")
    return names


def _rgb_groups(x: Tensor) -> int:
    """How many RGB triples the channels of (B, C, H, W) ``x`` hold: 0 for one grey channel."""
    if x.dim() != 4:
        raise ValueError(f"expected images (B, C, H, W), got shape {tuple(x.shape)}")
    c = x.shape[1]
    if c == 1:
        return 0
    if c % 3:
        raise ValueError(f"expected 1 channel or a multiple of 3 (RGB, or RGB images stacked), got {c}")
    return c // 3


def _rand(n: int, x: Tensor, generator: torch.Generator | None) -> Tensor:
    """n draws of U[0, 1) on ``x``'s device, in float32 so that a seeded run draws the same at every precision."""
    return torch.rand(n, generator=generator, device=x.device)


def _randn(n: int, x: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(n, generator=generator, device=x.device)


# --------------------------------------------------------------------------- DiffAugment


def _diff_color(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5): DiffAugment's colour op.

    Draws, in this order, the brightness, saturation and contrast of every sample (``torch.rand(B)`` each; the
    saturation is drawn even for grey images so that seeded draws do not depend on C). Saturation scales each
    pixel's deviation from its mean over the 3 channels, contrast each group's deviation from its mean over
    channels and pixels.
    """
    b, groups = x.shape[0], _rgb_groups(x)
    brightness = (_rand(b, x, generator) - 0.5).to(x.dtype).view(b, 1, 1, 1, 1)
    saturation = (_rand(b, x, generator) * 2).to(x.dtype).view(b, 1, 1, 1, 1)
    contrast = (_rand(b, x, generator) + 0.5).to(x.dtype).view(b, 1, 1, 1, 1)
    xg = x.unflatten(1, (max(groups, 1), -1)) + brightness  # (B, G, 3 or 1, H, W)
    if groups:
        mean = xg.mean(dim=2, keepdim=True)
        xg = (xg - mean) * saturation + mean
    mean = xg.mean(dim=(2, 3, 4), keepdim=True)
    xg = (xg - mean) * contrast + mean
    return xg.flatten(1, 2)


def shift_zero_fill(x: Tensor, ty: Tensor, tx: Tensor) -> Tensor:
    """out[b, :, i, j] = x[b, :, i - ty[b], j - tx[b]], 0 where that pixel is outside the image.

    ``ty`` and ``tx`` are integer tensors of shape (B,): the content moves down by ty and right by tx. A gather
    (differentiable in ``x``) and a mask: no padding copy, no per-sample loop.
    """
    b, c, h, w = x.shape
    rows = torch.arange(h, device=x.device) - ty.view(b, 1)  # (B, H) source rows
    cols = torch.arange(w, device=x.device) - tx.view(b, 1)  # (B, W) source columns
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    out = x.gather(2, rows.clamp(0, h - 1)[:, None, :, None].expand(b, c, h, w))
    out = out.gather(3, cols.clamp(0, w - 1)[:, None, None, :].expand(b, c, h, w))
    return out.masked_fill(~inside[:, None], 0)


def _diff_translation(x: Tensor, generator: torch.Generator | None, ratio: float = 0.125) -> Tensor:
    """Integer shifts uniform in [-s, s] per axis, s = round(size / 8), zero fill: DiffAugment's translation.

    Draws the row shifts (``torch.randint(-s_h, s_h + 1, (B,))``), then the column shifts.
    """
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b,), generator=generator, device=x.device)
    tx = torch.randint(-sw, sw + 1, (b,), generator=generator, device=x.device)
    return shift_zero_fill(x, ty, tx)


def cutout_mask(h: int, w: int, top: Tensor, left: Tensor, size_h: int, size_w: int) -> Tensor:
    """(B, H, W) bool, True inside the size_h x size_w rectangle at (top, left) of each sample (clipped)."""
    rows = torch.arange(h, device=top.device)[None, :] - top.view(-1, 1)
    cols = torch.arange(w, device=left.device)[None, :] - left.view(-1, 1)
    return ((rows >= 0) & (rows < size_h))[:, :, None] & ((cols >= 0) & (cols < size_w))[:, None, :]


def _diff_cutout(x: Tensor, generator: torch.Generator | None, ratio: float = 0.5) -> Tensor:
    """A square of half the image size set to 0 at a random place per sample: DiffAugment's cutout.

    Its centre is uniform over the image (over rows 0..H for an even square), so the square may stick out of the
    image on any side. Draws the centre rows (``torch.randint(0, H + 1 - s_h % 2, (B,))``), then the columns.
    """
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + 1 - sh % 2, (b,), generator=generator, device=x.device)
    cx = torch.randint(0, w + 1 - sw % 2, (b,), generator=generator, device=x.device)
    hole = cutout_mask(h, w, cy - sh // 2, cx - sw // 2, sh, sw)
    return x.masked_fill(hole[:, None], 0)


_DIFFAUGMENT_OPS: dict[str, Callable[[Tensor, torch.Generator | None], Tensor]] = {
    "color": _diff_color,
    "translation": _diff_translation,
    "cutout": _diff_cutout,
}


def diff_augment(
    x: Tensor, policy: tuple[str, ...] = DIFFAUGMENT_POLICIES, generator: torch.Generator | None = None
) -> Tensor:
    """DiffAugment (Zhao et al. 2020): the ops of ``policy``, in its order, applied to every image of ``x``.

    ``color``: brightness + U(-0.5, 0.5), saturation x U(0, 2) (about each pixel's channel mean), contrast
    x U(0.5, 1.5) (about the image mean); ``translation``: integer shifts up to 1/8 of the size per axis, zero
    fill; ``cutout``: a square of half the size set to 0. Parameters are drawn per sample; real and fake batches
    are augmented independently, as in the paper.
    """
    policy = _check_names(policy, DIFFAUGMENT_POLICIES, "DiffAugment policy")
    _rgb_groups(x)
    for name in policy:
        x = _DIFFAUGMENT_OPS[name](x, generator)
    return x


# --------------------------------------------------------------------------- ADA: geometric ops


def _affine2(a: Tensor, b: Tensor, c: Tensor, d: Tensor, e: Tensor, f: Tensor) -> Tensor:
    """(N, 3, 3) matrices [[a, b, c], [d, e, f], [0, 0, 1]] from (N,) entries."""
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([a, b, c, d, e, f, zero, zero, one], dim=1).view(-1, 3, 3)


def _scale_inv(sx: Tensor, sy: Tensor) -> Tensor:
    z = torch.zeros_like(sx)
    return _affine2(1 / sx, z, z, z, 1 / sy, z)


def _translate_inv(tx: Tensor, ty: Tensor) -> Tensor:
    z, o = torch.zeros_like(tx), torch.ones_like(tx)
    return _affine2(o, z, -tx, z, o, -ty)


def _rotate_inv(cos: Tensor, sin: Tensor) -> Tensor:
    z = torch.zeros_like(cos)
    return _affine2(cos, sin, z, -sin, cos, z)


def ada_geometric_matrix(
    b: int,
    h: int,
    w: int,
    p: float | Tensor,
    ops: tuple[str, ...],
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> tuple[Tensor, Tensor]:
    """ADA's geometric ops for ``b`` images of h x w: (B, 3, 3) matrices and the (B,) mask of images touched.

    A matrix maps an *output* pixel to the *input* pixel it samples, both in pixel units about the image centre
    (x to the right, y down), so each op contributes its inverse, composed in ADA's order (first op first):
    x-flip, 90-degree rotation (k in 1..3), integer translation (uniform in [-round(size/8), round(size/8)] per
    axis), isotropic scale (2^N(0, 0.2^2)), anisotropic scale (2^N(0, 0.2^2) in x, its inverse in y), fractional
    translation (N(0, 0.125^2) of the size per axis). Each op is applied to each image with probability ``p``;
    a skipped op contributes the identity exactly. Integer ops give integer matrices, exact in float32
    (a quarter turn is an exact permutation of pixels for square images only; otherwise reflection fills in).
    """
    dt = torch.float32
    mat = torch.eye(3, device=device, dtype=dt).expand(b, 3, 3)
    touched = torch.zeros(b, dtype=torch.bool, device=device)
    one = torch.ones(b, device=device, dtype=dt)

    def draw_mask() -> Tensor:
        return torch.rand(b, generator=generator, device=device) < p

    for op in ADA_GEOMETRIC_OPS:
        if op not in ops:
            continue
        m = draw_mask()
        touched = touched | m
        mf = m.to(dt)
        if op == "xflip":
            op_inv = _scale_inv(1 - 2 * mf, one)
        elif op == "rotate90":
            k = torch.randint(1, 4, (b,), generator=generator, device=device) * m
            angle = k.to(dt) * (math.pi / 2)
            # rounded: cos and sin of multiples of pi/2 are exactly 0 or +-1, which keeps the warp exact
            op_inv = _rotate_inv(torch.cos(angle).round(), torch.sin(angle).round())
        elif op == "int_translation":
            sx, sy = int(w * _INT_TRANSLATION_MAX + 0.5), int(h * _INT_TRANSLATION_MAX + 0.5)
            tx = torch.randint(-sx, sx + 1, (b,), generator=generator, device=device) * m
            ty = torch.randint(-sy, sy + 1, (b,), generator=generator, device=device) * m
            op_inv = _translate_inv(tx.to(dt), ty.to(dt))
        elif op == "iso_scale":
            s = torch.exp2(torch.randn(b, generator=generator, device=device) * _SCALE_STD * mf)  # 2^0 = 1 if skipped
            op_inv = _scale_inv(s, s)
        elif op == "aniso_scale":
            s = torch.exp2(torch.randn(b, generator=generator, device=device) * _SCALE_STD * mf)
            op_inv = _scale_inv(s, 1 / s)
        else:  # frac_translation
            t = torch.randn(2, b, generator=generator, device=device) * _FRAC_TRANSLATION_STD * mf
            op_inv = _translate_inv(t[0] * w, t[1] * h)
        mat = mat @ op_inv
    return mat, touched


def warp(x: Tensor, mat: Tensor) -> Tensor:
    """Resample (B, C, H, W) ``x`` through the (B, 3, 3) output-to-input pixel matrices of
    :func:`ada_geometric_matrix`: bilinear, reflection padding, one ``F.grid_sample`` for the batch."""
    b, _, h, w = x.shape
    dt = mat.dtype
    xs = torch.arange(w, device=x.device, dtype=dt) - (w - 1) / 2
    ys = torch.arange(h, device=x.device, dtype=dt) - (h - 1) / 2
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).view(1, h * w, 3)
    src = pts @ mat[:, :2, :].transpose(1, 2)  # (B, H*W, 2) input pixels about the centre
    # align_corners=False: pixel centres sit at (2i + 1) / size - 1, so a centred coordinate u maps to 2u / size
    grid = torch.stack([src[..., 0] * (2 / w), src[..., 1] * (2 / h)], dim=-1).view(b, h, w, 2)
    return F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="reflection", align_corners=False)


# --------------------------------------------------------------------------- ADA: colour ops


def _luma_axis(device: torch.device, dtype: torch.dtype) -> Tensor:
    return torch.full((3,), 3**-0.5, device=device, dtype=dtype)


def _homogeneous(lin: Tensor, offset: Tensor) -> Tensor:
    """(N, 4, 4) from a linear part (N, 3, 3) and an offset (N, 3): c -> lin c + offset on (r, g, b, 1)."""
    n = lin.shape[0]
    top = torch.cat([lin, offset.view(n, 3, 1)], dim=2)
    bottom = torch.zeros(n, 1, 4, device=lin.device, dtype=lin.dtype)
    bottom[:, :, 3] = 1
    return torch.cat([top, bottom], dim=1)


def ada_color_matrix(
    brightness: Tensor,
    contrast: Tensor,
    lumaflip: Tensor,
    hue: Tensor,
    saturation: Tensor,
    pivot: Tensor | None = None,
) -> Tensor:
    """(N, 4, 4) colour matrices acting on (r, g, b, 1), composed in ADA's order from (N,) parameters.

    brightness ``b``: c + b (identity at 0); contrast ``k``: pivot + k (c - pivot) on every channel, i.e. the
    deviation from the grey level ``pivot`` scaled (identity at 1; ``pivot`` None or 0 is ADA's scaling about
    the middle of [-1, 1]); luma flip ``f`` in {0, 1}: the Householder reflection I - 2 f v v^T along the luma
    axis v = (1, 1, 1) / sqrt(3), which negates the luma and keeps the chroma; hue ``theta``: rotation by theta
    about v (Rodrigues), which keeps the luma; saturation ``s``: v v^T + s (I - v v^T), which scales the chroma.
    """
    n, dev, dt = brightness.shape[0], brightness.device, brightness.dtype
    eye = torch.eye(3, device=dev, dtype=dt)
    v = _luma_axis(dev, dt)
    vv = torch.outer(v, v)  # projection on the luma axis
    cross = (eye.roll(1, dims=0) - eye.roll(-1, dims=0)) * 3**-0.5  # [v]_x: cross @ c = v x c
    zeros3 = torch.zeros(n, 3, device=dev, dtype=dt)
    pivot = torch.zeros_like(brightness) if pivot is None else pivot

    def bc(t: Tensor) -> Tensor:  # (N,) -> (N, 1, 1)
        return t.view(n, 1, 1)

    mats = [
        _homogeneous(eye.expand(n, 3, 3), brightness.view(n, 1).expand(n, 3)),
        _homogeneous(bc(contrast) * eye, ((1 - contrast) * pivot).view(n, 1).expand(n, 3)),
        _homogeneous(eye - 2 * bc(lumaflip) * vv, zeros3),
        _homogeneous(bc(torch.cos(hue)) * eye + bc(torch.sin(hue)) * cross + bc(1 - torch.cos(hue)) * vv, zeros3),
        _homogeneous(vv + bc(saturation) * (eye - vv), zeros3),
    ]
    out = mats[0]
    for m in mats[1:]:
        out = m @ out  # a later op acts on the result of the earlier ones
    return out


def _ada_color(x: Tensor, p: float | Tensor, ops: tuple[str, ...], generator: torch.Generator | None) -> Tensor:
    """ADA's colour ops on (B, C, H, W) ``x``: one (B * groups, 4, 4) matrix per RGB group, one batched matmul.

    Contrast scales about the mean of each image (each group of 3 channels, after the brightness), as DiffAugment
    does, so the matrices share the drawn parameters across groups but not their pivot. Images that no op
    touched come back exactly as they were.
    """
    b, c, h, w = x.shape
    groups = _rgb_groups(x)
    dt = torch.promote_types(x.dtype, torch.float32)
    touched = torch.zeros(b, dtype=torch.bool, device=x.device)
    params: dict[str, Tensor] = {}
    for op in ADA_COLOR_OPS:
        if op not in ops or (not groups and op in _RGB_ONLY_OPS):
            continue
        m = _rand(b, x, generator) < p
        touched = touched | m
        mf = m.to(dt)
        if op == "brightness":
            params[op] = _randn(b, x, generator).to(dt) * _BRIGHTNESS_STD * mf
        elif op == "contrast":
            params[op] = torch.exp2(_randn(b, x, generator).to(dt) * _CONTRAST_STD * mf)
        elif op == "lumaflip":
            params[op] = (_rand(b, x, generator) < 0.5).to(dt) * mf  # flips half of the images it is applied to
        elif op == "hue":
            params[op] = (_rand(b, x, generator).to(dt) * 2 - 1) * math.pi * mf
        else:  # saturation
            params[op] = torch.exp2(_randn(b, x, generator).to(dt) * _SATURATION_STD * mf)

    reps = max(groups, 1)
    zero, one = torch.zeros(b, device=x.device, dtype=dt), torch.ones(b, device=x.device, dtype=dt)
    defaults = {"brightness": zero, "contrast": one, "lumaflip": zero, "hue": zero, "saturation": one}
    per_image = {k: params.get(k, defaults[k]).repeat_interleave(reps) for k in ADA_COLOR_OPS}
    xg = x.reshape(b * reps, c // reps, h * w)
    pivot = xg.to(dt).mean(dim=(1, 2)) + per_image["brightness"]  # the image mean after the brightness
    mat = ada_color_matrix(**per_image, pivot=pivot).to(x.dtype)
    if groups:
        out = torch.baddbmm(mat[:, :3, 3:], mat[:, :3, :3], xg)
    else:  # one grey channel g stands for (g, g, g): the mean of the three output channels
        out = xg * mat[:, :3, :3].sum(dim=2).mean(dim=1).view(-1, 1, 1) + mat[:, :3, 3].mean(dim=1).view(-1, 1, 1)
    return torch.where(touched.view(b, 1, 1, 1), out.view(b, c, h, w), x)


def ada_augment(
    x: Tensor,
    p: float | Tensor,
    generator: torch.Generator | None = None,
    ops: tuple[str, ...] | None = None,
) -> Tensor:
    """ADA's augmentation pipeline (Karras et al. 2020), a subset: each op applied to each image with probability p.

    ``p`` is a float or a 0-dim tensor on ``x``'s device (read on the device: no sync). ``ops`` restricts the ops
    to some of :data:`ADA_OPS` (default: all), always run in this order:

    * geometric (:func:`ada_geometric_matrix`): x-flip, 90-degree rotation, integer translation, isotropic scale,
      anisotropic scale, fractional translation, composed into one 3x3 matrix per image and applied by one
      bilinear ``F.grid_sample`` with reflection padding (:func:`warp`);
    * colour (:func:`ada_color_matrix`): brightness (+ N(0, 0.2^2)), contrast (x 2^N(0, 0.5^2) about the image
      mean), luma flip (half of the time), hue rotation (U(-pi, pi) about the luma axis), saturation
      (x 2^N(0, 1)), composed into one 4x4 matrix per image and applied by one batched matmul.

    Images that no geometric (colour) op touched skip the warp (the colour matrix) exactly, so p = 0 returns the
    input bit for bit. Differences from the paper: no arbitrary rotation (nor the paper's filtering, noise and
    cutout ops); the paper upsamples with a wavelet filter before its warp, we sample bilinearly, which blurs
    fractional warps slightly; x-flip always flips when applied and rotate90 turns by 1 to 3 quarters (the paper
    also draws "no flip" / "no turn", i.e. flips with probability p / 2), the integer translation is uniform over
    the integers, and the contrast scales about the image mean where the paper scales about 0 (mid-grey).
    """
    groups = _rgb_groups(x)
    ops = ADA_OPS if ops is None else _check_names(ops, ADA_OPS, "ADA op")
    if not isinstance(p, Tensor) and p <= 0:
        return x  # a Python number: no draw, no work
    b, _, h, w = x.shape
    if any(op in ops for op in ADA_GEOMETRIC_OPS):
        mat, touched = ada_geometric_matrix(b, h, w, p, ops, generator, x.device)
        x = torch.where(touched.view(b, 1, 1, 1), warp(x, mat), x)
    if any(op in ops and (groups or op not in _RGB_ONLY_OPS) for op in ADA_COLOR_OPS):
        x = _ada_color(x, p, ops, generator)
    return x


# --------------------------------------------------------------------------- ADA: the controller of p


class AdaptiveAugment:
    """ADA's controller of p (Karras et al. 2020): raise p while D overfits the reals, lower it otherwise.

    The task calls :meth:`accumulate` with D's logits on every (augmented) real batch and :meth:`update` every
    ``interval`` steps, which computes r_t = E[sign(D(real))] over those steps and moves p by
    sign(r_t - target) * batch_images * interval / speed_images, so that p can cross [0, 1] in ``speed_images``
    images. p stays in [0, P_MAX], P_MAX = 1 - 1e-6 (strictly below 1, so some images always pass unchanged);
    r_t = target exactly (sign 0) leaves it alone. Everything is a tensor on ``device``, updated in place: no
    host sync. ``reduce``, when given, sums a tensor over processes (an all-reduce that *returns* the sum, e.g.
    ``lambda t: (dist.all_reduce(t), t)[1]``); it is applied to (sign_sum, count) so every process gets the same p.
    """

    def __init__(
        self,
        target: float = 0.6,
        interval: int = 4,
        speed_images: int = 500_000,
        p_init: float = 0.0,
        device: torch.device | str = "cpu",
        reduce: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        if not 0 < target < 1:
            raise ValueError(f"target: the r_t that ADA aims at, in (0, 1), got {target}")
        if interval < 1 or speed_images <= 0:
            raise ValueError(f"interval and speed_images must be positive, got {interval} and {speed_images}")
        if not 0 <= p_init < 1:
            raise ValueError(f"p_init: a probability in [0, 1), got {p_init}")
        self.target, self.interval, self.speed_images, self.reduce = target, interval, speed_images, reduce
        f32 = {"device": device, "dtype": torch.float32}
        self.p = torch.tensor(min(p_init, P_MAX), **f32)
        self.sign_sum = torch.zeros((), **f32)
        self.count = torch.zeros((), **f32)
        # 0 until the first update that saw logits (not NaN: the training loop stops on non-finite statistics)
        self.last_rt = torch.zeros((), **f32)
        self.last_count = torch.zeros((), **f32)  # logits behind last_rt (over all processes)

    def accumulate(self, real_logits: Tensor) -> None:
        """Add sum(sign(D(real))) and the number of logits to the accumulators (detached, on the device)."""
        logits = real_logits.detach()
        self.sign_sum.add_(torch.sign(logits).sum(dtype=torch.float32))
        self.count.add_(logits.numel())

    def update(self, batch_images: int) -> None:
        """Move p from the accumulated r_t and reset the accumulators; ``batch_images``: the images D saw per
        step over all processes. Without accumulated logits p stays."""
        stats = torch.stack([self.sign_sum, self.count])
        if self.reduce is not None:
            stats = self.reduce(stats)
        sign_sum, count = stats[0], stats[1]
        measured = count > 0
        rt = sign_sum / count.clamp(min=1)
        step = batch_images * self.interval / self.speed_images
        adjust = torch.where(measured, torch.sign(rt - self.target) * step, 0.0)
        self.p.copy_((self.p + adjust).clamp(0.0, P_MAX))
        self.last_rt.copy_(torch.where(measured, rt, self.last_rt))
        self.last_count.copy_(count)
        self.sign_sum.zero_()
        self.count.zero_()

    def state_dict(self) -> dict[str, Tensor]:
        return {k: getattr(self, k).detach().clone() for k in ("p", "sign_sum", "count", "last_rt")}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for k in ("p", "sign_sum", "count", "last_rt"):
            getattr(self, k).copy_(state[k])

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return ada_augment(x, self.p, generator)


class DAugment:
    """What D's inputs go through: ``kind`` "none" (identity), "diffaugment" (the ops of ``policy``) or "ada"
    (the pipeline at the p of ``ada``, which the task also feeds and updates)."""

    def __init__(
        self,
        kind: str = "none",
        policy: tuple[str, ...] = DIFFAUGMENT_POLICIES,
        ada: AdaptiveAugment | None = None,
    ) -> None:
        if kind not in D_AUGMENT_KINDS:
            raise ValueError(f"unknown D augmentation {kind!r}: choose from {', '.join(D_AUGMENT_KINDS)}")
        if kind == "ada" and ada is None:
            raise ValueError("D augmentation 'ada' needs its AdaptiveAugment controller (ada=...)")
        self.kind = kind
        self.policy = _check_names(policy, DIFFAUGMENT_POLICIES, "DiffAugment policy")
        self.ada = ada

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.kind == "diffaugment":
            return diff_augment(x, self.policy, generator)
        if self.kind == "ada":
            assert self.ada is not None
            return self.ada(x, generator)
        return x
