"""``gankit bench sr``: x4 super-resolution, the PSNR-oriented model and the GAN model, against resizes.

The two-stage recipe of ESRGAN, at a CPU budget. Each run is an ordinary ``gankit train`` in its own process
(``--threads`` torch threads, ``--jobs`` runs at a time) with ``train.max_cpu_seconds`` set and
``train.fit_to_budget`` on, as in the presets:

* the PSNR-oriented model (``sr-emoji-x4-psnr``, pixel L1 only) with ``--seeds`` seeds, ``--psnr-budget`` CPU
  seconds each;
* the GAN model (``sr-emoji-x4-gan``: RaGAN + Inception perceptual loss + a little L1), initialized from the first
  seed's PSNR model (``train.init_from``) and trained for ``--gan-budget`` CPU seconds more. Its training time in
  total is the sum of the two budgets.

Then, in this process, every model upscales every test input from its EMA generator in eval mode, with 8-bit
outputs, and is scored, with nearest and bicubic upscaling as the baselines:

* the Fluent emoji 3D test split (673 pictures, 256 px, whose base emoji are all outside the training split;
  LR inputs by antialiased bicubic downscaling to 64 px, rounded to 8 bits): PSNR and SSIM on the Y channel with
  a border of ``scale`` pixels cropped (:func:`gankit.metrics.image_quality.sr_metrics`), and Inception FID/KID of
  the four 128 px quadrants of every output (2,692 crops) against the same crops of the HR pictures;
* the photographs that ship with scikit-image (never trained on; cropped to multiples of the scale): PSNR-Y and
  SSIM-Y per photograph and their mean (four images are too few for FID).

A picture of LR (nearest) | bicubic | PSNR model | GAN model | HR on crops of emoji and photographs is written
beside the table.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from gankit.bench.common import mean_se, train_process
from gankit.errors import GankitError

PSNR_PRESET, GAN_PRESET = "sr-emoji-x4-psnr", "sr-emoji-x4-gan"
EMOJI_METRICS = ("psnr_y", "ssim_y", "fid", "kid")
CROP = 128  # the side of the crops FID/KID and the picture use


def quadrants(images: torch.Tensor, side: int = CROP) -> torch.Tensor:
    """Every non-overlapping ``side`` x ``side`` crop of (N, C, H, W) images, image by image, row by row."""
    n, c, h, w = images.shape
    rows, cols = h // side, w // side
    crops = images[:, :, : rows * side, : cols * side].reshape(n, c, rows, side, cols, side)
    return crops.permute(0, 2, 4, 1, 3, 5).reshape(n * rows * cols, c, side, side).contiguous()


def upscale_batches(net: torch.nn.Module, lr: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """uint8 upscales of model-space LR images (N, C, h, w) by ``net``, in batches, without gradients."""
    from gankit.data import to_uint8

    with torch.no_grad():
        return torch.cat([to_uint8(net(lr[i : i + batch]).float()) for i in range(0, len(lr), batch)])


def _baselines() -> dict:
    from gankit.data.sr import bicubic_upscale, nearest_upscale

    return {"nearest": nearest_upscale, "bicubic": bicubic_upscale}


def _train_all(out: Path, seeds: tuple[int, ...], psnr_budget: float, gan_budget: float, jobs: int, threads: int,
               reuse: bool, overrides: list[str]) -> dict[str, dict]:
    """Train the PSNR seeds and the GAN model (after the first seed, from it); rows of timings by run name."""
    common = ["train.fit_to_budget=true", *overrides]

    def one(name: str, preset: str, seed: int, budget: float, extra: list[str]) -> tuple[str, dict]:
        done = out / name / "metrics.json"
        settings = [f"train.max_cpu_seconds={budget}", *extra, *common]
        timed = out / f"{name}.timing.json"  # the wall and CPU time of the training process, kept for --reuse
        if reuse and done.is_file():
            timing = json.loads(timed.read_text()) if timed.is_file() else {}
        else:
            timing = train_process(preset, seed, out / name, settings, threads=threads, label=name)
            timed.write_text(json.dumps(timing) + "\n")
        metrics = json.loads(done.read_text())
        row = {**timing, "preset": preset, "seed": seed, "steps": metrics["step"],
               "train_cpu_seconds": metrics.get("train_cpu_seconds")}
        print(f"[gankit]   {name}: {row['steps']} steps in {row['train_cpu_seconds']:.0f} CPU s", file=sys.stderr)
        return name, row

    def chain() -> list[tuple[str, dict]]:  # the first seed's PSNR model, then the GAN model from it
        first = one(f"psnr-seed{seeds[0]}", PSNR_PRESET, seeds[0], psnr_budget, [])
        init = f"train.init_from={(out / first[0]).resolve()}"
        return [first, one(f"gan-seed{seeds[0]}", GAN_PRESET, seeds[0], gan_budget, [init])]

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(chain)] + [pool.submit(lambda s=s: [one(f"psnr-seed{s}", PSNR_PRESET, s, psnr_budget,
                                                                       [])]) for s in seeds[1:]]
        return dict(row for f in futures for row in f.result())


def _score_emoji(images: torch.Tensor, hr: torch.Tensor, scale: int, real, label: str, inception: bool) -> dict:
    from gankit.data.image_sources import ImageSet
    from gankit.metrics.feature_eval import evaluate
    from gankit.metrics.image_quality import sr_metrics

    row = {k: v for k, v in sr_metrics(images, hr, scale).items() if k != "protocol"}
    if inception:
        start = time.perf_counter()
        result = evaluate(ImageSet(quadrants(images), label, ""), real, ["fid", "kid"], "inception", seed=0)
        row.update({"fid": result["fid"], "kid": result["kid"], "eval_seconds": round(time.perf_counter() - start, 1)})
    shown = ", ".join(f"{k} {row[k]:.4g}" for k in EMOJI_METRICS if k in row)
    print(f"[gankit]   emoji test, {label}: {shown}", file=sys.stderr)
    return row


def photo_pairs(photos: dict[str, torch.Tensor], scale: int, blur: float = 0.0, noise: float = 0.0, jpeg: int = 0
                ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The photographs cropped to multiples of ``scale`` (HR, uint8) and their LR inputs, degraded as in training
    (model space): what :func:`score_photos` takes."""
    from gankit.data.sr import crop_to_multiple
    from gankit.tasks.sr import degraded_test_inputs

    hr = {k: crop_to_multiple(v, scale) for k, v in photos.items()}
    return hr, {k: degraded_test_inputs(v, scale, blur, noise, jpeg) for k, v in hr.items()}


