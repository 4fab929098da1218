"""The ``gankit`` command: argument parsing only; the work happens in the library."""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import time
from pathlib import Path

from gankit.errors import GankitError

DEFAULT_PRESET = "dcgan-mnist-quick"
FOLDER_PRESET = "dcgan-folder"


def _add_source(parser: argparse.ArgumentParser, what: str = "run folder (or checkpoint folder)") -> None:
    """``--run RUN`` or ``--model NAME`` (a zoo model), exactly one."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--run", help=what)
    group.add_argument("--model", help="a model of the zoo instead of a run (`gankit zoo` lists them)")


def _source(args: argparse.Namespace) -> str:
    """The folder to load: ``--run`` as given, or the verified zoo folder of ``--model``."""
    if getattr(args, "model", None):
        from gankit.infer.zoo import model_dir

        if getattr(args, "no_ema", False):
            raise GankitError("zoo models ship the EMA generator only: drop --no-ema")
        return str(model_dir(args.model))
    return args.run


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gankit", description="Train, sample and inspect GANs.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a GAN (a preset, a config file, overrides)")
    t.add_argument("--preset", help=f"named recipe (default {DEFAULT_PRESET}, or {FOLDER_PRESET} with --data)")
    t.add_argument("--config", help="YAML file merged over the preset")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set train.batch_size=128 (repeatable)")
    t.add_argument("--data", help="train on this folder of images (sets data.name=folder)")
    t.add_argument("--out", help="run folder (default runs/<preset>-<time>); never overwritten")
    t.add_argument("--steps", type=int, help="total generator steps (with --resume: continue up to this)")
    t.add_argument("--seed", type=int, help="random seed")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its latest checkpoint")
    t.add_argument("--init-from", metavar="RUN", help="start the networks from this run's latest checkpoint "
                   "(e.g. adversarial SR fine-tuning from a PSNR-oriented run; sets train.init_from)")
    t.add_argument("--force", action="store_true", help="replace an existing run folder given by --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--nproc", type=int, help="train with N processes on this machine (runs torchrun "
                   "--standalone --nproc_per_node N -m gankit train ...; gloo on CPU, nccl on GPUs)")

    s = sub.add_parser("sample", help="write samples of a trained run or zoo model")
    _add_source(s)
    s.add_argument("--out", required=True, help="output file (.png or .npy)")
    s.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    s.add_argument("--truncation", type=float, help="redraw noise entries beyond +-T (BigGAN truncation)")
    s.add_argument("--jacobian-truncation", type=float, metavar="F",
                   help="reject the fraction F of draws where ||dG/dz|| is largest (default: the run's "
                        "sample.jacobian_truncation; 0 turns it off)")
    s.add_argument("--psi", type=float, help="fidelity/diversity: 1 = off, toward 0 = more typical samples; StyleGAN2 "
                   "truncates in W, w_avg + psi (w - w_avg), other generators take z * psi (default: the run's "
                   "sample.truncation_psi)")
    s.add_argument("--class", dest="class_", metavar="C", help="class index or name (conditional models)")
    s.add_argument("--format", choices=("png", "npy"), help="default: from the --out suffix")
    s.add_argument("--no-ema", action="store_true", help="use the trained G instead of its EMA")
    s.add_argument("--d-filter", type=float, metavar="KEEP", help="draw n/KEEP samples and keep the n the run's "
                   "discriminator scores highest (discriminator rejection sampling, top-k form; needs --run)")

    mx = sub.add_parser("mix", help="StyleGAN2: the style-mixing grid of a trained run")
    _add_source(mx, "run folder (or checkpoint folder) of a model.arch=stylegan2 run")
    mx.add_argument("--rows", required=True, help="comma-separated seeds down the left, e.g. 1,2,3")
    mx.add_argument("--cols", required=True, help="comma-separated seeds across the top, e.g. 10,11,12,13")
    mx.add_argument("--layers", default="0-3", help="the layers whose styles come from the column seeds: A-B, A "
                    "or A,B,C (default 0-3, the coarse styles)")
    mx.add_argument("--out", required=True, help="output PNG")
    mx.add_argument("--psi", type=float, default=1.0, help="truncation in W (default 1: none)")
    mx.add_argument("--class", dest="class_", metavar="C", help="class index or name (conditional models)")
    mx.add_argument("--no-ema", action="store_true", help="use the trained G instead of its EMA")

    tr = sub.add_parser("translate", help="translate image files with a trained pix2pix or CycleGAN run")
    _add_source(tr)
    tr.add_argument("--input", required=True, help="an image file or a folder of them (searched recursively)")
    tr.add_argument("--out", required=True, help="output folder (PNG files named after the inputs)")
    tr.add_argument("--direction", choices=("a2b", "b2a"), default="a2b",
                    help="a2b: the trained direction (default); b2a: CycleGAN's other generator")
    tr.add_argument("--mode", choices=("resize", "tile"), default="resize",
                    help="resize to the training size and back (default), or overlapping tiles at the file's scale")
    tr.add_argument("--overlap", type=int, help="tile mode: overlap of neighbouring tiles in pixels "
                    "(default a quarter of the training size)")
    tr.add_argument("--no-ema", action="store_true", help="use the trained generator instead of its EMA")

    up = sub.add_parser("upscale", help="upscale image files with a trained super-resolution (sr) run")
    _add_source(up)
    up.add_argument("--input", required=True, help="an image file or a folder of them (searched recursively)")
    up.add_argument("--out", required=True, help="output folder (PNG files named after the inputs)")
    up.add_argument("--scale", type=int, help="must match the run's model.scale (checked)")
    up.add_argument("--tile", type=int, default=96, help="tile side in input pixels (default 96)")
    up.add_argument("--overlap", type=int, default=16, help="overlap of neighbouring tiles in input pixels "
                    "(default 16)")
    up.add_argument("--no-ema", action="store_true", help="use the trained generator instead of its EMA")

    ip = sub.add_parser("interpolate", help="a walk through latent space between seeds, as a GIF or a PNG grid")
    _add_source(ip)
    ip.add_argument("--seeds", default="1,7,42", help="comma-separated seeds to walk through (default 1,7,42)")
    ip.add_argument("--steps", type=int, default=16, help="frames per leg between two seeds, ends included "
                    "(default 16)")
    ip.add_argument("--space", choices=("z", "w"), default="z", help="z: G's input; w: StyleGAN's W (default z)")
    ip.add_argument("--method", choices=("lerp", "slerp"), help="straight line or great circle (default: slerp in z, "
                    "lerp in w)")
    ip.add_argument("--class", dest="class_", metavar="C", help="conditional models: the class of the whole walk")
    ip.add_argument("--classes", help="conditional models: one class per seed, morphing between them")
    ip.add_argument("--psi", type=float, default=1.0, help="truncation as in gankit sample (default 1: none)")
    ip.add_argument("--truncation", type=float, help="redraw z entries beyond +-T (BigGAN truncation)")
    ip.add_argument("--loop", action="store_true", help="walk back to the first seed (a seamless GIF)")
    ip.add_argument("--fps", type=float, default=12.0, help="GIF frames per second (default 12)")
    ip.add_argument("--out", required=True, help="walk.gif (animation) or walk.png (grid, a leg per row)")

    sy = sub.add_parser("synth", help="write a labelled synthetic dataset from a conditional generator")
    _add_source(sy)
    sy.add_argument("--n-per-class", type=int, required=True, help="samples per class (unconditional: in all)")
    sy.add_argument("--out", required=True, help="new folder: OUT/<class>/<i>.png (or OUT/synth.npz)")
    sy.add_argument("--format", choices=("folder", "npz"), default="folder", help="default folder")
    sy.add_argument("--seed", type=int, default=0, help="noise seed; class c draws from seed + c (default 0)")
    sy.add_argument("--psi", type=float, default=1.0, help="truncation as in gankit sample (default 1: none)")

    sc = sub.add_parser("score", help="rank images by a trained discriminator (most real first)")
    sc.add_argument("--run", required=True, help="run folder of a gan run (its D is used)")
    sc.add_argument("--input", required=True, help="a folder of images (recursive), an .npz/.npy of uint8 images, "
                    "or a built-in split such as mnist:test")
    sc.add_argument("--out", help="write rank,name,score rows to this CSV")
    sc.add_argument("--class", dest="class_", metavar="C", help="conditional D: score under this class (default: "
                    "each image's best class)")
    sc.add_argument("--show", type=int, default=5, help="print the best and worst N (default 5)")

    ex = sub.add_parser("export", help="a trained generator as ONNX or TorchScript, checked against PyTorch")
    _add_source(ex)
    ex.add_argument("--out", required=True, help="output file (.onnx or .pt)")
    ex.add_argument("--format", choices=("onnx", "torchscript"), help="default: from the --out suffix")
    ex.add_argument("--direction", choices=("a2b", "b2a"), default="a2b", help="CycleGAN: which generator")
    ex.add_argument("--psi", type=float, help="truncation as in gankit sample, frozen into the graph (default: the "
                    "run's sample.truncation_psi)")

    sv = sub.add_parser("serve", help="a local web page for a trained model (pip install 'gankit[serve]')")
    _add_source(sv)
    sv.add_argument("--port", type=int, default=7860, help="default 7860")
    sv.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")

    z = sub.add_parser("zoo", help="the trained models that ship with gankit: list, show a card, pack a run")
    zsub = z.add_subparsers(dest="zoo", metavar="ACTION")
    zs = zsub.add_parser("show", help="print a model's card")
    zs.add_argument("name")
    zp = zsub.add_parser("pack", help="(maintainers) add a finished run's generator to the zoo")
    zp.add_argument("--run", required=True, help="finished run folder")
    zp.add_argument("--name", required=True, help="the model's name")
    zp.add_argument("--card", required=True, help="the model card (Markdown file)")
    zp.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="bf16", help="weight storage (default bf16)")
    zp.add_argument("--description", default="", help="one line for `gankit zoo` (default: the config's)")
    zp.add_argument("--replace", action="store_true", help="pack again over an existing model of that name")

    sub.add_parser("presets", help="list the shipped presets")

    b = sub.add_parser("bench", help="benchmarks that reproduce published tables")
    bsub = b.add_subparsers(dest="bench", metavar="BENCH", required=True)
    bm = bsub.add_parser("modes", help="mode collapse on the 2-D ring/grid (VEEGAN, PacGAN tables)")
    bm.add_argument("--dataset", choices=("ring", "grid"), default="ring")
    bm.add_argument("--seeds", type=int, default=10, help="independent runs (default 10)")
    bm.add_argument("--preset", help="default toy-<dataset>")
    bm.add_argument("--jobs", type=int, default=2, help="runs in parallel, one thread each (default 2)")
    bm.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for every run (repeatable)")
    bm.add_argument("--out", help="results folder (default runs/bench-modes-<dataset>-<time>)")
    bn = bsub.add_parser("mnist", help="the MNIST presets for the same CPU budget: FID/KID (classifier, Inception)")
    bn.add_argument("--presets", default="mlp-mnist,dcgan-mnist,wgan-gp-mnist,lsgan-mnist,wgan-clip-mnist,cgan-mnist",
                    help="comma-separated presets (default: the six MNIST presets)")
    _trained_bench_options(bn, 480.0, "only the classifier metrics")
    bn.add_argument("--seed", type=int, default=0, help="training and evaluation seed (default 0)")
    bn.add_argument("--out", help="results folder (default runs/bench-mnist-<time>)")
    bt = bsub.add_parser("translate", help="pix2pix (3 seeds) and CycleGAN on the emoji pairs at one CPU budget: "
                         "L1, PSNR, SSIM, Inception FID/KID on the test split")
    bt.add_argument("--seeds", default="0,1,2", help="pix2pix seeds (default 0,1,2); CycleGAN runs seed 0")
    _trained_bench_options(bt, 1800.0, "only L1, PSNR and SSIM")
    bt.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for every run (repeatable)")
    bt.add_argument("--no-cyclegan", action="store_true", help="train and score the pix2pix seeds only")
    bt.add_argument("--out", help="results folder (default runs/bench-translate-<time>)")
    bsr = bsub.add_parser("sr", help="x4 super-resolution on the Fluent emoji 3D test split and photographs: "
                          "nearest, bicubic, the PSNR model (3 seeds), the GAN model; PSNR/SSIM-Y, Inception FID/KID")
    bsr.add_argument("--seeds", default="0,1,2", help="PSNR-model seeds (default 0,1,2); the GAN model starts from "
                     "the first")
    bsr.add_argument("--psnr-budget", type=float, default=1800.0, help="CPU seconds per PSNR run (default 1800)")
    bsr.add_argument("--gan-budget", type=float, default=900.0, help="CPU seconds of GAN fine-tuning (default 900)")
    bsr.add_argument("--jobs", type=int, default=2, help="runs in parallel (default 2)")
    bsr.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    bsr.add_argument("--no-inception", action="store_true", help="only PSNR and SSIM")
    bsr.add_argument("--reuse", action="store_true", help="keep finished runs already in --out instead of "
                     "training them again, and the Inception scores of outputs that have not changed (delete one "
                     "run's folder to train only that one again)")
    bsr.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="config override for every run (repeatable)")
    bsr.add_argument("--out", help="results folder (default runs/bench-sr-<time>)")
    bg = bsub.add_parser("stylegan2", help="StyleGAN2 vs DCGAN, small-data augmentation (none / DiffAugment / ADA) "
                         "and path-length regularization on/off, on the Fluent 3D emoji at 64 px: FID/KID, PPL")
    bg.add_argument("--part", default="compare,small,ppl", help="comma-separated: compare, small, ppl (default all)")
    _trained_bench_options(bg, 3600.0, "skip FID/KID")  # --cpu-budget: each compare / ppl run
    bg.add_argument("--small-budget", type=float, default=1800.0, help="CPU seconds per small-data run (default 1800)")
    bg.add_argument("--small-preset", default="dcgan-emoji500-ada", help="the small-data runs' preset; its augment "
                    "section is replaced by none / diffaugment / ada (default dcgan-emoji500-ada)")
    bg.add_argument("--small-resolution", type=int, default=0, help="train and score the small-data runs at this "
                    "size, e.g. 32 (default: the preset's, 64)")
    bg.add_argument("--n", type=int, default=5000, help="samples per run for FID/KID (default 5000)")
    bg.add_argument("--ppl-pairs", type=int, default=2000, help="pairs for the PPL of StyleGAN2 runs (0 = skip)")
    bg.add_argument("--seed", type=int, default=0, help="training seed of every run (default 0)")
    bg.add_argument("--out", help="results folder (default runs/bench-stylegan2-<time>)")
    bu = bsub.add_parser("use", help="a trained gan run's D scoring (ROC AUC), D-filtered sampling and truncation "
                         "curve: FID, precision and recall")
    bu.add_argument("--run", required=True, help="finished gan run (with its discriminator), e.g. a dcgan-mnist run")
    bu.add_argument("--out", help="folder for results.json and results.md (default runs/bench-use-<time>)")
    bu.add_argument("--part", default="dscore,dfilter,truncation", help="comma-separated parts (default all)")
    bu.add_argument("--n", type=int, default=10_000, help="samples per row, and real images (default 10000)")
    bu.add_argument("--psis", default="0,0.25,0.5,0.75,1,1.25,1.5", help="truncation values (default "
                    "0,0.25,0.5,0.75,1,1.25,1.5)")
    bu.add_argument("--keeps", default="1,0.5,0.25,0.1", help="D-filter keep fractions (default 1,0.5,0.25,0.1)")

    ba = bsub.add_parser("augment", help="MNIST classifiers on 10/50/200 real images per class, with and without a "
                         "conditional GAN's images")
    bas = ba.add_mutually_exclusive_group(required=True)
    bas.add_argument("--run", help="a conditional MNIST gan run (e.g. cgan-mnist)")
    bas.add_argument("--model", help="a zoo model instead (e.g. cgan-mnist)")
    ba.add_argument("--out", help="folder for results.json and results.md (default runs/bench-augment-<time>)")
    ba.add_argument("--sizes", default="10,50,200", help="real images per class (default 10,50,200)")
    ba.add_argument("--seeds", default="0,1,2", help="seeds (default 0,1,2)")
    ba.add_argument("--synth-per-class", type=int, default=1000, help="synthetic images per class (default 1000)")
    ba.add_argument("--steps", type=int, default=600, help="classifier steps of batch 64 (default 600)")
    ba.add_argument("--threads", type=int, help="torch threads")

    bs = bsub.add_parser("speed", help="images/s and GFLOP/s of gankit's training step vs a textbook eager loop")
    bs.add_argument("--preset", default="dcgan-mnist", help="default dcgan-mnist; a folder preset needs --data")
    bs.add_argument("--data", help="image folder, for folder presets")
    bs.add_argument("--steps", type=int, default=20, help="steps per timed round of each loop (default 20)")
    bs.add_argument("--rounds", type=int, default=7, help="alternating rounds; medians are reported (default 7)")
    bs.add_argument("--threads", type=int, default=0, help="torch threads (default: PyTorch's, one per core)")
    bs.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="config override of gankit's side, e.g. train.precision=fp32 (repeatable)")
    bs.add_argument("--reference", help="the textbook loop's file (default benchmarks/reference_gan.py)")
    bs.add_argument("--json", action="store_true", help="print one JSON object instead of the table")

    e = sub.add_parser("eval", help="FID, KID, IS, precision/recall, density/coverage of a run or of image sets")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run folder: evaluate samples of its generator")
    src.add_argument("--model", help="a zoo model: evaluate samples of its generator (nothing is written)")
    src.add_argument("--fake", help="generated images: folder, .npz/.npy of uint8 images")
    e.add_argument("--real", "--ref", dest="real",
                   help="real images: mnist:test, fashion-mnist:train, digits, a folder or an .npz/.npy "
                        "(default for --run: the test split of its dataset, or its training folder)")
    e.add_argument("--metrics", default="fid,kid",
                   help="comma-separated, from fid, kid, is, pr, dc, class, and ppl (StyleGAN2 runs: perceptual "
                   "path length in W) (default fid,kid)")
    e.add_argument("--ppl-pairs", type=int, default=2000, help="pairs of w for --metrics ppl (default 2000)")
    e.add_argument("--extractor", help="inception, mnist-classifier or fashion-mnist-classifier "
                   "(default: the domain classifier for MNIST / Fashion-MNIST runs, else inception)")
    e.add_argument("--extractor-path", help="weights file to use instead of the fetched/shipped one")
    e.add_argument("--n", type=int, default=10_000,
                   help="generated samples, and at most this many real (default 10000)")
    e.add_argument("--n-real", type=int, help="real images (default: --n, or all when there are fewer)")
    e.add_argument("--seed", type=int, default=0, help="noise seed and real-subset seed (default 0)")
    e.add_argument("--resolution", type=int, help="bring both sides to this size first (default: the run's)")
    e.add_argument("--no-cache", action="store_true", help="recompute the real features, do not cache them")
    e.add_argument("--json", action="store_true", help="print one JSON object instead of a table")

    f = sub.add_parser("fetch", help="download and verify a built-in dataset (or the FID Inception) into the cache")
    f.add_argument("name", choices=("mnist", "fashion-mnist", "digits", "emoji-pairs", "fluent-emoji-3d", "inception"))

    from gankit.metrics.classifier import add_arguments

    add_arguments(sub.add_parser("train-classifier", help="train the domain classifier used as a metric feature "
                                 "extractor"))
    return p


def _trained_bench_options(parser: argparse.ArgumentParser, budget: float, no_inception: str) -> None:
    """The options of the benchmarks that train runs at a CPU budget, then score them."""
    parser.add_argument("--cpu-budget", type=float, default=budget,
                        help=f"CPU seconds of training per run (default {budget:g})")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    parser.add_argument("--no-inception", action="store_true", help=no_inception)
    parser.add_argument("--reuse", action="store_true", help="score finished runs already in --out instead of "
                        "training them again")


def _cmd_presets(args: argparse.Namespace) -> int:
    from gankit.config import load_preset, preset_names

    names = preset_names()
    width = max(len(n) for n in names)
    for name in names:
        desc = load_preset(name).get("description", "")
        mark = " (default)" if name == DEFAULT_PRESET else ""
        print(f"{name:<{width}}  {desc}{mark}")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from gankit.data import builtin

    if args.name == "mnist":
        path = builtin.fetch_mnist()
    elif args.name == "fashion-mnist":
        path = builtin.fetch_fashion_mnist()
    elif args.name == "emoji-pairs":
        from gankit.data.emoji import fetch_emoji

        path = fetch_emoji()
    elif args.name == "fluent-emoji-3d":
        from gankit.data.fluent import fetch_fluent

        path = fetch_fluent()
    elif args.name == "inception":
        from gankit.metrics.features import fetch_inception

        path = fetch_inception()
    else:
        builtin.load_digits()
        path = "scikit-learn (ships in the wheel)"
    print(f"{args.name}: ready ({path})")
    return 0


def _data_override(base: dict, path: str) -> dict:
    """What ``--data PATH`` sets: the path, and ``data.name=folder`` unless the base config already names a folder
    kind (``paired-folder``, ``unpaired-folder``)."""
    from gankit import config as C

    out = {"path": str(path)}
    if base.get("data", {}).get("name") not in C.FOLDER_DATASETS:
        out["name"] = "folder"
    return out


def _default_preset(args: argparse.Namespace) -> str | None:
    """The preset under a run without --preset: none when --config names another family (its sections would not
    fit), else dcgan-folder with --data, else the default."""
    from gankit import config as C

    if args.config and C.load_yaml(args.config).get("task", "gan") != "gan":
        return None
    return FOLDER_PRESET if args.data else DEFAULT_PRESET


def _launch(nproc: int, argv: list[str]) -> int:
    """Run this same ``gankit train`` command in ``nproc`` processes through torchrun."""
    import subprocess

    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        rest.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "gankit", *rest]
    print(f"[gankit] launching {nproc} processes: torchrun --standalone --nproc_per_node={nproc} -m gankit "
          f"{' '.join(rest)}", file=sys.stderr)
    return subprocess.run(cmd).returncode


def _cmd_train(args: argparse.Namespace) -> int:
    from gankit import config as C
    from gankit import distributed as D
    from gankit.train.rundir import check_run_dir, open_run_dir
    from gankit.train.runlock import RunLock, check_not_in_use
    from gankit.train.setup import build, local_batch_size, select_device

    launching = args.nproc is not None and D.env_world()[1] == 1
    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k in ("preset", "config", "data", "out", "seed", "init_from")
                 if getattr(args, k)]
        if args.overrides:
            given.append("--set")
        if given:
            raise GankitError(
                f"--resume continues a run with its own config; drop {', '.join(given)} (only --steps may change)"
            )
        run_dir = Path(args.resume)
        cfg_path = run_dir / "config.json"
        if not cfg_path.is_file():
            raise GankitError(f"--resume {run_dir}: no config.json there, so it is not a gankit run folder")
        try:
            raw = json.loads(cfg_path.read_text())
        except json.JSONDecodeError as exc:
            raise GankitError(f"--resume {run_dir}: config.json is not valid JSON ({exc})") from None
        if args.steps is not None:
            raw.setdefault("train", {})["steps"] = args.steps
        cfg = C.from_dict(raw)
    else:
        preset = args.preset or _default_preset(args)
        extra: dict = {}
        if args.data:
            extra["data"] = _data_override(C.load_preset(preset) if preset else C.load_yaml(args.config), args.data)
        if args.steps is not None:
            extra.setdefault("train", {})["steps"] = args.steps
        if args.seed is not None:
            extra.setdefault("train", {})["seed"] = args.seed
        if args.init_from:
            extra.setdefault("train", {})["init_from"] = args.init_from
        cfg = C.resolve(preset, args.config, args.overrides, extra)
        out = args.out or f"runs/{preset or cfg.task}-{time.strftime('%Y%m%d-%H%M%S')}"
        if cfg.train.init_from:  # a bad --init-from fails here, before a run folder is made
            from gankit.checkpoint import read_checkpoint

            read_checkpoint(cfg.train.init_from)
    if launching:  # check what would fail in every process before starting them
        if args.nproc < 1:
            raise GankitError(f"--nproc must be at least 1, got {args.nproc}")
        local_batch_size(cfg.train.batch_size, args.nproc)
        check_not_in_use(run_dir if args.resume else out)
        if not args.resume:
            check_run_dir(out, force=args.force)
            if not args.out:  # every process must use the same folder name
                args.argv += ["--out", out]
        return _launch(args.nproc, args.argv)
    rank, world, local = D.init_from_env(select_device(cfg.train.device).type)
    lock = None
    try:
        # process 0 locks (and for a new run makes) the run folder; the others learn its name, or its error
        error = None
        if rank == 0:
            try:
                lock = RunLock(run_dir).acquire() if args.resume else open_run_dir(out, force=args.force)
            except GankitError as exc:
                error = str(exc)
        if not args.resume:
            out, error = D.broadcast_object((out, error))
            run_dir = Path(out)
        else:
            error = D.broadcast_object(error)
        if error:
            if rank == 0:
                raise GankitError(error)
            return 2
        setup = build(cfg, rank, world, local)
        return _train(args, cfg, setup, run_dir)
    finally:
        if lock is not None:
            lock.release()
        D.shutdown()


def _train(args: argparse.Namespace, cfg, setup, run_dir: Path) -> int:
    from gankit import distributed as D
    from gankit.train.loop import Trainer

    trainer = Trainer(setup, run_dir, resume=bool(args.resume), quiet=args.quiet)
    if setup.rank > 0:
        trainer.run()
        D.barrier()  # wait for process 0's final samples and metrics: tearing gloo down early can abort
        return 0
    n_params = {k: sum(p.numel() for p in m.parameters()) for k, m in setup.task.networks.items()
                if not k.endswith("_ema")}
    print(
        f"[gankit] run {run_dir}: {setup.task.describe()}, device {setup.device}, "
        f"params {', '.join(f'{k} {v / 1e6:.2f}M' for k, v in n_params.items())}, "
        f"steps {trainer.step} -> {cfg.train.steps}",
        file=sys.stderr,
    )
    try:
        info = trainer.run()
    except KeyboardInterrupt:
        print(f"\n[gankit] interrupted at step {trainer.step}; continue with: gankit train --resume {run_dir}",
              file=sys.stderr)
        return 130
    result = trainer.finish(info)
    D.barrier()
    m = result["metrics"]
    numbers = {k: v for k, v in m.items() if isinstance(v, (int, float)) and k != "step"}
    print(f"[gankit] done: {trainer.step} steps in {info['wall_seconds']:.1f} s "
          f"({info['images_per_sec']:.0f} images/s)")
    print("[gankit] metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in numbers.items()))
    print(f"[gankit] samples:     {result['samples']}")
    print(f"[gankit] loss curve:  {result['loss_curve']}")
    print(f"[gankit] metrics:     {run_dir / 'metrics.json'}")
    print(f"[gankit] stats:       {run_dir / 'stats.jsonl'}")
    if cfg.train.tensorboard:
        print(f"[gankit] tensorboard: tensorboard --logdir {run_dir / 'tensorboard'}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    from gankit.infer import load_generator
    from gankit.infer.sample import sample_to_file

    if args.n <= 0:
        raise GankitError(f"--n must be positive, got {args.n}")
    if args.truncation is not None and args.truncation <= 0:
        raise GankitError(f"--truncation must be > 0, got {args.truncation}")
    jt = args.jacobian_truncation
    if jt is not None and not 0 <= jt < 1:
        raise GankitError(f"--jacobian-truncation must be in [0, 1), got {jt}")
    if args.psi is not None and args.psi < 0:
        raise GankitError(f"--psi must be 0 or more (1 = no truncation), got {args.psi}")
    fmt = args.format or ("npy" if args.out.endswith(".npy") else "png")
    loaded = load_generator(_source(args), use_ema=not args.no_ema)
    outputs = None
    if args.d_filter is not None:
        from gankit.infer.score import d_filtered_outputs, load_discriminator

        if not args.run:
            raise GankitError("--d-filter needs the run's discriminator: pass --run (zoo models ship G only)")
        outputs = d_filtered_outputs(loaded, load_discriminator(args.run), args.n, args.d_filter, args.seed,
                                     truncation=args.truncation, class_=args.class_, jacobian_truncation=jt,
                                     psi=args.psi)
    path = sample_to_file(loaded, args.out, n=args.n, seed=args.seed, truncation=args.truncation,
                          class_=args.class_, fmt=fmt, jacobian_truncation=jt, psi=args.psi, outputs=outputs)
    kept = f" (the best {args.n} of {math.ceil(args.n / args.d_filter)} by D)" if args.d_filter is not None else ""
    print(f"[gankit] wrote {args.n} samples{kept} to {path}")
    return 0


def _cmd_mix(args: argparse.Namespace) -> int:
    from gankit.infer import load_generator
    from gankit.infer.sample import class_index
    from gankit.infer.style import mix_grid, parse_layers
    from gankit.viz import save_picture

    rows, cols = list(_seed_list(args.rows, "--rows")), list(_seed_list(args.cols, "--cols"))
    if args.psi < 0:
        raise GankitError(f"--psi must be 0 or more (1 = no truncation), got {args.psi}")
    loaded = load_generator(_source(args), use_ema=not args.no_ema)
    layers = parse_layers(args.layers, getattr(loaded.net, "num_ws", 0) or 1)
    grid = mix_grid(loaded, rows, cols, layers, args.psi, class_index(loaded, args.class_))
    path = save_picture(grid, args.out)
    print(f"[gankit] style-mixing grid ({len(rows)} x {len(cols)} seeds, layers {layers[0]}-{layers[-1]} from the "
          f"columns) written to {path}")
    return 0


def _cmd_translate(args: argparse.Namespace) -> int:
    from gankit.infer import load_model
    from gankit.infer.translate import translate_path

    if args.overlap is not None and args.overlap < 0:
        raise GankitError(f"--overlap must be zero or more, got {args.overlap}")
    loaded = load_model(_source(args), use_ema=not args.no_ema)
    written = translate_path(loaded, args.input, args.out, args.direction, args.mode, args.overlap)
    print(f"[gankit] wrote {len(written)} translated image{'s' if len(written) != 1 else ''} to {args.out}")
    return 0


def _cmd_upscale(args: argparse.Namespace) -> int:
    from gankit.infer import load_model
    from gankit.infer.upscale import upscale_path

    loaded = load_model(_source(args), use_ema=not args.no_ema)
    written = upscale_path(loaded, args.input, args.out, args.scale, args.tile, args.overlap)
    print(f"[gankit] wrote {len(written)} upscaled image{'s' if len(written) != 1 else ''} to {args.out}")
    return 0


def _cmd_interpolate(args: argparse.Namespace) -> int:
    from gankit.infer import load_generator
    from gankit.infer.interpolate import interpolate, save_walk
    from gankit.infer.sample import class_index

    seeds = list(_seed_list(args.seeds))
    if args.class_ is not None and args.classes is not None:
        raise GankitError("--class fixes one class for the walk, --classes gives one per seed: pass one of them")
    loaded = load_generator(_source(args))
    names = [args.class_] if args.class_ is not None else (args.classes.split(",") if args.classes else [])
    classes = [class_index(loaded, c.strip()) for c in names]
    if args.psi < 0:
        raise GankitError(f"--psi must be 0 or more (1 = no truncation), got {args.psi}")
    if args.truncation is not None and args.truncation <= 0:
        raise GankitError(f"--truncation must be > 0, got {args.truncation}")
    frames = interpolate(loaded, seeds, args.steps, args.space, args.method, classes, args.psi, args.truncation,
                         args.loop)
    path = save_walk(frames, args.out, args.steps, args.loop, args.fps)
    print(f"[gankit] wrote a {len(frames)}-frame walk through seeds {','.join(map(str, seeds))} "
          f"({args.space} space) to {path}")
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from gankit.infer import load_generator
    from gankit.infer.synth import write_synth

    if args.psi < 0:
        raise GankitError(f"--psi must be 0 or more (1 = no truncation), got {args.psi}")
    loaded = load_generator(_source(args))
    record = write_synth(loaded, args.out, args.n_per_class, args.seed, args.psi, args.format,
                         source=args.model or args.run)
    per = f"{args.n_per_class} per class, {len(record['classes'])} classes" if record["classes"] else "unlabelled"
    print(f"[gankit] wrote {record['n']} synthetic images ({per}) to {args.out}")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from gankit.infer.score import score_images

    ranked = score_images(args.run, args.input, args.out, args.class_)
    scores = [s for _, s in ranked]
    print(f"[gankit] scored {len(ranked)} images with the D of {args.run}: median {statistics.median(scores):.4g}, "
          f"range {scores[-1]:.4g} .. {scores[0]:.4g}" + (f"; ranking written to {args.out}" if args.out else ""))
    k = min(args.show, len(ranked))
    for title, part in (("most real", ranked[:k]), ("least real", ranked[::-1][:k])):
        if k:
            print(f"  {title}: " + ", ".join(f"{name} ({s:.3g})" for name, s in part))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from gankit.infer import load_model
    from gankit.infer.export import export

    if args.psi is not None and args.psi < 0:
        raise GankitError(f"--psi must be 0 or more (1 = no truncation), got {args.psi}")
    report = export(load_model(_source(args)), args.out, args.format, args.direction, args.psi)
    inputs = ", ".join(f"{k} {v}" for k, v in report["inputs"].items())
    print(f"[gankit] exported to {report['path']} ({report['format']}, {report['bytes'] / 1e6:.2f} MB; inputs "
          f"{inputs} per item, dynamic batch); checked on a batch of {report['checked_batch']}: max |diff| vs "
          f"PyTorch {report['max_abs_diff']:.2g} (tolerance {report['tolerance']:g})")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from gankit.infer import load_model
    from gankit.serve import serve

    if not 0 < args.port < 65536:
        raise GankitError(f"--port must be 1..65535, got {args.port}")
    serve(load_model(_source(args)), args.model or Path(args.run).name, args.host, args.port)
    return 0


def _cmd_zoo(args: argparse.Namespace) -> int:
    from gankit.infer import zoo

    if args.zoo == "pack":
        card = Path(args.card)
        if not card.is_file():
            raise GankitError(f"--card {card}: no such file")
        entry = zoo.pack(args.run, args.name, card.read_text(), args.dtype, args.description, replace=args.replace)
        size = sum(m["bytes"] for m in entry["files"].values())
        print(f"[gankit] packed {args.run} (step {entry['step']}) as zoo model {args.name}: {size / 1e6:.2f} MB in "
              f"{args.dtype}; the zoo now holds {zoo.size_bytes() / 1e6:.2f} MB")
        return 0
    if args.zoo == "show":
        print((zoo.model_dir(args.name) / "card.md").read_text(), end="")
        return 0
    models = zoo.list_models()
    if not models:
        print("the zoo is empty in this installation")
        return 0
    width = max(map(len, models))
    for name, entry in models.items():
        size = sum(m["bytes"] for m in entry["files"].values())
        print(f"{name:<{width}}  {entry['family']:<8} {size / 1e6:5.2f} MB  {entry['description']}")
    print(f"\n{len(models)} models, {zoo.size_bytes() / 1e6:.2f} MB. Use one with --model NAME (sample, interpolate, "
          "mix, translate, upscale, eval, export, serve); `gankit zoo show NAME` prints its card.")
    return 0


def _seed_list(text: str, flag: str = "--seeds") -> tuple[int, ...]:
    try:
        seeds = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise GankitError(f"{flag} {text!r}: expected comma-separated integers, e.g. 0,1,2") from None
    if not seeds:
        raise GankitError(f"{flag}: give at least one seed")
    return seeds


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.bench == "speed":
        from gankit import config as C
        from gankit.bench import speed

        if args.steps < 1 or args.rounds < 1:
            raise GankitError("--steps and --rounds must be at least 1")
        extra = {"data": _data_override(C.load_preset(args.preset), args.data)} if args.data else None
        overrides = list(args.overrides) + ([f"train.threads={args.threads}"] if args.threads else [])
        cfg = C.resolve(args.preset, None, overrides, extra)
        result = speed.run_speed_benchmark(cfg, args.steps, args.rounds, reference=args.reference,
                                           progress=not args.json)
        print(json.dumps(result) if args.json else speed.format_table(result))
        return 0
    if args.bench == "translate":
        from gankit.bench import translate

        out = Path(args.out or f"runs/bench-translate-{time.strftime('%Y%m%d-%H%M%S')}")
        result = translate.run_translate_benchmark(out, _seed_list(args.seeds), args.cpu_budget, args.jobs,
                                                   args.threads, inception=not args.no_inception, reuse=args.reuse,
                                                   overrides=args.overrides, cyclegan=not args.no_cyclegan)
        print(translate.markdown_table(result))
        print(f"[gankit] results: {out / 'results.json'}, {out / 'results.md'}, {result['picture']}")
        return 0
    if args.bench == "sr":
        from gankit.bench import sr

        out = Path(args.out or f"runs/bench-sr-{time.strftime('%Y%m%d-%H%M%S')}")
        result = sr.run_sr_benchmark(out, _seed_list(args.seeds), args.psnr_budget, args.gan_budget, args.jobs,
                                     args.threads, inception=not args.no_inception, reuse=args.reuse,
                                     overrides=args.overrides)
        print(sr.markdown_table(result))
        print(f"[gankit] results: {out / 'results.json'}, {out / 'results.md'}, {result['picture']}")
        return 0
    if args.bench == "stylegan2":
        from gankit.bench import stylegan2

        out = Path(args.out or f"runs/bench-stylegan2-{time.strftime('%Y%m%d-%H%M%S')}")
        parts = tuple(p.strip() for p in args.part.split(",") if p.strip())
        result = stylegan2.run_stylegan2_benchmark(out, parts, args.cpu_budget, args.small_budget, args.small_preset,
                                                   args.n, args.ppl_pairs, args.jobs, args.threads,
                                                   inception=not args.no_inception, reuse=args.reuse, seed=args.seed,
                                                   small_resolution=args.small_resolution)
        print(stylegan2.markdown_table(result))
        print(f"[gankit] results: {out / 'results.json'}, {out / 'results.md'}")
        return 0
    if args.bench == "augment":
        from gankit.bench import augment

        sizes, seeds = _seed_list(args.sizes, "--sizes"), _seed_list(args.seeds, "--seeds")
        out = Path(args.out or f"runs/bench-augment-{time.strftime('%Y%m%d-%H%M%S')}")
        result = augment.run_augment_benchmark(_source(args), out, sizes, seeds, args.synth_per_class, args.steps,
                                               args.threads, name=f"{args.model} (zoo)" if args.model else args.run)
        print(augment.markdown(result))
        print(f"[gankit] results: {out / 'results.json'}, {out / 'results.md'}")
        return 0
    if args.bench == "use":
        from gankit.bench import use

        def floats(text: str, flag: str) -> tuple[float, ...]:
            try:
                return tuple(float(v) for v in text.split(",") if v.strip())
            except ValueError:
                raise GankitError(f"{flag} {text!r}: expected comma-separated numbers") from None

        psis, keeps = floats(args.psis, "--psis"), floats(args.keeps, "--keeps")
        if any(p < 0 for p in psis) or any(not 0 < k <= 1 for k in keeps):
            raise GankitError("--psis must be 0 or more and --keeps in (0, 1]")
        parts = tuple(p.strip() for p in args.part.split(",") if p.strip())
        out = Path(args.out or f"runs/bench-use-{time.strftime('%Y%m%d-%H%M%S')}")
        result = use.run_use_benchmark(args.run, out, parts, args.n, psis, keeps)
        print(use.markdown(result))
        print(f"[gankit] results: {out / 'results.json'}, {out / 'results.md'}")
        return 0
    if args.bench == "mnist":
        from gankit.bench import mnist

        out = Path(args.out or f"runs/bench-mnist-{time.strftime('%Y%m%d-%H%M%S')}")
        presets = tuple(p.strip() for p in args.presets.split(",") if p.strip())
        result = mnist.run_mnist_benchmark(out, presets, args.cpu_budget, args.jobs, args.threads, args.seed,
                                           inception=not args.no_inception, reuse=args.reuse)  # fmt: skip
        print(mnist.markdown_table(result))
        print(f"[gankit] results: {out / 'results.json'}, {out / 'results.md'}")
        return 0
    from gankit.bench.modes import markdown_table, run_modes_benchmark

    out = Path(args.out or f"runs/bench-modes-{args.dataset}-{time.strftime('%Y%m%d-%H%M%S')}")
    result = run_modes_benchmark(args.dataset, args.seeds, args.preset, out, args.jobs, args.overrides)
    print(markdown_table(result))
    s = result["summary"]
    print(f"\nCPU time per seed: {s['cpu_seconds']['mean']:.0f} ± {s['cpu_seconds']['se']:.0f} s; "
          f"all modes in every seed: {'yes' if result['all_modes_every_seed'] else 'no'}")
    print(f"[gankit] results: {out / 'results.json'}, {out / 'results.md'}, {out / 'samples-seed0.png'}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    import json

    from gankit.data import image_sources as src
    from gankit.infer.run_images import run_images
    from gankit.metrics import feature_eval as fe
    from gankit.train.logger import append_jsonl

    wanted = [m.strip().lower() for m in args.metrics.split(",") if m.strip()]
    run = _source(args) if args.run or args.model else None
    keep = bool(args.run)  # results are appended to a run's metrics.jsonl, never into the installed zoo
    if "ppl" in wanted:  # a property of StyleGAN's W space, measured on the generator, not on image sets
        if not run:
            raise GankitError("--metrics ppl measures a StyleGAN run's generator: pass --run")
        if args.ppl_pairs <= 0:
            raise GankitError("--ppl-pairs must be positive")
        from gankit.infer import load_generator
        from gankit.infer.style import run_ppl

        ppl = run_ppl(load_generator(run), args.ppl_pairs, args.seed)
        if keep:
            append_jsonl(Path(run) / "metrics.jsonl", ppl)
        print(json.dumps(ppl) if args.json else f"ppl_w  {ppl['ppl_w']:.6g}  ({ppl['protocol']['pairs']} pairs; "
              f"{ppl['protocol']['distance']})")
        wanted.remove("ppl")
        if not wanted:
            return 0
    names = fe.parse_metrics(",".join(wanted))
    if args.n <= 0 or (args.n_real is not None and args.n_real <= 0):
        raise GankitError("--n and --n-real must be positive")
    n_real = args.n_real or args.n
    if run:
        fake, data = run_images(run, args.n, args.seed)
        resolution, channels = args.resolution or data["resolution"], data["channels"]
        if args.resolution and args.resolution != data["resolution"]:
            fake.images = src.fit_image_set(fake.images, resolution, channels)
        real_spec = args.real or src.default_reference(data)
        extractor = args.extractor or src.default_extractor(data["dataset"])
    else:
        if not args.real:
            raise GankitError("--fake needs --real (a built-in split such as mnist:test, a folder or an .npz)")
        fake = src.load_images(args.fake, args.n, args.seed, args.resolution)
        resolution, channels = fake.images.shape[-1], fake.images.shape[1]
        real_spec = args.real
        extractor = args.extractor or src.default_extractor(args.real.partition(":")[0])
    real = src.load_images(real_spec, n_real, args.seed, resolution, channels)
    result = fe.evaluate(fake, real, names, extractor, args.extractor_path, args.seed, use_cache=not args.no_cache)
    if run:
        result["step"] = data["step"]
    if keep:
        append_jsonl(Path(run) / "metrics.jsonl", result)
    print(json.dumps(result) if args.json else fe.format_table(result))
    return 0


def _cmd_train_classifier(args: argparse.Namespace) -> int:
    from gankit.metrics import classifier

    return classifier.run(args)


COMMANDS = {
    "bench": _cmd_bench,
    "train": _cmd_train,
    "sample": _cmd_sample,
    "mix": _cmd_mix,
    "interpolate": _cmd_interpolate,
    "zoo": _cmd_zoo,
    "serve": _cmd_serve,
    "export": _cmd_export,
    "score": _cmd_score,
    "synth": _cmd_synth,
    "translate": _cmd_translate,
    "upscale": _cmd_upscale,
    "presets": _cmd_presets,
    "fetch": _cmd_fetch,
    "train-classifier": _cmd_train_classifier,
    "eval": _cmd_eval,
}


def _setup_logging() -> None:
    """Library warnings (e.g. a skipped unreadable image) go to stderr as ``[gankit] ...`` lines."""
    logger = logging.getLogger("gankit")
    for handler in [h for h in logger.handlers if getattr(h, "_gankit_cli", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[gankit] %(levelname)s: %(message)s"))
    handler._gankit_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    _setup_logging()
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if not args.command:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except GankitError as exc:
        print(f"gankit: error: {exc}", file=sys.stderr)
        return 2
    except (MemoryError, OSError, RuntimeError) as exc:
        line = _resource_error(exc)
        if line is None:
            raise
        print(f"gankit: error: {line}", file=sys.stderr)
        return 2


def _resource_error(exc: BaseException) -> str | None:
    """One line for running out of memory or disk space (the config asked for more than the machine has), else
    None: any other failure is a bug and keeps its traceback."""
    import errno

    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and (
            "out of memory" in text.lower() or "can't allocate memory" in text or "not enough memory" in text)):
        return (f"out of memory ({text[:160]}): lower train.batch_size, the model's width or data.resolution "
                "(the checkpoints written before are complete)")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"no space left on the device ({exc.filename or text}): free some space, then continue with "
                "--resume (the checkpoints written before are complete)")
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
