"""Reading released Prithvi-EO checkpoints into :class:`~geofm_prithvi.model.PrithviViT`: layouts, strictness.

Two layouts are released: the flat MAE dict of the v2 files (and the current v1 file) with ``encoder.*``
and ``decoder.*`` keys, and the original v1 file (``Prithvi_100M.pt``) with the same names un-prefixed.
The backbone keeps the encoder keys, drops the MAE decoder, replaces ``pos_embed`` with the table of its
own grid, adapts the patch embedding to the model's bands, and loads strictly: a missing, unexpected or
wrongly shaped key is a :class:`~geofm.errors.WeightsError` naming it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from geofm.bands import canonical_bands
from geofm.errors import WeightsError
from geofm.weights import adapt_input_channels, load_state_dict, state_mismatch

__all__ = ["encoder_state_dict", "is_mae_decoder_key", "load_checkpoint"]

log = logging.getLogger(__name__)

PATCH_KEY = "patch_embed.proj.weight"


def is_mae_decoder_key(key: str) -> bool:
    """Whether ``key`` (without an ``encoder.`` prefix) belongs to the MAE decoder, which a backbone drops."""
    return key.startswith("decoder") or key == "mask_token" or "_dec." in key


def encoder_state_dict(state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], str, int]:
    """The encoder tensors of a checkpoint in either released layout.

    Returns ``(state, layout, dropped)``: the encoder keys with any ``encoder.`` prefix removed, the
    layout found (``"prefixed"`` for the ``encoder.*`` / ``decoder.*`` dict of the releases,
    ``"unprefixed"`` for the original v1 file) and
    how many MAE decoder keys were dropped. A Lightning-style ``{"state_dict": ...}`` is unwrapped.
    """
    inner = state.get("state_dict")
    if isinstance(inner, Mapping):
        state = inner
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    prefixed = any(k.startswith("encoder.") for k in tensors)
    layout = "prefixed" if prefixed else "unprefixed"
    encoder: dict[str, torch.Tensor] = {}
    dropped = 0
    for key, value in tensors.items():
        name = key.removeprefix("encoder.") if prefixed else key
        if (prefixed and key.startswith("decoder.")) or is_mae_decoder_key(name):
            dropped += 1
            continue
        encoder[name] = value
    return encoder, layout, dropped


def _check_strict(state: Mapping[str, torch.Tensor], model: nn.Module, path: Path) -> None:
    problems = state_mismatch(model.state_dict(), state)
    if problems:
        raise WeightsError(
            f"checkpoint {path} does not match the Prithvi encoder ({'; '.join(problems)}). Check that the file "
            "is the variant you built (embed dim, depth, patch size, TL or not), or that it is not truncated; "
            "use --weights none to train from random initialisation."
        )


def _patch_embedding(
    state: dict[str, torch.Tensor],
    model: nn.Module,
    checkpoint_bands: Sequence[str],
    model_bands: Sequence[str],
    path: Path,
) -> dict[str, list[str]] | None:
    weight = state.get(PATCH_KEY)
    current = model.state_dict().get(PATCH_KEY)
    if weight is None or current is None:
        return None  # reported by the strict check
    if tuple(weight.shape[2:]) != tuple(current.shape[2:]):
        warnings.warn(
            f"{path}: the patch embedding's kernel {tuple(weight.shape[2:])} differs from the model's "
            f"{tuple(current.shape[2:])}; keeping the randomly initialised patch embedding",
            stacklevel=3,
        )
        state[PATCH_KEY] = current.clone()
        return {"copied": [], "initialised": list(model_bands), "dropped": list(checkpoint_bands)}
    if weight.shape[1] != len(checkpoint_bands):
        raise WeightsError(
            f"checkpoint {path}: {PATCH_KEY} has {weight.shape[1]} input channels but the weights' bands are "
            f"{len(checkpoint_bands)} ({', '.join(checkpoint_bands)}); the file is not a release of this variant"
        )
    if canonical_bands(checkpoint_bands) == canonical_bands(model_bands):
        return None
    adapted, report = adapt_input_channels(weight, checkpoint_bands, model_bands)
    state[PATCH_KEY] = adapted
    return report


def load_checkpoint(
    model: nn.Module,
    path: str | Path,
    *,
    checkpoint_bands: Sequence[str],
    model_bands: Sequence[str],
) -> dict[str, Any]:
    """Load the encoder weights in ``path`` into ``model`` strictly, adapting the input bands.

    ``checkpoint_bands`` are the file's pretraining bands, ``model_bands`` the model's input bands (both
    names that :mod:`geofm.bands` knows). Returns a report: ``path``, ``layout``, ``dropped_keys`` (MAE
    decoder keys), ``loaded_keys`` and ``bands`` (the band adaptation report, ``None`` when the bands
    are the pretraining bands).
    """
    path = Path(path)
    state, layout, dropped = encoder_state_dict(load_state_dict(path))
    if not state:
        raise WeightsError(f"checkpoint {path} holds no encoder tensors; is it a Prithvi-EO checkpoint?")
    if "pos_embed" in state:
        state["pos_embed"] = model.state_dict()["pos_embed"].clone()
    bands_report = _patch_embedding(state, model, checkpoint_bands, model_bands, path)
    _check_strict(state, model, path)
    model.load_state_dict(state, strict=True)
    if bands_report is not None:
        log.info(
            "%s: input bands copied from the checkpoint: %s; initialised: %s; dropped: %s",
            path.name,
            ", ".join(bands_report["copied"]) or "none",
            ", ".join(bands_report["initialised"]) or "none",
            ", ".join(bands_report["dropped"]) or "none",
        )
    return {
        "path": str(path),
        "layout": layout,
        "dropped_keys": dropped,
        "loaded_keys": len(state),
        "bands": bands_report,
    }