def score_photos(upscale, photos: dict[str, torch.Tensor], inputs: dict[str, torch.Tensor], scale: int
                 ) -> tuple[dict, dict[str, torch.Tensor]]:
    """PSNR-Y/SSIM-Y of ``upscale(lr) -> uint8`` on each photograph and their mean; the outputs too."""
    from gankit.metrics.image_quality import sr_metrics

    per, outputs = {}, {}
    for name, hr in photos.items():
        outputs[name] = upscale(inputs[name])
        m = sr_metrics(outputs[name], hr, scale)
        per[name] = {"psnr_y": m["psnr_y"], "ssim_y": m["ssim_y"]}
    row = {f"photos_{k}": sum(p[k] for p in per.values()) / len(per) for k in ("psnr_y", "ssim_y")}
    row["photos"] = per
    return row, outputs


def run_sr_benchmark(out: Path, seeds: tuple[int, ...] = (0, 1, 2), psnr_budget: float = 1800.0,
                     gan_budget: float = 900.0, jobs: int = 2, threads: int = 1, inception: bool = True,
                     reuse: bool = False, overrides: list[str] | None = None) -> dict:
    """Train, upscale, score; write ``results.json``, ``results.md`` and ``crops.png`` into ``out``."""
    from gankit.config import from_dict, load_preset
    from gankit.config import resolve as resolve_config
    from gankit.data import to_uint8
    from gankit.data.image_sources import ImageSet
    from gankit.data.sr import load_hr, load_photos
    from gankit.infer import load_model
    from gankit.tasks.sr import degraded_test_inputs

    if psnr_budget <= 0 or gan_budget <= 0 or jobs < 1 or threads < 1 or not seeds:
        raise GankitError("--psnr-budget and --gan-budget must be positive, --jobs and --threads at least 1, and "
                          "--seeds not empty")
    photos = load_photos()  # fail now (scikit-image missing, data not fetched) rather than after training
    data_cfg = resolve_config(PSNR_PRESET, None, list(overrides or [])).data
    hr = load_hr(data_cfg, "test").data
    out.mkdir(parents=True, exist_ok=True)
    print(f"[gankit] bench sr: PSNR model x {len(seeds)} seeds at {psnr_budget:g} CPU s, GAN model from seed "
          f"{seeds[0]} at {gan_budget:g} CPU s more; {threads} thread(s) per run, {jobs} at a time -> {out}",
          file=sys.stderr)
    trained = _train_all(out, seeds, psnr_budget, gan_budget, jobs, threads, reuse, list(overrides or []))
    cfg = from_dict(json.loads((out / f"psnr-seed{seeds[0]}" / "config.json").read_text()))
    scale, d = cfg.model.scale, cfg.data
    lr = degraded_test_inputs(hr, scale, d.blur, d.noise, d.jpeg)
    photos, photo_lr = photo_pairs(photos, scale, d.blur, d.noise, d.jpeg)
    if inception:
        from gankit.metrics.features import INCEPTION_MISSING, get_extractor

        try:
            get_extractor("inception")
        except GankitError:
            print(f"[gankit] Inception columns skipped: {INCEPTION_MISSING}", file=sys.stderr)
            inception = False
    digest = hashlib.sha256(hr.numpy().tobytes()).hexdigest()[:24]  # names the real crops in the feature cache
    real = ImageSet(quadrants(hr), f"{CROP} px quadrants of the {len(hr)} HR test pictures",
                    f"bench-sr-quadrants:{CROP}:{digest}") if inception else None
    rows: dict[str, dict] = {}
    emoji_out: dict[str, torch.Tensor] = {}
    photo_out: dict[str, dict[str, torch.Tensor]] = {}
    upscalers = {name: (lambda x, fn=fn: to_uint8(fn(x, scale))) for name, fn in _baselines().items()}
    for name in trained:
        net = load_model(str(out / name)).net
        upscalers[name] = lambda x, net=net: upscale_batches(net, x)
    for name, upscale in upscalers.items():
        emoji_out[name] = upscale(lr)
        photo_row, photo_out[name] = score_photos(upscale, photos, photo_lr, scale)
        # the same outputs give the same scores: with --reuse, an unchanged run is not sent through Inception again
        stamp = [digest, scale, inception, hashlib.sha256(emoji_out[name].numpy().tobytes()).hexdigest()]
        saved = out / "scores" / f"{name}.json"
        cached = json.loads(saved.read_text()) if reuse and saved.is_file() else {}
        if cached.get("stamp") == stamp:
            emoji_row = cached["row"]
            print(f"[gankit]   emoji test, {name}: scores of identical outputs reused from {saved}", file=sys.stderr)
        else:
            emoji_row = _score_emoji(emoji_out[name], hr, scale, real, name, inception)
            saved.parent.mkdir(exist_ok=True)
            saved.write_text(json.dumps({"stamp": stamp, "row": emoji_row}) + "\n")
        rows[name] = {**trained.get(name, {}), **emoji_row, **photo_row}
        print(f"[gankit]   photos, {name}: PSNR-Y {photo_row['photos_psnr_y']:.2f} dB", file=sys.stderr)
    psnr_rows = [rows[f"psnr-seed{s}"] for s in seeds]
    keys = [k for k in (*EMOJI_METRICS, "photos_psnr_y", "photos_ssim_y") if k in psnr_rows[0]]
    rows["PSNR model, mean ± s.e."] = {k: list(mean_se([r[k] for r in psnr_rows])) for k in keys}
    first, gan = f"psnr-seed{seeds[0]}", f"gan-seed{seeds[0]}"
    picture = _picture(emoji_out, photo_out, ("nearest", "bicubic", first, gan), hr, photos, out / "crops.png")
    result = {
        "psnr_budget_seconds": psnr_budget, "gan_budget_seconds": gan_budget, "threads_per_run": threads,
        "jobs": jobs, "seeds": list(seeds), "scale": scale,
        "test": f"fluent-emoji-3d test split: {len(hr)} pictures, {hr.shape[-1]} px, x{scale} from antialiased "
                f"bicubic LR inputs (blur {d.blur}, noise {d.noise}) rounded to 8 bits",
        "photos": {k: list(v.shape[-2:]) for k, v in photos.items()},
        "inception": (f"FID/KID of the {CROP} px quadrants of every output ({4 * len(hr)} crops) vs the same crops "
                      "of the HR pictures" if inception else "skipped"),
        "picture": str(picture), "rows": rows, "checks": _checks(rows, seeds, inception),
        "preset_descriptions": {p: load_preset(p).get("description", "") for p in (PSNR_PRESET, GAN_PRESET)},
    }
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "results.md").write_text(markdown_table(result) + "\n")
    return result


