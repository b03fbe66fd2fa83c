"""Loading Clay's released Lightning checkpoints into :class:`~geofm_clay.model.ClayEncoder`.

The checkpoint's ``state_dict`` holds ``model.encoder.*`` (kept, prefix stripped) beside the MAE decoder,
projection and teacher (dropped). The encoder loads strictly: a missing, unexpected or wrongly shaped key
is a :class:`~geofm.errors.WeightsError` that names it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from geofm.errors import WeightsError
from geofm.weights import load_state_dict, state_mismatch

__all__ = ["ENCODER_PREFIX", "encoder_state_dict", "load_clay_checkpoint"]

ENCODER_PREFIX = "model.encoder."
"""Where the encoder's weights live in Clay's Lightning checkpoints."""


def encoder_state_dict(checkpoint: Mapping[str, Any], source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The encoder's tensors from a loaded checkpoint, keys relative to :class:`ClayEncoder`.

    Accepts a Lightning checkpoint (``state_dict`` with ``model.encoder.*``), its bare ``state_dict``,
    or an encoder state dict saved directly (keys already without prefix).
    """
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping):
        raise WeightsError(f"{source}: 'state_dict' is a {type(state).__name__}, not a mapping of tensors")
    if any(key.startswith(ENCODER_PREFIX) for key in state):
        return {key[len(ENCODER_PREFIX) :]: value for key, value in state.items() if key.startswith(ENCODER_PREFIX)}
    if any(key.startswith("model.") for key in state):
        raise WeightsError(
            f"{source} has no '{ENCODER_PREFIX}*' keys (found e.g. {next(iter(state))!r}): it is not a Clay "
            "encoder checkpoint; pass a released Clay checkpoint with --weights"
        )
    return {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}


def load_clay_checkpoint(module: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load the encoder weights of the checkpoint file ``path`` into ``module`` strictly."""
    source = str(Path(path))
    state = encoder_state_dict(load_state_dict(path), source)
    problems = state_mismatch(module.state_dict(), state)
    if problems:
        raise WeightsError(
            f"{source} does not fit this Clay encoder ({'; '.join(problems)}). Use the checkpoint released for "
            "this backbone, or pass the architecture options (dim, depth, heads, dim_head, mlp_ratio, "
            "patch_size) that match the file."
        )
    module.load_state_dict(state, strict=True)
