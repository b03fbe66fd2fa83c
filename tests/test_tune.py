"""``geofm tune``: studies with the Optuna and Ray backends, resume after a kill, pruning, repeats, validation.

Every study tunes ``tiny_vit`` on a small generated demo dataset, through the CLI in a subprocess (as a
user runs it) except where the Python API is the point.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("optuna")

STUDY_FILES = ("tune.yaml", "study.db", "trials.csv", "best.yaml", "summary.json")
RUN_FILES = ("config.yaml", "plugins.json", "metrics.csv", "summary.json", "trial.log", "checkpoints/best.ckpt")
PLOTS = ("optimization_history.png", "param_importances.png", "slice.png", "parallel_coordinate.png")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from geofm_datasets.demo import generate_demo

    return generate_demo(tmp_path_factory.mktemp("data") / "demo", num_scenes=12, size=64)


def run_config(root: Path, **trainer: Any) -> dict[str, Any]:
    return {
        "dataset": {
            "name": "demo",
            "data_root": str(root),
            "num_scenes": 12,
            "size": 64,
            "num_workers": 0,
            "batch_size": 4,
        },
        "trainer": {
            "max_epochs": 1,
            "limit_train_batches": 2,
            "progress_bar": False,
            "accelerator": "cpu",
            **trainer,
        },
        "backbone": {"name": "tiny_vit"},
    }


SEARCH = {"task.lr": {"loguniform": [1.0e-4, 1.0e-2]}, "decoder.name": {"choice": ["upernet", "fcn"]}}


def tune_file(path: Path, root: Path, search: dict[str, Any], tune: dict[str, Any], **trainer: Any) -> Path:
    path.write_text(yaml.safe_dump({**run_config(root, **trainer), "search": search, "tune": tune}))
    return path


def read_trials(study: Path) -> list[dict[str, str]]:
    with (study / "trials.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def check_study(study: Path, trials: int) -> dict[str, Any]:
    """Every file of the study directory, one complete run directory per trial; returns summary.json."""
    for name in STUDY_FILES:
        assert (study / name).is_file(), f"{name} missing from {sorted(p.name for p in study.iterdir())}"
    for name in PLOTS:
        assert (study / "plots" / name).stat().st_size > 1000, name
    rows = read_trials(study)
    assert [int(r["number"]) for r in rows] == list(range(trials))
    assert {r["state"] for r in rows} == {"complete"}, rows
    assert all(float(r["val/miou"]) >= 0 and r["decoder.name"] in ("upernet", "fcn") for r in rows)
    assert sorted(p.name for p in (study / "trials").iterdir()) == [f"{n:04d}" for n in range(trials)]
    for row in rows:
        run = study / row["run_dir"]
        for name in RUN_FILES:
            assert (run / name).is_file(), f"{run / name} missing"
        assert json.loads((run / "summary.json").read_text())["status"] == "finished"
        # the run's own console output (here geofm's warning that tiny_vit has no weights) is in its log
        assert "RANDOM INITIALISATION" in (run / "trial.log").read_text()
    summary = json.loads((study / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert summary["trials"]["complete"] == trials and summary["trials"]["fail"] == 0
    best = max(rows, key=lambda r: float(r["val/miou"]))
    assert summary["best"]["number"] == int(best["number"])
    assert summary["best"]["value"] == pytest.approx(float(best["val/miou"]))
    assert set(summary["best"]["params"]) == {"task.lr", "decoder.name"}
    best_yaml = yaml.safe_load((study / "best.yaml").read_text())
    assert best_yaml["decoder"]["name"] == summary["best"]["params"]["decoder.name"]
    assert best_yaml["task"]["lr"] == pytest.approx(summary["best"]["params"]["task.lr"])
    assert summary["wall_time_s"] < 120, "a 4-trial study of 1-epoch tiny_vit runs must take under two minutes"
    return summary


@pytest.fixture(scope="module")
def optuna_study(cli, demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-trial study run with the Optuna backend through `geofm tune --config tune.yaml`."""
    folder = tmp_path_factory.mktemp("optuna")
    config = tune_file(folder / "tune.yaml", demo, SEARCH, {"trials": 4, "out": str(folder / "studies")})
    result = cli("tune", "--config", str(config), "--name", "study")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[tune] 4/4 trials: 4 complete" in result.stderr, result.stderr
    assert "RANDOM INITIALISATION" not in result.stderr + result.stdout, "a trial's output belongs in its log"
    return folder / "studies" / "study"


