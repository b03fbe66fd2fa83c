"""The run directory: its file names, creating it, writing it and finding its checkpoints.

A run directory is what users keep, copy, resume, share and predict from. This module is the only
place that knows its layout::

    <run>/config.yaml          the resolved run configuration (rebuilds the model; re-runnable)
    <run>/plugins.json         provenance: plugin distributions, package versions, git commit
    <run>/checkpoints/         best.ckpt and last.ckpt (Lightning checkpoints, written atomically)
    <run>/metrics.csv          one row per logged epoch and split, kept across resumes
    <run>/summary.json         the final metrics, or ``status: failed`` and the error
    <run>/evaluation.json      what ``geofm evaluate`` scored last
    <run>/plots/               learning curves, validation samples, confusion matrix or scatter (PNG)

Every lookup is relative to the directory, so a moved or copied run works on its own files. Files are
written to a temporary name and renamed into place, so a kill never leaves half a file.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from geofm.errors import ConfigError, GeofmError, UnsafeCheckpointError, WeightsError

if TYPE_CHECKING:
    from geofm.config import RunConfig

__all__ = ["Entry", "OutputDir", "RunDir", "finite_or_null", "new_directory", "run_dir_stem", "write_text_atomic"]

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
PLUGINS_FILE = "plugins.json"
METRICS_FILE = "metrics.csv"
SUMMARY_FILE = "summary.json"
EVALUATION_FILE = "evaluation.json"
CHECKPOINT_DIR = "checkpoints"
PLOTS_DIR = "plots"
BEST_CHECKPOINT = "best.ckpt"
LAST_CHECKPOINT = "last.ckpt"
_PACKAGES = ("torch", "lightning", "torchmetrics", "timm", "segmentation_models_pytorch", "rasterio")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def finite_or_null(data: Any) -> Any:
    """Replace NaN and infinities (e.g. IoU of a class absent from a split) by ``None``: strict JSON."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, Mapping):
        return {key: finite_or_null(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [finite_or_null(value) for value in data]
    return data


def run_dir_stem(config: RunConfig) -> str:
    """The folder name of a new run: ``config.name``, or the time and the component names."""
    parts = (config.backbone.name, config.decoder.name or "default", config.dataset.name or "demo")
    stem = config.name or f"{dt.datetime.now():%Y%m%d-%H%M%S}-" + "-".join(parts)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)


def _git_commit() -> str | None:
    """The commit of the git checkout geofm is installed from (an editable install), if any."""
    source = Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (result.stdout.strip() or None) if result.returncode == 0 else None


def new_directory(out: str | os.PathLike[str], stem: str, *, kind: str, taken: str | None = None) -> Path:
    """Create a new, empty folder ``<out>/<stem>`` (``<stem>-2``, ``-3`` ... when taken) and return it.

    Creation is one ``mkdir`` per candidate, so two processes racing for a name never get the same one.
    With ``taken`` (an error message with ``{path}``), an existing ``<out>/<stem>`` is that error instead.
    An ``out`` that is a file or cannot be written is a :class:`ConfigError` naming ``kind``.
    """
    base = Path(out).expanduser()
    if base.exists() and not base.is_dir():
        raise ConfigError(f"--out {base} is a file, not a folder: give a folder for {kind}")
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"cannot create the folder {base} for {kind} ({error.strerror or error}); give a writable --out folder"
        ) from error
    for counter in range(1, 10_000):
        candidate = base / (stem if counter == 1 else f"{stem}-{counter}")
        try:
            candidate.mkdir()
        except FileExistsError:
            if taken is not None:
                raise ConfigError(taken.format(path=candidate)) from None
            continue
        except OSError as error:
            raise ConfigError(
                f"cannot create {candidate} ({error.strerror or error}); give a writable --out folder"
            ) from error
        return candidate
    raise ConfigError(f"{base} already holds 10000 {kind} named {stem}*: choose another --name")


class Entry:
    """A file or folder at a fixed name inside an :class:`OutputDir`, read as its path.

    ``config_path = Entry(CONFIG_FILE)`` on the class makes ``run.config_path`` ``run.path / "config.yaml"``.
    """

    def __init__(self, name: str, doc: str | None = None) -> None:
        self.name = name
        self.__doc__ = doc or f"``{name}``."

    @overload
    def __get__(self, instance: None, owner: type) -> Entry: ...
    @overload
    def __get__(self, instance: OutputDir, owner: type) -> Path: ...
    def __get__(self, instance: OutputDir | None, owner: type) -> Entry | Path:
        """The path of this entry inside ``instance`` (the entry itself on the class)."""
        return self if instance is None else instance.path / self.name


