"""Quality numbers, each returned with the protocol that produced it."""

from gankit.metrics.frechet import frechet_distance, pixel_fd
from gankit.metrics.modes import mode_metrics

__all__ = ["frechet_distance", "pixel_fd", "mode_metrics"]
