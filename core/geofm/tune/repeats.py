"""The best configuration of a study trained again with several seeds: mean ± std of each test metric.

Benchmark protocols report a tuned model by repeated seeds of its best setting. Each repeat is an
ordinary run directory ``<study>/repeats/seed_<seed>`` made from ``best.yaml`` with ``seed`` changed
(seeds ``s, s+1, ...`` from the best trial's own seed ``s``). A repeat that already finished with the
same configuration is kept, so an interrupted ``repeat`` continues where it stopped.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from geofm.errors import ConfigError
from geofm.rundir import SUMMARY_FILE, RunDir
from geofm.tune.capture import console, output_to, routed_output
from geofm.tune.studydir import SUMMARY_FILE as STUDY_SUMMARY
from geofm.tune.studydir import TRIAL_LOG, StudyDir

__all__ = ["aggregate", "repeat_best"]

_PER_RUN = ("seed", "out", "name")


def aggregate(runs: list[Mapping[str, Any]], split: str) -> dict[str, dict[str, Any]]:
    """Mean, sample standard deviation (``None`` for one run) and values of each metric of ``split``."""
    names = sorted({key for run in runs for key in (run.get(split) or {})})
    result: dict[str, dict[str, Any]] = {}
    for name in names:
        values = [run[split][name] for run in runs if isinstance((run.get(split) or {}).get(name), int | float)]
        if not values:
            continue
        result[name] = {
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None,
            "values": values,
        }
    return result


def _same(config: Mapping[str, Any], best: Mapping[str, Any]) -> bool:
    return {k: v for k, v in config.items() if k not in _PER_RUN} == {
        k: v for k, v in best.items() if k not in _PER_RUN
    }


def _finished_repeat(repeats: Path, seed: int, best: Mapping[str, Any]) -> dict[str, Any] | None:
    """The summary of a finished repeat of ``best`` with ``seed``, if one exists."""
    for path in sorted(repeats.glob(f"seed_{seed}*")):
        run = RunDir(path)
        summary = run.read_json(SUMMARY_FILE)
        if not summary or summary.get("status") != "finished" or not run.config_path.is_file():
            continue
        if _same(run.read_config().to_dict(), best):
            return summary
    return None


def _print_run(seed: int, summary: Mapping[str, Any]) -> None:
    test = summary.get("test") or summary.get("val") or {}
    headline = "  ".join(f"{k}={v:.4f}" for k, v in test.items() if isinstance(v, float) and not k.startswith("iou_"))
    stream = console()
    stream.write(f"[tune] repeat seed {seed}: {headline}\n")
    stream.flush()


def repeat_best(
    study_path: str | Path,
    seeds: int,
    *,
    on_run: Callable[[int, Mapping[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train ``best.yaml`` with ``seeds`` seeds; record mean ± std in ``summary.json`` and return them.

    ``on_run(seed, summary)`` is called after each run (default: a line on the console).
    """
    from geofm.config import load_config, validate_config
    from geofm.runner import run

    if seeds < 1:
        raise ConfigError(f"--seeds {seeds}: give at least 1")
    study = StudyDir.open(study_path)
    if not study.best_path.is_file():
        raise ConfigError(f"{study.path} has no best.yaml (no trial completed): nothing to repeat")
    best = validate_config(load_config(study.best_path)).to_dict()
    first_seed = int(best.get("seed") or 0)
    runs: list[dict[str, Any]] = []
    for seed in range(first_seed, first_seed + seeds):
        config = {**best, "seed": seed, "out": str(study.repeats_dir), "name": f"seed_{seed}"}
        config["trainer"] = {**config["trainer"], "progress_bar": False}
        summary = _finished_repeat(study.repeats_dir, seed, config)
        if summary is None:
            log = study.repeats_dir / f".seed_{seed}.log"
            with routed_output(), output_to(log):
                summary = run(config)
            log.replace(Path(summary["run_dir"]) / TRIAL_LOG)
        runs.append({"seed": seed, **summary})
        (on_run or _print_run)(seed, summary)
    result = {
        "seeds": [r["seed"] for r in runs],
        "run_dirs": [study.relative(r["run_dir"]) for r in runs],
        "test": aggregate(runs, "test"),
        "val": aggregate(runs, "val"),
        "best_trial_config": "best.yaml",
    }
    summary_data = study.read_json(STUDY_SUMMARY) or {}
    study.write_json(STUDY_SUMMARY, {**summary_data, "repeats": result})
    return result
