"""The peer's ``data`` module -> geofm's ``dataset``: a named dataset, or a generic GeoTIFF one.

A generic module in a publisher's layout becomes geofm's named dataset (same files, same splits; its
split lists are compared with the publisher's where both are on disk, and a module whose lists select
other samples stays generic). Other generic modules become ``geotiff_segmentation`` /
``geotiff_regression`` / ``geotiff_classification`` with the same roots, file patterns and split lists.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from geofm.migrate.data_common import canonical, translate_common, translate_labels, translate_transforms
from geofm.migrate.data_layouts import (
    NAMED_MODULES,
    PEER_STATISTICS,
    Layout,
    detect_layout,
    fill_path,
    list_ids,
    same_ids,
)
from geofm.migrate.peer_yaml import class_name
from geofm.migrate.state import State

__all__ = ["GENERIC_MODULES", "translate_data"]

D = "data"
SPLITS = ("train", "val", "test")
GENERIC_MODULES = {
    "GenericNonGeoSegmentationDataModule": "geotiff_segmentation",
    "GenericNonGeoPixelwiseRegressionDataModule": "geotiff_regression",
    "GenericNonGeoClassificationDataModule": "geotiff_classification",
}
_NO_DATA_LABEL = {"sen1floods11": -1, "hls_burn_scars": -1, "multi_temporal_crop": -1}
"""The label value each named dataset's no-data pixels have for the peer (crops: 0 - 1 by reduce_zero_label)."""


def _path(state: State, key: str) -> str | None:
    value = state.peer.get(key)
    if value is None:
        return None
    text, unfilled = fill_path(value, state.data_root)
    for placeholder in unfilled:
        if placeholder not in state.report.unfilled_placeholders:
            state.report.unfilled_placeholders.append(placeholder)
    return text


def _check_exists(state: State, *paths: str | None) -> None:
    for path in paths:
        missing = path and not re.search(r"<[^>]+>", path) and not glob.glob(path) and not Path(path).exists()
        if missing and path not in state.report.missing_paths:
            state.report.missing_paths.append(path)


def _roots(state: State) -> dict[str, str | None]:
    roots: dict[str, str | None] = {}
    for split in SPLITS:
        roots[split] = _path(state, f"{D}.{split}_data_root")
        roots[f"{split}_label"] = _path(state, f"{D}.{split}_label_data_root")
        roots[f"{split}_split"] = _path(state, f"{D}.{split}_split")
    return roots


def _named_bands(state: State, dataset: str, modality: str | None) -> list[str]:
    from geofm.registry import get_registry

    spec = get_registry("datasets").get(dataset)
    bands = canonical(list(spec.bands)) or []
    if dataset == "sen1floods11":
        radar = ("VV", "VH", "HH", "HV")
        bands = [b for b in bands if (b in radar) == (modality == "s1")]
    return bands


def _bands(state: State, dataset: str | None, modality: str | None = None) -> None:
    """``dataset_bands`` / ``output_bands`` -> the bands delivered (and, generic, the files' bands)."""
    peer = state.peer
    file_key, out_key = f"{D}.dataset_bands", f"{D}.output_bands"
    file_bands = canonical(peer.get(file_key))
    out_bands = canonical(peer.get(out_key)) or file_bands
    if file_key in peer and file_bands is None:
        state.not_carried(file_key, "geofm names bands (BLUE, B8A ...), not indexes", changes_experiment=True)
    elif dataset is not None:
        named = _named_bands(state, dataset, modality)
        if file_key in peer and file_bands != named:
            state.not_carried(
                file_key,
                f"geofm's {dataset} files hold {', '.join(named)} in this order",
                changes_experiment=True,
            )
        elif file_key in peer:
            state.defaulted(file_key, f"geofm's {dataset} reads the files' bands in this order")
        out_bands = out_bands or named
    elif file_key in peer:
        state.map(file_key, "dataset.file_bands", lambda _: file_bands)
    if out_key in peer and canonical(peer.get(out_key)) is None:
        state.not_carried(out_key, "geofm names bands, not indexes", changes_experiment=True)
    elif out_key in peer:
        state.map(out_key, "dataset.bands", lambda _: out_bands, "in this order")
    elif out_bands:
        state.put("dataset.bands", out_bands)
    state.backbone_bands = out_bands
    backbone_bands = canonical(peer.get("model.model_args.backbone_bands"))
    if backbone_bands is not None and out_bands is not None and backbone_bands != out_bands:
        state.report.not_carried(
            "model.model_args.backbone_bands",
            f"the model takes {backbone_bands} but the data delivers {out_bands}",
            peer.get("model.model_args.backbone_bands"),
            changes_experiment=True,
        )
        peer.mark("model.model_args.backbone_bands")


