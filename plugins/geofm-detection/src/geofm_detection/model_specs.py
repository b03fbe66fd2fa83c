"""Specs of the detection decoders and tasks (no torch: factories are named lazily)."""

from __future__ import annotations

from geofm.specs import OPTIMISATION_OPTIONS, DecoderSpec, TaskSpec

_PACKAGE = "geofm_detection"

_COMMON_DECODER_OPTIONS = {
    "fpn_channels": "width of the feature pyramid (torchvision FeaturePyramidNetwork; default 256)",
    "min_score": "detections scoring below this are dropped in eval mode (default 0.05)",
    "nms_iou": "IoU above which a lower-scoring detection of the same class is suppressed (default 0.5)",
    "detections_per_image": "most detections returned per image (default 100)",
}
_ANCHOR_OPTIONS = {
    "anchor_sizes": (
        "anchor base size in pixels per pyramid level (the input levels, then one max-pooled level); "
        "default 4 x each level's reduction, e.g. 16, 32, 64, 128, 256 on reductions 4..64"
    ),
    "aspect_ratios": "anchor height / width ratios on every level (default 0.5, 1, 2)",
}


def _decoder(name: str, summary: str, factory: str, task: str, options: dict[str, str]) -> DecoderSpec:
    return DecoderSpec(
        name=name,
        summary=summary,
        factory=f"{_PACKAGE}.detectors:{factory}",
        consumes="maps",
        num_levels=4,
        needs_pyramid=True,
        tasks=(task,),  # type: ignore[arg-type]
        options=options,
    )


DECODERS: tuple[DecoderSpec, ...] = (
    _decoder(
        "faster_rcnn",
        "Faster R-CNN (torchvision): FPN + region proposals + RoIAlign box head, anchors sized from the levels",
        "build_faster_rcnn",
        "detection",
        {**_COMMON_DECODER_OPTIONS, **_ANCHOR_OPTIONS},
    ),
    _decoder(
        "retinanet",
        "RetinaNet (torchvision): FPN + dense anchors (3 scales x 3 ratios) + focal loss, GroupNorm head",
        "build_retinanet",
        "detection",
        {
            **_COMMON_DECODER_OPTIONS,
            **_ANCHOR_OPTIONS,
            "anchor_sizes": (
                "anchor base size in pixels per pyramid level (inputs, then one max-pooled level), each taken "
                "at scales 1, 2^1/3, 2^2/3; default 4 x each level's reduction"
            ),
            "fpn_channels": "width of the feature pyramid, a multiple of 32 and at least 64 (default 256)",
        },
    ),
    _decoder(
        "fcos",
        "FCOS (torchvision): anchor-free, one point per location of an FPN, objects assigned to levels by size",
        "build_fcos",
        "detection",
        {
            **_COMMON_DECODER_OPTIONS,
            "fpn_channels": "width of the feature pyramid, a multiple of 32 and at least 64 (default 256)",
            "nms_iou": "IoU above which a lower-scoring detection of the same class is suppressed (default 0.6)",
            "center_sampling_radius": "points within this many strides of a box centre are positives (default 1.5)",
        },
    ),
    _decoder(
        "mask_rcnn",
        "Mask R-CNN (torchvision): Faster R-CNN + RoIAlign mask head, instance masks in the chip",
        "build_mask_rcnn",
        "instance_segmentation",
        {**_COMMON_DECODER_OPTIONS, **_ANCHOR_OPTIONS},
    ),
)

_TASK_OPTIONS = {
    **OPTIMISATION_OPTIONS,
    "freeze_backbone": "train only necks and the detector",
    "freeze_decoder": "keep the detector's weights fixed",
    "scheduler": "plateau (ReduceLROnPlateau on val/map, default), cosine or none",
}

_BOX_METRICS = ("map", "map_50", "map_75", "ap_per_class")

TASKS: tuple[TaskSpec, ...] = tuple(
    TaskSpec(
        name=task_type,
        summary=summary,
        factory=f"{_PACKAGE}.tasks:{task_class}",
        task_type=task_type,
        head="detection",
        losses=("detector",),
        metrics=metrics,
        monitor="val/map",
        monitor_mode="max",
        options=_TASK_OPTIONS,
    )
    for task_type, task_class, summary, metrics in (
        (
            "detection",
            "DetectionTask",
            "Object detection: the detector's own losses, COCO box mAP (mAP@50, @75, per class)",
            _BOX_METRICS,
        ),
        (
            "instance_segmentation",
            "InstanceSegmentationTask",
            "Instance segmentation: the detector's own losses, COCO box and mask mAP (per class too)",
            (*_BOX_METRICS, "segm_map", "segm_map_50", "segm_map_75"),
        ),
    )
)
