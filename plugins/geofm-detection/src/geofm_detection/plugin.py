"""The ``detection`` entry point: the specs of the detection decoders, tasks and datasets (no torch)."""

from __future__ import annotations

from collections.abc import Iterable

from geofm import hookimpl
from geofm.specs import DatasetSpec, DecoderSpec, TaskSpec
from geofm_detection.data_specs import DATASETS
from geofm_detection.model_specs import DECODERS, TASKS


@hookimpl
def geofm_decoders() -> Iterable[DecoderSpec]:
    """Detection decoders: torchvision's Faster R-CNN, RetinaNet, FCOS and Mask R-CNN heads with an FPN."""
    return list(DECODERS)


@hookimpl
def geofm_tasks() -> Iterable[TaskSpec]:
    """The ``detection`` and ``instance_segmentation`` tasks (COCO mAP on validation)."""
    return list(TASKS)


@hookimpl
def geofm_datasets() -> Iterable[DatasetSpec]:
    """Detection datasets: generic GeoTIFF + vector/COCO annotations, a generated demo, NWPU VHR-10."""
    return list(DATASETS)