def _classes(state: State, dataset: str | None) -> None:
    from geofm.registry import get_registry

    peer, key, names_key = state.peer, f"{D}.num_classes", "model.class_names"
    count = peer.get(key, state.num_classes)
    names = state.class_names
    if dataset is not None:
        spec = get_registry("datasets").get(dataset)
        if count is not None and int(count) != len(spec.classes):
            state.not_carried(key, f"geofm's {dataset} has {len(spec.classes)} classes", changes_experiment=True)
        elif key in peer:
            state.map(key, "task.num_outputs", int, f"{dataset}: {', '.join(spec.classes)}")
        if names_key in peer:
            if names is not None and len(names) == len(spec.classes):
                state.defaulted(names_key, f"{dataset} names the same classes {', '.join(spec.classes)}")
            else:
                state.not_carried(
                    names_key, f"{dataset}'s classes are {', '.join(spec.classes)}", changes_experiment=True
                )
        return
    if names is not None and (count is None or len(names) == int(count)):
        state.map(names_key, "dataset.classes", list)
        if key in peer:
            state.map(key, "task.num_outputs", int)
    elif count is not None:
        if key in peer:
            state.map(key, "dataset.num_classes", int)
        else:
            state.put("dataset.num_classes", int(count))
        if names_key in peer:
            state.not_carried(names_key, f"{len(names or [])} names for {count} classes", changes_experiment=True)


def _same_samples(state: State, layout: Layout, roots: dict[str, str | None]) -> bool:
    """Whether the peer's split lists (those on disk) select what geofm's named dataset reads."""
    for split in SPLITS:
        path = roots.get(f"{split}_split")
        if not path or not Path(path).is_file():
            continue
        if layout.dataset == "sen1floods11":
            strip = ("_S2Hand.tif", "_S1Hand.tif", "_LabelHand.tif", "_S2Hand", "_S1Hand", ".tif")
            official = list_ids(Path(path).with_suffix(".csv"), strip)
        else:
            chips = roots.get(split) or ""
            beside = Path(layout.root) / ("training_data.txt" if split == "train" else "validation_data.txt")
            official = list_ids(beside, ("_merged.tif", ".mask.tif", ".tif")) if beside.is_file() else None
            if official is None:
                official = [Path(p).name[: -len("_merged.tif")] for p in glob.glob(os.path.join(chips, "*_merged.tif"))]
        if not same_ids(list_ids(path, ("_merged.tif", ".mask.tif", "_S2Hand.tif", ".tif")), official):
            return False
    return True


def _named_from_generic(state: State, layout: Layout, roots: dict[str, str | None]) -> None:
    peer = state.peer
    state.put("dataset.name", layout.dataset)
    state.put("dataset.data_root", layout.root)
    for option, value in layout.options.items():
        state.put(f"dataset.{option}", value)
    state.map(f"{D}.train_data_root", "dataset.data_root", lambda _: layout.root, f"{layout.dataset}'s layout")
    where = f"geofm's {layout.dataset} reads the publisher's layout under dataset.data_root"
    for arg in (
        "val_data_root",
        "test_data_root",
        "train_label_data_root",
        "val_label_data_root",
        "test_label_data_root",
        "img_grep",
        "label_grep",
    ):
        if f"{D}.{arg}" in peer:
            state.defaulted(f"{D}.{arg}", where)
    lists = "the official flood_*_data.csv lists" if layout.dataset == "sen1floods11" else "the same chips"
    for split in SPLITS:
        key = f"{D}.{split}_split"
        if key in peer:
            path = roots.get(f"{split}_split") or ""
            if split == "test" and "bolivia" in Path(path).name:
                state.put("dataset.test_split", "bolivia")
            state.defaulted(key, f"{layout.dataset}'s {split} split: {lists}")
    _check_exists(state, *(roots.get(s) for s in SPLITS))
    for arg in ("expand_temporal_dimension", "reduce_zero_label"):
        key = f"{D}.{arg}"
        crop = layout.dataset == "multi_temporal_crop"
        if bool(peer.get(key)) == crop:
            why = _CROP[arg] if crop else f"{layout.dataset} is one time step with labels from 0"
            if key in peer:
                state.defaulted(key, why)
        else:
            does = "always does" if crop else "does not do"
            label = key if key in peer else f"(peer default) {key}"
            state.report.not_carried(
                label, f"geofm's {layout.dataset} {does} this", peer.take(key), changes_experiment=True
            )
    if f"{D}.constant_scale" not in peer:
        state.put("dataset.scale", 1.0)
        state.report.mapped("(peer default) constant_scale", "dataset.scale", 1.0)


