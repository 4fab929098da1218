"""``gankit export``: a trained generator as an ONNX or TorchScript file that runs without gankit.

What the exported graph takes and returns (float32, images in [-1, 1], NCHW; the batch size is dynamic):

* gan runs: ``z`` (N, latent dim) [and ``label`` (N,) int64 for conditional models] -> ``image`` (N, C, R, R).
  BatchNorm layers use standing statistics (as ``gankit sample`` does) and are frozen into the graph; StyleGAN2
  uses constant noise; the truncation ``psi`` chosen at export time (:func:`gankit.sampling.generate`) is frozen
  in too. Draw z as ``randn(N, z_dim)``;
  uint8 pixels are ``round((image + 1) * 127.5)`` clamped to 0..255.
* pix2pix / CycleGAN: ``input`` (N, C, R, R) at the training resolution -> the translated ``image`` (``direction``
  picks CycleGAN's generator).
* sr: ``input`` (N, C, H, W) -> ``image`` (N, C, H * scale, W * scale); H and W are dynamic too.

The export is checked before it is reported done: the file is loaded back (onnxruntime for ONNX,
``torch.jit.load`` for TorchScript), run on a batch of a different size than the one traced, and compared with
PyTorch; the largest absolute difference must stay within ``TOLERANCE``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.errors import GankitError
from gankit.infer import LoadedModel
from gankit.sampling import has_w, scale_latent

FORMATS = ("onnx", "torchscript")
TOLERANCE = 1e-3  # on outputs in [-1, 1]: float32 kernels of two runtimes, summed in another order
OPSET = 18


class _Sampler(nn.Module):
    """z [, label] -> image for export: fixed inference settings, no Python-side branching at run time."""

    def __init__(self, net: nn.Module, psi: float, conditional: bool):
        super().__init__()
        self.net, self.psi, self.conditional = net, psi, conditional

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        kwargs = {"psi": self.psi} if self.psi != 1 and has_w(self.net) else {}
        z = z if has_w(self.net) else scale_latent(self.net, z, self.psi)
        return self.net(z, label if self.conditional else None, **kwargs).float()


class _ImageToImage(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).float()


def export_module(loaded: LoadedModel, direction: str = "a2b", psi: float | None = None
                  ) -> tuple[nn.Module, Callable[[int, int], tuple[torch.Tensor, ...]], list[str], dict]:
    """(module in eval mode, inputs(batch, grow) -> example inputs, input names, dynamic dims per input) for
    ``loaded``; ``grow`` enlarges the dynamic spatial sizes, for checking the export on other shapes."""
    from gankit.sampling import ready

    def noise(shape: list[int], seed: int) -> torch.Tensor:
        return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1

    if loaded.family == "gan":
        if not loaded.data.get("is_image", True):
            raise GankitError("this run generates 2-D points: export works on image generators")
        net = ready(loaded.net)
        if psi is None:
            psi = loaded.cfg.sample.truncation_psi
        k = loaded.num_classes

        def latents(batch: int, grow: int = 0) -> tuple[torch.Tensor, ...]:
            z = net.latent.sample(batch, generator=torch.Generator().manual_seed(batch))
            return (z, torch.arange(batch) % k) if k else (z,)

        module = _Sampler(net, psi, bool(k)).eval()
        if k:
            return module, latents, ["z", "label"], {"z": {0: "batch"}, "label": {0: "batch"}}
        return module, latents, ["z"], {"z": {0: "batch"}}
    if psi is not None:
        raise GankitError(f"--psi is for generators that sample from noise; this is a {loaded.family} run")
    c = loaded.cfg.data.channels
    if loaded.family in ("pix2pix", "cyclegan"):
        from gankit.infer.translate import generator_for

        r = loaded.cfg.data.resolution
        module = _ImageToImage(generator_for(loaded, direction).eval())
        return module, lambda batch, grow=0: (noise([batch, c, r, r], batch),), ["input"], {"input": {0: "batch"}}
    if loaded.family == "sr":
        module = _ImageToImage(loaded.net.eval())
        return module, lambda batch, grow=0: (noise([batch, c, 24 + grow, 20 + grow], batch),), ["input"], \
            {"input": {0: "batch", 2: "height", 3: "width"}}
    raise GankitError(f"export does not know the {loaded.family} family")


def export(loaded: LoadedModel, out: str | Path, fmt: str | None = None, direction: str = "a2b",
           psi: float | None = None) -> dict:
    """Write the export to ``out`` (format from ``fmt`` or the suffix: .onnx / .pt), check it, return a report."""
    path = Path(out)
    fmt = fmt or {".onnx": "onnx", ".pt": "torchscript", ".ts": "torchscript"}.get(path.suffix.lower())
    if fmt not in FORMATS:
        raise GankitError(f"--format: choose {' or '.join(FORMATS)} (or name --out *.onnx / *.pt)")
    module, inputs, names, dynamic = export_module(loaded, direction, psi)
    example = inputs(3, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        if fmt == "onnx":
            _write_onnx(module, example, names, dynamic, tmp)
        else:
            _write_torchscript(module, example, tmp)
        check = inputs(5, 4)  # another batch size (and spatial size, where that is dynamic) than the traced one
        with torch.no_grad():
            want = module(*check).numpy()
        got = _run_onnx(tmp, names, check) if fmt == "onnx" else _run_torchscript(tmp, check)
        if got.shape != want.shape:
            raise GankitError(f"the exported {fmt} graph returned shape {got.shape} for a batch where PyTorch gives "
                              f"{want.shape}: this model does not export with dynamic sizes")
        diff = float(np.abs(got - want).max())
        if not diff <= TOLERANCE:
            raise GankitError(f"the exported {fmt} graph differs from PyTorch by up to {diff:.3g} (tolerance "
                              f"{TOLERANCE:g}); nothing was written")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"path": str(path), "format": fmt, "inputs": {n: list(x.shape[1:]) for n, x in zip(names, example)},
            "dynamic": dynamic, "checked_batch": int(check[0].shape[0]), "max_abs_diff": diff,
            "tolerance": TOLERANCE, "bytes": path.stat().st_size}


def _write_onnx(module: nn.Module, example: tuple, names: list[str], dynamic: dict, path: Path) -> None:
    try:
        import onnxscript  # noqa: F401  (torch's ONNX exporter needs it)
    except ImportError:
        raise GankitError("ONNX export needs the onnx extras: pip install 'gankit[export]' (onnx, onnxscript, "
                          "onnxruntime)") from None
    import contextlib
    import io
    import logging
    import warnings

    shapes = {n: {d: torch.export.Dim(f"{label}") if label != "batch" else torch.export.Dim("batch", min=1)
                  for d, label in dims.items()} for n, dims in dynamic.items()}
    args = tuple(shapes[n] for n in names)  # by position: the graph's input names need not be forward's
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # notes about torchvision ops this graph does not use
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(module, example, input_names=names, output_names=["image"], dynamo=True,
                                        dynamic_shapes=args, opset_version=OPSET, verbose=False)
        finally:
            quiet.setLevel(level)
    program.save(str(path))


def _run_onnx(path: Path, names: list[str], inputs: tuple) -> np.ndarray:
    try:
        import onnxruntime as ort
    except ImportError:
        raise GankitError("checking the ONNX export needs onnxruntime: pip install 'gankit[export]'") from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {name: x.numpy() for name, x in zip(names, inputs)}
    return session.run(None, feed)[0]


def _write_torchscript(module: nn.Module, example: tuple, path: Path) -> None:
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, example, check_trace=False)
        torch.jit.save(traced, str(path))


def _run_torchscript(path: Path, inputs: tuple) -> np.ndarray:
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        return torch.jit.load(str(path)).eval()(*inputs).numpy()
