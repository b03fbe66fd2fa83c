"""The run contract through the ``geofm`` command: crashes, many processes, unsafe files and bad input.

Every test here runs ``geofm`` in a fresh interpreter, as a user would, on runs that Lightning trained.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from geofm.testing import write_geotiff  # noqa: E402

pytestmark = pytest.mark.slow

FAST = [
    "--backbone", "tiny_vit", "--decoder", "upernet", "--batch-size", "4",
    "--set", "dataset.num_workers=0", "--set", "trainer.progress_bar=false", "--set", "trainer.limit_train_batches=2",
]  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Flags for a small generated demo dataset."""
    from geofm_datasets.demo import generate_demo

    root = generate_demo(tmp_path_factory.mktemp("data") / "demo", num_scenes=12, size=64)
    return ["--data-root", str(root), "--set", "dataset.num_scenes=12", "--set", "dataset.size=64"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory, demo: list[str], cli) -> Path:
    """A run that Lightning trained (two epochs)."""
    out = tmp_path_factory.mktemp("runs")
    result = cli("run", *FAST, *demo, "--max-epochs", "2", "--out", str(out), "--name", "trained")
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "trained"


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error line of a failed command; fails the test on a traceback or an exit code other than 1."""
    assert result.returncode == 1, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    return errors[0]


# --- never unpickle -------------------------------------------------------------------------------


class _Payload:
    """Unpickling this creates the marker file: what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def _hostile_checkpoint(path: Path, marker: Path) -> None:
    state = {"model.head.weight": torch.zeros(1)}
    with path.open("wb") as file:
        torch.save({"state_dict": state, "hyper_parameters": {"x": _Payload(marker)}}, file, pickle_protocol=2)


