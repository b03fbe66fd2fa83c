"""A study from start (or ``--resume``) to summary: validate, create the directory, run the trials, report.

Everything that can be checked is checked before the study directory is created: the run
configuration, the search space against the run schema and registries (:func:`geofm.tune.space.check_space`),
the settings, the metric, and that the backend's packages are installed. A study that is interrupted
records ``status: interrupted``; one where no trial completed or was pruned records ``status: failed``
and raises an error naming the first trial's error.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from geofm.config import RunConfig, load_config, validate_config
from geofm.errors import ConfigError, GeofmError
from geofm.tune.settings import (
    RESUMABLE_SETTINGS,
    TuneSettings,
    default_direction,
    split_tune_file,
    validate_settings,
)
from geofm.tune.space import SearchSpace, check_space, parse_space
from geofm.tune.studydir import StudyDir, study_stem

__all__ = ["run_study"]


def _require(module: str, what: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"{what} needs {module}, which is not installed: pip install 'geofm[tune]'")


def _base_config(run_config: RunConfig | Mapping[str, Any] | str | os.PathLike[str] | None) -> dict[str, Any]:
    if isinstance(run_config, RunConfig):
        return run_config.to_dict()
    if isinstance(run_config, str | os.PathLike):
        run_config = load_config(run_config)
    return validate_config(dict(run_config or {})).to_dict()


def _resolve_metric(settings: TuneSettings, resolved: Any) -> TuneSettings:
    task = resolved.task_spec
    metric = settings.metric or task.monitor
    if not metric.startswith("val/"):
        raise ConfigError(f"--metric {metric!r}: give a validation metric such as {task.monitor}")
    name = metric.removeprefix("val/")
    known = {"loss", *task.metrics}
    if name not in known and not (name.startswith("iou_") and "iou_per_class" in known):
        listing = ", ".join(f"val/{m}" for m in sorted(known - {"iou_per_class"}))
        raise ConfigError(f"--metric {metric!r}: task {task.name} logs {listing} (and val/iou_<class> per class)")
    direction = settings.direction or default_direction(metric, task.monitor, task.monitor_mode)
    return settings.model_copy(update={"metric": metric, "direction": direction})


def _check_settings(settings: TuneSettings, space: SearchSpace) -> TuneSettings:
    _require("optuna", "geofm tune")
    if settings.backend == "ray":
        _require("ray", "--backend ray")
    elif settings.ray_address:
        raise ConfigError("--ray-address goes with --backend ray")
    if settings.mlflow:
        _require("mlflow", "--mlflow")
    if settings.storage:  # a storage that cannot be opened is an error before anything is written
        from geofm.tune.optuna_backend import open_storage

        open_storage(settings.storage)
    if settings.sampler == "grid":
        size = space.grid_size()
        if settings.trials > size:
            settings = settings.model_copy(update={"trials": size})
    enqueue = [space.check_point(point) for point in settings.enqueue]
    return settings.model_copy(update={"enqueue": enqueue})


def _max_epochs(base: Mapping[str, Any], space: SearchSpace) -> int:
    """The most epochs a trial trains (what Ray's ASHA scheduler needs)."""
    searched = [p for p in space.params if p.key == "trainer.max_epochs"]
    if searched:
        values = searched[0].grid_values() or [searched[0].high]
        return int(max(int(v) for v in values))
    return int(base["trainer"]["max_epochs"])


def _prepare(
    run_config: Any, search: Any, settings_data: Mapping[str, Any]
) -> tuple[StudyDir, dict[str, Any], SearchSpace, TuneSettings, int]:
    """Validate everything, then create the study directory and write ``tune.yaml``."""
    if isinstance(run_config, str | os.PathLike):
        run_config = load_config(run_config)
    if isinstance(run_config, Mapping):  # a tune file: the run's sections, search: and tune:
        run_config, file_search, file_settings = split_tune_file(run_config)
        search = search if search is not None else file_search
        if file_settings is not None and not isinstance(file_settings, Mapping):
            raise ConfigError("the tune: section must be a mapping of settings")
        settings_data = {**(file_settings or {}), **settings_data}
    settings = validate_settings(settings_data)
    base = _base_config(run_config)
    space = parse_space(search)
    settings = _check_settings(settings, space)
    resolved = check_space(base, space)
    settings = _resolve_metric(settings, resolved)
    max_epochs = _max_epochs(base, space)
    stem = study_stem(settings.name, str(base["backbone"]["name"]))
    study_dir = StudyDir.create(settings.out, stem, named=settings.name is not None)
    settings = settings.model_copy(update={"name": settings.name or study_dir.path.name})
    study_dir.write_tune_file({**base, "search": space.to_data(), "tune": settings.model_dump(mode="json")})
    return study_dir, base, space, settings, max_epochs


def _reopen(
    resume: str | os.PathLike[str], changes: Mapping[str, Any]
) -> tuple[StudyDir, dict, SearchSpace, TuneSettings, int]:
    """A study directory's own ``tune.yaml``, with the settings a resume may change."""
    study_dir = StudyDir.open(resume)
    run_data, search, settings_data = split_tune_file(study_dir.read_tune_file())
    refused = sorted(key for key, value in changes.items() if value is not None and key not in RESUMABLE_SETTINGS)
    if refused:
        names = ", ".join("--" + key.replace("_", "-") for key in refused)
        raise ConfigError(
            f"--resume continues {study_dir.path} with its own tune.yaml; {names} cannot change "
            f"(only {', '.join('--' + k.replace('_', '-') for k in RESUMABLE_SETTINGS)}). Start a new study instead"
        )
    settings = validate_settings({**(settings_data or {}), **{k: v for k, v in changes.items() if v is not None}})
    base = _base_config(run_data)
    space = parse_space(search)
    settings = _check_settings(settings, space)
    study_dir.write_tune_file({**base, "search": space.to_data(), "tune": settings.model_dump(mode="json")})
    return study_dir, base, space, settings, _max_epochs(base, space)


def _done_records(study: Any) -> list[Any]:
    from geofm.tune.optuna_backend import state_name, trial_value
    from geofm.tune.progress import TrialRecord

    records = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state.is_finished():
            duration = trial.duration.total_seconds() if trial.duration is not None else None
            records.append(
                TrialRecord(
                    trial.number,
                    state=state_name(trial.state),
                    value=trial_value(trial),
                    params=dict(trial.params),
                    duration_s=duration,
                    error=trial.user_attrs.get("error"),
                )
            )
    return records


def run_study(
    run_config: RunConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    search: Mapping[str, Any] | None = None,
    *,
    resume: str | os.PathLike[str] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Run a study (see :func:`geofm.api.tune`); return its summary (also in ``summary.json``)."""
    from geofm.tune.context import StudyContext
    from geofm.tune.optuna_backend import enqueue_points, load_study, open_storage, quiet_optuna
    from geofm.tune.progress import MlflowLog, StudyProgress
    from geofm.tune.report import write_reports
    from geofm.tune.trial import TrialJob

    started = time.perf_counter()
    if resume is not None:
        if run_config is not None or search:
            raise ConfigError("--resume continues a study with its own tune.yaml: give no run configuration or search")
        study_dir, base, space, tune_settings, max_epochs = _reopen(resume, settings)
    else:
        study_dir, base, space, tune_settings, max_epochs = _prepare(run_config, search, settings)
    ctx = StudyContext(
        study_dir=study_dir,
        job=TrialJob(base=base, study_path=str(study_dir.path.resolve())),
        space=space,
        settings=tune_settings,
        max_epochs=max_epochs,
    )
    with quiet_optuna():
        storage = open_storage(ctx.storage_url)
        study = load_study(ctx, storage)
        if resume is None:
            enqueue_points(study, tune_settings.enqueue)
        mlflow = MlflowLog(tune_settings.mlflow, ctx.study_name, ctx.metric) if tune_settings.mlflow else None
        progress = StudyProgress(
            target=tune_settings.trials,
            metric=ctx.metric,
            direction=ctx.direction,
            done=_done_records(study),
            mlflow=mlflow,
        )
        progress.note(f"study {study_dir.path} ({tune_settings.backend}): {progress.status()}")
        status = "finished"
        extra: dict[str, Any] = {}
        try:
            if tune_settings.backend == "ray":
                from geofm.tune.ray_backend import optimize
            else:
                from geofm.tune.optuna_backend import optimize
            optimize(ctx, progress)
        except Exception as error:
            status, extra["error"] = "failed", " ".join(str(error).split())
            raise
        except BaseException:
            status = "interrupted"
            raise
        finally:
            progress.close()
            study = load_study(ctx, storage)
            from geofm.tune.optuna_backend import counted

            if status == "finished" and counted(study) == 0:
                status = "failed"
            summary = write_reports(
                ctx, study, status=status, extra={**extra, "wall_time_s": round(time.perf_counter() - started, 2)}
            )
    if status == "failed":  # no exception: no trial completed or was pruned
        first = summary.get("first_error")
        if not first:
            raise GeofmError("no trial ran (did --timeout pass before the first one?)")
        where = f"trial {first['number']:04d}: {study_dir.trial_path(first['number'])}"
        raise GeofmError(f"every trial failed; the first ({where}): {first['error']}")
    if tune_settings.repeat:
        from geofm.tune.repeats import repeat_best

        summary["repeats"] = repeat_best(study_dir.path, tune_settings.repeat)
    return summary
