"""The options of prediction: how scenes are tiled, run and written, and how a detection run's objects are kept."""

from __future__ import annotations

from dataclasses import dataclass

from geofm.errors import ConfigError
from geofm.predict._objects_write import VECTOR_FORMATS
from geofm.predict._outputs import OUTPUT_KINDS
from geofm.predict.schedule import CallSchedule

__all__ = ["COMPRESSIONS", "PRECISIONS", "ObjectOptions", "PredictOptions"]

COMPRESSIONS = ("deflate", "lzw", "zstd", "lerc", "none")
PRECISIONS = ("32", "bf16")
DEFAULT_SCORE_THRESHOLD = 0.3
DEFAULT_NMS_IOU = 0.5


@dataclass(frozen=True)
class PredictOptions:
    """How scenes are predicted (see :func:`geofm.predict.predict` for the meaning of each field).

    ``schedule``: the :class:`~geofm.predict.schedule.CallSchedule` to run every scene with, as given;
    ``None`` (the default) chooses one for the device and fits it to each scene
    (:func:`~geofm.predict.schedule.call_schedule`). Tests and benchmarks set it to force a schedule.
    """

    tile_size: int = 256
    overlap: int = 32
    batch_size: int = 8
    device: str = "auto"
    precision: str = "32"
    output: str | None = None
    dtype: str | None = None
    compression: str = "deflate"
    overwrite: bool = False
    preview: bool = False
    schedule: CallSchedule | None = None

    def check(self) -> None:
        """Refuse impossible values with the option's name."""
        if self.tile_size < 16:
            raise ConfigError(f"tile_size must be >= 16 pixels, got {self.tile_size}")
        if not 0 <= self.overlap <= self.tile_size // 2:
            raise ConfigError(f"overlap must be between 0 and tile_size/2 ({self.tile_size // 2}), got {self.overlap}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.output is not None and self.output not in OUTPUT_KINDS:
            raise ConfigError(f"output must be one of {', '.join(OUTPUT_KINDS)}, got {self.output!r}")
        if self.compression.lower() not in COMPRESSIONS:
            raise ConfigError(f"compression must be one of {', '.join(COMPRESSIONS)}, got {self.compression!r}")
        if self.device not in ("auto", "cpu") and not self.device.startswith(("cuda", "mps")):
            raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        given = self.schedule
        if given is not None and (given.streams < 1 or given.io_threads < 1 or given.model_threads == 0):
            raise ConfigError(f"schedule needs streams >= 1, io_threads >= 1 and model_threads None or >= 1: {given}")


@dataclass(frozen=True)
class ObjectOptions:
    """How the objects of a detection run are kept and written.

    ``score_threshold``: detections scoring below it are dropped before merging; ``nms_iou``: the
    overlap above which two detections of one class are one object
    (:func:`geofm.predict._objects_merge.merge_objects`); ``vector_format``: ``gpkg`` (GeoPackage, layer
    ``objects``, in the scene's CRS) or ``geojson`` (RFC 7946, EPSG:4326).
    """

    score_threshold: float = DEFAULT_SCORE_THRESHOLD
    nms_iou: float = DEFAULT_NMS_IOU
    vector_format: str = "gpkg"

    def check(self) -> None:
        """Refuse impossible values with the option's name."""
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ConfigError(f"score_threshold must be between 0 and 1, got {self.score_threshold}")
        if not 0.0 < self.nms_iou <= 1.0:
            raise ConfigError(f"nms_iou must be above 0 and at most 1, got {self.nms_iou}")
        if self.vector_format not in VECTOR_FORMATS:
            raise ConfigError(f"vector_format must be one of {', '.join(VECTOR_FORMATS)}, got {self.vector_format!r}")
