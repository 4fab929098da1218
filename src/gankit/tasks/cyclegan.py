"""CycleGAN: unpaired image-to-image translation with cycle consistency (Zhu et al. 2017).

Two generators, G_ab: A -> B and G_ba: B -> A, and two PatchGAN discriminators, D_b (real B vs G_ab(a)) and
D_a (real A vs G_ba(b)). The full objective (eq. 3), with the identity term of section 5.2:

    L = L_GAN(G_ab, D_b) + L_GAN(G_ba, D_a)
        + lambda (||G_ba(G_ab(a)) - a||_1 + ||G_ab(G_ba(b)) - b||_1)
        + lambda * identity_weight (||G_ab(b) - b||_1 + ||G_ba(a) - a||_1)

with the least-squares GAN loss. A and B batches come from two independent streams (two samplers with
different seeds), so even a paired source is seen unpaired. Phases, in this order, one forward of each
generator per direction:

* ``G``: both translations, both reconstructions, the identity mappings; ``gan_weight`` * the loss's G term
  on D_b(G_ab(a)) and D_a(G_ba(b)) (2 = the paper's E[(D(G(x)) - 1)^2]) + the L1 terms; then the EMAs.
* ``D``: D_b on real b against a fake drawn from a pool of the last ``pool_size`` G_ab(a) (Shrivastava
  et al. 2017), D_a likewise; the LSGAN D loss 1/2 E[(D(real) - 1)^2] + 1/2 E[D(fake)^2] of each, summed
  (the paper's halving of D's loss is that 1/2).

The paper keeps the learning rate for 100 epochs and decays it linearly to 0 over the next 100: the
cyclegan presets set ``train.lr_decay=linear`` and ``train.lr_decay_start=0.5``.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.config import Config
from gankit.data import BatchSampler
from gankit.data.paired import TranslationData
from gankit.losses import cycle_consistency_loss, get_loss, identity_loss
from gankit.nets import build_patch_discriminator, build_translator
from gankit.tasks.base import BuildContext, Phase, Stats
from gankit.tasks.image_pool import ImagePool
from gankit.tasks.translation import TranslationTask, load_train_and_test, translation_networks

B_STREAM_SEED = 7919  # added to train.seed for the B sampler, so that its order is not the A sampler's


class CycleGANTask(TranslationTask):
    """G_ab, G_ba, D_a, D_b; batches of ``A`` and of ``B`` from two samplers."""

    family = "cyclegan"
    directions = {"a2b": "G_ab", "b2a": "G_ba"}
    progress_keys = ("d_loss", "g_loss", "cycle")

    def __init__(self, cfg: Config, ctx: BuildContext, train: TranslationData, test: TranslationData,
                 test_source: str, nets: dict[str, nn.Module], samplers: dict[str, BatchSampler]):
        super().__init__(cfg, ctx, train, test, test_source)
        self.networks = dict(nets)
        self.G_ab, self.G_ba, self.D_a, self.D_b = (nets[k] for k in ("G_ab", "G_ba", "D_a", "D_b"))
        if cfg.train.ema > 0:
            self.add_ema("G_ab")
            self.add_ema("G_ba")
        self.compiled = ("G_ab", "G_ba", "D_a", "D_b")
        self.optimizers = {"G": ["G_ab", "G_ba"], "D": ["D_a", "D_b"]}
        self.samplers = samplers
        self.loss = get_loss(cfg.loss.name)
        base = cfg.train.seed * 1000 + ctx.rank
        self.rngs = {f"pool_{k}": torch.Generator().manual_seed(base + i) for i, k in enumerate("ab", 1)}
        self.pools = {"a": ImagePool(cfg.loss.pool_size, self.rngs["pool_a"]),
                      "b": ImagePool(cfg.loss.pool_size, self.rngs["pool_b"])}
        self.joint_d = not any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                               for d in (self.D_a, self.D_b) for m in d.modules())
        self._kept: tuple[torch.Tensor, ...] | None = None  # (a, b, G_ba(b), G_ab(a)) detached, for D's phase
        self.phases = [Phase("G", "G", self.g_step, after_step=[self.update_emas] if self.emas else []),
                       Phase("D", "D", self.d_step)]

    @classmethod
    def build(cls, cfg: Config, ctx: BuildContext) -> CycleGANTask:
        train, test, test_source = load_train_and_test(cfg)
        c, r = cfg.data.channels, cfg.data.resolution
        ctx.seed_weights(cfg.train.seed)
        nets = {"G_ab": build_translator(cfg.model, c, c, r), "G_ba": build_translator(cfg.model, c, c, r),
                "D_a": build_patch_discriminator(cfg.model, c, r), "D_b": build_patch_discriminator(cfg.model, c, r)}
        ctx.place(*nets.values())
        ctx.seed_process(cfg.train.seed)
        d = cfg.data

        def sampler(data, seed: int) -> BatchSampler:
            return BatchSampler(data, ctx.batch_size, ctx.device, seed=seed, hflip=d.hflip,
                                crop_padding=d.crop_padding, rank=ctx.rank, world=ctx.world,
                                memory_format=ctx.memory_format)

        samplers = {"A": sampler(train.a, cfg.train.seed), "B": sampler(train.b, cfg.train.seed + B_STREAM_SEED)}
        return cls(cfg, ctx, train, test, test_source, nets, samplers)

    @classmethod
    def inference_networks(cls, cfg: Config, data_info: dict) -> dict[str, nn.Module]:
        return translation_networks(cfg, ("G_ab", "G_ba"))

    def images_per_step(self) -> int:
        return 2 * self.samplers["A"].batch_size * self.world

    def extra_state(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors, state = {}, {}
        for name, pool in self.pools.items():
            t, s = pool.state(f"pool_{name}")
            tensors.update(t)
            state[f"pool_{name}"] = s
        return tensors, state

    def load_extra_state(self, tensors: dict[str, torch.Tensor], state: dict) -> None:
        for name, pool in self.pools.items():
            pool.load(f"pool_{name}", tensors, state.get(f"pool_{name}", {}))

    # ------------------------------------------------------------------ phases

    def g_step(self, step: int) -> tuple[torch.Tensor, Stats]:
        lo = self.cfg.loss
        a, b = self.samplers["A"].next()["A"], self.samplers["B"].next()["B"]
        fake_b, fake_a = self.G_ab(a), self.G_ba(b)
        adversarial = self.loss.g_loss(self.D_b(fake_b).float()) + self.loss.g_loss(self.D_a(fake_a).float())
        cycle = cycle_consistency_loss(a, self.G_ba(fake_b)) + cycle_consistency_loss(b, self.G_ab(fake_a))
        loss = lo.gan_weight * adversarial + lo.cycle_weight * cycle
        stats: Stats = {"g_loss": adversarial.detach(), "cycle": cycle.detach()}
        if lo.identity_weight > 0:
            same = identity_loss(b, self.G_ab(b)) + identity_loss(a, self.G_ba(a))
            loss = loss + lo.cycle_weight * lo.identity_weight * same
            stats["identity"] = same.detach()
        self._kept = (a, b, fake_a.detach(), fake_b.detach())
        return loss, stats

    def _d_loss(self, d: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.joint_d:
            d_real, d_fake = d(torch.cat([real, fake.to(real.dtype)])).float().split(real.shape[0])
        else:
            d_real, d_fake = d(real).float(), d(fake).float()
        return self.loss.d_loss(d_real, d_fake), d_real.detach().mean() - d_fake.detach().mean()

    def d_step(self, step: int) -> tuple[torch.Tensor, Stats]:
        (a, b, fake_a, fake_b), self._kept = self._kept, None
        loss_b, gap_b = self._d_loss(self.D_b, b, self.pools["b"].query(fake_b))
        loss_a, gap_a = self._d_loss(self.D_a, a, self.pools["a"].query(fake_a))
        loss = loss_a + loss_b
        return loss, {"d_loss": loss.detach(), "d_gap": (gap_a + gap_b).detach() / 2}
