"""``trainer`` (Lightning Trainer arguments and callbacks) and ``seed_everything`` -> geofm ``trainer`` and ``seed``.

geofm adds its own checkpointing (best and last, on the task's monitor), early stopping
(``trainer.early_stopping_patience``) and a CSV metrics log to every run; the peer's callbacks map onto
those or are reported. A callback migrate does not know is reported as changing the experiment, since
callbacks can change training.
"""

from __future__ import annotations

from geofm.migrate.peer_yaml import PLACEHOLDER, class_name
from geofm.migrate.state import State

__all__ = ["translate_trainer"]

T = "trainer"

_DIRECT = {
    "accelerator": "trainer.accelerator",
    "strategy": "trainer.strategy",
    "devices": "trainer.devices",
    "num_nodes": "trainer.num_nodes",
    "max_epochs": "trainer.max_epochs",
    "max_steps": "trainer.max_steps",
    "log_every_n_steps": "trainer.log_every_n_steps",
    "accumulate_grad_batches": "trainer.accumulate_grad_batches",
    "gradient_clip_val": "trainer.gradient_clip_val",
    "deterministic": "trainer.deterministic",
    "fast_dev_run": "trainer.fast_dev_run",
    "limit_train_batches": "trainer.limit_train_batches",
    "limit_val_batches": "trainer.limit_val_batches",
    "limit_test_batches": "trainer.limit_test_batches",
    "enable_progress_bar": "trainer.progress_bar",
}
_PRECISION = {16: "16-mixed", "16": "16-mixed", 32: "32-true", "32": "32-true", "bf16": "bf16-mixed", 64: "64-true"}
_QUIET = {
    "logger": "geofm logs every epoch to metrics.csv in the run directory",
    "num_sanity_val_steps": "geofm runs Lightning's default sanity check",
    "enable_model_summary": "geofm prints the model summary when training",
    "benchmark": "geofm leaves cudnn.benchmark to Lightning",
    "profiler": "geofm runs without a profiler",
    "min_epochs": "geofm stops at max_epochs or by early stopping",
    "val_check_interval": "geofm validates once per epoch",
    "gradient_clip_algorithm": "geofm clips gradients by norm",
    "inference_mode": "geofm evaluates in inference mode",
    "use_distributed_sampler": "Lightning's default",
    "sync_batchnorm": "geofm does not synchronise batch norm",
    "barebones": "geofm needs its callbacks",
    "plugins": "geofm adds its own checkpoint I/O",
}


def _callback(state: State, item: str, seen: dict[str, bool]) -> None:
    peer, monitor = state.peer, "the task's monitor (val/miou, max, for segmentation)"
    kind = class_name(peer.get(item))
    args = peer.args(item)
    if kind in ("RichProgressBar", "TQDMProgressBar"):
        state.defaulted(item, "geofm shows a progress bar")
        for key in args.values():
            state.not_carried(key, "geofm's progress bar has no settings")
    elif kind == "LearningRateMonitor":
        state.not_carried(item, "geofm does not log the learning rate")
        for key in args.values():
            state.not_carried(key, "see LearningRateMonitor")
    elif kind == "EarlyStopping":
        seen["early_stopping"] = True
        state.peer.take(item)
        patience_key = args.pop("patience", None)
        patience = int(peer.get(patience_key)) if patience_key else 3
        state.put("trainer.early_stopping_patience", patience)
        state.report.mapped(item, "trainer.early_stopping_patience", kind)
        if patience_key:
            state.map(patience_key, "trainer.early_stopping_patience", int)
        for arg, key in args.items():
            if arg in ("monitor", "mode"):
                state.not_carried(key, f"geofm stops early on {monitor}")
            else:
                state.not_carried(key, f"geofm's early stopping has no {arg} setting")
    elif kind == "ModelCheckpoint":
        state.defaulted(item, "geofm keeps checkpoints/best.ckpt (on the task's monitor) and last.ckpt")
        for arg, key in args.items():
            value = str(peer.get(key))
            if arg == "monitor" and value in ("val/Multiclass_Jaccard_Index", "val/mIoU", "val/miou"):
                state.defaulted(key, "geofm's best checkpoint has the highest val/miou")
            elif arg == "mode" and value == "max":
                state.defaulted(key, "the highest val/miou")
            else:
                state.not_carried(key, "geofm names and places its checkpoints in the run directory")
    else:
        state.not_carried(item, f"geofm has no callback like {kind}; it may change training", changes_experiment=True)
        for key in args.values():
            state.not_carried(key, f"see {kind}")
        state.whole(item)


def translate_trainer(state: State) -> None:
    """Translate ``trainer`` and ``seed_everything``."""
    peer = state.peer
    for arg, key in peer.args(T).items():
        value = peer.get(key)
        if arg in _DIRECT:
            state.map(key, _DIRECT[arg])
        elif arg == "precision":
            state.map(key, "trainer.precision", lambda v: _PRECISION.get(v, str(v)))
        elif arg == "check_val_every_n_epoch" and int(value) == 1:
            state.defaulted(key, "geofm validates every epoch")
        elif arg == "enable_checkpointing" and value:
            state.defaulted(key, "geofm keeps best and last checkpoints")
        elif arg == "default_root_dir" and not PLACEHOLDER.search(str(value)):
            state.map(key, "out", str, "run directories are created inside it")
        elif arg == "default_root_dir":
            state.not_carried(key, "a placeholder: run directories go under runs/ (set --set out=DIR)")
        elif arg == "callbacks":
            continue
        elif arg in _QUIET:
            for leaf in state.whole(key):
                state.report.not_carried(leaf, _QUIET[arg], peer.get(leaf))
        else:
            state.not_carried(key, f"geofm's trainer has no {arg} setting")
    seen: dict[str, bool] = {}
    for _, item in peer.items(f"{T}.callbacks"):
        _callback(state, item, seen)
    if not seen.get("early_stopping"):
        state.put("trainer.early_stopping_patience", None)
        state.report.mapped(
            "(peer default) no EarlyStopping", "trainer.early_stopping_patience", None, "no early stopping"
        )
    if state.value("trainer.max_epochs") is None and state.value("trainer.max_steps") in (None, -1):
        state.put("trainer.max_epochs", 1000)
        state.report.mapped("(Lightning default) max_epochs", "trainer.max_epochs", 1000)
    key = "seed_everything"
    seed = peer.get(key)
    if isinstance(seed, int) and not isinstance(seed, bool):
        state.map(key, "seed", int)
    elif key in peer:
        state.not_carried(key, "geofm runs with a fixed seed (seed: 0 unless set)")
    else:
        state.report.not_carried("(peer default) seed_everything", "the peer draws a random seed; geofm's is 0")
