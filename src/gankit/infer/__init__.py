"""Using trained runs: load the networks inference needs from a checkpoint (never unpickling), whatever the family.

:func:`load_model` reads a run folder (its latest checkpoint) or a checkpoint folder, rebuilds the family's
inference networks from the saved config (:meth:`gankit.tasks.base.Task.inference_networks`) and loads each
from its EMA copy when there is one. The gan family's sampling is in :mod:`gankit.infer.sample`, image
translation in :mod:`gankit.infer.translate`.
"""

from __future__ import annotations

from torch import nn

from gankit.checkpoint import load_network, read_checkpoint
from gankit.config import Config, from_dict
from gankit.errors import CheckpointError, GankitError
from gankit.tasks import get_family


class LoadedModel:
    """The inference networks of a trained run, with its config and what it knew of its data."""

    def __init__(self, nets: dict[str, nn.Module], cfg: Config, data: dict, step: int, path: str):
        self.nets, self.cfg, self.data, self.step, self.path = nets, cfg, data, step, path

    @property
    def family(self) -> str:
        return self.cfg.task

    @property
    def net(self) -> nn.Module:
        """The one generator of a gan-family or pix2pix run."""
        if "G" not in self.nets:
            raise GankitError(f"{self.path} is a {self.family} run with generators {', '.join(self.nets)}")
        return self.nets["G"]

    @property
    def class_names(self) -> list[str]:
        return list(self.data.get("class_names", []))

    @property
    def num_classes(self) -> int:
        return getattr(self.nets.get("G"), "num_classes", 0)


def load_model(run: str, use_ema: bool = True, device: str = "cpu") -> LoadedModel:
    """Rebuild a run's inference networks from its latest checkpoint (or a checkpoint folder)."""
    tensors, state = read_checkpoint(run)
    cfg = from_dict(state["config"])
    data = state.get("data")
    try:
        nets = get_family(cfg.task).inference_networks(cfg, data)
    except (KeyError, TypeError, ValueError, IndexError) as exc:  # a state.json edited or damaged into other JSON
        raise CheckpointError(f"checkpoint {state['path']}: its state.json does not describe the data the networks "
                              f"need ({type(exc).__name__}: {exc}); it was damaged or written by something "
                              "else") from None
    for name, net in nets.items():
        has_ema = any(k.startswith(f"net.{name}_ema.") for k in tensors)
        if use_ema and not has_ema and cfg.train.ema > 0:
            raise CheckpointError(f"checkpoint {state['path']} has no {name}_ema although its config enables EMA")
        load_network(net, f"{name}_ema" if use_ema and has_ema else name, tensors, state["path"])
        net.to(device).eval()
    return LoadedModel(nets, cfg, data, int(state["step"]), state["path"])


def load_generator(run: str, use_ema: bool = True, device: str = "cpu") -> LoadedModel:
    """A gan-family run's G (from its EMA when there is one); other families get a one-line pointer."""
    loaded = load_model(run, use_ema, device)
    if loaded.family != "gan":
        raise GankitError(f"{run} is a {loaded.family} run, which translates images rather than sampling them: "
                          f"use gankit translate --run {run}")
    return loaded
