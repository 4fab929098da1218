"""The classic GAN step, unconditional or class-conditional (Goodfellow et al. 2014; Mirza 2014).

Phases:

* ``D`` (``n_critic`` times per step, each on a new real batch): minimise the loss's D term on
  real data and G's detached output (one pass of D over both when D has no batch norm), plus the
  gradient penalty (WGAN-GP) and R1 when it is not lazy; instance noise is added to both of D's
  inputs; weight clipping runs after the update.
* ``Dreg`` (every ``r1_every`` steps, only when R1 is lazy): gamma/2 * R1 * r1_every, the lazy
  regularization of Karras et al. (2020, StyleGAN2 appendix B).
* ``G``: minimise the loss's G term on a fresh batch of noise (or, with ``train.reuse_fake``, on the fake
  batch of the step's last D phase, whose forward then keeps G's graph); then update the EMA of G.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from gankit.config import Config
from gankit.data import BatchSampler
from gankit.losses import get_loss
from gankit.regularizers import (
    add_instance_noise,
    clip_weights_,
    gradient_penalty,
    instance_noise_std,
    r1_penalty,
)
from gankit.tasks.base import Phase, Stats, Task
from gankit.train.ema import EMA


def pack_samples(x: torch.Tensor, pack: int) -> torch.Tensor:
    """(B, C, ...) -> (B / pack, pack * C, ...): PacGAN's packed input to D (Lin et al. 2018).

    Consecutive samples are stacked along the first data axis; D then judges each pack as a whole,
    which lets it see (and penalize) a lack of diversity within the pack.
    """
    if pack == 1:
        return x
    b = x.shape[0]
    return x.reshape(b // pack, pack * x.shape[1], *x.shape[2:])


def topk_fraction(step: int, final: float, anneal_steps: int) -> float:
    """nu(t) = max(final, 1 - (1 - final) t / T): the share of G's batch kept by top-k training.

    Sinha et al. (2020), "Top-k Training of GANs": G's update uses only the k fake samples D rates
    most real, as the others' gradients point toward poorer, often mode-averaging, directions.
    """
    if anneal_steps <= 0:
        return final
    return max(final, 1.0 - (1.0 - final) * step / anneal_steps)


class GANTask(Task):
    """One G, one D (and G's EMA); labels go into both when the model is conditional."""

    def __init__(
        self,
        cfg: Config,
        generator: nn.Module,
        discriminator: nn.Module,
        sampler: BatchSampler,
        num_classes: int = 0,
        rank: int = 0,
        world: int = 1,
    ):
        self.cfg = cfg
        # G's noise and fake labels: drawn for the global batch from a generator seeded alike on every
        # process, each process keeping its slice (see gankit.distributed); saved in checkpoints
        self.rank, self.world = rank, world
        self.shared_gen = torch.Generator(device=next(generator.parameters()).device)
        self.shared_gen.manual_seed(cfg.train.seed * 1_000_003 + 17)
        self.G, self.D, self.sampler = generator, discriminator, sampler
        self.num_classes = num_classes if cfg.model.conditional else 0
        self.latent = generator.latent
        self.loss = get_loss(cfg.loss.name, cfg.loss.label_smoothing)
        self.device = next(generator.parameters()).device
        self.networks = {"G": self.G, "D": self.D}
        self.ema: EMA | None = None
        if cfg.train.ema > 0:
            self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
            self.networks["G_ema"] = self.G_ema
            self.ema = EMA(self.G, self.G_ema, cfg.train.ema, cfg.train.ema_start)
        self.optimizers = {"D": ["D"], "G": ["G"]}
        lo = cfg.loss
        d_after = [self._clip] if lo.weight_clip > 0 else []
        g_after = [self.ema.update] if self.ema else []
        self.lazy_r1 = lo.r1_gamma > 0 and lo.r1_every > 1
        self.reuse_fake = cfg.train.reuse_fake
        # without batch statistics in D, real and fake go through it as one batch: the same logits, one pass
        # (larger convolutions run faster) and one spectral-norm power iteration instead of two
        self.joint_d = not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.D.modules())
        self._kept_fake: tuple[torch.Tensor, torch.Tensor | None] | None = None  # (G's output, labels)
        self.phases = [Phase("D", "D", self.d_step, repeats=cfg.train.n_critic, after_step=d_after,
                             records_for=("G",) if self.reuse_fake else ())]
        if self.lazy_r1:
            self.phases.append(Phase("Dreg", "D", self.d_reg_step, interval=lo.r1_every))
        self.phases.append(Phase("G", "G", self.g_step, after_step=g_after))

    # ------------------------------------------------------------------ inputs

    def _mine(self, x: torch.Tensor, n: int) -> torch.Tensor:
        """This process's rows of a global draw: every ``world``-th from ``rank``, the way the sampler deals
        out real samples, so noise meets the same real labels as in a single process."""
        return x if self.world == 1 else x[self.rank :: self.world]

    def _noise(self, n: int) -> torch.Tensor:
        return self._mine(self.latent.sample(n * self.world, generator=self.shared_gen, device=self.device), n)

    def _fake_labels(self, n: int) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        labels = torch.randint(0, self.num_classes, (n * self.world,), generator=self.shared_gen, device=self.device)
        return self._mine(labels, n)

    def _real(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, labels = self.sampler.next()
        return x, (labels if self.num_classes else None)

    def _d_inputs(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """What D is shown: instance noise added, then packs of ``model.pack`` samples stacked."""
        lo = self.cfg.loss
        if lo.instance_noise > 0:
            x = add_instance_noise(x, instance_noise_std(step, lo.instance_noise, lo.instance_noise_steps))
        return pack_samples(x, self.cfg.model.pack)

    def _topk(self, fake_logits: torch.Tensor, step: int) -> torch.Tensor:
        lo = self.cfg.loss
        if lo.topk >= 1:
            return fake_logits
        fraction = topk_fraction(step, lo.topk, lo.topk_steps)
        k = max(1, round(fraction * fake_logits.shape[0]))
        return fake_logits.topk(k).values

    # ------------------------------------------------------------------ phases

    def d_step(self, step: int) -> tuple[torch.Tensor, Stats]:
        lo = self.cfg.loss
        real, labels = self._real()
        if self.reuse_fake:
            # G's graph is kept for its own phase (this phase records for G, so G's parameters require
            # gradients); D's loss below sees only the detached copy, so G gets no gradient from it
            fake = self.G(self._noise(real.shape[0]), labels)
            self._kept_fake = (fake, labels)
            fake = fake.detach()
        else:
            with torch.no_grad():
                fake = self.G(self._noise(real.shape[0]), labels)
        real_in, fake_in = self._d_inputs(real, step), self._d_inputs(fake, step)
        # D's logits in fp32 whatever the autocast precision, so the losses are summed in full precision
        if self.joint_d:
            both = self.D(torch.cat([real_in, fake_in]), None if labels is None else torch.cat([labels, labels]))
            d_real, d_fake = both.float().split(real_in.shape[0])
        else:
            d_real, d_fake = self.D(real_in, labels).float(), self.D(fake_in, labels).float()
        loss = self.loss.d_loss(d_real, d_fake)
        stats: Stats = {"d_loss": loss.detach(), "d_real": d_real.detach().mean(), "d_fake": d_fake.detach().mean()}
        if lo.gp_weight > 0:
            gp = gradient_penalty(lambda x: self.D(x, labels), real_in, fake_in)
            loss = loss + lo.gp_weight * gp
            stats["gp"] = gp.detach()
        if lo.r1_gamma > 0 and not self.lazy_r1:
            r1 = r1_penalty(lambda x: self.D(x, labels), real_in)
            loss = loss + 0.5 * lo.r1_gamma * r1
            stats["r1"] = r1.detach()
        return loss, stats

    def d_reg_step(self, step: int) -> tuple[torch.Tensor, Stats]:
        lo = self.cfg.loss
        real, labels = self._real()
        r1 = r1_penalty(lambda x: self.D(x, labels), self._d_inputs(real, step))
        return 0.5 * lo.r1_gamma * lo.r1_every * r1, {"r1": r1.detach()}

    def g_step(self, step: int) -> tuple[torch.Tensor, Stats]:
        if self._kept_fake is not None:
            (fake, labels), self._kept_fake = self._kept_fake, None
        else:
            n = self.sampler.batch_size  # this process's share of train.batch_size
            labels = self._fake_labels(n)
            fake = self.G(self._noise(n), labels)
        loss = self.loss.g_loss(self._topk(self.D(self._d_inputs(fake, step), labels).float(), step))
        return loss, {"g_loss": loss.detach()}

    def _clip(self, step: int) -> None:
        clip_weights_(self.D, self.cfg.loss.weight_clip)

    # ------------------------------------------------------------------ sampling

    def fixed_inputs(self, n: int, seed: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        if self.num_classes:
            n = max(self.num_classes, n - n % self.num_classes)
        inputs = {"z": self.latent.sample(n, generator=gen, device=self.device)}
        if self.num_classes:
            inputs["labels"] = (torch.arange(n) % self.num_classes).to(self.device)
        return inputs

    def sampling_net(self, use_ema: bool = True) -> nn.Module:
        """The generator that samples are drawn from: the EMA copy when there is one."""
        return self.G_ema if (use_ema and self.ema) else self.G

    def generate(self, inputs: dict[str, torch.Tensor], use_ema: bool = True) -> torch.Tensor:
        from gankit.infer import generate

        return generate(self.sampling_net(use_ema), inputs["z"], inputs.get("labels"))