# --- fast: parsing and validation ----------------------------------------------------------------------


def test_geofm_tune_stays_the_function_when_its_modules_are_imported():
    import importlib

    import geofm
    from geofm.tune.space import parse_space  # noqa: F401

    importlib.import_module("geofm.tune.settings")
    assert callable(geofm.tune) and geofm.tune.__module__ == "geofm.api"
    assert "tune" in geofm.__all__ and "tune_repeat" in geofm.__all__


def test_tune_help_imports_no_heavy_library():
    probe = (
        "import sys\nsys.argv = ['geofm', 'tune', '--help']\nfrom geofm_cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('HEAVY=' + ','.join(m for m in ('torch', 'lightning', 'optuna', 'ray') if m in sys.modules), "
        "file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert "HEAVY=\n" in result.stderr + "\n" and "--trials" in result.stdout and "repeat" in result.stdout


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ({"task.lr": {"loguniform": [0, 1e-3]}}, "task.lr: loguniform needs 0 < low"),
        ({"task.lr": {"logunifrm": [1e-5, 1e-3]}}, "Did you mean 'loguniform'?"),
        ({"task.lr": {"uniform": [1e-3, 1e-5]}}, "needs low < high"),
        ({"dataset.batch_size": {"choice": []}}, "choice needs a non-empty list"),
        ({"trainer.max_epochs": {"int": [1.5, 3]}}, "int needs whole numbers"),
        ({"out": {"choice": ["a", "b"]}}, "'out' cannot vary"),
        ({"task": {"choice": ["x"]}, "task.lr": {"choice": [1]}}, "overlap"),
        ({}, "the search space is empty"),
    ],
)
def test_search_space_errors_name_the_key(search, message):
    from geofm.errors import ConfigError
    from geofm.tune.space import parse_space

    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        parse_space(search)


