"""Hook implementations of core's built-in plugin (registered through the ``geofm`` entry point like any other).

Only specs here: the factories are named lazily so that listings never import torch.
"""

from __future__ import annotations

from collections.abc import Iterable

from geofm.hookspecs import hookimpl
from geofm.specs import OPTIMISATION_OPTIONS, BackboneSpec, NeckSpec, TaskSpec
from geofm.vocabulary import HEAD_OF_TASK

_TINY_VIT_DEPTH = 4
_TINY_VIT_DIM = 64

# name -> (timm model name, channels per stage, reduction per stage, summary)
_TIMM_CNNS: dict[str, tuple[str, tuple[int, ...], tuple[int, ...], str]] = {
    "timm_resnet18": ("resnet18", (64, 64, 128, 256, 512), (2, 4, 8, 16, 32), "ResNet-18 (timm), any number of bands"),
    "timm_resnet50": (
        "resnet50",
        (64, 256, 512, 1024, 2048),
        (2, 4, 8, 16, 32),
        "ResNet-50 (timm), the classic UNet/ResNet baseline encoder",
    ),
    "timm_convnext_tiny": ("convnext_tiny", (96, 192, 384, 768), (4, 8, 16, 32), "ConvNeXt-Tiny (timm)"),
    "timm_efficientnet_b0": (
        "efficientnet_b0",
        (16, 24, 40, 112, 320),
        (2, 4, 8, 16, 32),
        "EfficientNet-B0 (timm)",
    ),
}

_TIMM_OPTIONS = {
    "pretrained": "load timm's ImageNet weights from the hub (input layer adapted to the band count)",
}


@hookimpl
def geofm_backbones() -> Iterable[BackboneSpec]:
    """The tiny test ViT and the generic timm CNN backbones."""
    yield BackboneSpec(
        name="tiny_vit",
        summary="Tiny ViT (4 blocks x 64 dims, patch 8) for tests and quick runs; any bands, any frames",
        factory="geofm.builtin.tiny_vit:build_tiny_vit",
        output_kind="tokens",
        embed_dim=_TINY_VIT_DIM,
        depth=_TINY_VIT_DEPTH,
        feature_channels=(_TINY_VIT_DIM,) * _TINY_VIT_DEPTH,
        feature_reductions=(8,) * _TINY_VIT_DEPTH,
        default_levels=tuple(range(_TINY_VIT_DEPTH)),
        num_prefix_tokens=1,
        patch_size=8,
        img_size=64,
        num_frames=1,
        max_frames=0,
        input_bands="fixed",
        options={
            "embed_dim": "token width (default 64)",
            "depth": "number of blocks (default 4)",
            "num_heads": "attention heads (default 4)",
            "patch_size": "patch size in pixels (default 8)",
        },
        license="Apache-2.0",
    )
    for name, (timm_name, channels, reductions, summary) in _TIMM_CNNS.items():
        yield BackboneSpec(
            name=name,
            summary=summary,
            factory="geofm.builtin.timm_backbones:build_timm_backbone",
            output_kind="maps",
            embed_dim=channels[-1],
            depth=len(channels),
            feature_channels=channels,
            feature_reductions=reductions,
            default_levels=tuple(range(len(channels) - 4, len(channels))),
            patch_size=max(reductions),
            img_size=224,
            input_bands="fixed",
            options=_TIMM_OPTIONS,
            extra={"timm_model": timm_name},
            license="Apache-2.0",
        )


_NECKS_MODULE = "geofm.builtin.necks"