_CROP = {
    "expand_temporal_dimension": (
        "images (C=6, T=3, H, W), read time-major as the publisher writes the 18 bands (the peer's generic "
        "module reshapes them channel-major, which mixes time steps and bands in these files)"
    ),
    "reduce_zero_label": "mask 0 is no data (ignored), classes 1..13 become 0..12",
}


def _suffix(grep: str | None) -> str | None:
    match = re.fullmatch(r"\*([^*?\[\]/]*)\.tiff?", grep or "")
    return match.group(1) if match else None


def _generic_files(state: State, roots: dict[str, str | None], targets: str) -> None:
    """Images, labels (``targets``: the option name) and split lists of a generic dataset."""
    peer = state.peer
    img_grep, label_grep = peer.get(f"{D}.img_grep", "*"), peer.get(f"{D}.label_grep", "*")
    images, labels = [], []
    for split in SPLITS:
        root = roots.get(split)
        label_root = roots.get(f"{split}_label") or root
        if root and os.path.join(root, img_grep) not in images:
            images.append(os.path.join(root, img_grep))
        if label_root and os.path.join(label_root, label_grep) not in labels:
            labels.append(os.path.join(label_root, label_grep))
    splits = {s: roots[f"{s}_split"] for s in SPLITS if roots.get(f"{s}_split")}
    shared = len({roots.get(s) for s in SPLITS}) == 1
    if len(splits) < 3:
        why = (
            "the peer trains, validates and tests on every chip of one folder"
            if shared and not splits
            else "geofm's generic datasets take one pool of images and a split list per split"
        )
        for split in SPLITS:
            if f"{D}.{split}_data_root" in peer:
                state.not_carried(
                    f"{D}.{split}_data_root",
                    f"{why}: give train_split, val_split and test_split",
                    changes_experiment=True,
                )
    state.put("dataset.images", images if len(images) > 1 else images[0])
    state.put(f"dataset.{targets}", labels if len(labels) > 1 else labels[0])
    for split in SPLITS:
        for arg, target in (
            (f"{split}_data_root", "dataset.images"),
            (f"{split}_label_data_root", f"dataset.{targets}"),
        ):
            if f"{D}.{arg}" in peer and f"{D}.{arg}" not in peer.used:
                state.map(f"{D}.{arg}", target, lambda _, t=target: state.value(t))
        if split in splits:
            state.map(
                f"{D}.{split}_split",
                f"dataset.split_files.{split}",
                lambda _, p=splits[split]: p,
                "lines are whole sample ids in geofm (the peer also matches substrings)",
            )
    image_suffix, label_suffix = _suffix(img_grep), _suffix(label_grep)
    if f"{D}.img_grep" in peer:
        if image_suffix:
            state.put("dataset.image_suffix", image_suffix)
        state.map(f"{D}.img_grep", "dataset.images", lambda _: state.value("dataset.images"), "a glob per folder")
    if f"{D}.label_grep" in peer:
        option = "label_suffix" if targets == "labels" else "target_suffix"
        if label_suffix is not None and image_suffix is not None:
            state.put(f"dataset.{option}", label_suffix)
        state.map(
            f"{D}.label_grep", f"dataset.{targets}", lambda _: state.value(f"dataset.{targets}"), "a glob per folder"
        )
    for arg in ("ignore_split_file_extensions", "allow_substring_split_file"):
        if f"{D}.{arg}" in peer:
            state.defaulted(f"{D}.{arg}", "geofm matches split lines to image ids without extensions")
    _check_exists(state, *(r for r in roots.values() if r))


