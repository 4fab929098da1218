"""Quality numbers, each returned with the protocol that produced it."""

from gankit.metrics.features_metrics import (
    FEATURE_METRICS,
    PROBABILITY_METRICS,
    class_metrics,
    density_coverage,
    fid,
    fid_from_stats,
    inception_score,
    kid,
    precision_recall,
)
from gankit.metrics.frechet import frechet_distance, pixel_fd
from gankit.metrics.modes import mode_metrics

__all__ = [
    "frechet_distance",
    "pixel_fd",
    "mode_metrics",
    "fid",
    "fid_from_stats",
    "kid",
    "inception_score",
    "precision_recall",
    "density_coverage",
    "class_metrics",
    "FEATURE_METRICS",
    "PROBABILITY_METRICS",
]
