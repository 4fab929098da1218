"""The families, by the config's ``task`` name: each a :class:`~gankit.tasks.base.Task` subclass."""

from __future__ import annotations

from gankit.errors import ConfigError
from gankit.tasks.base import BuildContext, Phase, Task
from gankit.tasks.cyclegan import CycleGANTask
from gankit.tasks.gan import GANTask
from gankit.tasks.pix2pix import Pix2PixTask
from gankit.tasks.sr import SRTask

FAMILIES: dict[str, type[Task]] = {"gan": GANTask, "pix2pix": Pix2PixTask, "cyclegan": CycleGANTask,
                                 "sr": SRTask}


def get_family(name: str) -> type[Task]:
    """The task class of a family name (as in the config's ``task``)."""
    if name not in FAMILIES:
        raise ConfigError(f"task: {name!r} is not one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


__all__ = ["BuildContext", "Phase", "Task", "FAMILIES", "get_family", "GANTask", "Pix2PixTask", "CycleGANTask",
           "SRTask"]