def _generic_segmentation(state: State, roots: dict[str, str | None]) -> None:
    peer = state.peer
    state.put("dataset.name", "geotiff_segmentation")
    _generic_files(state, roots, "labels")
    if peer.get(f"{D}.reduce_zero_label"):
        state.map(f"{D}.reduce_zero_label", "dataset.label_offset", lambda _: -1)
    elif f"{D}.reduce_zero_label" in peer:
        state.defaulted(f"{D}.reduce_zero_label", "labels are taken as they are")
    key = f"{D}.expand_temporal_dimension"
    if peer.get(key):
        frames = state.num_frames
        if frames:
            state.map(key, "dataset.num_frames", lambda _: frames, "T x C bands per file, read time-major")
        else:
            state.not_carried(
                key, "give backbone_num_frames: geofm needs the number of time steps", changes_experiment=True
            )
    elif key in peer:
        state.defaulted(key, "one time step per file")


def translate_data(state: State) -> None:
    """Translate the ``data`` section into ``dataset`` (a named or generic geofm dataset)."""
    peer = state.peer
    module = class_name(peer.get(D) or "")
    if not module:
        state.report.not_carried(
            "data", "the peer file has no data module: give --set dataset.name=NAME", changes_experiment=True
        )
        return
    if module in NAMED_MODULES:
        dataset, scale = NAMED_MODULES[module]
        state.map(D, "dataset.name", lambda _: dataset)
        root = _path(state, f"{D}.data_root")
        state.map(f"{D}.data_root", "dataset.data_root", lambda _: root)
        _check_exists(state, root)
        bands = canonical(peer.get(f"{D}.bands")) or _named_bands(state, dataset, "s2")
        if f"{D}.bands" in peer:
            state.map(f"{D}.bands", "dataset.bands", lambda _: bands, "in this order")
        else:
            state.put("dataset.bands", bands)
        state.backbone_bands = bands
        means, stds = PEER_STATISTICS[dataset]
        state.put("dataset.mean", [means[b] for b in bands])
        state.put("dataset.std", [stds[b] for b in bands])
        state.report.mapped(f"(peer {module} statistics)", "dataset.mean, dataset.std", None, "the peer's values")
        if f"{D}.constant_scale" not in peer:
            state.put("dataset.scale", scale)
        _classes(state, dataset)
        translate_labels(state, no_data_value=_NO_DATA_LABEL[dataset], named=dataset)
        for arg in ("expand_temporal_dimension", "reduce_zero_label"):
            if f"{D}.{arg}" in peer:
                state.defaulted(f"{D}.{arg}", _CROP.get(arg, "as the peer's module"))
    elif module == "GenericNonGeoSegmentationDataModule":
        state.peer.take(D)
        roots = _roots(state)
        layout = detect_layout(roots, peer.get(f"{D}.img_grep", "*"), peer.get(f"{D}.label_grep", "*"))
        if layout is not None and _same_samples(state, layout, roots):
            state.report.mapped(D, "dataset.name", module, f"{layout.dataset}: the files are in its publisher's layout")
            _named_from_generic(state, layout, roots)
            _bands(state, layout.dataset, layout.options.get("modality"))
            _classes(state, layout.dataset)
            translate_labels(state, no_data_value=_NO_DATA_LABEL[layout.dataset], named=layout.dataset)
        else:
            why = "its split lists select other chips than the publisher's" if layout is not None else ""
            state.report.mapped(D, "dataset.name", module, why)
            _generic_segmentation(state, roots)
            _bands(state, None)
            _classes(state, None)
            translate_labels(state, no_data_value=None, named=None)
    elif module in GENERIC_MODULES:
        state.map(D, "dataset.name", lambda _: GENERIC_MODULES[module])
        roots = _roots(state)
        _generic_files(state, roots, "targets" if "Regression" in module else "labels")
        _bands(state, None)
        if "Regression" not in module:
            _classes(state, None)
    else:
        state.not_carried(
            D, f"geofm has no dataset like {module}; geofm datasets list shows them", changes_experiment=True
        )
        return
    translate_common(state)
    translate_transforms(state)
