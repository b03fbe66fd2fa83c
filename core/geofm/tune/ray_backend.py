"""Trials on Ray Tune, in parallel: on a local Ray started for the study, or on a cluster (``--ray-address``).

Ray Tune's ``OptunaSearch`` asks the study's own Optuna storage for each trial's values, so the study
directory, ``trials.csv`` and the best trial are the same as with the Optuna backend; the ASHA scheduler
(``--pruner asha``) or the median stopping rule (``--pruner median``) stops bad trials. Each trial is a
Ray Tune function trainable with ``--cpus-per-trial`` / ``--gpus-per-trial``, running the same trial code
as the Optuna backend; it reports its metric after every epoch but the last (``training_iteration`` =
epochs trained) and then its final value, the re-scored best checkpoint.

On a cluster, the study directory must be on a file system every node sees (workers write the trial
run directories), geofm must be installed on every node, and the Optuna storage is used by this
process only.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule, TrialScheduler
from ray.tune.search.optuna import OptunaSearch

from geofm.errors import ConfigError
from geofm.tune.capture import output_to, routed_output
from geofm.tune.context import TRIAL_KEY, StudyContext
from geofm.tune.optuna_backend import (
    MEDIAN_STARTUP_TRIALS,
    counted,
    grid_exhausted,
    load_study,
    make_sampler,
    mark_pruned,
    open_storage,
    recover_interrupted,
    report_finished,
    storage_trial_id,
)
from geofm.tune.progress import StudyProgress
from geofm.tune.pruning import PruningCallback
from geofm.tune.space import SearchSpace
from geofm.tune.trial import TrialJob, objective_value, one_line

__all__ = ["optimize"]

OBJECTIVE = "objective"
FINAL = "final"
ERROR = "error"
EPOCH = "epoch"

log = logging.getLogger(__name__)


def _ray_trial(config: dict[str, Any], job: TrialJob, keys: list[str], metric: str, worst: float, cpus: float) -> None:
    """The Ray Tune trainable: one trial; reports each epoch but the last, then the final value or the error."""
    import torch

    number = int(config[TRIAL_KEY])
    values = {key: config[key] for key in keys if key in config}
    torch.set_num_threads(max(1, int(cpus)))

    def report(epoch: int, value: float, last: bool) -> bool:
        if not last:  # the final report below stands for the last epoch
            tune.report({OBJECTIVE: value, EPOCH: epoch, TRIAL_KEY: number})
        return False  # Ray's scheduler stops the trial from outside

    pruning = PruningCallback(metric, report)
    try:
        summary = job.run(number, values, [pruning])
        value = objective_value(summary, metric)
        if math.isnan(value):
            raise ValueError(f"{metric} is NaN (the training diverged?)")
    except SystemExit:  # Ray Tune stopped the trial while it reported: its scheduler pruned it
        mark_pruned(job.study, number, len(pruning.reported))
        raise
    except Exception as error:
        tune.report({FINAL: True, ERROR: one_line(error), OBJECTIVE: worst, TRIAL_KEY: number})
        return
    tune.report({FINAL: True, OBJECTIVE: value, EPOCH: summary.get("epochs"), TRIAL_KEY: number})


@dataclass(frozen=True)
class _DefineByRun:
    """``OptunaSearch``'s define-by-run space: the trial's values, and its number as a constant."""

    space: SearchSpace

    def __call__(self, trial: Any) -> dict[str, Any]:
        self.space.suggest(trial)
        return {TRIAL_KEY: trial.number}


class _Search(OptunaSearch):
    """``OptunaSearch`` that records geofm's trial states: failed with the error, pruned when stopped early.

    Ray's searcher tells a trial stopped by the scheduler as complete (with its last epoch's value), and
    a trial that raised after reporting as complete too; here a trial is complete only when it reports
    its final value.
    """

    def __init__(self, ctx: StudyContext, progress: StudyProgress, storage: Any, **kwargs: Any) -> None:
        super().__init__(storage=storage, study_name=ctx.study_name, **kwargs)
        self.geofm_ctx = ctx
        self.geofm_progress = progress
        self.geofm_storage = storage
        self.geofm_numbers: dict[str, int] = {}
        self.geofm_reported: dict[str, Any] = {}
        self.geofm_completed: set[str] = set()

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles the searcher with the experiment's state; the console progress cannot be pickled
        return {**self.__dict__, "geofm_progress": None}

    def save(self, checkpoint_path: str) -> None:
        """Ray's record of the searcher (as ``OptunaSearch.save``, without the console progress)."""
        import pickle

        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__getstate__(), file)

    def _set_attr(self, number: int, key: str, value: Any) -> None:
        trial_id = storage_trial_id(self.geofm_storage, self.geofm_ctx.study_name, number)
        self.geofm_storage.set_trial_user_attr(trial_id, key, value)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config = super().suggest(trial_id)
        if config is not None:
            number = int(config[TRIAL_KEY])
            self.geofm_numbers[trial_id] = number
            study = self.geofm_ctx.study_dir
            self._set_attr(number, "study_dir", str(study.path.resolve()))
            self._set_attr(number, "run_dir", study.relative(study.trial_path(number)))
        return config

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if not result.get(FINAL):  # the final value is the trial's value, not an epoch's
            super().on_trial_result(trial_id, result)
            self.geofm_reported[trial_id] = result.get("training_iteration")

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        number = self.geofm_numbers.get(trial_id)
        if number is None or trial_id in self.geofm_completed:
            return
        self.geofm_completed.add(trial_id)
        result = result or {}
        message = result.get(ERROR) or (
            f"the Ray worker running this trial failed (see {self.geofm_ctx.study_dir.ray_dir})" if error else None
        )
        if message:
            self._set_attr(number, "error", message)
            super().on_trial_complete(trial_id, None, error=True)
        elif result.get(FINAL):
            super().on_trial_complete(trial_id, result, error=False)
        else:  # stopped by the scheduler: pruned, with its last value (which the scheduler saw first)
            if OBJECTIVE in result and self.geofm_reported.get(trial_id) != result.get("training_iteration"):
                super().on_trial_result(trial_id, result)
            epochs = int(result[EPOCH]) + 1 if result.get(EPOCH) is not None else None
            self._set_attr(number, "pruned_after_epochs", epochs)
            super().on_trial_complete(trial_id, None, error=False)
            mark_pruned(self.geofm_ctx.study_dir, number, epochs)
        if self.geofm_progress is not None:
            self._report(number)

    def _report(self, number: int) -> None:
        storage = self.geofm_storage
        trial = storage.get_trial(storage_trial_id(storage, self.geofm_ctx.study_name, number))
        report_finished(self.geofm_progress, trial)


