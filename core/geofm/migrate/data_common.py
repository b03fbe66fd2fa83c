"""The ``data`` keys every peer data module shares: batching, normalisation, bands, labels, transforms.

The numbers that define the experiment (batch size, means and stds, constant scale, the bands and their
order, the classes and the ignored label pixels) are carried exactly or refused; augmentations geofm
lacks and loader details are reported without blocking.
"""

from __future__ import annotations

from typing import Any

from geofm.bands import canonical_bands
from geofm.errors import GeofmError
from geofm.migrate.peer_yaml import class_name
from geofm.migrate.state import State

__all__ = ["canonical", "translate_common", "translate_labels", "translate_transforms"]

D = "data"

_FLIPS = {
    "D4": "random horizontal and vertical flips: 4 of D4's 8 symmetries (geofm does not rotate by 90 degrees)",
    "Flip": "random horizontal and vertical flips",
    "HorizontalFlip": "random horizontal and vertical flips (the peer flips horizontally only)",
    "VerticalFlip": "random horizontal and vertical flips (the peer flips vertically only)",
    "RandomRotate90": "random flips (geofm does not rotate by 90 degrees; flips cover rot180)",
}
_QUIET = {
    "rgb_indices": "geofm previews choose red, green and blue from the band names",
    "check_stackability": None,
    "predict_data_root": "geofm predict takes the scenes to map on its command line",
    "predict_dataset_bands": "geofm predict reads the bands the run recorded",
    "predict_output_bands": "geofm predict reads the bands the run recorded",
    "predict_transform": "geofm predict takes no augmentation",
}


def canonical(bands: Any) -> list[str] | None:
    """Canonical band names of a peer band list (HLSBands names, Sentinel-2 codes ...); ``None`` if not names."""
    if bands is None:
        return None
    if not isinstance(bands, list) or not all(isinstance(b, str) for b in bands):
        return None
    try:
        return list(canonical_bands(bands))
    except GeofmError:
        return None


def translate_common(state: State) -> None:
    """Batch size, workers, loader flags, normalisation and the keys geofm has no use for."""
    peer = state.peer
    if f"{D}.batch_size" in peer:
        state.map(f"{D}.batch_size", "dataset.batch_size", int)
    else:
        state.put("dataset.batch_size", 4)
        state.report.mapped("(peer default) batch_size", "dataset.batch_size", 4)
    if f"{D}.num_workers" in peer:
        state.map(f"{D}.num_workers", "dataset.num_workers", int)
    else:
        state.put("dataset.num_workers", 0)
    if f"{D}.pin_memory" in peer:
        state.map(f"{D}.pin_memory", "dataset.pin_memory", bool)
    if peer.get(f"{D}.drop_last", True) and f"{D}.drop_last" in peer:
        state.not_carried(f"{D}.drop_last", "geofm trains on the last incomplete batch too")
    elif f"{D}.drop_last" in peer:
        state.defaulted(f"{D}.drop_last", "geofm keeps the last incomplete batch")
    for name in ("means", "stds"):
        key = f"{D}.{name}"
        if key in peer:
            value = peer.get(key)
            if isinstance(value, list):
                state.map(key, f"dataset.{name[:-1]}", lambda v: [float(x) for x in v])
            else:
                state.not_carried(key, "geofm takes the statistics as numbers, not a file", changes_experiment=True)
    if f"{D}.constant_scale" in peer:
        state.map(f"{D}.constant_scale", "dataset.scale", float)
    for arg, why in _QUIET.items():
        key = f"{D}.{arg}"
        if key not in peer:
            continue
        if why is None:
            state.defaulted(key, "geofm batches chips of one size (crop_size pads smaller ones)")
        else:
            for leaf in state.whole(key):
                state.report.not_carried(leaf, why, peer.get(leaf))
    if f"{D}.no_data_replace" in peer:
        state.not_carried(
            f"{D}.no_data_replace",
            "geofm leaves image no-data pixels out: 0 after normalising and excluded from loss and metrics "
            "(the peer writes this value before normalising and scores them)",
        )
    key = f"{D}.use_metadata"
    if key in peer:
        if peer.get(key):
            state.defaulted(key, "geofm passes dates and locations to backbones that take them")
        else:
            state.not_carried(key, "geofm passes dates and locations to backbones that take them (TL, Clay)")


