"""Building a dataset's data module without its data (generated, or from the spec's example layout)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from geofm.contracts import check_built
from geofm.data.factory import DatasetOptions, build_datamodule
from geofm.errors import DataError
from geofm.plugin_check._rows import CheckFailed, Rows, describe
from geofm.specs import DatasetSpec
from geofm.vocabulary import DETECTION_TASKS

__all__ = ["check_batch", "check_dataset"]

_BATCH_SIZE = 2


def _needs_data(spec: DatasetSpec, rows: Rows, error: DataError) -> None:
    """SKIP a dataset that needs its files, once its layout is documented (FAIL when it is not)."""
    first = spec.layout.strip().splitlines()[0] if spec.layout.strip() else ""
    if first:
        rows.add("dataset", spec.name, "build", "SKIP", f"needs data: {first}")
    elif spec.generic:
        rows.add("dataset", spec.name, "build", "SKIP", f"needs data (a generic dataset): {describe(error)}")
    else:
        rows.add(
            "dataset",
            spec.name,
            "build",
            "FAIL",
            f"it needs data but its spec documents no layout: set DatasetSpec.layout to the expected files under "
            f"--data-root, or give example_layout to check it without the data ({describe(error)})",
        )


def check_batch(spec: DatasetSpec, datamodule: Any, batch: Any) -> str:
    """Raise :class:`CheckFailed` unless ``batch`` has the format of a batch of ``spec``'s task; describe it."""
    name = f"dataset {spec.name}"
    if not isinstance(batch, Mapping) or "image" not in batch:
        keys = ", ".join(sorted(batch)) if isinstance(batch, Mapping) else type(batch).__name__
        raise CheckFailed(f"{name}: a batch must be a dict with 'image'; this one has {keys}")
    image = batch["image"]
    if not isinstance(image, torch.Tensor) or not image.is_floating_point() or image.ndim not in (4, 5):
        described = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise CheckFailed(f"{name}: 'image' must be a float tensor (B, C, H, W) or (B, C, T, H, W), not {described}")
    bands = len(datamodule.band_names)
    if image.shape[1] != bands:
        raise CheckFailed(f"{name}: 'image' has {image.shape[1]} channels but band_names lists {bands}")
    frames = int(image.shape[2]) if image.ndim == 5 else 1
    if frames != int(datamodule.num_frames):
        raise CheckFailed(f"{name}: 'image' has {frames} frame(s) but num_frames is {datamodule.num_frames}")
    if not isinstance(batch.get("meta"), Mapping):
        raise CheckFailed(f"{name}: a batch needs 'meta', a dict of metadata (timestamps, center_latlon, gsd)")
    size, height, width = image.shape[0], image.shape[-2], image.shape[-1]
    task = spec.task
    if task in DETECTION_TASKS:
        return _check_objects(spec, datamodule, batch, (size, height, width))
    key = "mask" if task == "segmentation" else "target"
    if key not in batch:
        raise CheckFailed(f"{name}: a {task} batch needs {key!r}; this one has {', '.join(sorted(batch))}")
    labels = batch[key]
    if not isinstance(labels, torch.Tensor) or labels.shape[0] != size:
        raise CheckFailed(f"{name}: {key!r} must be a tensor of one entry per image")
    shape = tuple(labels.shape)
    if task == "segmentation" and (shape != (size, height, width) or labels.is_floating_point()):
        raise CheckFailed(
            f"{name}: 'mask' must be integer (B, H, W) = {(size, height, width)}, not {labels.dtype} {shape}"
        )
    if task == "classification" and (labels.ndim != 1 or labels.is_floating_point()):
        raise CheckFailed(f"{name}: 'target' must be integer class indices (B,), not {labels.dtype} {shape}")
    if task == "multilabel_classification" and shape != (size, int(datamodule.num_classes)):
        raise CheckFailed(
            f"{name}: 'target' must be multi-hot (B, num_classes) = {(size, datamodule.num_classes)}, not {shape}"
        )
    if task == "regression" and (labels.ndim not in (1, 2, 3, 4) or not labels.is_floating_point()):
        raise CheckFailed(
            f"{name}: 'target' must be float (B,), (B, K), (B, H, W) or (B, K, H, W), not {labels.dtype} {shape}"
        )
    return f"image {tuple(image.shape)}, {key} {shape}"


