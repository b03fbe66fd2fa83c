"""The peer's task (``model`` class and its arguments), ``optimizer`` and ``lr_scheduler`` -> geofm ``task``.

geofm's tasks optimise with AdamW, Adam or SGD (``task.optimizer``) and schedule with ReduceLROnPlateau (on
the task's monitor, ``task.scheduler_factor``), cosine annealing or nothing. Adam without weight decay is
AdamW exactly. Other optimisers, losses geofm lacks and frozen heads change the experiment.
"""

from __future__ import annotations

from typing import Any

from geofm.migrate.peer_yaml import class_name
from geofm.migrate.state import State

__all__ = ["LOSSES", "TASKS", "translate_task"]

TASKS: dict[str, str] = {
    "SemanticSegmentationTask": "segmentation",
    "PixelwiseRegressionTask": "regression",
    "ClassificationTask": "classification",
    "MultiLabelClassificationTask": "multilabel_classification",
}
"""Peer task class -> geofm task."""

LOSSES: dict[str, dict[str, str]] = {
    "segmentation": {"ce": "ce", "dice": "dice", "focal": "focal"},
    "regression": {"mse": "mse", "mae": "mae", "l1": "mae", "huber": "huber"},
    "classification": {"ce": "ce", "focal": "focal"},
    "multilabel_classification": {"bce": "bce"},
}
"""Per geofm task, the peer loss names it has (the peer's default loss is the first)."""

_DEFAULT_LOSS = {"segmentation": "ce", "regression": "mse", "classification": "ce", "multilabel_classification": "bce"}
_OPTIMIZERS = {"AdamW": "adamw", "Adam": "adam", "SGD": "sgd"}
"""The peer's (torch's) optimisers geofm's tasks run, by class name."""
_ADAM_DEFAULTS: dict[str, Any] = {"betas": [0.9, 0.999], "eps": 1e-8, "amsgrad": False, "foreach": None}
_PLATEAU_DEFAULTS: dict[str, Any] = {
    "threshold": 1e-4,
    "threshold_mode": "rel",
    "cooldown": 0,
    "min_lr": 0,
    "eps": 1e-8,
}
_QUIET = {
    "plot_on_val": "geofm draws validation samples once, in plots/samples.png at the end of a run, not every N epochs",
    "output_on_inference": "geofm predict chooses its output with --output",
    "output_most_probable": "geofm predict chooses its output with --output",
    "path_to_record_metrics": "geofm writes metrics.csv and summary.json in the run directory",
    "test_dataloaders_names": "geofm scores one test split",
    "lr_overrides": "geofm has one learning rate for every parameter",
}


def _task_class(state: State) -> None:
    name = class_name(state.peer.get("model") or "")
    task = TASKS.get(name)
    if task is None:
        state.not_carried(
            "model", f"geofm has no task like {name}; geofm tasks list shows them", changes_experiment=True
        )
        return
    state.map("model", "task.name", lambda _: task)
    factory = state.peer.get("model.model_factory")
    if factory is not None:
        if class_name(factory) == "EncoderDecoderFactory":
            state.defaulted("model.model_factory", "geofm composes backbone + necks + decoder + head the same way")
        elif class_name(factory) == "SMPModelFactory":
            state.defaulted("model.model_factory", "geofm composes a timm CNN with an smp decoder the same way")
        else:
            state.not_carried(
                "model.model_factory",
                f"geofm composes every model as backbone + necks + decoder + head; {factory} is not translated",
                changes_experiment=True,
            )


def _loss(state: State) -> None:
    key, table = "model.loss", LOSSES.get(state.task_type, {})
    name = state.peer.get(key)
    if name is None:
        state.put("task.loss", _DEFAULT_LOSS[state.task_type])
        return
    loss = table.get(str(name).lower())
    if loss is not None:
        state.map(key, "task.loss", lambda _: loss)
    elif state.task_type == "regression" and str(name).lower() == "rmse":
        state.put("task.loss", "mse")
        state.not_carried(key, "geofm has no rmse loss; it trains on mse, which has the same minimum")
    else:
        known = ", ".join(table)
        state.not_carried(
            key, f"geofm's {state.task_type} task has no {name} loss (it has {known})", changes_experiment=True
        )


def _freezing(state: State) -> None:
    peer = state.peer
    if "model.freeze_backbone" in peer:
        state.map("model.freeze_backbone", "task.freeze_backbone", bool)
    for part in ("decoder", "head"):
        key = f"model.freeze_{part}"
        if key not in peer:
            continue
        if not peer.get(key):
            state.defaulted(key, f"geofm trains the {part}")
        elif part == "decoder":
            state.map(key, "task.freeze_decoder", bool)
        else:
            state.not_carried(key, f"geofm cannot freeze the {part}: it would be trained", changes_experiment=True)


def _tiling(state: State) -> None:
    prefix = "model.tiled_inference_parameters"
    crop = state.peer.get(f"{prefix}.h_crop")
    stride = state.peer.get(f"{prefix}.h_stride")
    hint = ""
    if crop is not None and stride is not None:
        hint = f": geofm predict --tile-size {crop} --overlap {int(crop) - int(stride)} maps scenes so"
    for key in state.whole(prefix):
        state.report.not_carried(key, f"geofm validates and tests on whole chips; tiling is for prediction{hint}")
        state.peer.mark(key)


def _weights_and_extras(state: State) -> None:
    peer = state.peer
    if "model.class_weights" in peer:
        state.map("model.class_weights", "task.class_weights", lambda v: [float(w) for w in v])
    for arg, key in peer.args("model").items():
        if arg in _QUIET and key not in peer.used:
            for leaf in state.whole(key):
                state.report.not_carried(leaf, _QUIET[arg], peer.get(leaf))


