"""Reading the released TerraMind v1 files into :class:`~geofm_terramind.model.TerraMindEncoder`.

A released file is a flat dict of the whole encoder-decoder model. The backbone keeps the embeddings of
its modalities (``encoder_embeddings.<key>.*``), ``encoder.*`` and ``encoder_norm.*``; everything else
(decoder, tokenised and sequence embeddings, other modalities, ``mask_token``) is dropped and reported.
Input layers are adapted to the bands the backbone was built for, and the rest loads strictly: a missing
or mis-shaped key is a :class:`~geofm.errors.WeightsError` naming it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from geofm.errors import WeightsError
from geofm.weights import adapt_input_channels, load_state_dict, state_mismatch
from geofm_terramind.modalities import MODALITIES
from geofm_terramind.model import TerraMindEncoder

__all__ = ["adapt_patch_projection", "dropped_groups", "encoder_state_dict", "load_checkpoint"]

log = logging.getLogger(__name__)

_EMBEDDINGS = "encoder_embeddings."


def encoder_state_dict(
    state: Mapping[str, Any], modality_keys: Iterable[str]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Split a released state dict into the encoder tensors for ``modality_keys`` and the dropped keys.

    Kept: ``encoder_embeddings.<key>.*`` for each key in ``modality_keys``, ``encoder.*`` and
    ``encoder_norm.*``. A ``{"state_dict": ...}`` wrapper is unwrapped. Returns (kept, dropped key names).
    """
    inner = state.get("state_dict")
    if isinstance(inner, Mapping):
        state = inner
    wanted = set(modality_keys)
    kept: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    for name, value in state.items():
        if name.startswith(_EMBEDDINGS):
            keep = name[len(_EMBEDDINGS) :].split(".", 1)[0] in wanted
        else:
            keep = name.startswith(("encoder.", "encoder_norm."))
        if keep and isinstance(value, torch.Tensor):
            kept[name] = value
        else:
            dropped.append(name)
    return kept, dropped


def dropped_groups(dropped: Sequence[str]) -> dict[str, int]:
    """How many dropped keys fall in each group (decoder, tokenised / sequence embeddings, other ...)."""
    groups: dict[str, int] = {}
    for name in dropped:
        if name.startswith("decoder"):
            group = "decoder"
        elif name.startswith(_EMBEDDINGS):
            key = name[len(_EMBEDDINGS) :].split(".", 1)[0]
            group = "other raw-pixel modalities" if key.startswith("untok_") else "tokenised / sequence embeddings"
        elif name == "mask_token":
            group = "mask_token"
        else:
            group = "other"
        groups[group] = groups.get(group, 0) + 1
    return groups


def adapt_patch_projection(
    weight: torch.Tensor, pretrained_bands: Sequence[str], bands: Sequence[str]
) -> tuple[torch.Tensor, dict[str, list[str]]]:
    """A modality's ``proj.weight`` (D, pixels * C) for ``pretrained_bands`` -> one for ``bands``.

    Viewed as (D, pixels, C), each band also in ``pretrained_bands`` takes its pretrained slice; other bands
    are initialised, pretrained bands not asked for are dropped (:func:`geofm.weights.adapt_input_channels`).
    """
    channels = len(pretrained_bands)
    if weight.ndim != 2 or weight.shape[1] % channels:
        raise WeightsError(
            f"the patch projection has shape {tuple(weight.shape)}, not (dim, pixels x {channels} bands)"
        )
    pixels = weight.shape[1] // channels
    per_band = weight.reshape(weight.shape[0], pixels, channels).permute(0, 2, 1)  # (D, C, pixels)
    adapted, report = adapt_input_channels(per_band, pretrained_bands, bands)
    return adapted.permute(0, 2, 1).reshape(weight.shape[0], pixels * len(bands)).contiguous(), report


def load_checkpoint(model: TerraMindEncoder, path: str | Path) -> dict[str, Any]:
    """Load the encoder part of the released file ``path`` into ``model`` strictly; return a report.

    The report holds ``path``, ``loaded_keys`` (tensors taken from the file), ``dropped_keys`` (their names)
    and ``dropped`` (counts per group), ``bands`` (per modality: the band adaptation, ``None`` when the
    pretraining bands are used as they are) and ``initialised`` (model keys the file cannot hold: new
    modalities, ``missing_mod_token``, position tables recomputed for another ``img_size``).
    """
    path = Path(path)
    state, dropped = encoder_state_dict(load_state_dict(path), model.encoder_embeddings.keys())
    if not any(name.startswith("encoder.") for name in state):
        raise WeightsError(
            f"checkpoint {path} has no encoder.* tensors: it is not a TerraMind v1 file (found e.g. "
            f"{', '.join(dropped[:3]) or 'nothing'}); pass TerraMind_v1_<size>.pt or --weights none"
        )
    expected = model.state_dict()
    initialised: list[str] = []
    bands_report: dict[str, dict[str, list[str]] | None] = {}
    plan = model.plan
    for name, kind, bands in zip(plan.names, plan.modalities, plan.bands, strict=True):
        prefix = f"{_EMBEDDINGS}{model.modality_keys[name]}."
        if kind is None:  # a new modality: nothing in the file
            for key in (k for k in expected if k.startswith(prefix)):
                state[key] = expected[key].clone()
                initialised.append(key)
            continue
        pos = state.get(prefix + "pos_emb")
        if pos is not None and tuple(pos.shape) != tuple(expected[prefix + "pos_emb"].shape):
            state[prefix + "pos_emb"] = expected[prefix + "pos_emb"].clone()  # fixed table of the model's grid
            initialised.append(prefix + "pos_emb")
        pretrained = MODALITIES[kind].bands
        weight = state.get(prefix + "proj.weight")
        bands_report[name] = None
        if weight is not None and bands is not None and tuple(bands) != pretrained:
            try:
                state[prefix + "proj.weight"], bands_report[name] = adapt_patch_projection(weight, pretrained, bands)
            except WeightsError as error:
                raise WeightsError(f"checkpoint {path}, modality {name}: {error}") from error
            report = bands_report[name] or {}
            log.info(
                "%s: %s input bands copied: %s; initialised: %s; dropped: %s",
                path.name,
                name,
                ", ".join(report.get("copied", [])) or "none",
                ", ".join(report.get("initialised", [])) or "none",
                ", ".join(report.get("dropped", [])) or "none",
            )
    if "missing_mod_token" in expected:
        state["missing_mod_token"] = expected["missing_mod_token"].clone()
        initialised.append("missing_mod_token")
    problems = state_mismatch(expected, state)
    if problems:
        raise WeightsError(
            f"checkpoint {path} does not fit this TerraMind encoder ({'; '.join(problems)}). Use the file released "
            "for this size (dim, depth), built with modalities the file has an embedding for; or --weights none."
        )
    model.load_state_dict(state, strict=True)
    groups = dropped_groups(dropped)
    log.info(
        "%s: loaded %d encoder tensors for %s; dropped %d (%s)",
        path.name,
        len(state) - len(initialised),
        ", ".join(model.modalities),
        len(dropped),
        ", ".join(f"{group}: {count}" for group, count in groups.items()) or "none",
    )
    return {
        "path": str(path),
        "loaded_keys": len(state) - len(initialised),
        "dropped_keys": dropped,
        "dropped": groups,
        "bands": bands_report,
        "initialised": initialised,
    }
