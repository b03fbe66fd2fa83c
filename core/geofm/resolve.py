"""Turning a validated :class:`~geofm.config.RunConfig` into concrete components, before anything trains.

Registry lookups, component options, the neck plan, bands, normalisation statistics and weights are
all settled here, so that every mistake is reported before a run directory exists.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from geofm.bands import canonical_bands
from geofm.config import RunConfig
from geofm.contracts import check_built
from geofm.errors import ConfigError
from geofm.registry import get_registry
from geofm.specs import BackboneSpec, ComponentSpec, DatasetSpec, DecoderSpec, TaskSpec
from geofm.vocabulary import DETECTION_TASKS
from geofm.weights import ResolvedWeights, resolve_weights

__all__ = [
    "ResolvedRun",
    "check_options",
    "resolve_run",
    "select_bands",
    "weights_statistics",
    "with_default_dataset",
]

log = logging.getLogger(__name__)

DEFAULT_DECODERS = {
    "segmentation": "upernet",
    "regression": "upernet",
    "classification": "identity",
    "multilabel_classification": "identity",
    "detection": "faster_rcnn",
    "instance_segmentation": "mask_rcnn",
}
"""The decoder of a run that names none, by task type (classification pools features into the head)."""

DEFAULT_DATASETS = {
    "segmentation": "demo",
    "regression": "demo_regression",
    "detection": "demo_detection",
    "instance_segmentation": "demo_detection",
}
"""The generated dataset of a run that names none, by task type."""


def check_options(section: str, spec: ComponentSpec, options: Mapping[str, Any], reserved: Sequence[str] = ()) -> None:
    """Refuse option keys that ``spec``'s factory does not take, naming the dotted config key."""
    if not options:
        return
    signature = inspect.signature(spec.load_factory())
    parameters = {
        name for name, p in signature.parameters.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    } - set(reserved)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    documented = set(spec.options)
    allowed = parameters | documented
    for key in options:
        if key in reserved:
            raise ConfigError(f"config key '{section}.{key}' is set by geofm itself and cannot be given")
        if key in allowed or (takes_any and not documented):
            continue
        import difflib

        close = difflib.get_close_matches(key, sorted(allowed), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        listing = ", ".join(sorted(allowed)) or "none"
        raise ConfigError(
            f"config key '{section}.{key}' is not an option of {spec.kind[:-1]} {spec.name}.{hint} "
            f"Its options: {listing}. See: geofm {spec.kind} show {spec.name}"
        )


def select_bands(
    requested: Sequence[str] | None, backbone: BackboneSpec, dataset: DatasetSpec
) -> tuple[str, ...] | None:
    """The canonical bands the model will see.

    The user's ``--bands`` when given (names of the dataset's sensor or canonical names); otherwise the
    backbone's pretraining bands when the dataset has all of them; otherwise every band of the dataset
    (``None``: the data module decides, e.g. a generic dataset that learns its bands from the files).
    """
    available = canonical_bands(dataset.bands, dataset.sensor) if dataset.bands else ()
    if requested:
        chosen = canonical_bands(requested, dataset.sensor)
        missing = [b for b in chosen if available and b not in available]
        if missing:
            raise ConfigError(
                f"dataset {dataset.name} has no band {', '.join(missing)} (asked by dataset.bands / --bands); "
                f"it has {', '.join(dataset.bands)} = {', '.join(available)}"
            )
        return chosen
    pretrained_bands = backbone.bands
    if pretrained_bands and available and all(b in available for b in pretrained_bands):
        return pretrained_bands
    return available or None


def weights_statistics(
    weights: ResolvedWeights, bands: Sequence[str] | None, backbone: BackboneSpec, options: Mapping[str, Any]
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The mean and std of ``bands`` the backbone expects, or ``None`` (the data module computes them).

    The backbone's statistics hook, else its weights' table; a backbone without weights gives its declared
    ``default_mean``/``default_std``.
    """
    from geofm.specs import resolve_factory

    spec = weights.spec
    if not bands:
        return None
    if spec is None and backbone.default_mean:  # a backbone without weights that declares its normalisation
        index = {band: i for i, band in enumerate(backbone.default_bands)}
        if not all(b in index for b in bands):
            return None
        mean = tuple(backbone.default_mean[index[b]] for b in bands)
        return mean, tuple(backbone.default_std[index[b]] for b in bands)
    if not weights.pretrained or spec is None:
        return None
    if backbone.statistics is not None:
        found = resolve_factory(backbone.statistics)(tuple(bands), dict(options))
        return None if found is None else (tuple(found[0]), tuple(found[1]))
    index = {band: i for i, band in enumerate(spec.bands)}
    if not all(b in index for b in bands):
        return None
    return tuple(spec.mean[index[b]] for b in bands), tuple(spec.std[index[b]] for b in bands)


def _task_spec(config: RunConfig, dataset: DatasetSpec) -> TaskSpec:
    tasks = get_registry("tasks")
    if config.task.name:
        spec: TaskSpec = tasks.get(config.task.name)
        if not dataset.generic and spec.task_type != dataset.task:
            raise ConfigError(
                f"task {spec.name} ({spec.task_type}) does not fit dataset {dataset.name}, which is a "
                f"{dataset.task} dataset; drop --task or pick a {spec.task_type} dataset"
            )
        return spec
    matching = [t for t in tasks if t.task_type == dataset.task]
    if not matching:
        raise ConfigError(
            f"no installed task handles {dataset.task} (dataset {dataset.name}); list tasks with: geofm tasks list"
        )
    return next((t for t in matching if t.name == dataset.task), matching[0])


@dataclass
class ResolvedRun:
    """A run with every choice made: specs, neck plan, bands, statistics, weights and the data module."""

    config: RunConfig
    backbone_spec: BackboneSpec
    decoder_spec: DecoderSpec
    dataset_spec: DatasetSpec
    task_spec: TaskSpec
    necks: list[dict[str, Any]]
    weights: ResolvedWeights
    datamodule: Any
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_outputs(self) -> int:
        """Classes for classification and segmentation, target channels for regression."""
        if self.task_spec.task_type == "regression":
            return int(getattr(self.datamodule, "num_outputs", 1) or 1)
        return int(self.datamodule.num_classes)

    def completed_config(self) -> RunConfig:
        """The configuration with every choice made explicit, including what the data decided.

        The bands, time steps, classes, task and neck plan it records rebuild the model without the data
        (:func:`geofm.run_model.build_run_model`); the statistics are the data module's (computed in its
        setup when none were given). It is what ``config.yaml`` holds, and re-runnable with ``--config``.
        """
        data = self.config.to_dict()
        data["necks"] = [dict(n) for n in self.necks]
        dm = self.datamodule
        data["task"]["name"] = self.task_spec.name
        data["task"]["num_outputs"] = self.num_outputs
        class_names = [str(n) for n in getattr(dm, "class_names", None) or ()]
        data["task"]["class_names"] = class_names if len(class_names) == self.num_outputs else None
        data["backbone"]["num_frames"] = int(self.config.backbone.num_frames or getattr(dm, "num_frames", 1) or 1)
        data["dataset"]["bands"] = list(dm.band_names) if dm.band_names else None
        for key in ("mean", "std"):
            value = getattr(dm, key, None)
            if value is not None:
                data["dataset"][key] = [float(v) for v in value]
        return RunConfig.model_validate(data)

    def baseline(self) -> dict[str, Any]:
        """Scores of trivial predictors on the validation split, to judge the trained model against."""
        if self.task_spec.task_type == "regression":
            mean_baseline = getattr(self.datamodule, "mean_baseline", None)
            return dict(mean_baseline("val")) if mean_baseline is not None else {}
        if self.task_spec.task_type in DETECTION_TASKS:
            # predicting nothing scores 0 on every COCO metric; a trained detector must beat that
            return {"no_detections_map": 0.0, "no_detections_map_50": 0.0}
        if self.task_spec.task_type != "segmentation":
            return {}
        import torch

        counts: torch.Tensor | None = None
        ignore = self.datamodule.ignore_index
        num_classes = self.num_outputs
        for batch in self.datamodule.val_dataloader():
            mask = batch["mask"].flatten().long()
            if ignore is not None:
                mask = mask[mask != ignore]
            batch_counts = torch.bincount(mask, minlength=num_classes)[:num_classes]
            counts = batch_counts if counts is None else counts + batch_counts
        if counts is None or counts.sum() == 0:
            return {}
        present = int((counts > 0).sum())
        frequency = float(counts.max() / counts.sum())
        return {
            "majority_class": int(counts.argmax()),
            "majority_accuracy": round(frequency, 6),
            # majority prediction: IoU of the majority class = its frequency, every other present class 0
            "majority_miou": round(frequency / max(present, 1), 6),
        }


def with_default_dataset(config: RunConfig) -> RunConfig:
    """``config`` naming the generated demo dataset of its task (``--task`` given, no ``--dataset``)."""
    task_type = get_registry("tasks").get(config.task.name).task_type if config.task.name else "segmentation"
    name = DEFAULT_DATASETS.get(task_type)
    if name is None:
        raise ConfigError(
            f"there is no generated demo dataset for {task_type}; name one with --dataset "
            "(geofm datasets list shows each dataset's task)"
        )
    log.info("dataset %s (the demo for %s)", name, task_type)
    return config.model_copy(update={"dataset": config.dataset.model_copy(update={"name": name})})


def _check_recorded_outputs(config: RunConfig, datamodule: Any, task: TaskSpec) -> None:
    """A configuration that records the classes (a run's ``config.yaml``) must agree with its data."""
    if task.task_type == "regression":
        decided = int(getattr(datamodule, "num_outputs", 1) or 1)
    else:
        decided = int(datamodule.num_classes)
    recorded = config.task.num_outputs
    if recorded is not None and recorded != decided:
        raise ConfigError(
            f"task.num_outputs is {recorded} but dataset {config.dataset.name} gives {decided}; "
            "drop task.num_outputs and task.class_names from the configuration to take the dataset's"
        )
    names = [str(n) for n in getattr(datamodule, "class_names", None) or ()]
    if config.task.class_names and names and list(config.task.class_names) != names:
        raise ConfigError(
            f"task.class_names {config.task.class_names} differ from dataset {config.dataset.name}'s {names}; "
            "drop task.class_names from the configuration to take the dataset's"
        )


def _import_factories(specs: Sequence[ComponentSpec]) -> None:
    """Import every factory (and statistics hook) of a run before anything is built or downloaded.

    A plugin whose module cannot be imported is reported as one :class:`~geofm.errors.ComponentLoadError`
    naming the spec, the plugin and its distribution, before the dataset is read.
    """
    for spec in specs:
        spec.load_factory()
        statistics = getattr(spec, "statistics", None)
        if statistics:
            spec.load_reference(statistics, "statistics hook")


def resolve_run(config: RunConfig) -> ResolvedRun:
    """Look everything up, check it, and build the data module; raises before anything is written."""
    from geofm.compose import plan_composition
    from geofm.data.factory import DatasetOptions, build_datamodule

    backbone = get_registry("backbones").get(config.backbone.name)
    if config.dataset.name is None:
        config = with_default_dataset(config)
    dataset = get_registry("datasets").get(config.dataset.name)
    task = _task_spec(config, dataset)
    if config.decoder.name is None:
        chosen = DEFAULT_DECODERS.get(task.task_type, "upernet")
        config = config.model_copy(update={"decoder": config.decoder.model_copy(update={"name": chosen})})
        log.info("decoder %s (the default for %s)", chosen, task.task_type)
    decoder = get_registry("decoders").get(config.decoder.name)
    check_options("backbone", backbone, config.backbone.options(), reserved=("checkpoint", "bands"))
    check_options("decoder", decoder, config.decoder.options(), reserved=("in_channels", "in_reductions"))
    check_options(
        "dataset", dataset, config.dataset.options(), reserved=("data_root", "bands", "mean", "std", "crop_size")
    )
    check_options("task", task, config.task.options(), reserved=("model", "num_classes", "class_names"))
    necks = plan_composition(
        backbone, decoder, necks=config.necks, task_type=task.task_type, levels=config.backbone.levels
    )
    for i, neck in enumerate(necks):
        spec = get_registry("necks").get(neck["name"])
        options = {k: v for k, v in neck.items() if k != "name"}
        check_options(f"necks[{i}]", spec, options, reserved=("in_channels", "in_reductions"))
    _import_factories([backbone, decoder, dataset, task, *(get_registry("necks").get(n["name"]) for n in necks)])
    weights = resolve_weights(backbone, config.backbone.weights)
    bands = select_bands(config.dataset.bands, backbone, dataset)
    mean: tuple[float, ...] | None = tuple(config.dataset.mean) if config.dataset.mean else None
    std: tuple[float, ...] | None = tuple(config.dataset.std) if config.dataset.std else None
    if (mean is None) != (std is None):
        raise ConfigError("give both dataset.mean and dataset.std, or neither")
    if mean is None:
        statistics = weights_statistics(weights, bands, backbone, config.backbone.options())
        if statistics is not None:
            mean, std = statistics
            log.info("normalising with the statistics %s declares", backbone.name)
    if mean is not None and bands is not None and len(mean) != len(bands):
        raise ConfigError(f"dataset.mean has {len(mean)} values but {len(bands)} bands are used ({', '.join(bands)})")
    common = DatasetOptions(
        spec=dataset,
        data_root=config.dataset.data_root,
        bands=bands,
        batch_size=config.dataset.batch_size,
        num_workers=config.dataset.num_workers,
        seed=config.seed,
        mean=mean,
        std=std,
        crop_size=config.dataset.crop_size,
    )
    datamodule = build_datamodule(dataset, common, config.dataset.options())
    check_built("datasets", datamodule, dataset)
    _check_recorded_outputs(config, datamodule, task)
    return ResolvedRun(
        config=config,
        backbone_spec=backbone,
        decoder_spec=decoder,
        dataset_spec=dataset,
        task_spec=task,
        necks=necks,
        weights=weights,
        datamodule=datamodule,
    )