def _optimizer(state: State) -> None:
    """Top-level ``optimizer`` (LightningCLI), else the task's ``optimizer`` / ``lr`` / ``optimizer_hparams``."""
    peer = state.peer
    if "optimizer" in peer:
        kind, args, key = class_name(peer.get("optimizer")), peer.args("optimizer"), "optimizer"
    else:
        kind = class_name(peer.get("model.optimizer") or "Adam")
        args = {**peer.args("model.optimizer_hparams")}
        if "model.lr" in peer:
            args["lr"] = "model.lr"
        key = "model.optimizer" if "model.optimizer" in peer else None
    lr_source, lr_why = "(peer default) lr", "the peer's default learning rate"
    state.map_or_default(args.pop("lr", None), "task.lr", float, 1e-3, lr_source, lr_why)
    torch_decay = 0.01 if kind == "AdamW" else 0.0
    decay_source = f"(torch default) {kind} weight_decay"
    decay = state.map_or_default(args.pop("weight_decay", None), "task.weight_decay", float, torch_decay, decay_source)
    geofm_kind = _OPTIMIZERS.get(kind)
    if geofm_kind is None:
        what = key or "(peer) optimizer"
        known = ", ".join(_OPTIMIZERS)
        state.report.not_carried(what, f"geofm optimises with {known}, not {kind}", kind, changes_experiment=True)
        peer.mark(what)
    elif kind == "AdamW" or (kind == "Adam" and decay == 0):  # Adam without decay is AdamW exactly
        state.put("task.optimizer", "adamw")
        if key:
            note = ", which is Adam when weight_decay is 0" if kind == "Adam" else ""
            state.defaulted(key, f"geofm optimises with AdamW{note}")
        else:
            state.report.defaulted("(peer default) optimizer", "geofm's AdamW is the peer's default Adam without decay")
    else:
        state.put("task.optimizer", geofm_kind)
        state.report.mapped(key or "(peer default) optimizer", "task.optimizer", kind, f"torch's {kind}")
        if key:
            peer.take(key)
    if geofm_kind == "sgd":
        momentum = args.pop("momentum", None)
        state.map_or_default(momentum, "task.momentum", float, 0.0, "(torch default) SGD momentum")
    for arg, arg_key in args.items():
        value = peer.get(arg_key)
        if arg in _ADAM_DEFAULTS and (value == _ADAM_DEFAULTS[arg] or list(value or []) == _ADAM_DEFAULTS[arg]):
            state.defaulted(arg_key, f"geofm's optimiser uses {arg}={_ADAM_DEFAULTS[arg]}")
        else:
            state.not_carried(arg_key, f"geofm's optimiser uses its default {arg}")


def _plateau(state: State, args: dict[str, str]) -> None:
    peer = state.peer
    state.put("task.scheduler", "plateau")
    mode = "min" if state.task_type == "regression" else "max"
    monitor = f"the task's monitor (val/miou for segmentation) with mode {mode}"
    patience, source = args.pop("patience", None), "(torch default) ReduceLROnPlateau patience"
    state.map_or_default(patience, "task.scheduler_patience", int, 10, source)
    for arg, key in args.items():
        value = peer.get(key)
        if arg == "factor" and float(value) == 0.1:
            state.defaulted(key, "geofm lowers the learning rate by a factor 0.1")
        elif arg == "factor":
            state.map(key, "task.scheduler_factor", float)
        elif arg in ("monitor", "mode"):
            state.not_carried(key, f"geofm's plateau schedule follows {monitor}")
        elif arg in _PLATEAU_DEFAULTS and value == _PLATEAU_DEFAULTS[arg]:
            state.defaulted(key, f"geofm's plateau schedule uses {arg}={value}")
        else:
            state.not_carried(key, f"geofm's plateau schedule has no {arg} setting")


def _scheduler(state: State) -> None:
    peer = state.peer
    if "lr_scheduler" in peer:
        kind, args, key = class_name(peer.get("lr_scheduler")), peer.args("lr_scheduler"), "lr_scheduler"
    elif "model.scheduler" in peer:
        kind, args, key = (
            class_name(peer.get("model.scheduler")),
            peer.args("model.scheduler_hparams"),
            "model.scheduler",
        )
    else:
        state.put("task.scheduler", "none")
        state.report.mapped("(peer default) no lr_scheduler", "task.scheduler", "none")
        return
    if kind == "ReduceLROnPlateau":
        state.map(key, "task.scheduler", lambda _: "plateau")
        _plateau(state, args)
        return
    if kind == "CosineAnnealingLR":
        state.map(key, "task.scheduler", lambda _: "cosine")
        for arg, arg_key in args.items():
            value = peer.get(arg_key)
            if arg == "T_max" and value == state.value("trainer.max_epochs"):
                state.defaulted(arg_key, "geofm anneals over trainer.max_epochs")
            elif arg == "eta_min" and float(value) == 0:
                state.defaulted(arg_key, "geofm anneals to 0")
            else:
                state.not_carried(
                    arg_key, f"geofm's cosine schedule has no {arg} setting (it anneals to 0 over max_epochs)"
                )
        return
    state.put("task.scheduler", "none")
    state.not_carried(key, f"geofm has no {kind} schedule (it has plateau, cosine or none): it keeps the lr constant")
    for arg_key in args.values():
        state.not_carried(arg_key, f"see {kind}")


def translate_task(state: State) -> None:
    """Translate the task class, its loss, freezing, optimiser and schedule into ``task``."""
    _task_class(state)
    _loss(state)
    _freezing(state)
    _tiling(state)
    _weights_and_extras(state)
    _optimizer(state)
    _scheduler(state)
