"""Full-reference image quality: L1, PSNR and SSIM of outputs against their true targets.

All three take uint8 images (N, C, H, W) (or floats in [0, 1]), compare each output with its own target
in [0, 1] (data range 1), and average the per-image values over the set; the result carries its protocol.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float64 0..1; floats are taken as already in [0, 1]."""
    x = x.detach().cpu()
    return x.double() / 255.0 if x.dtype == torch.uint8 else x.double()


def _check(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"expected two (N, C, H, W) image sets of one shape, got {tuple(a.shape)}, {tuple(b.shape)}")


def l1_per_image(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean |output - target| over the pixels and channels of each image, values in [0, 1]: (N,)."""
    _check(output, target)
    return (_unit(output) - _unit(target)).abs().flatten(1).mean(1)


def psnr_per_image(output: torch.Tensor, target: torch.Tensor, max_db: float = 100.0) -> torch.Tensor:
    """10 log10(1 / MSE) per image, data range 1 (identical images: ``max_db``): (N,)."""
    _check(output, target)
    mse = (_unit(output) - _unit(target)).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(1.0 / mse.clamp_min(10 ** (-max_db / 10)))).clamp_max(max_db)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """The normalised 1-D Gaussian of SSIM's window, (size,), float64; the 2-D window is its outer product."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim_per_image(output: torch.Tensor, target: torch.Tensor, window: int = 11, sigma: float = 1.5,
                   k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Mean SSIM per image (Wang et al. 2004, "Image quality assessment: from error visibility to structural
    similarity", eq. 13), averaged over channels: (N,).

    SSIM(x, y) = ((2 mu_x mu_y + C1)(2 sigma_xy + C2)) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2)),
    with local means, variances and covariance weighted by an 11x11 Gaussian window of sigma 1.5, C1 = (0.01 L)^2,
    C2 = (0.03 L)^2 and L = 1, over every window that lies wholly inside the image (no padding). This is
    scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=1, channel_axis=...)``, whose border crop keeps the same windows. Computed in float32.
    """
    _check(output, target)
    x, y = _unit(output).float(), _unit(target).float()
    n, c, h, w = x.shape
    if h < window or w < window:
        raise ValueError(f"SSIM's {window}x{window} window does not fit {h}x{w} images")
    g = gaussian_window(window, sigma).float()

    def blur(t: torch.Tensor) -> torch.Tensor:  # the separable Gaussian, one channel at a time, valid windows
        t = t.reshape(n * c, 1, h, w)
        t = F.conv2d(F.conv2d(t, g.view(1, 1, window, 1)), g.view(1, 1, 1, window))
        return t.reshape(n, c, h - window + 1, w - window + 1)

    c1, c2 = (k1 * 1.0) ** 2, (k2 * 1.0) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.flatten(1).double().mean(1)


def full_reference_metrics(output: torch.Tensor, target: torch.Tensor, batch: int = 256) -> dict:
    """L1, PSNR (dB) and SSIM of each output against its target, averaged over the set, with their protocol."""
    if output.shape != target.shape:
        raise ValueError(f"outputs {tuple(output.shape)} and targets {tuple(target.shape)} differ in shape")
    l1, psnr, ssim = [], [], []
    for i in range(0, len(output), batch):
        o, t = output[i : i + batch], target[i : i + batch]
        l1.append(l1_per_image(o, t))
        psnr.append(psnr_per_image(o, t))
        ssim.append(ssim_per_image(o, t))
    values = {"l1": torch.cat(l1), "psnr": torch.cat(psnr), "ssim": torch.cat(ssim)}
    out = {k: float(v.mean()) for k, v in values.items()}
    out.update({f"{k}_std": float(v.std()) if len(v) > 1 else 0.0 for k, v in values.items()})
    out["protocol"] = {
        "n": int(len(output)),
        "resolution": list(output.shape[1:]),
        "range": "images in [0, 1] (uint8 / 255), every channel, no border crop",
        "l1": "mean |output - target| per image, averaged over images",
        "psnr": "10 log10(1 / MSE) per image (data range 1, capped at 100 dB), averaged over images",
        "ssim": "Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, valid windows only, "
                "mean over channels, per image, averaged over images",
        "std": "the *_std values are the spread over images (not a standard error)",
    }
    return out


# --------------------------------------------------------------------------- super-resolution conventions


def rgb_to_y(images: torch.Tensor) -> torch.Tensor:
    """Luma of ITU-R BT.601 as MATLAB's ``rgb2ycbcr`` computes it, the channel SR papers score on:
    Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255 for R, G, B in [0, 1], so Y lies in [16/255, 235/255].

    uint8 (N, 3, H, W) or floats in [0, 1] -> float64 (N, 1, H, W); a 1-channel input is returned as luma already.
    """
    x = _unit(images)
    if x.shape[1] == 1:
        return x
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return (16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def shave(images: torch.Tensor, border: int) -> torch.Tensor:
    """(N, C, H, W) without ``border`` pixels on every side (SR evaluation drops ``scale`` pixels)."""
    if border <= 0:
        return images
    return images[..., border:-border, border:-border]


def sr_metrics(output: torch.Tensor, target: torch.Tensor, scale: int, batch: int = 64) -> dict:
    """PSNR and SSIM on the Y channel (and PSNR on RGB) after a border crop of ``scale`` pixels, per image, averaged
    over the set, as the SR literature reports them (e.g. Ledig et al. 2017, Wang et al. 2018)."""
    if output.shape != target.shape:
        raise ValueError(f"outputs {tuple(output.shape)} and targets {tuple(target.shape)} differ in shape: upscale "
                         "each LR input to its HR image's size")
    psnr_y, ssim_y, psnr_rgb = [], [], []
    for i in range(0, len(output), batch):
        o, t = shave(output[i : i + batch], scale), shave(target[i : i + batch], scale)
        oy, ty = rgb_to_y(o), rgb_to_y(t)
        psnr_y.append(psnr_per_image(oy, ty))
        ssim_y.append(ssim_per_image(oy, ty))
        psnr_rgb.append(psnr_per_image(o, t))
    values = {"psnr_y": torch.cat(psnr_y), "ssim_y": torch.cat(ssim_y), "psnr_rgb": torch.cat(psnr_rgb)}
    out = {k: float(v.mean()) for k, v in values.items()}
    out.update({f"{k}_std": float(v.std()) if len(v) > 1 else 0.0 for k, v in values.items()})
    out["protocol"] = {
        "n": int(len(output)),
        "resolution": list(output.shape[1:]),
        "y": "luma of ITU-R BT.601 as MATLAB rgb2ycbcr: (16 + 65.481 R + 128.553 G + 24.966 B) / 255, R,G,B in [0, 1]",
        "border": f"{scale} px cropped on every side (the scale)",
        "psnr": "10 log10(1 / MSE) per image, data range 1, averaged over images (psnr_rgb: every channel)",
        "ssim": "Wang et al. 2004 on Y: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, valid windows, per image, "
                "averaged over images",
        "std": "the *_std values are the spread over images (not a standard error)",
    }
    return out