@dataclass(frozen=True)
class OutputDir:
    """A folder geofm writes and users keep (a run or a study directory): its JSON files, its plots, relative paths.

    Files are written through a temporary file and renamed into place (:func:`write_text_atomic`).
    """

    path: Path

    plots_dir = Entry(PLOTS_DIR, "``plots/``.")

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to this directory when it lies inside it (what the directory's files record)."""
        try:
            return Path(path).resolve().relative_to(self.path.resolve()).as_posix()
        except ValueError:
            return str(path)

    def write_json(self, name: str, data: Any) -> Path:
        """Write ``data`` as strict JSON (NaN becomes null) to ``<dir>/<name>``, atomically."""
        text = json.dumps(finite_or_null(data), indent=2, default=str, allow_nan=False)
        target = self.path / name
        write_text_atomic(target, text + "\n")
        return target

    def read_json(self, name: str) -> dict[str, Any] | None:
        """``<dir>/<name>`` as a dict, or ``None`` when it is absent or unreadable."""
        try:
            data = json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class RunDir(OutputDir):
    """A run directory (see the module docstring for its layout)."""

    # --- finding and creating -----------------------------------------------------------------------

    @classmethod
    def create(cls, out: str | os.PathLike[str], stem: str) -> RunDir:
        """Create a new, empty run directory ``<out>/<stem>`` (``<stem>-2``, ``-3`` ... when taken).

        See :func:`new_directory`: two runs racing for a name never share a directory.
        """
        return cls(new_directory(out, stem, kind="run directories"))

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RunDir:
        """An existing run directory; a path that is not one is a :class:`ConfigError` saying what to give."""
        run_path = Path(path).expanduser()
        if not run_path.exists():
            raise ConfigError(f"{run_path} does not exist: give a run directory that `geofm run` wrote")
        if not (run_path / CONFIG_FILE).is_file():
            raise ConfigError(f"{run_path} holds no {CONFIG_FILE}: give a run directory that `geofm run` wrote")
        return cls(run_path)

    @classmethod
    def find(cls, run_dir_or_checkpoint: str | os.PathLike[str]) -> tuple[RunDir, Path]:
        """``(run directory, checkpoint)`` of a run directory (its best checkpoint) or of a ``.ckpt`` in one."""
        path = Path(run_dir_or_checkpoint).expanduser()
        if path.is_dir():
            run = cls.open(path)
            return run, run.best_checkpoint()
        if path.is_file():
            run_path = path.resolve().parent.parent
            if not (run_path / CONFIG_FILE).is_file():
                raise ConfigError(
                    f"checkpoint {path} is not inside a run directory (expected <run>/{CHECKPOINT_DIR}/{path.name} "
                    f"with <run>/{CONFIG_FILE}); give the run directory or a checkpoint inside one"
                )
            return cls(run_path), path
        raise ConfigError(f"{path} does not exist: give a run directory or a .ckpt file inside one")

    # --- files --------------------------------------------------------------------------------------

    config_path = Entry(CONFIG_FILE)
    metrics_path = Entry(METRICS_FILE)
    summary_path = Entry(SUMMARY_FILE)
    checkpoint_dir = Entry(CHECKPOINT_DIR, "``checkpoints/``.")

    def write_config(self, config: RunConfig | Mapping[str, Any]) -> None:
        """Write ``config.yaml`` atomically."""
        import yaml

        data = config.to_dict() if hasattr(config, "to_dict") else dict(config)
        write_text_atomic(self.config_path, yaml.safe_dump(data, sort_keys=False))

    def read_config(self) -> RunConfig:
        """``config.yaml``, validated; an invalid one is a :class:`ConfigError` naming the file."""
        from geofm.config import load_config, validate_config

        try:
            return validate_config(load_config(self.config_path))
        except ConfigError as error:
            raise ConfigError(f"{self.config_path}: {error}") from error

    def write_provenance(self) -> None:
        """``plugins.json``: every plugin distribution, the main package versions and the git commit."""
        import importlib
        import platform

        import geofm
        from geofm.plugins import plugin_records

        versions: dict[str, str] = {"python": platform.python_version(), "geofm": geofm.__version__}
        for package in _PACKAGES:
            try:
                module = importlib.import_module(package)
            except ImportError:
                continue
            versions[package] = str(getattr(module, "__version__", "?"))
        records = [record.to_dict() for record in plugin_records()]
        self.write_json(PLUGINS_FILE, {"plugins": records, "packages": versions, "git_commit": _git_commit()})

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        """Write ``summary.json``."""
        self.write_json(SUMMARY_FILE, summary)

    def mark_failed(self, error: BaseException) -> None:
        """Record in ``summary.json`` that the run stopped on ``error`` (``status: failed`` or ``interrupted``).

        The run stays resumable from its checkpoints (``resumable`` says whether it has any).
        """
        # Lightning turns Ctrl+C during training into a graceful shutdown and SystemExit
        interrupted = isinstance(error, KeyboardInterrupt | SystemExit)
        status = "interrupted" if interrupted else "failed"
        message = "interrupted" if interrupted else str(error).strip() or type(error).__name__
        previous = self.read_json(SUMMARY_FILE) or {}
        summary = {
            **{k: v for k, v in previous.items() if k not in ("status", "error")},
            "run_dir": str(self.path),
            "status": status,
            "error": f"{type(error).__name__}: {message}",
            "resumable": self.has_checkpoint(),
        }
        try:
            self.write_summary(summary)
        except OSError as write_error:  # the original error matters more
            log.warning("could not record the failure in %s: %s", self.summary_path, write_error)

    # --- checkpoints --------------------------------------------------------------------------------

    def checkpoint(self, name: str) -> Path:
        """``checkpoints/<name>``."""
        return self.checkpoint_dir / name

    def has_checkpoint(self) -> bool:
        """Whether ``checkpoints/`` holds any ``.ckpt``."""
        return any(self.checkpoint_dir.glob("*.ckpt"))

    def best_checkpoint(self) -> Path:
        """``checkpoints/best.ckpt`` (``last.ckpt`` when there is no best): always inside this directory."""
        for name in (BEST_CHECKPOINT, LAST_CHECKPOINT):
            candidate = self.checkpoint(name)
            if candidate.is_file():
                return candidate
        raise GeofmError(
            f"{self.path} has no checkpoint ({CHECKPOINT_DIR}/{BEST_CHECKPOINT} or {LAST_CHECKPOINT}); "
            "did the run finish an epoch? Resume it with: geofm run --resume " + str(self.path)
        )

    def resume_checkpoint(self) -> tuple[Path, int] | None:
        """``(checkpoint, its epoch)`` training continues from: ``last.ckpt``, or the newest readable one.

        Each candidate is read once (safely); the epoch is the checkpoint's own ``epoch`` entry.

        A damaged ``last.ckpt`` (e.g. a truncated copy) is skipped with a warning naming the one used
        instead; ``None`` when there is no checkpoint yet (training starts from the beginning), and a
        :class:`~geofm.errors.WeightsError` when there are checkpoints but none can be read. A
        checkpoint that would need unpickling is never skipped: it raises
        :class:`~geofm.errors.UnsafeCheckpointError`, since the run directory has been tampered with.
        """
        from geofm.checkpoints import load_checkpoint

        candidates = sorted(self.checkpoint_dir.glob("*.ckpt"), key=lambda p: (p.name != LAST_CHECKPOINT, p.name))
        readable: list[tuple[int, Path, int]] = []
        skipped: list[str] = []
        for candidate in candidates:
            try:
                checkpoint = load_checkpoint(candidate)
            except UnsafeCheckpointError:
                raise
            except WeightsError as error:
                skipped.append(f"{candidate.name} ({error})")
                continue
            epoch = int(checkpoint.get("epoch", 0))
            if candidate.name == LAST_CHECKPOINT:
                return candidate, epoch
            readable.append((int(checkpoint.get("global_step", 0)), candidate, epoch))
        if not readable:
            if skipped:
                raise WeightsError(
                    f"nothing to resume from: no checkpoint in {self.checkpoint_dir} can be read "
                    f"({'; '.join(skipped)}). Start a new run"
                )
            return None
        _, chosen, epoch = max(readable, key=lambda item: item[0])
        log.warning("%s cannot be read; resuming from %s instead (%s)", LAST_CHECKPOINT, chosen.name, skipped[0])
        return chosen, epoch
