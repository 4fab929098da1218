"""Multi-process training on ``torch.distributed``: one process per device, launched by torchrun.

``torchrun --nproc_per_node=N -m gankit train ...`` (or ``gankit train --nproc N``, which runs that)
starts N copies of the same command with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and a rendezvous
address in the environment; :func:`init_from_env` joins them into one process group, with the
``nccl`` backend on CUDA and ``gloo`` on CPU.

How a GAN step is split across processes:

* ``train.batch_size`` is the **global** batch: each of the N processes takes ``batch_size / N``.
  Real batches come from one shuffled permutation per epoch, shared by all processes and dealt out
  so that the N local batches of a step together are exactly the batch a single process would take.
  G's noise and fake labels are drawn for the whole global batch from a generator seeded alike on
  every process, and each process keeps its slice. Per-sample randomness inside a step
  (augmentation, instance noise, the gradient penalty's interpolation weights) comes from each
  process's own generator (seed * 1000 + rank).
* Gradients: after each phase's backward pass, the gradients of the parameters that phase updates
  are averaged over the processes with one ``all_reduce`` of a flat buffer (:func:`average_gradients`),
  then every process takes the same optimizer step, so the replicas never drift apart. This is what
  ``DistributedDataParallel`` does, without its wrapper: GAN steps switch which network gets
  gradients from phase to phase, differentiate twice for R1 and the gradient penalty, and leave some
  parameters without a gradient in some phases, all of which the wrapper's bucketed hooks handle
  badly ("unused parameter" errors, reductions left pending); an explicit reduce after each backward
  has none of those problems. The price is that communication does not overlap the backward pass,
  which for GAN-sized networks is small (StyleGAN2-ADA's PyTorch code makes the same choice).
* BatchNorm is not synchronised: it normalizes each process's local batch of ``batch_size / N``, and
  each process keeps its own running statistics (checkpoints hold process 0's; samples are drawn with
  standing statistics recomputed from G anyway). So with BatchNorm, N processes train like one
  process whose BatchNorm sees sub-batches of ``batch_size / N``: keep that local batch at the size
  the recipe was tuned for, or use layer norm / no norm (as WGAN-GP and R1 require in D anyway).
* Process 0 alone writes the run folder: checkpoints, EMA samples, stats and evaluations. Logged
  statistics are averaged over the processes first.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from gankit.errors import GankitError


def env_world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) when not launched by it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    return rank, world, local


def init_from_env(device_type: str) -> tuple[int, int, int]:
    """Join the process group torchrun prepared (if any); returns (rank, world, local rank).

    The backend is nccl for CUDA devices and gloo otherwise.
    """
    rank, world, local = env_world()
    if world <= 1 or (dist.is_available() and dist.is_initialized()):
        return rank, world, local
    if not dist.is_available():
        raise GankitError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed: run one process")
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(local)
    try:
        dist.init_process_group(backend=backend)
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GankitError(f"cannot join the {backend} process group of {world} processes ({first}): "
                          "launch with torchrun --nproc_per_node=N -m gankit train ...") from None
    return rank, world, local


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    """Average the ``.grad`` of ``params`` over all processes, in place, with one all_reduce.

    Parameters without a gradient are skipped: every process runs the same graph, so they are the
    same ones everywhere, and the optimizer skips them as it would in a single process.
    """
    if not is_distributed():
        return
    live = [p for p in params if p.grad is not None]
    if not live:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in live])
    dist.all_reduce(flat)
    flat.div_(dist.get_world_size())
    offset = 0
    for p in live:
        n = p.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
        offset += n


def _comm_device() -> torch.device:
    """Where collectives' tensors must live: the current CUDA device for nccl, else the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def mean_over_processes(values: dict[str, float]) -> dict[str, float]:
    """The mean of each value over all processes (the same dict back on one process)."""
    if not is_distributed() or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    t /= dist.get_world_size()
    return dict(zip(keys, t.cpu().tolist()))


def sum_over_processes(t: torch.Tensor) -> torch.Tensor:
    """The sum of ``t`` over all processes, as a new tensor on ``t``'s device (no host sync on CUDA)."""
    if not is_distributed():
        return t
    out = t.detach().to(_comm_device(), copy=True)
    dist.all_reduce(out)
    return out.to(t.device)


def any_process(flag: bool) -> bool:
    """True on every process if ``flag`` is true on any (a collective: all processes must call it)."""
    if not is_distributed():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def gather_rng_states(state: torch.Tensor) -> list[torch.Tensor]:
    """Every process's generator state (a uint8 tensor), on every process; ``[state]`` on one process."""
    if not is_distributed():
        return [state]
    device = _comm_device()
    out = [torch.empty_like(state, device=device) for _ in range(dist.get_world_size())]
    dist.all_gather(out, state.to(device))
    return [o.cpu() for o in out]


def broadcast_object(obj):
    """Process 0's ``obj`` (small, picklable; sent over the process group, never read from disk) everywhere."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
