"""Trials with Optuna in this process: one after another, or ``--jobs`` threads at once.

The Optuna study (in its storage: ``<study>/study.db`` or ``--storage``) is the record of every trial for
both backends; the Ray backend drives the same study through Ray Tune's ``OptunaSearch``. This module
also holds what both need: the storage, sampler and pruner, reopening a study after a kill, and the
count of trials that reach ``--trials``.

``--trials N`` counts trials that completed or were pruned (both tell the sampler something); failed
trials do not count, so each invocation runs until N are counted, replacing failures, and gives up when
as many trials have failed in it as N.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from geofm.errors import ConfigError, GeofmError
from geofm.tune.context import StudyContext
from geofm.tune.progress import StudyProgress
from geofm.tune.pruning import PruningCallback
from geofm.tune.studydir import StudyDir
from geofm.tune.trial import objective_value, one_line

__all__ = [
    "TrialFailed",
    "counted",
    "enqueue_points",
    "load_study",
    "make_sampler",
    "open_storage",
    "optimize",
    "quiet_optuna",
    "recover_interrupted",
    "report_finished",
    "storage_trial_id",
]

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)
"""The states that count towards ``--trials``."""

MEDIAN_STARTUP_TRIALS = 2
"""Trials that must finish an epoch before the median pruner compares a trial's epoch with theirs."""


class TrialFailed(Exception):
    """A trial's run raised (recorded, and the study goes on)."""


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna logs only errors while a study runs (the study's progress reports each trial)."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage: an RDB URL (``sqlite:///…``, ``postgresql://…``) or a journal file (``journal:PATH``)."""
    if url.startswith("journal:") or url.endswith((".log", ".journal")):
        from optuna.storages.journal import JournalFileBackend

        path = url.removeprefix("journal:")
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as error:  # SQLAlchemy's errors for a bad URL or an unreachable database vary by driver
        raise ConfigError(f"cannot open the Optuna storage {url!r}: {one_line(error)}") from error


def make_sampler(ctx: StudyContext, seed: int) -> optuna.samplers.BaseSampler:
    """``--sampler``: Optuna's TPE, random or grid sampler, seeded."""
    if ctx.settings.sampler == "grid":
        return optuna.samplers.GridSampler(ctx.space.grid(), seed=seed)
    if ctx.settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(ctx: StudyContext) -> optuna.pruners.BasePruner:
    """``--pruner``: median, asha (successive halving) or none."""
    if ctx.settings.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=MEDIAN_STARTUP_TRIALS, n_warmup_steps=0)
    if ctx.settings.pruner == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
    return optuna.pruners.NopPruner()


