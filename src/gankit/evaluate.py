"""The numbers written to a run's ``metrics.json`` when training ends."""

from __future__ import annotations

import torch

from gankit.metrics import mode_metrics, pixel_fd


def end_of_run_metrics(setup, seed: int = 0) -> dict:
    """Pixel Fréchet distance for images, mode coverage for 2-D mixtures; each with its protocol.

    Samples come from G's EMA (when there is one) with noise from a generator seeded by ``seed``;
    real images are a random subset of the training data drawn with the same seed.
    """
    from gankit.infer import draw_latents

    ds, task, n, sc = setup.dataset, setup.task, setup.cfg.eval.num_samples, setup.cfg.sample
    gen = torch.Generator().manual_seed(seed + 2)
    inputs = {}
    if task.num_classes:
        inputs["labels"] = torch.randint(0, task.num_classes, (n,), generator=gen)
    inputs["z"] = draw_latents(task.sampling_net(), n, gen, inputs.get("labels"),
                               jacobian_truncation=sc.jacobian_truncation, projections=sc.jacobian_projections)
    fake = task.generate(inputs).cpu()
    if not ds.is_image:
        result = mode_metrics(fake.numpy(), ds.centers.numpy(), ds.std)
        result["protocol"].update({"seed": seed, "jacobian_truncation": sc.jacobian_truncation})
        return result
    from gankit.data import to_model_space

    idx = torch.randperm(len(ds), generator=gen)[: min(n, len(ds))]
    real = to_model_space(ds.data[idx])
    result = pixel_fd(fake, real)
    result["protocol"].update({"seed": seed, "real": f"{ds.name} (training data)", "generator": "G_ema",
                               "jacobian_truncation": sc.jacobian_truncation})
    return result
