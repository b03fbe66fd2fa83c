"""Loading released DOFA checkpoints into :class:`~geofm_dofa.model.DOFAEncoder`: layouts, strictness, pos_embed.

Two layouts are released: the torchgeo extraction (``torchgeo/dofa``, what the reference downloads), a flat
dict of exactly the encoder's keys, and the earthflow originals (``earthflow/DOFA``), the same keys plus the
MAE leftovers ``mask_token``, ``norm.*`` and ``projector.*``. Those, and a classifier's ``fc_norm.*`` /
``head.*``, are dropped and reported; the rest loads strictly (a missing, unexpected or wrongly shaped key is
a :class:`~geofm.errors.WeightsError` naming it). ``pos_embed`` is resized (bilinear) to the model's grid
when it was built for another ``img_size``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from geofm.errors import WeightsError
from geofm.weights import load_state_dict, state_mismatch
from geofm_dofa.pos_embed import grid_of, resize_pos_embed

__all__ = ["DROPPED_KEYS", "DROPPED_PREFIXES", "dofa_state_dict", "is_dropped_key", "load_dofa_checkpoint"]

log = logging.getLogger(__name__)

DROPPED_KEYS = ("mask_token",)
"""Single keys of the original release that the backbone does not use."""

DROPPED_PREFIXES = ("norm.", "projector.", "fc_norm.", "head.")
"""Key prefixes the backbone does not use: the MAE final norm and projector, a classifier's norm and head."""

_CONTAINERS = ("state_dict", "model", "model_state_dict")


def is_dropped_key(key: str) -> bool:
    """Whether ``key`` belongs to what the backbone drops (MAE leftovers, classification head)."""
    return key in DROPPED_KEYS or key.startswith(DROPPED_PREFIXES)


def dofa_state_dict(checkpoint: Mapping[str, Any], source: str = "checkpoint") -> tuple[dict[str, Any], list[str]]:
    """The encoder tensors of a loaded checkpoint and the keys dropped from it, in file order.

    A ``{"state_dict" | "model": {...}}`` wrapper is unwrapped; non-tensor entries are ignored.
    """
    for container in _CONTAINERS:
        inner = checkpoint.get(container)
        if isinstance(inner, Mapping):
            checkpoint = inner
            break
    tensors = {key: value for key, value in checkpoint.items() if isinstance(value, torch.Tensor)}
    if not tensors:
        raise WeightsError(f"{source} holds no tensors; is it a DOFA checkpoint?")
    state = {key: value for key, value in tensors.items() if not is_dropped_key(key)}
    dropped = [key for key in tensors if is_dropped_key(key)]
    return state, dropped


def _fit_pos_embed(state: dict[str, Any], model: nn.Module) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """Resize the checkpoint's ``pos_embed`` to the model's grid; ``(from, to)`` grids when it was resized."""
    table = state.get("pos_embed")
    current = model.state_dict().get("pos_embed")
    if table is None or current is None or tuple(table.shape) == tuple(current.shape):
        return None
    source, target = grid_of(table), grid_of(current)
    if source is None or target is None or table.shape[-1] != current.shape[-1]:
        return None  # reported by the strict check
    state["pos_embed"] = resize_pos_embed(table, source, target)
    return source, target


def load_dofa_checkpoint(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load the DOFA checkpoint ``path`` into ``model`` strictly; return what was done.

    The report: ``path``, ``layout`` (``"torchgeo"``, or ``"original"`` when MAE leftovers were found),
    ``loaded_keys`` (count), ``dropped_keys`` (the names) and ``pos_embed_resized`` (``[from grid, to
    grid]`` or ``None``).
    """
    path = Path(path)
    state, dropped = dofa_state_dict(load_state_dict(path), str(path))
    resized = _fit_pos_embed(state, model)
    problems = state_mismatch(model.state_dict(), state)
    if problems:
        raise WeightsError(
            f"checkpoint {path} does not fit this DOFA encoder ({'; '.join(problems)}). Use the file released for "
            "this backbone (dofa_base_patch16_224 and dofa_large_patch16_224 differ in width and depth), pass the "
            "architecture options that match the file (embed_dim, depth, num_heads, mlp_ratio, patch_size), or "
            "--weights none to train from random initialisation."
        )
    model.load_state_dict(state, strict=True)
    original = any(key in DROPPED_KEYS or key.startswith(("norm.", "projector.")) for key in dropped)
    report = {
        "path": str(path),
        "layout": "original" if original else "torchgeo",
        "loaded_keys": len(state),
        "dropped_keys": dropped,
        "pos_embed_resized": [list(resized[0]), list(resized[1])] if resized else None,
    }
    log.info(
        "%s: loaded %d DOFA keys (%s layout); dropped %s%s",
        path.name,
        len(state),
        report["layout"],
        ", ".join(dropped) or "none",
        f"; pos_embed resized {resized[0]} -> {resized[1]}" if resized else "",
    )
    return report
