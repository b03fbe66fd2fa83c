"""The model of a run, built from its configuration: one function for training, evaluate and predict.

A run's ``config.yaml`` records everything the model depends on, including what the data decided (bands,
frames, classes, the neck plan), so :func:`build_run_model` rebuilds exactly the network that was trained
without the data. :func:`load_model_state` loads a checkpoint's tensors into it strictly and says in one
paragraph what does not fit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from geofm.config import RunConfig
from geofm.errors import ConfigError, WeightsError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["build_run_model", "load_model_state", "model_inputs"]


def model_inputs(config: RunConfig) -> tuple[list[str], int, int]:
    """``(bands, num_frames, num_outputs)`` a resolved run configuration records for its model."""
    missing = [
        key
        for key, value in (
            ("dataset.bands", config.dataset.bands),
            ("task.name", config.task.name),
            ("task.num_outputs", config.task.num_outputs),
            ("decoder.name", config.decoder.name),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"the run configuration lacks {', '.join(missing)}, which the model depends on; "
            "a geofm run records them in its config.yaml (was it written by an older geofm or edited?)"
        )
    return list(config.dataset.bands or ()), int(config.backbone.num_frames or 1), int(config.task.num_outputs or 0)


def build_run_model(config: RunConfig, *, weights: str | os.PathLike[str] | None = "none") -> nn.Module:
    """The composed model ``config`` (a resolved run configuration) describes, with backbone ``weights``.

    With ``backbone.lora``, the backbone gets LoRA adapters after its weights are loaded
    (:func:`geofm.lora.apply_lora`): only they train in it. ``task.freeze_backbone`` would freeze them
    too, so the two together are a :class:`~geofm.errors.ConfigError`.
    """
    from geofm.compose import build_model

    bands, num_frames, num_outputs = model_inputs(config)
    lora = config.backbone.lora
    if lora is not None and config.task.freeze_backbone:
        raise ConfigError(
            "backbone.lora and task.freeze_backbone together would freeze the LoRA adapters too: LoRA already "
            "freezes the backbone's own weights, so drop task.freeze_backbone (--train-backbone)"
        )
    model = build_model(
        config.backbone.name,
        str(config.decoder.name),
        necks=config.necks,
        task=str(config.task.name),
        num_classes=num_outputs,
        weights=weights,
        bands=bands,
        img_size=config.backbone.img_size,
        num_frames=num_frames,
        backbone_options=config.backbone.options(),
        decoder_options=config.decoder.options(),
        head_options=config.head.options(),
        aux_heads=config.aux_heads or None,
    )
    if lora is not None:
        from geofm.lora import apply_lora

        model.backbone = apply_lora(model.backbone, lora, name=config.backbone.name)
    return model


def load_model_state(model: nn.Module, state: Mapping[str, Any], source: str) -> None:
    """Load ``state`` into ``model`` strictly; a mismatch is one WeightsError with counts and the first keys."""
    from geofm.weights import state_mismatch

    problems = state_mismatch(model.state_dict(), state)
    if problems:
        raise WeightsError(
            f"{source} does not fit the model its run's config.yaml describes ({'; '.join(problems)}). "
            "Was config.yaml edited, or the checkpoint taken from another run?"
        )
    model.load_state_dict(dict(state), strict=True)