def _checks(rows: dict, seeds: tuple[int, ...], inception: bool) -> dict:
    """The issue's targets, computed from the rows: gains over bicubic, the GAN model's FID drop and PSNR cost."""
    mean = rows["PSNR model, mean ± s.e."]
    first, gan = rows[f"psnr-seed{seeds[0]}"], rows[f"gan-seed{seeds[0]}"]
    checks = {
        "psnr_gain_over_bicubic_db": mean["psnr_y"][0] - rows["bicubic"]["psnr_y"],
        "photos_psnr_gain_over_bicubic_db": mean["photos_psnr_y"][0] - rows["bicubic"]["photos_psnr_y"],
        "gan_psnr_cost_db": first["psnr_y"] - gan["psnr_y"],
    }
    if inception:
        checks["gan_fid_drop_vs_its_init"] = 1 - gan["fid"] / first["fid"]
        checks["gan_fid_drop_vs_psnr_mean"] = 1 - gan["fid"] / mean["fid"][0]
    return checks


def _picture(emoji_out: dict, photo_out: dict, names: tuple[str, ...], hr: torch.Tensor,
             photos: dict[str, torch.Tensor], path: Path, n_emoji: int = 6) -> Path:
    """Rows of LR (nearest) | bicubic | PSNR model | GAN model | HR: centre crops of emoji spread over the test
    split, then the centre crop of each photograph."""
    from gankit.viz import save_picture, side_by_side

    idx = torch.linspace(0, len(hr) - 1, n_emoji).round().long()

    def crop(x: torch.Tensor) -> torch.Tensor:  # the centre CROP x CROP; smaller pictures whole, enlarged to it
        side = min(CROP, *x.shape[-2:])
        top, left = (x.shape[-2] - side) // 2, (x.shape[-1] - side) // 2
        x = x[:, :, top : top + side, left : left + side]
        return x if side == CROP else torch.nn.functional.interpolate(x, size=(CROP, CROP), mode="nearest-exact")

    def emoji_crop(x: torch.Tensor) -> torch.Tensor:
        return crop(x[idx])

    photo_crop = crop

    columns = []
    for name in names:
        columns.append(torch.cat([emoji_crop(emoji_out[name])] + [photo_crop(photo_out[name][k]) for k in photos]))
    columns.append(torch.cat([emoji_crop(hr)] + [photo_crop(v) for v in photos.values()]))
    return save_picture(side_by_side(columns, groups_per_row=2), path)


