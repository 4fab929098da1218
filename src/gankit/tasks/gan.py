"""The classic GAN step, unconditional or class-conditional (Goodfellow et al. 2014; Mirza 2014).

Phases:

* ``D`` (``n_critic`` times per step, each on a new real batch): minimise the loss's D term on
  real data and G's detached output (one pass of D over both when D has no batch norm), plus the
  gradient penalty (WGAN-GP) and R1 when it is not lazy; instance noise is added to both of D's
  inputs; weight clipping runs after the update.
* ``Dreg`` (every ``r1_every`` steps, only when R1 is lazy): gamma/2 * R1 * r1_every, the lazy
  regularization of Karras et al. (2020, StyleGAN2 appendix B).
* ``G``: minimise the loss's G term on a fresh batch of noise (or, with ``train.reuse_fake``, on the fake
  batch of the step's last D phase, whose forward then keeps G's graph); then update the EMA of G (and ADA's p).
* ``Greg`` (every ``pl_every`` steps, StyleGAN2 with ``loss.pl_weight`` > 0): path-length regularization on
  a batch ``pl_batch_shrink`` times smaller (Karras et al. 2020, section 3.2), lazy like ``Dreg``.

With ``augment.kind`` set, everything D sees (real, generated, in every phase) first goes through DiffAugment
or ADA's pipeline (``gankit.data.d_augment``); ADA's probability p follows E[sign(D(real))] every
``augment.interval`` steps and is logged (``ada_p``, ``ada_rt``) and checkpointed.

With ``model.grow_start`` (progressive growing, ``gankit.nets.growing``) every phase first sets the resolution
and fade-in weight that the step's image count gives, and real batches are shown at that resolution.

StyleGAN2 (``model.arch=stylegan2``) is an architecture of this family: its generator mixes styles and tracks
the average w itself in training mode, so the phases above are its training step.

Batches hold ``x`` (images or 2-D points) and, for a labelled dataset, ``label``. A run shows a grid of
fixed-noise samples (one column per class for a conditional G) or, for 2-D data, a scatter plot; it ends
with the pixel Fréchet distance (images) or the mode metrics (2-D mixtures).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gankit.config import Config
from gankit.data import BatchSampler, Dataset, build_dataset, to_model_space, to_uint8
from gankit.data.d_augment import AdaptiveAugment, DAugment
from gankit.errors import GankitError
from gankit.losses import get_loss
from gankit.nets import build_networks
from gankit.nets.growing import growth_at, real_at, set_growth
from gankit.regularizers import (
    add_instance_noise,
    clip_weights_,
    gradient_penalty,
    instance_noise_std,
    path_length_penalty,
    path_lengths,
    r1_penalty,
)
from gankit.tasks.base import BuildContext, Phase, Stats, Task


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

    family = "gan"

    def __init__(self, cfg: Config, ctx: BuildContext, dataset: Dataset, generator: nn.Module,
                 discriminator: nn.Module, sampler: BatchSampler, num_classes: int = 0):
        super().__init__(cfg, ctx)
        self.rank, self.world = ctx.rank, ctx.world
        # G's noise and fake labels: drawn for the global batch from a generator seeded alike on every
        # process, each process keeping its slice (see gankit.distributed); saved in checkpoints
        self.shared_gen = torch.Generator(device=ctx.device)
        self.shared_gen.manual_seed(cfg.train.seed * 1_000_003 + 17)
        self.rngs = {"shared": self.shared_gen}
        self.dataset = dataset
        self.G, self.D, self.sampler = generator, discriminator, sampler
        self.samplers = {"data": sampler}
        self.num_classes = num_classes if cfg.model.conditional else 0
        self.latent = generator.latent
        self.loss = get_loss(cfg.loss.name, cfg.loss.label_smoothing)
        self.networks = {"G": self.G, "D": self.D}
        self.ema = cfg.train.ema > 0
        if self.ema:
            self.G_ema = self.add_ema("G")
        self.compiled = ("G", "D")
        self.optimizers = {"D": ["D"], "G": ["G"]}
        lo = cfg.loss
        d_after = [self._clip] if lo.weight_clip > 0 else []
        g_after = [self.update_emas] if self.ema else []
        self.d_augment, self.ada = self._d_augmentation(cfg, ctx)
        self.grow = cfg.model.grow_start > 0
        self.growth = (cfg.data.resolution, 1.0)  # (resolution, alpha) of the last step set
        if self.ada is not None and cfg.augment.adaptive:
            g_after.append(self._ada_update)
        self.lazy_r1 = lo.r1_gamma > 0 and lo.r1_every > 1
        self.reuse_fake = cfg.train.reuse_fake
        # without batch statistics in D, real and fake go through it as one batch: the same logits, one pass
        # (larger convolutions run faster) and one spectral-norm power iteration instead of two; not when D
        # compares samples within its batch (StyleGAN2's minibatch standard deviation)
        self.joint_d = not (any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.D.modules())
                            or getattr(self.D, "mixes_batch", False))
        self._kept_fake: tuple[torch.Tensor, torch.Tensor | None] | None = None  # (G's output, labels)
        self.phases = [Phase("D", "D", self.d_step, repeats=cfg.train.n_critic, after_step=d_after,
                             records_for=("G",) if self.reuse_fake else ())]
        if self.lazy_r1:
            self.phases.append(Phase("Dreg", "D", self.d_reg_step, interval=lo.r1_every))
        self.phases.append(Phase("G", "G", self.g_step, after_step=g_after))
        if lo.pl_weight > 0:
            self.pl_mean = torch.zeros((), device=ctx.device)  # a: the running mean of the path lengths
            self.phases.append(Phase("Greg", "G", self.g_reg_step, interval=lo.pl_every))

    @staticmethod
    def _d_augmentation(cfg: Config, ctx: BuildContext) -> tuple[DAugment | None, AdaptiveAugment | None]:
        a = cfg.augment
        if a.kind == "none":
            return None, None
        ada = None
        if a.kind == "ada":
            from gankit.distributed import sum_over_processes

            ada = AdaptiveAugment(a.target, a.interval, a.speed_images, a.p_init, device=ctx.device,
                                  reduce=sum_over_processes if ctx.world > 1 else None)
        return DAugment(a.kind, tuple(a.policy), ada), ada

    # ------------------------------------------------------------------ building

    @classmethod
    def build(cls, cfg: Config, ctx: BuildContext) -> GANTask:
        dataset = build_dataset(cfg.data, seed=cfg.train.seed)
        if cfg.model.conditional and dataset.num_classes < 2:
            raise GankitError(
                f"model.conditional=true but dataset {dataset.name} has no labels "
                "(a folder needs one sub-folder per class)"
            )
        ctx.seed_weights(cfg.train.seed)  # the same initial weights in every process
        num_classes = dataset.num_classes if cfg.model.conditional else 0
        G, D = build_networks(cfg.model, dataset.sample_shape, num_classes, dataset.is_image)
        if not dataset.is_image:
            ctx.memory_format = torch.contiguous_format
        ctx.place(G, D)
        ctx.seed_process(cfg.train.seed)  # per-process randomness (augmentation, instance noise, GP weights)
        sampler = BatchSampler(
            dataset, ctx.batch_size, ctx.device, seed=cfg.train.seed, hflip=cfg.data.hflip,
            crop_padding=cfg.data.crop_padding, rank=ctx.rank, world=ctx.world, memory_format=ctx.memory_format,
        )
        return cls(cfg, ctx, dataset, G, D, sampler, num_classes)

    @classmethod
    def inference_networks(cls, cfg: Config, data_info: dict) -> dict[str, nn.Module]:
        num_classes = len(data_info["class_names"]) if cfg.model.conditional else 0
        g, _ = build_networks(cfg.model, tuple(data_info["sample_shape"]), num_classes, data_info["is_image"])
        if "growth" in data_info:  # saved while growing: sample at the resolution it had reached
            set_growth(data_info["growth"]["resolution"], data_info["growth"]["alpha"], g)
        return {"G": g}

    @property
    def data_info(self) -> dict:
        info = self.dataset.info()
        if self.grow:
            info["growth"] = {"resolution": self.growth[0], "alpha": self.growth[1]}
        return info

    def set_step_growth(self, step: int) -> None:
        """Progressive growing: the resolution and fade-in weight after the real images of ``step`` steps, given to
        every network (an exact function of the step, so a run resumed mid-fade continues the same fade)."""
        if not self.grow:
            return
        m = self.cfg.model
        self.growth = growth_at(step * self.images_per_step(), m.grow_start, self.cfg.data.resolution,
                                m.grow_fade, m.grow_stable)
        set_growth(*self.growth, *self.networks.values())

    def describe(self) -> str:
        ds = self.dataset
        return f"{self.cfg.model.arch} on {ds.name} ({len(ds)} samples, shape {ds.sample_shape})"

    def images_per_step(self) -> int:
        return self.sampler.batch_size * self.world * self.cfg.train.n_critic

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
        batch = self.sampler.next()
        x = real_at(batch["x"], *self.growth) if self.grow else batch["x"]
        return x, (batch["label"] if self.num_classes else None)

    def _d_inputs(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """What D is shown: augmented (DiffAugment / ADA), instance noise added, then packs of ``model.pack``
        samples stacked."""
        lo = self.cfg.loss
        if self.d_augment is not None:
            x = self.d_augment(x)
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
        self.set_step_growth(step)
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
        if self.ada is not None:
            self.ada.accumulate(d_real)
            stats["ada_p"] = self.ada.p.detach().clone()
            stats["ada_rt"] = self.ada.last_rt.detach().clone()
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
        self.set_step_growth(step)
        lo = self.cfg.loss
        real, labels = self._real()
        r1 = r1_penalty(lambda x: self.D(x, labels), self._d_inputs(real, step))
        return 0.5 * lo.r1_gamma * lo.r1_every * r1, {"r1": r1.detach()}

    def g_step(self, step: int) -> tuple[torch.Tensor, Stats]:
        self.set_step_growth(step)
        if self._kept_fake is not None:
            (fake, labels), self._kept_fake = self._kept_fake, None
        else:
            n = self.sampler.batch_size  # this process's share of train.batch_size
            labels = self._fake_labels(n)
            fake = self.G(self._noise(n), labels)
        loss = self.loss.g_loss(self._topk(self.D(self._d_inputs(fake, step), labels).float(), step))
        return loss, {"g_loss": loss.detach()}

    def g_reg_step(self, step: int) -> tuple[torch.Tensor, Stats]:
        """Path-length regularization (StyleGAN2): pl_weight * pl_every * E[(||J_w^T y|| - a)^2], lazily."""
        self.set_step_growth(step)
        lo = self.cfg.loss
        n = max(1, self.sampler.batch_size // lo.pl_batch_shrink)
        labels = self._fake_labels(n)
        ws = self.G.training_ws(self._noise(n), labels)  # with style mixing, as G's own phase
        lengths = path_lengths(self.G.synthesis(ws), ws)
        mean_length = lengths.detach().mean()
        if self.world > 1:  # one running mean for all processes
            from gankit.distributed import sum_over_processes

            mean_length = sum_over_processes(mean_length) / self.world
        penalty, new_mean = path_length_penalty(lengths, self.pl_mean, lo.pl_decay, mean_length)
        self.pl_mean.copy_(new_mean)
        return penalty * lo.pl_weight * lo.pl_every, {"pl_penalty": penalty.detach(), "pl_mean": new_mean.clone()}

    def _ada_update(self, step: int) -> None:
        if step % self.cfg.augment.interval == 0:
            self.ada.update(self.images_per_step())

    def _clip(self, step: int) -> None:
        clip_weights_(self.D, self.cfg.loss.weight_clip)

    def extra_state(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors = {}
        if self.ada is not None:
            tensors.update({f"ada.{k}": v for k, v in self.ada.state_dict().items()})
        if self.cfg.loss.pl_weight > 0:
            tensors["pl_mean"] = self.pl_mean
        return tensors, {}

    def load_extra_state(self, tensors: dict[str, torch.Tensor], state: dict) -> None:
        if self.ada is not None:
            self.ada.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ada.")})
        if self.cfg.loss.pl_weight > 0 and "pl_mean" in tensors:
            self.pl_mean.copy_(tensors["pl_mean"])

    # ------------------------------------------------------------------ what a run shows

    def fixed_inputs(self, n: int, seed: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        if self.num_classes:
            n = max(self.num_classes, n - n % self.num_classes)
        inputs = {"z": self.latent.sample(n, generator=gen, device=self.device)}
        if self.num_classes:
            inputs["labels"] = (torch.arange(n) % self.num_classes).to(self.device)
        return inputs

    def generate(self, inputs: dict[str, torch.Tensor], use_ema: bool = True) -> torch.Tensor:
        """G(z, labels) of the sampling G, in eval mode with BatchNorm's standing statistics, no gradients."""
        from gankit.sampling import generate

        return generate(self.sampling_net("G", use_ema), inputs["z"], inputs.get("labels"))

    def sample_picture(self, fixed: dict[str, torch.Tensor], step: int) -> np.ndarray:
        from gankit.viz import image_grid, scatter_picture

        self.set_step_growth(max(step - 1, 0))  # as the last step left the networks (also right after a resume)

        out = self.generate(fixed)
        if self.dataset.is_image:
            return image_grid(to_uint8(out), self.num_classes if "labels" in fixed else None)
        ds = self.dataset
        real = ds.data[: len(out)].numpy()
        return scatter_picture(out.cpu().numpy(), ds.centers.numpy(), real, title=f"step {step}")

    def end_of_run_metrics(self, seed: int) -> dict:
        """Pixel Fréchet distance for images, mode coverage for 2-D mixtures; each with its protocol.

        Samples come from G's EMA (when there is one) with noise from a generator seeded by ``seed``;
        real images are a random subset of the training data drawn with the same seed.
        """
        from gankit.metrics import mode_metrics, pixel_fd
        from gankit.sampling import draw_latents, generate

        ds, n, sc = self.dataset, self.cfg.eval.num_samples, self.cfg.sample
        gen = torch.Generator().manual_seed(seed + 2)
        inputs = {}
        if self.num_classes:
            inputs["labels"] = torch.randint(0, self.num_classes, (n,), generator=gen)
        inputs["z"] = draw_latents(self.sampling_net(), n, gen, inputs.get("labels"),
                                   jacobian_truncation=sc.jacobian_truncation, projections=sc.jacobian_projections)
        fake = generate(self.sampling_net(), inputs["z"], inputs.get("labels"), psi=sc.truncation_psi,
                        cutoff=sc.truncation_cutoff).cpu()
        if not ds.is_image:
            result = mode_metrics(fake.numpy(), ds.centers.numpy(), ds.std)
            result["protocol"].update({"seed": seed, "jacobian_truncation": sc.jacobian_truncation})
            return result
        if len(ds) < 2:  # a covariance needs two pictures
            return {"protocol": {"metric": "pixel_fd", "skipped": f"{ds.name} has {len(ds)} picture: a Fréchet "
                                 "distance needs at least 2 real ones"}}
        idx = torch.randperm(len(ds), generator=gen)[: min(n, len(ds))]
        real = to_model_space(ds.data[idx])
        result = pixel_fd(fake, real)
        result["protocol"].update({"seed": seed, "real": f"{ds.name} (training data)", "generator": "G_ema",
                                   "jacobian_truncation": sc.jacobian_truncation})
        if sc.truncation_psi != 1:
            result["protocol"].update({"truncation_psi": sc.truncation_psi, "truncation_cutoff": sc.truncation_cutoff})
        return result

    def eval_data(self) -> dict:
        """The data settings that pick real images and an extractor for feature metrics."""
        d = self.cfg.data
        return {"dataset": d.name, "resolution": d.resolution, "channels": d.channels, "path": d.path,
                "split": d.split}

    def feature_eval_sets(self, n: int, seed: int):
        """``n`` samples of the sampling G (class-balanced, the run's sampling options), as ``gankit eval --run``
        draws them, and up to ``n`` real images from ``eval.reference`` (default: the test split or the folder)."""
        from gankit.data.image_sources import ImageSet, default_reference, load_images
        from gankit.sampling import sample_generator

        if not self.dataset.is_image:
            raise GankitError("feature metrics are for images; 2-D mixtures get mode metrics at the end")
        sc = self.cfg.sample
        labels = torch.arange(n) % self.num_classes if self.num_classes else None
        out = sample_generator(self.sampling_net(), n, seed, labels, None, sc.jacobian_truncation,
                               sc.jacobian_projections, sc.truncation_psi, sc.truncation_cutoff)
        where = "G_ema" if self.ema else "G"
        fake = ImageSet(to_uint8(out).cpu(), f"{where} ({n} samples, seed {seed})", "", labels)
        data = self.eval_data()
        real = load_images(self.cfg.eval.reference or default_reference(data), n, seed, data["resolution"],
                           data["channels"])
        return fake, real

    def default_extractor(self) -> str:
        from gankit.data.image_sources import default_extractor

        return default_extractor(self.cfg.data.name)
