"""sr: single-image super-resolution, PSNR-oriented or adversarial (SRGAN, Ledig et al. 2017; ESRGAN, Wang et al.
2018).

The data are high-resolution images (:mod:`gankit.data.sr`); each step cuts a random HR patch from each image of
the batch, flips/rotates it when asked, and makes its LR input on the device (blur, antialiased bicubic
downscale by ``model.scale``, noise, 8-bit rounding). G upscales the LR patch back. G's loss is ESRGAN's eq. 3:

    pixel_weight * mean |y - G(x)|  +  perceptual_weight * mean |phi(y) - phi(G(x))|  +  gan_weight * L_G

where phi are features of the FID Inception-v3 at ``loss.perceptual_layer`` (:mod:`gankit.nets.perceptual`;
the papers use VGG19, which cannot be downloaded here) and L_G the adversarial term (``loss.name``: ``ragan``,
the relativistic average loss of ESRGAN, or any gan-family loss).

Phases: with ``gan_weight`` 0 (the PSNR-oriented stage, as SRResNet or ESRGAN's RRDB_PSNR) there is no
discriminator and one phase, ``G``. Otherwise, as pix2pix: ``D`` (records for G) makes G(x) once, keeps its
graph, and trains D on the HR patches against G(x) detached; ``G`` then scores G(x) with the updated D. For
``ragan`` G's term also needs D's view of the real patches: the logits of the D phase of the same step are
reused (computed by D before its update, detached), where ESRGAN's code runs D on the real batch again.

The two-stage recipe (PSNR-oriented pre-training, then adversarial fine-tuning from it) is two runs, the second
with ``train.init_from`` (``gankit train --init-from RUN``) naming the first.

What a run shows: rows of LR input (nearest-upscaled) | bicubic | G | HR truth on centre crops of test images;
end-of-run metrics: PSNR and SSIM on the Y channel with a border crop of ``scale`` pixels (the SR literature's
convention, :func:`gankit.metrics.image_quality.sr_metrics`) for G, bicubic and nearest upscaling on every test
image.
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import torch
from torch import nn

from gankit.config import Config
from gankit.data import BatchSampler, Dataset, to_model_space, to_uint8
from gankit.data.augment import random_patch, random_rot90
from gankit.data.sr import bicubic_upscale, degrade, load_hr, nearest_upscale
from gankit.errors import DataError
from gankit.losses import get_loss, l1_loss, relativistic_average_losses
from gankit.tasks.base import BuildContext, Phase, Stats, Task

TEST_NOISE_SEED = 12345  # the noise of the test inputs' degradation (when data.noise > 0) is fixed


def sr_generator(cfg: Config) -> nn.Module:
    """G of an sr config (model section), untrained."""
    from gankit.nets.sr import RRDBNet, SRResNet

    m, c = cfg.model, cfg.data.channels
    if m.generator == "srresnet":
        return SRResNet(c, m.scale, m.width, m.blocks, m.norm, m.residual)
    return RRDBNet(c, m.scale, m.width, m.growth, m.blocks, m.residual)


def degraded_test_inputs(hr: torch.Tensor, scale: int, blur: float = 0.0, noise: float = 0.0,
                         jpeg: int = 0) -> torch.Tensor:
    """The LR inputs of uint8 HR test images, degraded as in training with a fixed seed (noise, JPEG qualities);
    model space."""
    gen = torch.Generator().manual_seed(TEST_NOISE_SEED)
    return torch.cat([degrade(to_model_space(hr[i : i + 64]), scale, blur, noise, gen, jpeg)
                      for i in range(0, len(hr), 64)])


class SRTask(Task):
    """G: LR -> HR; D (when ``loss.gan_weight`` > 0) on HR patches; batches hold HR images ``x``."""

    family = "sr"

    def __init__(self, cfg: Config, ctx: BuildContext, train: Dataset, test: Dataset, test_source: str,
                 generator: nn.Module, discriminator: nn.Module | None, sampler: BatchSampler):
        super().__init__(cfg, ctx)
        self.train_data, self.test_data, self.test_source = train, test, test_source
        self.G, self.D, self.sampler = generator, discriminator, sampler
        self.scale = cfg.model.scale
        self.samplers = {"data": sampler}
        self.networks = {"G": generator}
        self.optimizers = {"G": ["G"]}
        lo = cfg.loss
        self.perceptual = None
        if lo.perceptual_weight > 0:
            from gankit.nets.perceptual import InceptionPerceptual

            self.perceptual = InceptionPerceptual(layer=lo.perceptual_layer, resize=lo.perceptual_resize)
        keys = ["pixel"] + (["perceptual"] if self.perceptual is not None else [])
        g_hooks = []
        if cfg.train.ema > 0:
            self.add_ema("G")
            g_hooks.append(self.update_emas)
        self.phases = []
        if discriminator is not None:
            self.networks["D"] = discriminator
            self.optimizers["D"] = ["D"]
            self.loss = None if lo.name == "ragan" else get_loss(lo.name)
            self.phases.append(Phase("D", "D", self.d_step, records_for=("G",)))
            keys = ["d_loss", "g_loss"] + keys
        self.phases.append(Phase("G", "G", self.g_step, after_step=g_hooks))
        self.progress_keys = tuple(keys)
        self.compiled = tuple(n for n in ("G", "D") if n in self.networks)
        self._kept: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # (hr, G(lr), D's real logits)

    @classmethod
    def build(cls, cfg: Config, ctx: BuildContext) -> SRTask:
        train = load_hr(cfg.data, cfg.data.split)
        try:
            test, test_source = load_hr(cfg.data, "test"), "the test split"
        except DataError as exc:
            print(f"[gankit] no test split ({exc}); samples and metrics use the training images", file=sys.stderr)
            test, test_source = train, "the training images (the source has no test split)"
        if cfg.data.name == "folder" and test.name == train.name:
            test_source = "the training images (the folder has no train/ and test/ sub-folders)"
        ctx.seed_weights(cfg.train.seed)
        G = sr_generator(cfg)
        D = None
        if cfg.loss.gan_weight > 0:
            from gankit.nets.sr import UNetDiscriminator, VGGDiscriminator

            m = cfg.model
            if m.discriminator == "unet":
                D = UNetDiscriminator(cfg.data.channels, m.d_width, m.d_stages)
            else:
                D = VGGDiscriminator(cfg.data.channels, m.d_width, m.d_stages, m.d_norm, m.d_spectral_norm)
        ctx.place(*(n for n in (G, D) if n is not None))
        ctx.seed_process(cfg.train.seed)
        sampler = BatchSampler(train, ctx.batch_size, ctx.device, seed=cfg.train.seed, hflip=cfg.data.hflip,
                               rank=ctx.rank, world=ctx.world)
        return cls(cfg, ctx, train, test, test_source, G, D, sampler)

    @classmethod
    def inference_networks(cls, cfg: Config, data_info: dict) -> dict[str, nn.Module]:
        return {"G": sr_generator(cfg)}

    # ------------------------------------------------------------------ data facts

    @property
    def data_info(self) -> dict:
        d = self.cfg.data
        return {"name": self.train_data.name, "sample_shape": [d.channels, d.resolution, d.resolution],
                "is_image": True, "class_names": [], "scale": self.scale, "background": list(d.background),
                "degradation": {"kind": d.degradation, "blur": d.blur, "noise": d.noise, "jpeg": d.jpeg}}

    def describe(self) -> str:
        m, d = self.cfg.model, self.cfg.data
        side = d.patch or d.resolution
        what = "adversarial" if self.D is not None else "PSNR-oriented"
        d_kind = {"vgg": ", VGG-style D", "unet": ", U-Net D"}[m.discriminator] if self.D is not None else ""
        return (f"sr x{m.scale} ({m.generator} G{d_kind}; {what}) on "
                f"{self.train_data.name} ({len(self.train_data)} images, {side} px HR patches from "
                f"{d.resolution} px, LR {side // m.scale} px)")

    def images_per_step(self) -> int:
        return self.sampler.batch_size * self.ctx.world

    # ------------------------------------------------------------------ the step

    def _lr_hr(self) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.cfg.data
        hr = random_patch(self.sampler.next()["x"], d.patch)
        if d.rot90:
            hr = random_rot90(hr)
        lr = degrade(hr, self.scale, d.blur, d.noise, jpeg=d.jpeg)
        fmt = self.ctx.memory_format
        return lr.contiguous(memory_format=fmt), hr.contiguous(memory_format=fmt)

    def d_step(self, step: int) -> tuple[torch.Tensor, Stats]:
        lr, hr = self._lr_hr()
        fake = self.G(lr)  # its graph is kept for the G phase (this phase records for G)
        logits = self.D(torch.cat([hr, fake.detach()])).float()
        real, fake_logits = logits.split(hr.shape[0])
        if self.loss is None:
            loss, _ = relativistic_average_losses(real, fake_logits)
        else:
            loss = self.loss.d_loss(real, fake_logits)
        self._kept = (hr, fake, real.detach())
        return loss, {"d_loss": loss.detach(), "d_real": real.detach().mean(), "d_fake": fake_logits.detach().mean()}

    def g_step(self, step: int) -> tuple[torch.Tensor, Stats]:
        lo = self.cfg.loss
        if self.D is not None:
            (hr, fake, real_logits), self._kept = self._kept, None
        else:
            lr, hr = self._lr_hr()
            fake = self.G(lr)
        pixel = l1_loss(hr, fake)
        loss = lo.pixel_weight * pixel
        stats = {"pixel": pixel.detach()}
        if self.perceptual is not None:
            perceptual = self.perceptual.loss(fake, hr)
            loss = loss + lo.perceptual_weight * perceptual
            stats["perceptual"] = perceptual.detach()
        if self.D is not None:
            fake_logits = self.D(fake).float()
            if self.loss is None:
                _, adversarial = relativistic_average_losses(real_logits, fake_logits)
            else:
                adversarial = self.loss.g_loss(fake_logits)
            loss = loss + lo.gan_weight * adversarial
            stats["g_loss"] = adversarial.detach()
        return loss, stats

    # ------------------------------------------------------------------ upscaling and what a run shows

    @torch.no_grad()
    def upscale(self, lr: torch.Tensor, use_ema: bool = True, batch_size: int = 16) -> torch.Tensor:
        """G (its EMA when there is one) on model-space LR images, in eval mode, in batches; float [-1, 1]."""
        net = self.sampling_net("G", use_ema)
        was_training = net.training
        net.eval()
        outs = [net(lr[i : i + batch_size].to(self.device).contiguous(memory_format=self.ctx.memory_format))
                .float().clamp(-1, 1).cpu() for i in range(0, len(lr), batch_size)]
        net.train(was_training)
        return torch.cat(outs)

    def test_inputs(self, hr: torch.Tensor) -> torch.Tensor:
        """The LR inputs of uint8 HR test images, degraded as in training (fixed noise), model space."""
        d = self.cfg.data
        return degraded_test_inputs(hr, self.scale, d.blur, d.noise, d.jpeg)

    def fixed_inputs(self, n: int, seed: int) -> dict[str, torch.Tensor]:
        """Centre crops (at most 128 px, a multiple of the scale) of ``n`` test images spread over the split."""
        images = self.test_data.data
        idx = torch.linspace(0, len(images) - 1, min(n, len(images))).round().long()
        side = min(128, images.shape[-1]) // self.scale * self.scale
        top = (images.shape[-1] - side) // 2
        hr = images[idx][:, :, top : top + side, top : top + side]
        return {"x": hr, "lr": self.test_inputs(hr)}

    def sample_picture(self, fixed: dict[str, torch.Tensor], step: int) -> np.ndarray:
        """Rows of LR (nearest) | bicubic | G | HR."""
        from gankit.viz import side_by_side

        lr = fixed["lr"]
        columns = [to_uint8(nearest_upscale(lr, self.scale)), to_uint8(bicubic_upscale(lr, self.scale)),
                   to_uint8(self.upscale(lr)), fixed["x"].cpu()]
        n = len(lr)
        return side_by_side(columns, groups_per_row=2 if n >= 4 else 1)

    def end_of_run_metrics(self, seed: int) -> dict:
        """PSNR/SSIM (Y channel, border crop) of G, bicubic and nearest on every test image, with the protocol."""
        from gankit.metrics.image_quality import sr_metrics

        hr = self.test_data.data
        lr = self.test_inputs(hr)
        result = sr_metrics(to_uint8(self.upscale(lr)), hr, self.scale)
        for name, up in (("bicubic", bicubic_upscale), ("nearest", nearest_upscale)):
            base = sr_metrics(to_uint8(up(lr, self.scale)), hr, self.scale)
            result[name] = {k: v for k, v in base.items() if k != "protocol"}
        d = self.cfg.data
        result["protocol"].update({
            "test": f"{self.test_data.name}: every image of {self.test_source}, {d.resolution} px",
            "inputs": f"x{self.scale} antialiased bicubic downscale (blur {d.blur}, noise {d.noise}, noise seed "
                      f"{TEST_NOISE_SEED}), rounded to 8 bits"
                      + (f", JPEG at qualities {d.jpeg}-95 (same seed)" if d.jpeg else ""),
            "generator": f"G{'_ema' if self.emas else ''}, eval mode, outputs rounded to 8 bits",
            "baselines": "bicubic: torch bicubic upscale (a=-0.75), clamped; nearest: pixel repetition",
            "seed": seed,
        })
        return result

    def feature_eval_sets(self, n: int, seed: int):
        """G's upscales of up to ``n`` test images, against ``eval.reference`` or the HR test images."""
        from gankit.data.image_sources import ImageSet, load_images

        hr = self.test_data.data[:n]
        fake = ImageSet(to_uint8(self.upscale(self.test_inputs(hr))),
                        f"G on the first {len(hr)} images of {self.test_source} (x{self.scale})", "")
        d = self.cfg.data
        if self.cfg.eval.reference:
            return fake, load_images(self.cfg.eval.reference, n, seed, d.resolution, d.channels)
        digest = hashlib.sha256(hr.numpy().tobytes()).hexdigest()[:16]
        real = ImageSet(hr, f"the first {len(hr)} HR images of {self.test_source}",
                        f"sr-hr|{self.test_data.name}|{tuple(hr.shape)}|{digest}")
        return fake, real
