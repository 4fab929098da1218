"""pix2pix: paired image-to-image translation with a conditional GAN (Isola et al. 2017).

G minimises  L_cGAN(G, D) + lambda E[||y - G(x)||_1]  (eq. 4), D judges (input, output) pairs patch by
patch (a PatchGAN on the input and the output stacked on the channel axis). One G forward per step, as the
paper's code does:

* ``D`` (records for G): y_hat = G(x) with G's graph kept; D's loss on D(x, y) (real) and D(x, y_hat)
  detached (fake), one pass over both when D has no batch norm.
* ``G``: ``gan_weight`` * the loss's G term on D(x, y_hat) + ``l1_weight`` * mean |y - y_hat|; then the EMA of
  G (when ``train.ema`` > 0).

The paper halves D's loss "to slow down the rate at which D learns"; with Adam, which normalises gradient
scale, that factor changes nothing, so it is left out. At test time G runs in eval mode: no dropout (the
paper keeps dropout on as its only noise; without it outputs are deterministic, which suits L1/PSNR).
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.config import Config
from gankit.data import BatchSampler
from gankit.data.paired import TranslationData
from gankit.errors import DataError
from gankit.losses import get_loss, l1_loss
from gankit.nets import build_patch_discriminator, build_translator
from gankit.tasks.base import BuildContext, Phase, Stats
from gankit.tasks.translation import TranslationTask, load_train_and_test, translation_networks


class Pix2PixTask(TranslationTask):
    """G: A -> B, D on (A, B) pairs; batches hold aligned ``A`` and ``B``."""

    family = "pix2pix"
    progress_keys = ("d_loss", "g_loss", "l1")

    def __init__(self, cfg: Config, ctx: BuildContext, train: TranslationData, test: TranslationData,
                 test_source: str, generator: nn.Module, discriminator: nn.Module, sampler: BatchSampler):
        super().__init__(cfg, ctx, train, test, test_source)
        self.G, self.D, self.sampler = generator, discriminator, sampler
        self.samplers = {"pairs": sampler}
        self.networks = {"G": generator, "D": discriminator}
        if cfg.train.ema > 0:
            self.add_ema("G")
        self.compiled = ("G", "D")
        self.optimizers = {"D": ["D"], "G": ["G"]}
        self.loss = get_loss(cfg.loss.name)
        self.conditional_d = cfg.model.d_conditional
        self.joint_d = not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in discriminator.modules())
        self._kept: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # (x, y, G(x)) for G's phase
        self.phases = [Phase("D", "D", self.d_step, records_for=("G",)),
                       Phase("G", "G", self.g_step, after_step=[self.update_emas] if self.emas else [])]

    @classmethod
    def build(cls, cfg: Config, ctx: BuildContext) -> Pix2PixTask:
        train, test, test_source = load_train_and_test(cfg)
        if train.pairs is None:
            raise DataError(f"pix2pix needs aligned pairs, and {cfg.data.name} gives unpaired images: use task "
                            "cyclegan, or a paired folder")
        c, r = cfg.data.channels, cfg.data.resolution
        ctx.seed_weights(cfg.train.seed)
        G = build_translator(cfg.model, c, c, r)
        D = build_patch_discriminator(cfg.model, 2 * c if cfg.model.d_conditional else c, r)
        ctx.place(G, D)
        ctx.seed_process(cfg.train.seed)  # per-process randomness: augmentation, dropout
        sampler = BatchSampler(train.pairs, ctx.batch_size, ctx.device, seed=cfg.train.seed, hflip=cfg.data.hflip,
                               crop_padding=cfg.data.crop_padding, rank=ctx.rank, world=ctx.world,
                               memory_format=ctx.memory_format)
        return cls(cfg, ctx, train, test, test_source, G, D, sampler)

    @classmethod
    def inference_networks(cls, cfg: Config, data_info: dict) -> dict[str, nn.Module]:
        return translation_networks(cfg, ("G",))

    def images_per_step(self) -> int:
        return self.sampler.batch_size * self.world

    def _d_input(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, y], dim=1) if self.conditional_d else y

    def d_step(self, step: int) -> tuple[torch.Tensor, Stats]:
        batch = self.sampler.next()
        x, y = batch["A"], batch["B"]
        fake = self.G(x)  # its graph is kept for the G phase (this phase records for G)
        self._kept = (x, y, fake)
        real_in, fake_in = self._d_input(x, y), self._d_input(x, fake.detach())
        if self.joint_d:
            d_real, d_fake = self.D(torch.cat([real_in, fake_in])).float().split(real_in.shape[0])
        else:
            d_real, d_fake = self.D(real_in).float(), self.D(fake_in).float()
        loss = self.loss.d_loss(d_real, d_fake)
        return loss, {"d_loss": loss.detach(), "d_real": d_real.detach().mean(), "d_fake": d_fake.detach().mean()}

    def g_step(self, step: int) -> tuple[torch.Tensor, Stats]:
        (x, y, fake), self._kept = self._kept, None
        lo = self.cfg.loss
        adversarial = self.loss.g_loss(self.D(self._d_input(x, fake)).float())
        l1 = l1_loss(y, fake)
        loss = lo.gan_weight * adversarial + lo.l1_weight * l1
        return loss, {"g_loss": adversarial.detach(), "l1": l1.detach()}
