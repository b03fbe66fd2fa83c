"""Fetching a named dataset from the Hugging Face hub (``geofm data download NAME``), archives unpacked.

A :class:`~geofm.specs.DatasetSpec` with ``hub_repo`` names a Hugging Face *dataset* repository;
``hub_patterns`` restricts which files are fetched. Files go to ``--data-root`` or, without one, to
``$GEOFM_CACHE/datasets/<name>`` (default ``~/.cache/geofm/datasets/<name>``), where the dataset's
factory looks when no ``--data-root`` is given. ``.tar``, ``.tar.gz``/``.tgz`` and ``.zip`` archives are
unpacked beside themselves (members that would land outside the folder are refused), once per version
of the archive: a marker file records each unpacked one. ``HF_HUB_OFFLINE`` is honoured. Light to
import: huggingface_hub is imported by the function that downloads.
"""

from __future__ import annotations

import os
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geofm.errors import DataError
from geofm.hub import offline_reason
from geofm.specs import DatasetSpec

__all__ = ["ARCHIVE_SUFFIXES", "dataset_dir", "download_dataset", "extract_archives", "source_lines"]

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
"""File endings unpacked after a download."""

_MARKER_PREFIX = ".geofm-extracted-"
_FILTER_ERRORS: tuple[type[Exception], ...] = (tarfile.FilterError,) if hasattr(tarfile, "FilterError") else ()


def dataset_dir(spec: DatasetSpec, data_root: str | os.PathLike[str] | None = None) -> Path:
    """``data_root`` when given, else ``$GEOFM_CACHE/datasets/<name>`` (default ``~/.cache/geofm/...``)."""
    if data_root is not None:
        return Path(data_root).expanduser()
    cache = os.environ.get("GEOFM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "geofm")
    return Path(cache).expanduser() / "datasets" / spec.name


def source_lines(spec: DatasetSpec, root: Path | None = None) -> list[str]:
    """Lines saying how to get ``spec``'s data: its layout under ``--data-root``, where to download it.

    With ``root`` (where the data was looked for), a dataset on the Hugging Face hub also gets the
    ``geofm data download`` command that puts it there.
    """
    lines = []
    if spec.layout:
        lines.append(f"expected layout under --data-root: {spec.layout}")
    if spec.hub_repo and root is not None:
        lines.append(f"fetch it with: geofm data download {spec.name} --data-root {root}")
    if spec.download:
        lines.append(f"download: {spec.download}")
    if spec.homepage:
        lines.append(f"homepage: {spec.homepage}")
    return lines


def _where_else(spec: DatasetSpec) -> str:
    return "\n  ".join(source_lines(spec)) or f"see: geofm datasets show {spec.name}"


def _first_line(error: BaseException) -> str:
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


def _is_archive(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith(ARCHIVE_SUFFIXES) and not name.startswith(_MARKER_PREFIX)


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return f"{path.name} {stat.st_size} {stat.st_mtime_ns}\n"


def _inside(root: Path, target: Path) -> bool:
    try:
        target.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _extract_tar(archive: Path, destination: Path) -> None:
    with tarfile.open(archive) as handle:
        if hasattr(tarfile, "data_filter"):
            handle.extractall(destination, filter="data")
            return
        members = handle.getmembers()  # pragma: no cover - Python without extraction filters
        for member in members:  # pragma: no cover
            if member.issym() or member.islnk() or not _inside(destination, destination / member.name):
                raise DataError(f"archive {archive} holds an unsafe member {member.name!r}; refusing to unpack it")
        handle.extractall(destination, members=members)  # pragma: no cover


def _extract_zip(archive: Path, destination: Path) -> None:
    with zipfile.ZipFile(archive) as handle:
        for name in handle.namelist():
            if not _inside(destination, destination / name):
                raise DataError(f"archive {archive} holds an unsafe member {name!r}; refusing to unpack it")
        handle.extractall(destination)


def extract_archives(root: Path, *, keep: bool = True) -> list[Path]:
    """Unpack every archive under ``root`` beside itself, once per version; return the archives unpacked now.

    A marker file beside each archive records its size and modification time, so an archive is unpacked
    again only when it changed (the hub client leaves unchanged files alone). A member that would land
    outside its folder (absolute paths, ``..``, links out) raises :class:`DataError`. ``keep=False``
    deletes each archive once it is unpacked.
    """
    unpacked = []
    for archive in sorted(p for p in root.rglob("*") if _is_archive(p) and ".cache" not in p.relative_to(root).parts):
        marker = archive.parent / f"{_MARKER_PREFIX}{archive.name}.done"
        fingerprint = _fingerprint(archive)
        if marker.is_file() and marker.read_text(encoding="utf-8") == fingerprint:
            continue
        try:
            if archive.name.lower().endswith(".zip"):
                _extract_zip(archive, archive.parent)
            else:
                _extract_tar(archive, archive.parent)
        except _FILTER_ERRORS as error:
            raise DataError(f"archive {archive} holds an unsafe member ({error}); refusing to unpack it") from error
        except (tarfile.TarError, zipfile.BadZipFile, OSError) as error:
            raise DataError(
                f"cannot unpack {archive} ({_first_line(error)}): the download is incomplete or corrupt. "
                "Delete it and run the download again."
            ) from error
        marker.write_text(fingerprint, encoding="utf-8")
        if not keep:
            archive.unlink()
        unpacked.append(archive)
    return unpacked


def download_dataset(
    spec: DatasetSpec,
    data_root: str | os.PathLike[str] | None = None,
    *,
    extract: bool = True,
    snapshot_download: Callable[..., Any] | None = None,
) -> Path:
    """Fetch ``spec``'s Hugging Face dataset repository into :func:`dataset_dir`; return that folder.

    Files already there are not fetched again (the hub client compares them). A dataset without
    ``hub_repo``, ``HF_HUB_OFFLINE``, or a failed download raises :class:`DataError` saying where else
    to get the data. ``snapshot_download`` replaces :func:`huggingface_hub.snapshot_download` (tests).
    """
    root = dataset_dir(spec, data_root)
    if not spec.hub_repo and spec.download.lower().startswith("generated"):
        raise DataError(
            f"dataset {spec.name} is generated, not downloaded: `geofm run --dataset {spec.name}` writes it on first "
            f"use.\n  {_where_else(spec)}"
        )
    if not spec.hub_repo:
        raise DataError(
            f"dataset {spec.name} has no source geofm can download from (no Hugging Face repository); get it "
            f"yourself and pass its folder with --data-root.\n  {_where_else(spec)}"
        )
    reason = offline_reason()
    if reason is not None:
        raise DataError(
            f"cannot download dataset {spec.name} from the Hugging Face dataset repository {spec.hub_repo}: "
            f"{reason}. Run the download where the hub is reachable, or copy the data into {root} "
            f"yourself.\n  {_where_else(spec)}"
        )
    if snapshot_download is None:
        from huggingface_hub import snapshot_download

    root.mkdir(parents=True, exist_ok=True)
    try:
        snapshot_download(
            repo_id=spec.hub_repo,
            repo_type="dataset",
            allow_patterns=list(spec.hub_patterns) or None,
            local_dir=str(root),
        )
    except Exception as error:
        raise DataError(
            f"could not download dataset {spec.name} from the Hugging Face dataset repository {spec.hub_repo} "
            f"({type(error).__name__}: {_first_line(error)}). Check the network (or HF_TOKEN for a gated "
            f"repository) and run the command again; files already fetched are kept in {root}.\n  {_where_else(spec)}"
        ) from error
    if extract:
        extract_archives(root)
    return root