def _check_objects(spec: DatasetSpec, datamodule: Any, batch: Mapping[str, Any], image: tuple[int, int, int]) -> str:
    """A detection batch: per image, ``boxes`` (N, 4) float, ``labels`` (N,) int (and ``masks`` (N, H, W))."""
    name = f"dataset {spec.name}"
    size, height, width = image
    keys = ("boxes", "labels", "masks") if spec.task == "instance_segmentation" else ("boxes", "labels")
    for key in keys:
        if not isinstance(batch.get(key), list | tuple) or len(batch[key]) != size:
            raise CheckFailed(f"{name}: a {spec.task} batch needs {key!r}, a list of one tensor per image")
    objects = 0
    for index, (boxes, labels) in enumerate(zip(batch["boxes"], batch["labels"], strict=True)):
        count = int(boxes.shape[0]) if boxes.ndim == 2 else -1
        if count < 0 or boxes.shape[1] != 4 or not boxes.is_floating_point():
            raise CheckFailed(
                f"{name}: boxes of image {index} must be float (N, 4), not {boxes.dtype} {tuple(boxes.shape)}"
            )
        if tuple(labels.shape) != (count,) or labels.is_floating_point():
            raise CheckFailed(
                f"{name}: labels of image {index} must be integer (N,) = ({count},), not {tuple(labels.shape)}"
            )
        if count and not 0 <= int(labels.min()) <= int(labels.max()) < int(datamodule.num_classes):
            raise CheckFailed(f"{name}: labels of image {index} must be class indices 0..{datamodule.num_classes - 1}")
        masks = batch["masks"][index] if "masks" in batch else None
        if masks is not None and tuple(masks.shape) != (count, height, width):
            raise CheckFailed(f"{name}: masks of image {index} must be (N, H, W) = {(count, height, width)}")
        objects += count
    return f"image {tuple(batch['image'].shape)}, {objects} object(s) in {size} image(s)"


def _check_classes(spec: DatasetSpec, datamodule: Any) -> None:
    names = tuple(datamodule.class_names or ())
    if spec.task != "regression" and names and len(names) != int(datamodule.num_classes):
        raise CheckFailed(
            f"dataset {spec.name}: num_classes is {datamodule.num_classes} but class_names has {len(names)} names"
        )


def check_dataset(spec: DatasetSpec, rows: Rows) -> None:
    """Rows ``build`` and ``batch`` of one dataset, built in an empty temporary folder.

    With ``example_layout`` the folder first gets the spec's tiny copy of the layout; without it, a
    dataset that needs its files (a :class:`~geofm.errors.DataError`) is skipped when its layout is
    documented. Generated datasets build anyway.
    """
    with tempfile.TemporaryDirectory(prefix="geofm-check-") as folder:
        root = Path(folder) / spec.name
        source = "generated in an empty folder"
        if spec.example_layout:
            written = False
            with rows.check("dataset", spec.name, "example layout") as notes:
                root.mkdir()
                spec.load_reference(spec.example_layout, "example_layout")(root)
                notes.append(f"{spec.example_layout} wrote {sum(1 for p in root.rglob('*') if p.is_file())} file(s)")
                written = True
            if not written:
                return
            source = "from its example layout"
        datamodule = None
        try:
            built = build_datamodule(spec, DatasetOptions(spec, data_root=root, batch_size=_BATCH_SIZE))
            check_built("datasets", built, spec)
            built.setup("fit")
            _check_classes(spec, built)
            datamodule = built
        except DataError as error:
            if spec.example_layout:
                rows.add("dataset", spec.name, "build", "FAIL", f"{describe(error)} (built from its example layout)")
            else:
                _needs_data(spec, rows, error)
        except Exception as error:
            rows.add("dataset", spec.name, "build", "FAIL", describe(error))
        if datamodule is None:
            return
        rows.add("dataset", spec.name, "build", "PASS", f"{source}; {len(datamodule.band_names)} bands")
        with rows.check("dataset", spec.name, "batch") as notes:
            batch = next(iter(datamodule.train_dataloader()))
            notes.append(check_batch(spec, datamodule, batch))
