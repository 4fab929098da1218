"""Images of a trained run for ``gankit eval --run`` and the benchmarks: samples (gan) or translations of the
test inputs (pix2pix, CycleGAN), with the data settings that choose the real images to compare them with."""

from __future__ import annotations

import torch

from gankit.data import to_model_space, to_uint8
from gankit.data.image_sources import ImageSet
from gankit.errors import GankitError
from gankit.infer import LoadedModel, load_model


def _data(loaded: LoadedModel) -> dict:
    d = loaded.cfg.data
    return {"dataset": d.name, "resolution": d.resolution, "channels": d.channels, "path": d.path, "split": d.split,
            "step": loaded.step, "direction": d.direction, "family": loaded.family}


def generator_images(loaded: LoadedModel, n: int, seed: int, where: str) -> tuple[ImageSet, dict]:
    """``n`` samples of a gan run's G (class-balanced for a conditional one) and its data settings."""
    from gankit.infer.sample import sample_outputs

    if not loaded.data["is_image"]:
        raise GankitError(f"{where} generates 2-D points, not images: use `gankit bench modes` metrics for those")
    out, labels = sample_outputs(loaded, n, seed)
    images = to_uint8(out).cpu()
    return ImageSet(images, f"{where} (step {loaded.step}, {n} samples, seed {seed})", "", labels), _data(loaded)


@torch.no_grad()
def translation_images(loaded: LoadedModel, n: int, where: str, split: str = "test") -> tuple[ImageSet, dict]:
    """The run's generator on the first ``n`` inputs of its data's ``split`` (default: test)."""
    from gankit.data.paired import load_translation
    from gankit.infer.translate import generator_for

    data = load_translation(loaded.cfg.data, split)
    source = data.pairs if data.pairs is not None else data.a
    inputs = source.fields["A"][:n]
    net = generator_for(loaded, "a2b")
    device = next(net.parameters()).device
    outs = [net(to_model_space(inputs[i : i + 64]).to(device)).float().cpu() for i in range(0, len(inputs), 64)]
    images = to_uint8(torch.cat(outs))
    return ImageSet(images, f"{where} (step {loaded.step}) on the first {len(inputs)} {split} inputs", ""), \
        _data(loaded)


def run_images(run: str, n: int, seed: int = 0) -> tuple[ImageSet, dict]:
    """What ``gankit eval --run`` scores: ``n`` samples of a gan run, or the test translations of the others."""
    loaded = load_model(run)
    if loaded.family == "gan":
        return generator_images(loaded, n, seed, run)
    return translation_images(loaded, n, run)
