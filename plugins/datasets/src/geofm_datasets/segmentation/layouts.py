"""Samples made of several files: ``{id}`` name patterns, one file per time step, stacked channels.

A pattern is a path (relative to ``--data-root`` or absolute, glob wildcards allowed) holding ``{id}``
where the sample id stands, e.g. ``S2Hand/{id}_S2Hand.tif``. Time series come as one pattern per time
step (``["2022-04/{id}.tif", "2022-07/{id}.tif"]``) or as one pattern with ``{time}`` too
(``images/{id}_{time}.tif``: a sample's files ordered by that text, e.g. a date). Stacked files
(``stack``) add their bands after the image's, e.g. Sentinel-1 chips after Sentinel-2 chips.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Sequence
from pathlib import Path

from geofm.data import find_rasters, raster_info
from geofm.errors import ConfigError, DataError
from geofm_datasets.options import resolve, sources
from geofm_datasets.segmentation.dataset import SegmentationSample

__all__ = [
    "LABEL_SUFFIXES",
    "expand_pattern",
    "file_band_names",
    "find_samples",
    "is_pattern",
    "match_labels",
]

LABEL_SUFFIXES = ("", "_mask", "_label", "_labels", "_lbl", "_gt", "_seg", ".mask", "-mask", "-label", "_annotation")
"""Suffixes tried after an image id to find its label when ``label_suffix`` is not given."""

ID, TIME = "{id}", "{time}"


def is_pattern(value: object) -> bool:
    """Whether ``value`` is a name pattern (a string holding ``{id}``)."""
    return isinstance(value, str) and ID in value


def _regex(pattern: str) -> re.Pattern[str]:
    text = re.escape(pattern)
    for placeholder, group in ((ID, r"(?P<id>[^/]+?)"), (TIME, r"(?P<time>[^/]+?)")):
        text = text.replace(re.escape(placeholder), group, 1)
    text = text.replace(r"\*\*/", r"(?:.*/)?").replace(r"\*", r"[^/]*").replace(r"\?", r"[^/]")
    return re.compile(text)


def expand_pattern(root: Path | None, pattern: str) -> dict[str, list[tuple[str, Path]]]:
    """Files matching ``pattern``: per id, the ``(time text, path)`` pairs ("" without ``{time}``), sorted."""
    full = resolve(root, pattern)
    if full.count(ID) != 1 or full.count(TIME) > 1:
        raise ConfigError(f"pattern {pattern!r} must hold {ID} once (and {TIME} at most once)")
    regex = _regex(full)
    found: dict[str, list[tuple[str, Path]]] = {}
    for match_path in glob.glob(full.replace(ID, "*").replace(TIME, "*"), recursive=True):
        match = regex.fullmatch(match_path)
        if match is None or not Path(match_path).is_file():
            continue
        groups = match.groupdict()
        found.setdefault(groups["id"], []).append((groups.get("time") or "", Path(match_path)))
    if not found:
        raise DataError(
            f"no files match {full}; {ID} stands for the sample id"
            + (f" and {TIME} for the acquisition" if TIME in full else "")
        )
    return {key: sorted(items) for key, items in sorted(found.items())}


def _format(root: Path | None, pattern: str, sample_id: str) -> Path:
    if TIME in pattern:
        raise ConfigError(f"pattern {pattern!r}: {TIME} is only for the frames pattern")
    text = resolve(root, pattern).replace(ID, sample_id)
    if any(ch in text for ch in "*?["):
        matches = sorted(glob.glob(text))
        if len(matches) != 1:
            return Path(text)  # reported as missing below
        return Path(matches[0])
    return Path(text)


def _need(paths: dict[str, Path], what: str) -> None:
    missing = [f"{key}: {path}" for key, path in paths.items() if not path.is_file()]
    if missing:
        shown = "; ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DataError(f"{len(missing)} sample(s) lack their {what}: {shown}")


def match_labels(
    root: Path | None, ids: Sequence[str], labels: str | Sequence[str], label_suffix: str | None
) -> dict[str, Path]:
    """The label of each id: from a ``{id}`` pattern, or by file stem (id + suffix) among folders or globs."""
    if is_pattern(labels):
        assert isinstance(labels, str)
        found = {i: _format(root, labels, i) for i in ids}
        _need(found, f"label ({labels})")
        return found
    files = find_rasters(sources(root, labels))
    by_stem = {p.name.rsplit(".", 1)[0]: p for p in files}
    suffixes = (label_suffix,) if label_suffix is not None else LABEL_SUFFIXES
    result, unpaired = {}, []
    for sample_id in ids:
        label = next((by_stem[sample_id + s] for s in suffixes if sample_id + s in by_stem), None)
        if label is None:
            unpaired.append(sample_id)
        else:
            result[sample_id] = label
    if unpaired:
        raise DataError(
            f"{len(unpaired)} sample(s) have no label, e.g. {', '.join(unpaired[:5])}. Labels are matched by "
            f"sample id plus one of {list(suffixes)}; set label_suffix, or give labels as a pattern with {ID}."
        )
    return result


def _frames_from_patterns(root: Path | None, frames: str | Sequence[str]) -> dict[str, tuple[tuple[Path, ...], ...]]:
    """Per id, one path per time step."""
    patterns = [frames] if isinstance(frames, str) else list(frames)
    if len(patterns) == 1 and TIME in patterns[0]:
        groups = expand_pattern(root, patterns[0])
        sizes = {len(items) for items in groups.values()}
        if len(sizes) > 1:
            counts = ", ".join(f"{key}: {len(items)}" for key, items in list(groups.items())[:5])
            raise DataError(
                f"the samples of {patterns[0]} have different numbers of time steps ({counts} ...); every sample "
                "needs the same number of files"
            )
        return {key: tuple((path,) for _, path in items) for key, items in groups.items()}
    if not patterns or not all(is_pattern(p) for p in patterns):
        raise ConfigError(
            f"frames must be one pattern per time step, each holding {ID} (e.g. ['t0/{{id}}.tif', "
            f"'t1/{{id}}.tif']), or one pattern with {ID} and {TIME} (e.g. 'images/{{id}}_{{time}}.tif')"
        )
    ids = list(expand_pattern(root, patterns[0]))
    result = {}
    for sample_id in ids:
        paths = {f"{sample_id} step {t}": _format(root, p, sample_id) for t, p in enumerate(patterns)}
        _need(paths, "time-step files")
        result[sample_id] = tuple((path,) for path in paths.values())
    return result


def find_samples(
    root: Path | None,
    *,
    images: str | Sequence[str],
    labels: str | Sequence[str],
    frames: str | Sequence[str] | None = None,
    stack: str | Sequence[str] | None = None,
    label_suffix: str | None = None,
    image_suffix: str = "",
) -> list[SegmentationSample]:
    """Samples of several files per id: time steps from ``frames``, stacked ``stack`` files, labels.

    Without ``frames`` the ids come from ``images`` (a ``{id}`` pattern, or folders/globs whose file
    stems less ``image_suffix`` are the ids). A file a pattern names for an id but that does not exist
    raises :class:`DataError` naming it.
    """
    stack_patterns = [] if not stack else ([stack] if isinstance(stack, str) else list(stack))
    if any(not is_pattern(p) for p in stack_patterns):
        raise ConfigError(f"stack takes patterns holding {ID}, e.g. 'S1Hand/{{id}}_S1Hand.tif'; got {stack!r}")
    if frames is not None:
        if stack_patterns:
            raise ConfigError("stack and frames cannot be combined; give one file per time step, or one stacked set")
        per_id = _frames_from_patterns(root, frames)
    elif is_pattern(images):
        assert isinstance(images, str)
        per_id = {key: ((items[0][1],),) for key, items in expand_pattern(root, images).items()}
    else:
        files = find_rasters(sources(root, images))
        per_id = {}
        for path in files:
            stem = path.name.rsplit(".", 1)[0]
            key = stem[: -len(image_suffix)] if image_suffix and stem.endswith(image_suffix) else stem
            if key in per_id:
                raise DataError(f"image id {key} occurs more than once ({path}); give images unique file names")
            per_id[key] = ((path,),)
    if stack_patterns:
        for key, steps in per_id.items():
            extra = {f"{key} ({p})": _format(root, p, key) for p in stack_patterns}
            _need(extra, "stacked files")
            per_id[key] = (steps[0] + tuple(extra.values()),)
    label_files = match_labels(root, list(per_id), labels, label_suffix)
    samples = []
    for key, steps in per_id.items():
        if label_files[key] in {p for step in steps for p in step}:
            continue  # images and labels in one folder: a label is no sample
        many = len(steps) > 1 or len(steps[0]) > 1
        samples.append(SegmentationSample(key, steps[0][0], label_files[key], frames=steps if many else ()))
    return samples


def file_band_names(sample: SegmentationSample, *, num_frames: int = 1) -> list[str]:
    """Band names of one time step from the band descriptions of a sample's files (stacked in order).

    A file of ``num_frames`` x C bands (time-major) gives the names of its first C bands. Unnamed
    bands raise :class:`DataError` asking for ``file_bands``.
    """
    names: list[str] = []
    for path in sample.files[0]:
        info = raster_info(path)
        count = info.count // num_frames if num_frames > 1 else info.count
        described = [d for d in info.descriptions[:count] if d]
        if len(described) != count:
            raise DataError(
                f"the bands of {path} are not named (no band descriptions): give file_bands, the band names of "
                f"one time step in file order ({count} bands"
                + (" per file, stacked files in order" if len(sample.files[0]) > 1 else "")
                + "), e.g. file_bands=B02,B03,B04,B8A,B11,B12 with sensor=hls_s30"
            )
        names.extend(described)
    return names