class _Started(tune.Callback):
    """Tell the progress when Ray starts a trial."""

    def __init__(self, keys: list[str], progress: StudyProgress) -> None:
        self.keys = keys
        self.progress = progress

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "progress": None}  # see _Search.__getstate__

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        config = trial.config
        if TRIAL_KEY in config and self.progress is not None:
            self.progress.started(int(config[TRIAL_KEY]), {k: config[k] for k in self.keys if k in config})


def _trial_dirname(trial: Any) -> str:
    """Ray's folder of a trial, in ``<study>/ray/``: ``trial_0007`` (the trial's own run is ``trials/0007``)."""
    number = trial.config.get(TRIAL_KEY)
    return f"trial_{number:04d}" if isinstance(number, int) else str(trial.trial_id)


def _scheduler(ctx: StudyContext, mode: str) -> TrialScheduler:
    if ctx.settings.pruner == "none" or ctx.max_epochs < 2:  # a one-epoch trial has nothing to prune
        return FIFOScheduler()
    if ctx.settings.pruner == "asha":
        return ASHAScheduler(
            time_attr="training_iteration", metric=OBJECTIVE, mode=mode, max_t=ctx.max_epochs, grace_period=1
        )
    return MedianStoppingRule(
        time_attr="training_iteration",
        metric=OBJECTIVE,
        mode=mode,
        grace_period=1,
        min_samples_required=MEDIAN_STARTUP_TRIALS,
    )