def test_hostile_checkpoints_are_refused_everywhere(cli, trained_run: Path, demo: list[str], tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    # the payload is armed: the file's pickle calls Path.touch (checked without unpickling it)
    armed = tmp_path / "armed.ckpt"
    _hostile_checkpoint(armed, marker)
    assert _pickle_calls(armed, "touch")

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    for name in ("best.ckpt", "last.ckpt"):
        _hostile_checkpoint(run / "checkpoints" / name, marker)
    hostile = run / "checkpoints" / "best.ckpt"
    scene = _scene(tmp_path)
    commands = {
        "predict": ["predict", str(run), str(scene), "--out", str(tmp_path / "maps")],
        "evaluate": ["evaluate", str(run)],
        "resume": ["run", "--resume", str(run)],
        "weights": ["run", *FAST, *demo, "--weights", str(hostile), "--out", str(tmp_path / "w"), "--fast-dev-run"],
        "import": ["weights", "import", "tiny_vit", str(hostile)],
    }
    for what, args in commands.items():
        result = cli(*args, env={"GEOFM_CACHE": str(tmp_path / "cache")})
        assert result.returncode == 1, (what, result.stderr[-2000:])
        assert not marker.exists(), f"{what} unpickled the checkpoint"
        assert "Traceback" not in result.stderr, (what, result.stderr[-2000:])


def _pickle_calls(path: Path, name: str) -> bool:
    """Whether the pickle inside a torch file names the callable ``name`` (read as opcodes, never run)."""
    import pickletools
    import zipfile

    with zipfile.ZipFile(path) as archive:
        data = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    return any(arg == name for _, arg, _ in pickletools.genops(data))


def _scene(folder: Path) -> Path:
    path = folder / "scene.tif"
    write_geotiff(path, np.full((6, 64, 64), 1000, dtype=np.int16))
    return path


# --- resume after a crash -------------------------------------------------------------------------


def test_a_killed_run_resumes_and_keeps_every_epoch(cli, demo: list[str], tmp_path: Path) -> None:
    out = tmp_path / "runs"
    args = [sys.executable, "-m", "geofm_cli.app", "run", *FAST, *demo, "--max-epochs", "4", "--out", str(out)]
    args += ["--name", "crash", "--set", "trainer.early_stopping_patience=null", "--set", "task.scheduler=none"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = out / "crash" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    try:
        while not last.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert last.exists(), "the run wrote no checkpoint"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    run = out / "crash"
    assert not (run / "summary.json").exists() or json.loads((run / "summary.json").read_text())["status"] != "finished"

    resumed = cli("run", "--resume", str(run), "--lr", "0.1")
    assert "--lr" in _one_line_error(resumed)
    result = cli("run", "--resume", str(run))
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs"] == 4

    from geofm.metrics_log import read_metrics

    rows = read_metrics(run / "metrics.csv")
    val_epochs = [int(r["epoch"]) for r in rows if r.get("val/miou")]
    train_epochs = [int(r["epoch"]) for r in rows if r.get("train/loss")]
    assert val_epochs == [0, 1, 2, 3], rows
    assert sorted(set(train_epochs)) == train_epochs and len(train_epochs) >= 3, rows

    # raising the epoch budget of a finished run continues it, keeping the history
    more = cli("run", "--resume", str(run), "--max-epochs", "5")
    assert more.returncode == 0, more.stderr[-3000:]
    rows = read_metrics(run / "metrics.csv")
    assert [int(r["epoch"]) for r in rows if r.get("val/miou")] == [0, 1, 2, 3, 4]
    assert "max_epochs: 5" in (run / "config.yaml").read_text()


# --- many processes -------------------------------------------------------------------------------


def test_ddp_on_two_cpu_processes_is_one_run(cli, demo: list[str], tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = cli("run", *FAST, *demo, "--max-epochs", "1", "--devices", "2", "--strategy", "ddp", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = out.iterdir()
    assert result.stdout.count("run directory:") == 1
    assert "sync_dist" not in result.stderr
    assert {p.name for p in (run / "checkpoints").iterdir()} == {"best.ckpt", "last.ckpt"}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["status"] == "finished"

    evaluated = cli("evaluate", str(run), "--json")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    single = json.loads(evaluated.stdout)
    for split in ("val", "test"):
        # the loss is a mean of per-batch means over valid pixels: it depends on how samples are batched
        loss, single_loss = summary[split].pop("loss"), single[split].pop("loss")
        assert single[split] == pytest.approx(summary[split], rel=1e-5, abs=1e-6)
        assert single_loss == pytest.approx(loss, rel=1e-2)


# --- bad input: one line, exit 1 ------------------------------------------------------------------


def _corrupt_dataset(root: Path) -> Path:
    """A two-class segmentation dataset whose second validation mask holds class values up to 7.

    Set-up reads only the first tile of a split, so the bad mask is found while a loader worker reads it.
    """
    rng = np.random.default_rng(0)
    for folder in ("images", "labels"):
        (root / folder).mkdir(parents=True)
    for i in range(6):
        image = rng.integers(0, 1000, (3, 32, 32)).astype(np.int16)
        write_geotiff(root / "images" / f"c{i}.tif", image, band_names=["B02", "B03", "B04"])
        mask = rng.integers(0, 8 if i == 5 else 2, (32, 32)).astype(np.uint8)
        write_geotiff(root / "labels" / f"c{i}.tif", mask)
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("c0\nc1\nc2\nc3\n")
    (root / "splits" / "val.txt").write_text("c4\nc5\n")
    return root


def _unlabelled_dataset(root: Path) -> Path:
    """A segmentation dataset whose every mask pixel is the ignore index."""
    rng = np.random.default_rng(0)
    for folder in ("images", "labels"):
        (root / folder).mkdir(parents=True)
    for i in range(5):
        image = rng.integers(0, 1000, (3, 32, 32)).astype(np.int16)
        write_geotiff(root / "images" / f"u{i}.tif", image, band_names=["B02", "B03", "B04"])
        write_geotiff(root / "labels" / f"u{i}.tif", np.full((32, 32), 255, dtype=np.uint8))
    return root


BAD_INPUT = {
    "out_is_a_file": (["run", *FAST, "--fast-dev-run", "--out", "{file}"], "is a file"),
    "out_below_a_file": (["run", *FAST, "--fast-dev-run", "--out", "{file}/runs"], "--out"),
    "predict_out_is_a_file": (["predict", "{run}", "{scene}", "--out", "{file}"], "--out"),
    "evaluate_truncated": (["evaluate", "{truncated_run}"], "truncated or damaged"),
    "resume_truncated": (["run", "--resume", "{truncated_run}"], "nothing to resume from"),
    "evaluate_foreign": (["evaluate", "{run}", "--checkpoint", "{foreign}"], "not a Lightning checkpoint"),
    "resume_foreign": (["run", "--resume", "{foreign_run}"], "not a Lightning checkpoint"),
    "no_valid_pixel": (
        ["run", *FAST, "--dataset", "geotiff_segmentation", "--data-root", "{unlabelled}", "--max-epochs", "1",
         "--set", "dataset.classes=[land,water]", "--set", "dataset.mean=[0,0,0]", "--set", "dataset.std=[1,1,1]",
         "--out", "{tmp}/w"],
        "no valid pixel",
    ),
    "resume_with_flags": (["run", "--resume", "{run}", "--backbone", "timm_resnet18"], "--backbone"),
    "blocked_plugin": (["run", "--backbone", "prithvi_eo_v2_300", "--fast-dev-run"], "GEOFM_BLOCK_PLUGINS"),
    "worker_data_error": (
        ["run", *FAST, "--dataset", "geotiff_segmentation", "--data-root", "{corrupt}", "--max-epochs", "1",
         "--set", "dataset.num_workers=1", "--set", "dataset.classes=[land,water]", "--out", "{tmp}/w"],
        "c5.tif",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_line_and_exit_1(case: str, cli, trained_run: Path, demo: list[str], tmp_path: Path) -> None:
    args, expected = BAD_INPUT[case]
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    truncated = tmp_path / "truncated_run"
    shutil.copytree(trained_run, truncated)
    for name in ("best.ckpt", "last.ckpt"):
        path = truncated / "checkpoints" / name
        path.write_bytes(path.read_bytes()[:1000])
    foreign = tmp_path / "foreign.pt"
    torch.save({"weight": torch.zeros(2)}, foreign)
    foreign_run = tmp_path / "foreign_run"
    shutil.copytree(trained_run, foreign_run)
    for name in ("best.ckpt", "last.ckpt"):
        shutil.copyfile(foreign, foreign_run / "checkpoints" / name)
    values = {
        "file": str(a_file),
        "run": str(trained_run),
        "truncated_run": str(truncated),
        "foreign": str(foreign),
        "scene": str(_scene(tmp_path)),
        "corrupt": str(_corrupt_dataset(tmp_path / "corrupt")) if case == "worker_data_error" else "",
        "unlabelled": str(_unlabelled_dataset(tmp_path / "unlabelled")) if case == "no_valid_pixel" else "",
        "foreign_run": str(foreign_run),
        "tmp": str(tmp_path),
    }
    argv = [arg.format(**values) for arg in args]
    if argv[0] == "run" and "--resume" not in argv and "--data-root" not in argv:
        argv += demo
    env = {"GEOFM_BLOCK_PLUGINS": "geofm-prithvi"} if case == "blocked_plugin" else None
    line = _one_line_error(cli(*argv, env=env))
    assert expected in line, line
    if case == "worker_data_error":
        assert "Caught" not in line and "worker process" not in line
    if case in ("worker_data_error", "no_valid_pixel"):  # the run directory says why it stopped
        (run,) = (tmp_path / "w").iterdir()
        summary = json.loads((run / "summary.json").read_text())
        assert summary["status"] == "failed" and expected in summary["error"]
    if case.startswith("out_"):
        assert a_file.read_text() == "not a folder"


def test_two_runs_racing_for_one_name_get_two_directories(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from geofm.rundir import RunDir

    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: RunDir.create(tmp_path, "same").path, range(16)))
    assert len(set(made)) == 16 and all(p.is_dir() for p in made)