def translate_labels(state: State, *, no_data_value: int | None, named: str | None) -> None:
    """``model.ignore_index``, ``no_label_replace`` and ``model.class_names`` against the dataset's labels.

    ``named``: the geofm named dataset (its ignore index is 255; ``no_data_value`` is the label value its
    files mark no data with, after ``reduce_zero_label``). Without one, the ignore index is carried exactly.
    """
    peer, key, replace_key = state.peer, "model.ignore_index", f"{D}.no_label_replace"
    ignore = state.ignore_index
    replace = peer.get(replace_key)
    if named is not None:
        if ignore is not None and ignore == no_data_value:
            why = (
                f"{named} ignores the labels' no-data pixels ({no_data_value}) as its ignore index 255: the same pixels"
            )
            if key in peer:
                state.defaulted(key, why)
            if replace_key in peer:
                if replace == ignore or replace is None:
                    state.defaulted(replace_key, "unreadable label pixels are ignored too")
                else:
                    state.not_carried(replace_key, "geofm ignores unreadable label pixels", changes_experiment=True)
        else:
            why = f"{named} ignores exactly its no-data pixels ({no_data_value}), not label {ignore}"
            if key in peer:
                state.not_carried(key, why, changes_experiment=True)
            if replace_key in peer:
                state.defaulted(replace_key, f"{named} ignores unreadable label pixels")
        return
    if ignore is not None:
        state.map(key, "dataset.ignore_index", int)
    elif key in peer:
        state.defaulted(key, "no label is ignored (geofm's ignore index 255 is not a class)")
    if replace_key in peer:
        if replace is None or replace == ignore:
            state.map(
                replace_key, "dataset.ignore_index", lambda v: ignore, "label no-data pixels get the ignore index"
            )
        else:
            state.not_carried(
                replace_key,
                f"geofm gives label no-data pixels the ignore index, not class {replace}",
                changes_experiment=True,
            )


def _transform_item(state: State, split: str, item: str) -> bool:
    """Translate one transform; returns whether it flips."""
    peer = state.peer
    kind = class_name(peer.get(item))
    args = peer.args(item)
    if kind == "ToTensorV2":
        state.defaulted(item, "geofm delivers tensors")
    elif kind in ("FlattenTemporalIntoChannels", "UnflattenTemporalFromChannels"):
        state.defaulted(item, "geofm augments (C, T, H, W) images directly")
        for key in args.values():
            state.defaulted(key, f"see {kind}")
        return False
    elif split == "train" and kind == "RandomCrop":
        height, width = peer.get(args.get("height", "")), peer.get(args.get("width", ""))
        if height is not None and height == width:
            state.put("dataset.crop_size", int(height))
            state.put("dataset.eval_full_tiles", True)
            state.record(item, "dataset.crop_size", "random crops to train; whole chips to validate and test")
            for arg, key in args.items():
                if arg in ("height", "width"):
                    state.map(key, "dataset.crop_size", int)
                elif arg == "p" and float(peer.get(key)) == 1.0:
                    state.defaulted(key, "every training sample is cropped")
                else:
                    state.not_carried(key, f"geofm's crops have no {arg} setting")
            return False
        state.not_carried(item, "geofm crops squares (crop_size)", changes_experiment=True)
    elif split == "train" and kind in _FLIPS:
        state.put("dataset.flips", True)
        state.record(item, "dataset.flips", _FLIPS[kind])
        for arg, key in args.items():
            if arg == "p" and float(peer.get(key)) == 0.5:
                state.defaulted(key, "each flip with probability 0.5")
            else:
                state.not_carried(key, f"geofm's flips have no {arg} setting")
        return True
    else:
        state.not_carried(item, f"geofm has no {kind} augmentation")
    for key in args.values():
        state.not_carried(key, f"see {kind}")
    return False


def translate_transforms(state: State) -> None:
    """``train_transform`` (crops and flips), ``val_transform``, ``test_transform``."""
    peer = state.peer
    flips = False
    for split in ("train", "val", "test"):
        prefix = f"{D}.{split}_transform"
        items = list(peer.items(prefix))
        if not items and prefix in peer:
            value = peer.get(prefix)
            if value:
                state.not_carried(prefix, "geofm takes no transform objects here")
            else:
                state.defaulted(prefix, "no augmentation")
        for _, item in items:
            flips = _transform_item(state, split, item) or flips
    if not flips:
        state.put("dataset.flips", False)
        if f"{D}.train_transform" not in peer and not list(peer.items(f"{D}.train_transform")):
            state.report.mapped("(peer default) no train_transform", "dataset.flips", None, "no augmentation")