def load_study(
    ctx: StudyContext, storage: optuna.storages.BaseStorage, *, sampler: Any = None, pruner: Any = None
) -> optuna.Study:
    """The study in ``storage`` (created when new); a stored study with the other direction is an error."""
    study = optuna.create_study(
        storage=storage,
        study_name=ctx.study_name,
        direction=ctx.direction,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    stored = study.direction.name.lower()
    if stored != ctx.direction:
        raise ConfigError(
            f"study {ctx.study_name!r} in {ctx.storage_url} {stored}s its objective, not {ctx.direction}: "
            "give another --name"
        )
    return study


def enqueue_points(study: optuna.Study, points: list[dict[str, Any]]) -> None:
    """Trials given by hand (``enqueue``), run first in this order (once, when machines share the study)."""
    for point in points:
        study.enqueue_trial(dict(point), skip_if_exists=True)


def counted(study: optuna.Study) -> int:
    """Trials that count towards ``--trials``: complete or pruned."""
    return len(study.get_trials(deepcopy=False, states=COUNTED))


def state_name(state: TrialState) -> str:
    """``complete``, ``pruned``, ``fail``, ``running`` or ``waiting``."""
    return state.name.lower()


def trial_value(trial: FrozenTrial) -> float | None:
    """The trial's value; for a pruned trial, its last reported one; ``None`` for a failed one."""
    if trial.value is not None:
        return trial.value
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        return trial.intermediate_values[max(trial.intermediate_values)]
    return None


def mark_pruned(study_dir: StudyDir, number: int, epochs: int | None, summary: dict[str, Any] | None = None) -> None:
    """Record in trial ``number``'s ``summary.json`` that the study pruned it after ``epochs`` epochs.

    ``summary`` is the run's (the trial stopped and was evaluated); without it (a Ray trial stopped from
    outside) the run directory's own summary, if any, is kept and marked.
    """
    from geofm.rundir import SUMMARY_FILE, RunDir

    path = study_dir.trial_path(number)
    if not path.is_dir():
        return
    run = RunDir(path)
    previous = summary if summary is not None else run.read_json(SUMMARY_FILE) or {"run_dir": str(path)}
    marked = {**previous, "status": "pruned", "pruned_after_epochs": epochs, "resumable": run.has_checkpoint()}
    if summary is None:
        marked.setdefault("epochs", epochs)
    run.write_summary(marked)


def storage_trial_id(storage: optuna.storages.BaseStorage, study_name: str, number: int) -> int:
    """The storage's id of trial ``number`` of study ``study_name`` (what the storage's setters take)."""
    study_id = storage.get_study_id_from_name(study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, number)


def recover_interrupted(
    ctx: StudyContext, study: optuna.Study, storage: optuna.storages.BaseStorage, progress: StudyProgress | None
) -> list[int]:
    """Settle the trials a stopped study left behind; return the numbers of the retries enqueued.

    A trial left running by a kill whose run had finished (its ``summary.json`` says so) is told with
    its value. Any other trial left running, and any trial that Ctrl+C interrupted (failed, marked
    ``interrupted``), is failed and enqueued again with the same parameters, once, so the study retries
    it under a new number. Only trials of this study directory are touched (a shared storage may hold
    trials other machines are running).
    """
    from geofm.rundir import SUMMARY_FILE, RunDir

    mine = str(ctx.study_dir.path.resolve())
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    retries: list[int] = []
    for trial in trials:
        interrupted = trial.state == TrialState.FAIL and trial.user_attrs.get("interrupted")
        if trial.state != TrialState.RUNNING and not interrupted:
            continue
        path = ctx.study_dir.trial_path(trial.number)
        elsewhere = trial.user_attrs.get("study_dir", mine) != mine and not path.exists()  # moved studies are mine
        if elsewhere or trial.number in retried:
            continue
        summary = RunDir(path).read_json(SUMMARY_FILE) if path.is_dir() else None
        status = (summary or {}).get("status")
        if trial.state == TrialState.RUNNING and status in ("finished", "pruned") and summary is not None:
            if status == "pruned":
                study.tell(trial.number, state=TrialState.PRUNED)
            else:
                study.tell(trial.number, objective_value(summary, ctx.metric))
            if progress:
                progress.note(f"trial {trial.number:04d} had finished before the stop: kept ({status})")
            continue
        study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})
        retry = max(t.number for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
        message = f"interrupted: the study stopped during this trial; retried as trial {retry:04d}"
        if trial.state == TrialState.RUNNING:  # killed: the trial and its run directory say nothing yet
            trial_id = storage_trial_id(storage, ctx.study_name, trial.number)
            storage.set_trial_user_attr(trial_id, "error", message)
            storage.set_trial_user_attr(trial_id, "interrupted", True)
            study.tell(trial.number, state=TrialState.FAIL)
            if path.is_dir():
                RunDir(path).mark_failed(GeofmError(message))
        stray_log = ctx.study_dir.trials_dir / f".{ctx.study_dir.trial_name(trial.number)}.log"
        if stray_log.exists():
            stray_log.replace(path / "trial.log" if path.is_dir() else path.with_suffix(".log"))
        retries.append(retry)
        if progress:
            progress.note(f"trial {trial.number:04d} was interrupted: marked failed, retried as trial {retry:04d}")
    return retries


def grid_exhausted(ctx: StudyContext, study: optuna.Study) -> bool:
    """Whether every point of a grid search has been tried (in any finished state)."""
    if ctx.settings.sampler != "grid":
        return False
    keys = ctx.space.keys
    seen = {
        tuple(repr(t.params.get(k)) for k in keys)
        for t in study.get_trials(deepcopy=False)
        if t.state.is_finished() or t.state == TrialState.RUNNING
    }
    return len(seen) >= ctx.space.grid_size()


def _objective(ctx: StudyContext, progress: StudyProgress) -> Callable[[optuna.Trial], float]:
    study_dir = str(ctx.study_dir.path.resolve())

    def objective(trial: optuna.Trial) -> float:
        values = ctx.space.suggest(trial)
        trial.set_user_attr("study_dir", study_dir)
        trial.set_user_attr("run_dir", ctx.study_dir.relative(ctx.study_dir.trial_path(trial.number)))
        progress.started(trial.number, values)

        def report(epoch: int, value: float, last: bool) -> bool:
            trial.report(value, epoch + 1)  # step: epochs trained, as Ray Tune's training_iteration
            return not last and trial.should_prune()

        pruning = PruningCallback(ctx.metric, report)
        try:
            summary = ctx.job.run(trial.number, values, [pruning])
        except Exception as error:
            trial.set_user_attr("error", one_line(error))
            raise TrialFailed(one_line(error)) from error
        except (KeyboardInterrupt, SystemExit) as error:  # Ctrl+C (Lightning turns it into SystemExit)
            trial.set_user_attr("error", "interrupted: the study stopped during this trial")
            trial.set_user_attr("interrupted", True)
            raise KeyboardInterrupt from error  # Optuna records the trial failed, and the study stops
        value = objective_value(summary, ctx.metric)  # a metric the trials do not log stops the study
        if math.isnan(value):
            trial.set_user_attr("error", f"{ctx.metric} is NaN (the training diverged?)")
            raise TrialFailed(f"{ctx.metric} is NaN")
        if pruning.pruned_epoch is not None:
            epochs = pruning.pruned_epoch + 1
            trial.set_user_attr("pruned_after_epochs", epochs)
            mark_pruned(ctx.study_dir, trial.number, epochs, summary)
            raise optuna.TrialPruned(f"pruned after {epochs} epoch(s)")
        return value

    return objective


def report_finished(progress: StudyProgress, trial: FrozenTrial) -> None:
    """Tell ``progress`` that ``trial`` (as the storage records it) finished: state, value, duration, error."""
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    progress.finished(
        trial.number,
        state_name(trial.state),
        trial_value(trial),
        trial.params,
        duration_s=duration,
        error=trial.user_attrs.get("error"),
        run_dir=trial.user_attrs.get("run_dir"),
    )


def finished_callback(progress: StudyProgress) -> Callable[[optuna.Study, FrozenTrial], None]:
    """An Optuna study callback telling ``progress`` each finished trial."""

    def callback(study: optuna.Study, trial: FrozenTrial) -> None:
        report_finished(progress, trial)

    return callback


def optimize(ctx: StudyContext, progress: StudyProgress) -> None:
    """Run trials until ``--trials`` are counted, the timeout passes, the grid is done, or too many fail."""
    storage = open_storage(ctx.storage_url)
    existing = load_study(ctx, storage)
    recover_interrupted(ctx, existing, storage, progress)
    # a resumed study gets a sampler seeded differently, so that it does not propose its first trials again
    seed = ctx.settings.seed + len(existing.get_trials(deepcopy=False))
    study = load_study(ctx, storage, sampler=make_sampler(ctx, seed), pruner=make_pruner(ctx))
    objective = _objective(ctx, progress)
    target = ctx.settings.trials
    failures = 0
    while counted(study) < target and failures < target and not grid_exhausted(ctx, study):
        left = ctx.time_left()
        if left is not None and left <= 0:
            break
        before = {t.number for t in study.get_trials(deepcopy=False)}
        study.optimize(
            objective,
            n_trials=target - counted(study),
            timeout=left,
            n_jobs=ctx.settings.jobs or 1,
            catch=(TrialFailed,),
            callbacks=[finished_callback(progress)],
            gc_after_trial=True,
        )
        new = [t for t in study.get_trials(deepcopy=False) if t.number not in before]
        if not new:
            break
        failures += sum(t.state == TrialState.FAIL for t in new)