def test_search_space_yaml_numbers_and_grid():
    from geofm.tune.space import parse_space

    space = parse_space({"task.lr": {"choice": ["1e-4", "1e-3"]}, "dataset.batch_size": {"int": [2, 8, 2]}})
    assert space.grid() == {"task.lr": [1e-4, 1e-3], "dataset.batch_size": [2, 4, 6, 8]}
    assert space.grid_size() == 8
    assert parse_space(space.to_data()) == space


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ("task.lrr={uniform: [0.001, 0.01]}", ["task.lrr", "not an option of task segmentation", "Did you mean lr"]),
        ("decoder.name=[upernet, uperneet]", ["decoder.name='uperneet'", "unknown decoder", "upernet"]),
        ("trainr.max_epochs={int: [1, 2]}", ["trainr", "Did you mean 'trainer'"]),
        ("dataset.batch_size=[0, 4]", ["dataset.batch_size=0", "greater than 0"]),
    ],
)
def test_invalid_search_space_exits_1_naming_it_and_writes_nothing(cli, demo, tmp_path, space, expected):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(run_config(demo)))
    out = tmp_path / "studies"
    result = cli("tune", "--config", str(config), "--space", space, "--out", str(out), "--trials", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and all(part in error[0] for part in expected), result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists(), "a study that fails validation must write nothing"


def test_study_where_every_trial_fails_exits_1_naming_the_first_error(cli, demo, tmp_path):
    config = tune_file(tmp_path / "tune.yaml", demo, {"task.loss": {"choice": ["nope", "nada"]}}, {"trials": 2})
    result = cli("tune", "--config", str(config), "--out", str(tmp_path / "studies"), "--name", "bad")
    assert result.returncode == 1
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "every trial failed" in error[0] and "unknown loss" in error[0], result.stderr
    study = tmp_path / "studies" / "bad"
    rows = read_trials(study)
    assert [r["state"] for r in rows] == ["fail", "fail"] and all("unknown loss" in r["error"] for r in rows)
    assert json.loads((study / "summary.json").read_text())["status"] == "failed"


def test_progress_counts_best_and_mlflow_runs(monkeypatch):
    import io
    import types

    logged: list[tuple[str, Any]] = []
    stub = types.ModuleType("mlflow")
    stub.set_tracking_uri = lambda uri: logged.append(("uri", uri))
    stub.set_experiment = lambda name: logged.append(("experiment", name))
    stub.start_run = lambda run_name: __import__("contextlib").nullcontext(logged.append(("run", run_name)))
    stub.log_params = lambda params: logged.append(("params", params))
    stub.log_metric = lambda key, value: logged.append((key, value))
    stub.set_tags = lambda tags: logged.append(("tags", tags))
    monkeypatch.setitem(sys.modules, "mlflow", stub)
    from geofm.tune.progress import MlflowLog, StudyProgress

    stream = io.StringIO()
    mlflow = MlflowLog("file:///tmp/mlruns", "study", "val/rmse")
    progress = StudyProgress(target=3, metric="val/rmse", direction="minimize", stream=stream, mlflow=mlflow)
    progress.started(0, {"task.lr": 1e-3})
    progress.finished(0, "complete", 0.5, {"task.lr": 1e-3}, duration_s=2.0, run_dir="trials/0000")
    progress.started(1, {"task.lr": 1e-2})
    progress.finished(1, "complete", 0.3, {"task.lr": 1e-2}, duration_s=2.0)
    progress.started(2, {"task.lr": 10.0})
    progress.finished(2, "fail", None, {"task.lr": 10.0}, error="ValueError: diverged")
    progress.started(3, {"task.lr": 1e-4})
    assert progress.status() == (
        "2/3 trials: 2 complete, 0 pruned, 1 failed, 1 running | best val/rmse=0.3 (trial 0001)"
    )
    assert "trial 0002 fail      ValueError: diverged" in stream.getvalue()
    assert ("run", "trial-0001") in logged and ("val_rmse", 0.3) in logged
    assert ("tags", {"geofm.trial": "2", "geofm.state": "fail", "geofm.error": "ValueError: diverged"}) in logged


# --- slow: studies -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_optuna_study_writes_every_file_and_best_yaml_reruns(cli, optuna_study, tmp_path):
    summary = check_study(optuna_study, 4)
    assert summary["backend"] == "optuna" and summary["metric"] == "val/miou"
    tune = yaml.safe_load((optuna_study / "tune.yaml").read_text())
    assert tune["search"] == SEARCH and tune["tune"]["trials"] == 4 and tune["tune"]["direction"] == "maximize"
    # best.yaml is a run configuration that `geofm run --config` reproduces
    result = cli("run", "--config", str(optuna_study / "best.yaml"), "--out", str(tmp_path / "rerun"))
    assert result.returncode == 0, result.stderr[-3000:]
    (rerun,) = (tmp_path / "rerun").iterdir()
    value = json.loads((rerun / "summary.json").read_text())["val"]["miou"]
    assert value == pytest.approx(summary["best"]["value"], abs=1e-4)


@pytest.mark.slow
def test_repeat_trains_the_best_configuration_with_seeds(cli, optuna_study):
    result = cli("tune", "repeat", str(optuna_study), "--seeds", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test over 2 seeds" in result.stdout and "±" in result.stdout
    assert sorted(p.name for p in (optuna_study / "repeats").iterdir()) == ["seed_0", "seed_1"]
    repeats = json.loads((optuna_study / "summary.json").read_text())["repeats"]
    assert repeats["seeds"] == [0, 1]
    miou = repeats["test"]["miou"]
    assert len(miou["values"]) == 2 and miou["mean"] == pytest.approx(sum(miou["values"]) / 2)
    assert miou["std"] == pytest.approx(abs(miou["values"][0] - miou["values"][1]) / 2**0.5)
    for seed in (0, 1):
        config = yaml.safe_load((optuna_study / "repeats" / f"seed_{seed}" / "config.yaml").read_text())
        assert config["seed"] == seed


@pytest.mark.slow
def test_ray_study_runs_two_trials_at_once(cli, demo, tmp_path):
    pytest.importorskip("ray")
    config = tune_file(tmp_path / "tune.yaml", demo, SEARCH, {"trials": 4, "out": str(tmp_path / "studies")})
    result = cli("tune", "--config", str(config), "--name", "ray", "--backend", "ray", "--cpus-per-trial", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    study = tmp_path / "studies" / "ray"
    summary = check_study(study, 4)
    assert summary["backend"] == "ray"
    # two trials trained at the same time: their runs' [start, end] intervals overlap
    spans = []
    for row in read_trials(study):
        run = study / row["run_dir"]
        spans.append(((run / "plugins.json").stat().st_mtime, (run / "summary.json").stat().st_mtime))
    assert any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1 :]), spans


@pytest.mark.slow
def test_killed_study_resumes_with_no_trial_lost_or_doubled(cli, demo, tmp_path):
    out = tmp_path / "studies"
    config = tune_file(
        tmp_path / "tune.yaml", demo, SEARCH, {"trials": 3, "out": str(out), "pruner": "none"}, max_epochs=2
    )
    study = out / "kill"
    command = [sys.executable, "-m", "geofm_cli.app", "tune", "--config", str(config), "--name", "kill"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (study / "trials" / "0001" / "config.yaml").exists():  # the second trial is training
            assert process.poll() is None, "the study ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    first = (study / "trials" / "0000" / "summary.json").read_text()

    refused = cli("tune", "--resume", str(study), "--sampler", "grid")
    assert refused.returncode == 1 and "--sampler cannot change" in refused.stderr

    result = cli("tune", "--resume", str(study))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "trial 0001 was interrupted: marked failed, retried as trial 0002" in result.stderr
    rows = read_trials(study)
    assert [int(r["number"]) for r in rows] == [0, 1, 2, 3], "trial numbers are unique and none is missing"
    assert [r["state"] for r in rows] == ["complete", "fail", "complete", "complete"]
    assert "interrupted" in rows[1]["error"]
    assert (rows[2]["task.lr"], rows[2]["decoder.name"]) == (rows[1]["task.lr"], rows[1]["decoder.name"])
    assert sorted(p.name for p in (study / "trials").iterdir()) == ["0000", "0001", "0002", "0003"]
    assert (study / "trials" / "0000" / "summary.json").read_text() == first, "a finished trial is kept as it was"
    interrupted = json.loads((study / "trials" / "0001" / "summary.json").read_text())
    assert interrupted["status"] == "failed" and "interrupted" in interrupted["error"]
    summary = json.loads((study / "summary.json").read_text())
    assert summary["trials"]["complete"] == 3 and summary["trials"]["fail"] == 1


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "pruner"), [("optuna", "median"), ("ray", "asha")])
def test_a_clearly_bad_trial_is_pruned_before_its_last_epoch(demo, tmp_path, backend, pruner):
    if backend == "ray":
        pytest.importorskip("ray")
    import geofm

    config = {**run_config(demo, max_epochs=3), "decoder": {"name": "fcn"}}
    summary = geofm.tune(
        config,
        {"task.lr": {"choice": [1e-3, 5e-4, 10.0]}},
        trials=3,
        metric="val/loss",
        backend=backend,
        pruner=pruner,
        jobs=1,
        enqueue=[{"task.lr": 1e-3}, {"task.lr": 5e-4}, {"task.lr": 10.0}],
        out=str(tmp_path / "studies"),
        name="prune",
    )
    assert summary["direction"] == "minimize"
    study = tmp_path / "studies" / "prune"
    rows = {float(r["task.lr"]): r for r in read_trials(study)}
    bad = rows[10.0]
    assert bad["state"] == "pruned" and int(bad["epochs"]) < 3, bad
    assert rows[1e-3]["state"] == "complete" and int(rows[1e-3]["epochs"]) == 3
    run = json.loads((study / bad["run_dir"] / "summary.json").read_text())
    assert run["status"] == "pruned" and run["pruned_after_epochs"] < 3
    assert summary["best"]["params"] == {"task.lr": 1e-3}
