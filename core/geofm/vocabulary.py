"""The words that describe components and runs, each vocabulary listed once.

Every other module imports these tables instead of restating them. Pure data: no torch, no plugins.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "CLASSIFICATION_TASKS",
    "COMPONENT_KINDS",
    "DENSE_TASKS",
    "DETECTION_TASKS",
    "FEATURE_KINDS",
    "HEAD_OF_TASK",
    "HOOK_OF_KIND",
    "SINGULAR",
    "TASK_TYPES",
    "ComponentKind",
    "FeatureKind",
    "TaskType",
]

ComponentKind = Literal["backbones", "necks", "decoders", "datasets", "tasks"]
COMPONENT_KINDS: tuple[ComponentKind, ...] = get_args(ComponentKind)
"""The kinds of component a plugin contributes, in the order a run composes them."""
SINGULAR: dict[str, str] = {kind: kind.removesuffix("s") for kind in COMPONENT_KINDS}
"""``"backbones"`` -> ``"backbone"``: the word for one component of a kind, in messages."""
HOOK_OF_KIND: dict[str, str] = {kind: f"geofm_{kind}" for kind in COMPONENT_KINDS}
"""Component kind -> the plugin hook that returns its specs."""

FeatureKind = Literal["tokens", "maps", "vector"]
FEATURE_KINDS: tuple[FeatureKind, ...] = get_args(FeatureKind)
"""What features between backbone and decoder are: token sequences, image maps, or one vector."""

TaskType = Literal[
    "segmentation", "regression", "classification", "multilabel_classification", "detection", "instance_segmentation"
]
TASK_TYPES: tuple[TaskType, ...] = get_args(TaskType)
"""Every task type a run can have."""
DENSE_TASKS: tuple[TaskType, ...] = ("segmentation", "regression")
"""Task types whose output is a map of the input's size."""
CLASSIFICATION_TASKS: tuple[TaskType, ...] = ("classification", "multilabel_classification")
"""Task types whose output is one vector of class scores per image."""
DETECTION_TASKS: tuple[TaskType, ...] = ("detection", "instance_segmentation")
"""Task types whose output is a list of objects (boxes, classes, scores, and masks for instances)."""
HEAD_OF_TASK: dict[str, str] = {
    "segmentation": "segmentation",
    "regression": "regression",
    "classification": "classification",
    "multilabel_classification": "classification",
    "detection": "detection",
    "instance_segmentation": "detection",
}
"""The head a task type ends in when it is given as a bare task type."""
