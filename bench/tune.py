"""Benchmark of `geofm tune`: the per-trial overhead over the same run, and Ray's speed-up with parallel trials.

On a small generated demo dataset (tiny_vit, a few CPU seconds per run), in one process:

1. Overhead. ``--repeats`` times (default 5), in an order that alternates from one repeat to the next:
   the run done by `geofm.run` (as ``geofm run`` does it), and a one-trial study of the same run done by
   `geofm.tune` (Optuna backend; the search space is one choice, the run's own learning rate). Both runs
   send their console output to a log file the same way (a trial always does; the bare run does here so
   that the JSON on stdout stays clean). ``trial_over_run`` is, per repeat, the trial's duration
   (Optuna's, from asking the sampler to telling the value: building the trial's configuration, the
   pruning callback, the log, the summary) / the bare run's wall time; ``study_over_run`` is the whole
   study's wall time (validating the space, creating the storage, writing trials.csv, best.yaml and
   the plots) / the bare run's; ``study_cpu_over_run_cpu`` is the same with this process's CPU time,
   which other processes' load does not move (an upper bound of the per-trial overhead, since it
   includes the study's fixed costs). Medians, with the spread (min, max) and every value.
2. Ray. The same 4 trials (of ``--ray-epochs`` epochs, so that a trial outlasts a Ray worker's start)
   with ``--jobs 1`` and then ``--jobs 2`` (one CPU each) on one local Ray started first; ``speedup`` is
   the wall time of the first study / that of the second.

Target (issue 16): per-trial overhead <= 5 % (``trial_over_run`` median <= 1.05). Prints JSON.

    python bench/tune.py [--repeats 5] [--epochs 2] [--ray-epochs 3] [--no-ray]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _config(root: Path, epochs: int) -> dict[str, Any]:
    return {
        "backbone": {"name": "tiny_vit"},
        "decoder": {"name": "upernet"},
        "dataset": {
            "name": "demo",
            "data_root": str(root),
            "num_scenes": 12,
            "size": 64,
            "num_workers": 0,
            "batch_size": 4,
        },
        "task": {"lr": 1e-3},
        "trainer": {"max_epochs": epochs, "progress_bar": False, "accelerator": "cpu"},
    }


def _spread(values: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "values": [round(v, 4) for v in values],
    }


def _trial_durations(study: Path) -> list[float]:
    with (study / "trials.csv").open(newline="") as file:
        return [float(row["duration_s"]) for row in csv.DictReader(file)]


def overhead(work: Path, root: Path, repeats: int, epochs: int) -> dict[str, Any]:
    import geofm
    from geofm.tune.capture import output_to, routed_output

    config = _config(root, epochs)
    search = {"task.lr": {"choice": [config["task"]["lr"]]}}
    settings = {"trials": 1, "pruner": "none", "out": str(work / "studies")}

    def bare() -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        with routed_output(), output_to(work / "bare.log"):
            geofm.run({**config, "out": str(work / "runs")})
        return time.perf_counter() - started, time.process_time() - cpu

    def study(index: int) -> tuple[float, float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        summary = geofm.tune(config, search, name=f"overhead-{index}", **settings)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        return _trial_durations(Path(summary["study_dir"]))[0], wall, cpu

    bare()  # warm-up: imports, the data's statistics, first-call costs
    runs, trials, studies, run_cpus, study_cpus = [], [], [], [], []
    for index in range(repeats):
        if index % 2 == 0:
            run, run_cpu = bare()
            trial, wall, cpu = study(index)
        else:
            trial, wall, cpu = study(index)
            run, run_cpu = bare()
        runs.append(run)
        run_cpus.append(run_cpu)
        trials.append(trial)
        studies.append(wall)
        study_cpus.append(cpu)
    return {
        "repeats": repeats,
        "epochs": epochs,
        "run_s": _spread(runs),
        "trial_s": _spread(trials),
        "study_s": _spread(studies),
        "trial_over_run": _spread([t / r for t, r in zip(trials, runs, strict=True)]),
        "study_over_run": _spread([s / r for s, r in zip(studies, runs, strict=True)]),
        "study_cpu_over_run_cpu": _spread([s / r for s, r in zip(study_cpus, run_cpus, strict=True)]),
        "target_trial_over_run": 1.05,
    }


def ray_speedup(work: Path, root: Path, epochs: int) -> dict[str, Any]:
    import ray

    import geofm

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        config = _config(root, epochs)
        search = {"task.lr": {"loguniform": [1e-4, 1e-2]}}
        walls: dict[int, float] = {}
        durations: dict[int, list[float]] = {}
        for jobs in (1, 2):
            started = time.perf_counter()
            summary = geofm.tune(
                config,
                search,
                trials=4,
                backend="ray",
                jobs=jobs,
                cpus_per_trial=1,
                pruner="none",
                out=str(work / "studies"),
                name=f"ray-{jobs}",
            )
            walls[jobs] = time.perf_counter() - started
            durations[jobs] = _trial_durations(Path(summary["study_dir"]))
    finally:
        ray.shutdown()
    return {
        "trials": 4,
        "epochs": epochs,
        "cpus": 2,
        "wall_s_1_parallel": round(walls[1], 2),
        "wall_s_2_parallel": round(walls[2], 2),
        "speedup": round(walls[1] / walls[2], 3),
        "trial_s_1_parallel": [round(d, 2) for d in durations[1]],
        "trial_s_2_parallel": [round(d, 2) for d in durations[2]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--ray-epochs", type=int, default=3)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    from geofm_datasets.demo import generate_demo

    with tempfile.TemporaryDirectory(prefix="geofm-bench-tune-") as folder:
        work = Path(folder)
        root = generate_demo(work / "demo", num_scenes=12, size=64)
        result: dict[str, Any] = {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "overhead": overhead(work, root, args.repeats, args.epochs),
        }
        if not args.no_ray:
            result["ray"] = ray_speedup(work, root, args.ray_epochs)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