_NECKS: tuple[tuple[str, str, str, dict[str, object]], ...] = (
    # (name, factory class, summary, the spec's planning fields and documented options)
    (
        "select_levels",
        "SelectLevels",
        "Keep the features at the given indices (default: the backbone's default levels)",
        {"selects_levels": True, "auto_rank": 0, "options": {"levels": "indices of the features to keep"}},
    ),
    (
        "tokens_to_map",
        "TokensToMap",
        "Token sequences -> image maps: drop cls tokens, fold time into channels",
        {
            "consumes": "tokens",
            "produces": "maps",
            "folds_time": True,
            "keeps_reductions": True,
            "auto_rank": 0,
            "options": {
                "num_frames": "temporal token grid size T' (default: set from the model's num_frames)",
                "time": "concat (fold time into channels, default) or mean (average over time)",
            },
        },
    ),
    (
        "interpolate_pyramid",
        "InterpolatePyramid",
        "Same-stride maps -> 4-level pyramid (x4, x2, x1, x0.5) by interpolation and pooling",
        {
            "consumes": "maps",
            "produces": "maps",
            "out_levels": 4,
            "makes_pyramid": True,
            "auto_rank": 0,
            "options": {"scales": "resize factor per level (default 4, 2, 1, 0.5)"},
        },
    ),
    (
        "learned_pyramid",
        "LearnedPyramid",
        "Same-stride maps -> 4-level pyramid with learned transposed-convolution upsampling",
        {"consumes": "maps", "produces": "maps", "out_levels": 4, "makes_pyramid": True},
    ),
    (
        "token_pool",
        "TokenPool",
        "Token sequences -> one vector per image (mean, max or cls token) for classification",
        {
            "consumes": "tokens",
            "produces": "vector",
            "out_levels": 1,
            "auto_rank": 0,
            "options": {"mode": "mean, max or cls (default mean)"},
        },
    ),
    (
        "global_pool",
        "GlobalPool",
        "Maps -> one vector per image (global mean or max pooling) for classification",
        {
            "consumes": "maps",
            "produces": "vector",
            "out_levels": 1,
            "auto_rank": 0,
            "options": {"mode": "mean or max (default mean)"},
        },
    ),
)


@hookimpl
def geofm_necks() -> Iterable[NeckSpec]:
    """The built-in necks that adapt backbone features to what decoders consume."""
    for name, factory, summary, fields in _NECKS:
        yield NeckSpec(name=name, summary=summary, factory=f"{_NECKS_MODULE}:{factory}", **fields)  # type: ignore[arg-type]


_TASKS: tuple[tuple[str, str, str, dict[str, object], dict[str, str]], ...] = (
    # (name = task type, factory in geofm.tasks, summary, what it logs and monitors, its own options)
    (
        "segmentation",
        "segmentation:SegmentationTask",
        "Semantic segmentation: ce / dice / focal losses, mIoU, per-class IoU, F1, accuracy",
        {
            "losses": ("ce", "dice", "focal"),
            "metrics": ("miou", "iou_per_class", "f1", "accuracy"),
            "monitor": "val/miou",
            "monitor_mode": "max",
        },
        {
            "loss": "ce, dice, focal, or a weighted sum like 'ce+0.5*dice'",
            "class_weights": "per-class loss weights",
            "focal_gamma": "focusing parameter of the focal loss (default 2)",
        },
    ),
    (
        "regression",
        "regression:RegressionTask",
        "Pixel-wise or image-level regression: mse / mae / huber losses, RMSE, MAE, R2; NaN targets masked",
        {
            "losses": ("mse", "mae", "huber"),
            "metrics": ("rmse", "mae", "r2"),
            "monitor": "val/rmse",
            "monitor_mode": "min",
        },
        {"loss": "mse, mae, huber, or a weighted sum like 'mse+0.1*mae'", "huber_delta": "Huber delta"},
    ),
    (
        "classification",
        "classification:ClassificationTask",
        "Multi-class image classification: ce / focal losses, accuracy, macro F1",
        {"losses": ("ce", "focal"), "metrics": ("accuracy", "f1"), "monitor": "val/accuracy", "monitor_mode": "max"},
        {"loss": "ce, focal, or a weighted sum", "class_weights": "per-class loss weights"},
    ),
    (
        "multilabel_classification",
        "classification:MultiLabelClassificationTask",
        "Multi-label image classification: binary cross-entropy, macro F1, mAP",
        {"losses": ("bce",), "metrics": ("f1", "map"), "monitor": "val/map", "monitor_mode": "max"},
        {"loss": "bce", "class_weights": "per-label loss weights"},
    ),
)


@hookimpl
def geofm_tasks() -> Iterable[TaskSpec]:
    """The segmentation, regression, classification and multi-label classification tasks."""
    for task_type, factory, summary, scoring, options in _TASKS:
        yield TaskSpec(
            name=task_type,
            summary=summary,
            factory=f"geofm.tasks.{factory}",
            task_type=task_type,  # type: ignore[arg-type]
            head=HEAD_OF_TASK[task_type],
            options={**options, **OPTIMISATION_OPTIONS},
            **scoring,  # type: ignore[arg-type]
        )
