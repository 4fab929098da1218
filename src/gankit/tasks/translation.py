"""What pix2pix and CycleGAN share: two image domains, a test split, and what a translation run shows.

Data (``gankit.data.paired``): training batches hold ``A`` (the input domain) and ``B`` (the output domain),
aligned for pix2pix, drawn from two independent streams for CycleGAN. The test split (``data.split=test``
of the same source; the training data when a folder has none, said so in the protocol) gives

* the sample picture: rows of input | output | target (input | output without pairs), from the EMA of the
  generator when there is one, in eval mode (no dropout, BatchNorm with its running statistics);
* the end-of-run metrics: L1, PSNR and SSIM of G(A) against B over every test pair, beside the same
  numbers for the identity map (B taken to be A, the baseline to beat);
* the images of ``eval.every``'s feature metrics: G(A) of the test inputs against the test targets.
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import torch
from torch import nn

from gankit.config import Config
from gankit.data import Dataset, to_model_space, to_uint8
from gankit.data.paired import TranslationData, load_translation
from gankit.errors import DataError
from gankit.tasks.base import BuildContext, Task


def load_train_and_test(cfg: Config) -> tuple[TranslationData, TranslationData, str]:
    """The training data, the test data and where the test data came from."""
    train = load_translation(cfg.data, cfg.data.split)
    if cfg.data.split == "test":
        return train, train, "the test split (also trained on: data.split=test)"
    try:
        return train, load_translation(cfg.data, "test"), "the test split"
    except DataError as exc:
        print(f"[gankit] no test split ({exc}); samples and metrics use the training data", file=sys.stderr)
        return train, train, "the training data (the source has no test split)"


class TranslationTask(Task):
    """Base of the translation families: ``generators`` maps a direction to the network that translates it."""

    directions: dict[str, str] = {"a2b": "G"}  # direction -> network name

    def __init__(self, cfg: Config, ctx: BuildContext, train: TranslationData, test: TranslationData,
                 test_source: str):
        super().__init__(cfg, ctx)
        self.train_data, self.test_data, self.test_source = train, test, test_source
        self.world = ctx.world
        self.channels = train.a.data.shape[1]

    # ------------------------------------------------------------------ data facts

    @property
    def data_info(self) -> dict:
        d = self.cfg.data
        return {
            "name": self.train_data.a.name,
            "sample_shape": [d.channels, d.resolution, d.resolution],
            "is_image": True,
            "class_names": [],
            "direction": d.direction,
            "pairs": self.train_data.pairs is not None,
            "background": list(d.background),
        }

    def describe(self) -> str:
        t = self.train_data
        sizes = f"{len(t.pairs)} pairs" if t.pairs is not None else f"{len(t.a)} A and {len(t.b)} B images"
        m = self.cfg.model
        return (f"{self.family} ({m.generator} G, PatchGAN D) on {self.cfg.data.name} {self.cfg.data.direction} "
                f"({sizes}, {self.cfg.data.resolution}x{self.cfg.data.resolution})")

    # ------------------------------------------------------------------ translating

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str = "a2b", use_ema: bool = True,
                  batch_size: int = 64) -> torch.Tensor:
        """The generator of ``direction`` on model-space images (float [-1, 1]), in eval mode, in batches."""
        net = self.sampling_net(self.directions[direction], use_ema)
        was_training = net.training
        net.eval()
        outs = []
        for i in range(0, len(images), batch_size):
            x = images[i : i + batch_size].to(self.device).contiguous(memory_format=self.ctx.memory_format)
            outs.append(net(x).float())
        net.train(was_training)
        return torch.cat(outs)

    def _test_pairs(self) -> Dataset | None:
        return self.test_data.pairs

    # ------------------------------------------------------------------ what a run shows

    def fixed_inputs(self, n: int, seed: int) -> dict[str, torch.Tensor]:
        """``n`` test inputs spread evenly over the test split (and their targets when it is paired)."""
        pairs = self._test_pairs()
        source = pairs if pairs is not None else self.test_data.a
        idx = torch.linspace(0, len(source) - 1, min(n, len(source))).round().long()
        out = {"A": to_model_space(source.fields["A"][idx])}
        if pairs is not None:
            out["B"] = to_model_space(pairs.fields["B"][idx])
        return out

    def sample_picture(self, fixed: dict[str, torch.Tensor], step: int) -> np.ndarray:
        """Rows of input | output | target (input | output for unpaired data)."""
        from gankit.viz import side_by_side

        out = to_uint8(self.translate(fixed["A"])).cpu()
        columns = [to_uint8(fixed["A"]).cpu(), out] + ([to_uint8(fixed["B"]).cpu()] if "B" in fixed else [])
        n = len(out)
        return side_by_side(columns, groups_per_row=4 if n >= 16 else 2 if n >= 4 else 1)

    def end_of_run_metrics(self, seed: int) -> dict:
        """L1, PSNR and SSIM of G(A) against B on every test pair, and of the identity map, with the protocol."""
        from gankit.metrics.image_quality import full_reference_metrics

        pairs = self._test_pairs()
        if pairs is None:
            return {"protocol": {"note": "unpaired test data: no targets for L1/PSNR/SSIM; use eval.every with "
                                         "fid,kid or gankit eval"}}
        a, b = pairs.fields["A"], pairs.fields["B"]
        out = to_uint8(self.translate(to_model_space(a))).cpu()
        result = full_reference_metrics(out, b)
        identity = full_reference_metrics(a, b)
        result["identity"] = {k: identity[k] for k in ("l1", "psnr", "ssim")}
        result["protocol"].update({
            "test": f"{pairs.name}: every pair of {self.test_source}",
            "generator": f"{self.directions['a2b']}{'_ema' if self.emas else ''}, eval mode (no dropout)",
            "identity": "the same metrics with the input taken as the output",
            "seed": seed,
        })
        return result

    def feature_eval_sets(self, n: int, seed: int):
        """G(A) for up to ``n`` test inputs, against ``eval.reference`` or the test targets."""
        from gankit.data.image_sources import ImageSet, load_images

        pairs = self._test_pairs()
        source = pairs if pairs is not None else self.test_data.a
        a = source.fields["A"][:n]
        fake = ImageSet(to_uint8(self.translate(to_model_space(a))).cpu(),
                        f"{self.directions['a2b']} on the first {len(a)} inputs of {self.test_source}", "")
        d = self.cfg.data
        if self.cfg.eval.reference:
            real = load_images(self.cfg.eval.reference, n, seed, d.resolution, d.channels)
        else:
            targets = pairs if pairs is not None else self.test_data.b
            b = targets.fields["B"][:n]
            ids = "\n".join(targets.ids[:n]).encode()
            key = f"translation-targets|{targets.name}|{d.direction}|{hashlib.sha256(ids).hexdigest()[:16]}|" \
                  f"{tuple(b.shape[1:])}|{d.background}"
            real = ImageSet(b, f"the first {len(b)} targets of {self.test_source} ({targets.name})", key)
        return fake, real


def translation_networks(cfg: Config, names: tuple[str, ...]) -> dict[str, nn.Module]:
    """Untrained generators of a translation config, one per name (both translate channels -> channels)."""
    from gankit.nets import build_translator

    c, r = cfg.data.channels, cfg.data.resolution
    return {name: build_translator(cfg.model, c, c, r) for name in names}
