"""Tiny trained runs of every family (a few steps each) for the tests of using models: enough to exercise every
code path, not to look good."""

from __future__ import annotations

from PIL import Image
from translation_data import shapes, write_pairs

from gankit import config as C
from gankit.train.loop import Trainer, build, prepare_run_dir


def train_tiny(raw_or_preset, run_dir, overrides=(), steps=4):
    if isinstance(raw_or_preset, str):
        cfg = C.resolve(raw_or_preset, overrides=[*overrides, f"train.steps={steps}", "train.tensorboard=false",
                                                  "train.sample_every=1000", "train.max_cpu_seconds=0",
                                                  "train.precision=fp32"])
    else:
        cfg = C.from_dict(raw_or_preset)
    prepare_run_dir(run_dir)
    trainer = Trainer(build(cfg), run_dir, quiet=True)
    trainer.run()
    trainer.finish()
    return run_dir


DIGITS = ["train.batch_size=32", "train.ema_start=0", "eval.num_samples=64"]
SG2 = ["data.name=digits", "data.split=train", "data.channels=1", "data.resolution=8", "data.hflip=false",
       "model.channel_base=64", "model.max_channels=16", "model.z_dim=16", "model.w_dim=16", "model.mapping_layers=2",
       "train.fit_to_budget=false", "train.batch_size=16", "loss.r1_every=4", "loss.pl_every=2"]


def tiny_runs(root):
    """Tiny trained runs (a few steps): an unconditional DCGAN, a conditional one, a StyleGAN2 (conditional),
    pix2pix and x2 SR; enough to exercise every code path, not to look good."""
    out = {
        "dcgan": train_tiny("dcgan-digits", root / "dcgan", DIGITS),
        "cgan": train_tiny("dcgan-digits", root / "cgan", [*DIGITS, "model.conditional=true",
                                                           "model.cond_d=projection", "model.g_norm=batch"]),
        "sg2": train_tiny("stylegan2-emoji64", root / "sg2", [*SG2, "model.conditional=true"], steps=2),
    }
    pairs = write_pairs(root / "pairs", n=16, size=16)
    small = {"steps": 2, "batch_size": 4, "sample_every": 1000, "tensorboard": False, "ema": 0.9, "grid_size": 4}
    out["pix2pix"] = train_tiny({
        "task": "pix2pix", "data": {"name": "paired-folder", "path": str(pairs), "resolution": 16, "channels": 3},
        "model": {"width": 8, "d_width": 8, "max_channels": 16, "d_layers": 1, "generator": "unet", "depth": 4},
        "train": small}, root / "pix2pix")
    photos = root / "photos"
    photos.mkdir()
    for i, im in enumerate(shapes(12, size=16, seed=3)):
        Image.fromarray(im).resize((32, 32)).save(photos / f"{i:02d}.png")
    out["sr"] = train_tiny({
        "task": "sr", "data": {"name": "folder", "path": str(photos), "resolution": 32, "channels": 3, "patch": 16},
        "model": {"generator": "srresnet", "scale": 2, "width": 8, "blocks": 1, "norm": "none"},
        "train": small}, root / "sr")
    return out