def _fmt(row: dict, key: str, spec: str, scale: float = 1.0) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if isinstance(value, list):
        return f"{scale * value[0]:{spec}} ± {scale * value[1]:{spec}}"
    return f"{scale * value:{spec}}"


def markdown_table(result: dict) -> str:
    lines = ["| upscaling | steps | emoji PSNR-Y dB ↑ | emoji SSIM-Y ↑ | emoji FID (Inception) ↓ | emoji KID ×10³ ↓ | "
             "photos PSNR-Y dB ↑ | photos SSIM-Y ↑ |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, row in result["rows"].items():
        lines.append(f"| {name} | {row.get('steps', '-')} | {_fmt(row, 'psnr_y', '.2f')} | {_fmt(row, 'ssim_y', '.4f')}"
                     f" | {_fmt(row, 'fid', '.2f')} | {_fmt(row, 'kid', '.2f', 1000)} | "
                     f"{_fmt(row, 'photos_psnr_y', '.2f')} | {_fmt(row, 'photos_ssim_y', '.4f')} |")
    c = result["checks"]
    lines.append(f"\n{result['test']}; photographs: scikit-image's {', '.join(result['photos'])}. PSNR model: "
                 f"{result['psnr_budget_seconds']:g} CPU s per seed; GAN model: {result['gan_budget_seconds']:g} CPU s "
                 f"more, from seed {result['seeds'][0]} ({result['threads_per_run']} thread(s) per run, "
                 f"{result['jobs']} runs at a time); {result['inception']}.")
    text = (f"PSNR model vs bicubic: {c['psnr_gain_over_bicubic_db']:+.2f} dB on the emoji, "
            f"{c['photos_psnr_gain_over_bicubic_db']:+.2f} dB on the photographs; the GAN model costs "
            f"{c['gan_psnr_cost_db']:.2f} dB of PSNR")
    if "gan_fid_drop_vs_its_init" in c:
        text += f" and lowers FID by {c['gan_fid_drop_vs_its_init']:.0%} from its PSNR initialization"
    lines.append(f"\n{text}.")
    return "\n".join(lines)