def _parallel_trials(ctx: StudyContext) -> int:
    """``--jobs``, or as many trials as the cluster's CPUs (and GPUs) hold at once.

    Ray Tune lets a custom searcher keep only one trial pending unless the concurrency is given, so
    trials whose workers take long to start would otherwise run one after another.
    """
    if ctx.settings.jobs:
        return ctx.settings.jobs
    resources = ray.cluster_resources()
    slots = resources.get("CPU", 1.0) / ctx.settings.cpus_per_trial
    if ctx.settings.gpus_per_trial > 0:
        slots = min(slots, resources.get("GPU", 0.0) / ctx.settings.gpus_per_trial)
    return max(1, int(slots))


@contextlib.contextmanager
def _sigint_stops_the_study() -> Iterator[None]:
    """Ctrl+C raises ``KeyboardInterrupt`` instead of Ray Tune stopping (and so ending) every trial.

    The running trials then stay running in the Optuna study, and ``--resume`` retries them, as after a kill.
    """
    previous = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = previous


def _connect(ctx: StudyContext) -> bool:
    """Start a local Ray or connect to ``--ray-address``; ``True`` when this call did (and must shut down)."""
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    address = ctx.settings.ray_address
    if not address:  # a new local Ray, even where `ray start` runs a cluster on this machine
        ray.init(address="local", include_dashboard=False, **options)
        return True
    try:
        ray.init(address=address, **options)
    except ConnectionError as error:
        raise ConfigError(
            f"cannot connect to the Ray cluster at --ray-address {address} ({error}). Is `ray start --head` "
            "running there? With Ray's token authentication, this machine needs the cluster's token "
            "(~/.ray/auth_token) and RAY_AUTH_MODE=token; on a node of the cluster, --ray-address auto finds it"
        ) from error
    return True


def optimize(ctx: StudyContext, progress: StudyProgress) -> None:
    """Run trials on Ray Tune until ``--trials`` are counted, the timeout passes, or too many fail."""
    storage = open_storage(ctx.storage_url)
    study = load_study(ctx, storage)
    recover_interrupted(ctx, study, storage, progress)
    mode = "max" if ctx.direction == "maximize" else "min"
    keys = ctx.space.keys
    worst = -math.inf if mode == "max" else math.inf
    trainable = tune.with_resources(
        tune.with_parameters(
            _ray_trial, job=ctx.job, keys=keys, metric=ctx.metric, worst=worst, cpus=ctx.settings.cpus_per_trial
        ),
        {"cpu": ctx.settings.cpus_per_trial, "gpu": ctx.settings.gpus_per_trial},
    )

    ray_dir = ctx.study_dir.ray_dir
    ray_dir.mkdir(exist_ok=True)
    target = ctx.settings.trials
    failures = rounds = 0
    with routed_output(), output_to(ray_dir / "driver.log"):  # Ray's own console output
        started = _connect(ctx)
        try:
            while counted(study) < target and failures < target and not grid_exhausted(ctx, study):
                left = ctx.time_left()
                if left is not None and left <= 0:
                    break
                before = {t.number for t in study.get_trials(deepcopy=False)}
                sampler = make_sampler(ctx, ctx.settings.seed + len(before))
                searcher = _Search(
                    ctx, progress, storage, space=_DefineByRun(ctx.space), metric=OBJECTIVE, mode=mode, sampler=sampler
                )
                tuner = tune.Tuner(
                    trainable,
                    tune_config=tune.TuneConfig(
                        search_alg=searcher,
                        scheduler=_scheduler(ctx, mode),
                        num_samples=target - counted(study),
                        max_concurrent_trials=_parallel_trials(ctx),
                        time_budget_s=left,
                        reuse_actors=True,  # a worker imports torch and Lightning once, not once per trial
                        trial_dirname_creator=_trial_dirname,
                    ),
                    run_config=tune.RunConfig(
                        name=f"round-{rounds}",
                        storage_path=str(ray_dir.resolve()),
                        verbose=0,
                        callbacks=[_Started(keys, progress)],
                    ),
                )
                with _sigint_stops_the_study():
                    tuner.fit()
                rounds += 1
                new = [t for t in study.get_trials(deepcopy=False) if t.number not in before]
                if not new:
                    break
                failures += sum(t.state.name == "FAIL" for t in new)
        finally:
            if started:
                ray.shutdown()
