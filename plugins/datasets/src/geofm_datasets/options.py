"""The option parsing and path helpers every dataset factory shares.

Factory options arrive as Python values from a config file or as strings from ``--set`` on the command
line; these helpers read both the same way. Light: rasterio (through :mod:`geofm.data`) is imported only
by :func:`file_bands`, when it has to read a file's band descriptions.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from geofm.data.factory import SPLITS, as_bool, as_list, unknown_options
from geofm.errors import DataError

__all__ = [
    "SPLITS",
    "as_bool",
    "as_bools",
    "as_list",
    "file_stem",
    "image_loading_keywords",
    "loading_keywords",
    "loading_values",
    "optional_float",
    "pair_by_stem",
    "read_file_bands",
    "resolve",
    "sources",
    "split_paths",
    "takes_keywords_of",
    "unknown_options",
]


F = TypeVar("F", bound=Callable[..., Any])


def takes_keywords_of(template: Callable[..., Any]) -> Callable[[F], F]:
    """Decorate a factory that passes ``**options`` on to ``template``: its signature shows their keywords.

    The decorated factory's signature is its own positional-only parameter (the
    :class:`~geofm.data.DatasetOptions`) and keyword parameters, then ``template``'s keyword-only
    ones and its ``**`` parameter, so ``geofm`` checks options against (and lists) the keywords the
    factory really takes, while their defaults are written once, in ``template``.
    """

    def decorate(factory: F) -> F:
        own = inspect.signature(factory)
        kept = [p for p in own.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.KEYWORD_ONLY)]
        names = {p.name for p in kept}
        forwarded = [
            p
            for p in inspect.signature(template).parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) and p.name not in names
        ]
        factory.__signature__ = own.replace(parameters=[*kept, *forwarded])  # type: ignore[attr-defined]
        return factory

    return decorate


def image_loading_keywords(
    *,
    scale: float = 1.0,
    flips: bool | str = True,
    cache: bool | str = False,
    pin_memory: bool | str = False,
    **options: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The loading keywords of whole-image dataset factories (defaults filled in), and the other ``options``.

    Declared once here: a factory takes ``**options``, is decorated ``@takes_keywords_of(...)`` with this
    template (so its signature lists these keywords) and splits ``options`` with it.
    """
    return {"scale": scale, "flips": flips, "cache": cache, "pin_memory": pin_memory}, options


@takes_keywords_of(image_loading_keywords)
def loading_keywords(*, eval_full_tiles: bool | str = False, **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`image_loading_keywords` and ``eval_full_tiles``: the loading keywords of windowed datasets."""
    loading, rest = image_loading_keywords(**options)
    return {**loading, "eval_full_tiles": eval_full_tiles}, rest


def loading_values(scale: float | str, **flags: Any) -> dict[str, Any]:
    """Loading keywords as the data modules take them: ``scale`` a float, each flag (``flips`` ...) a bool."""
    return {"scale": float(scale), **as_bools(**flags)}


def as_bools(**values: Any) -> dict[str, bool]:
    """:func:`as_bool` of each keyword option, under its name (e.g. ``flips``, ``cache``, ``pin_memory``)."""
    return {name: as_bool(value, name) for name, value in values.items()}


def optional_float(value: float | str | None) -> float | None:
    """``float(value)``, with ``None`` kept (an option such as ``nodata`` that may be absent)."""
    return None if value is None else float(value)


def resolve(root: Path | None, value: str | Path) -> str:
    """``value`` (``~`` expanded) under ``root`` when relative and ``root`` is given, as a string."""
    path = Path(value).expanduser()
    return str(path if path.is_absolute() or root is None else root / path)


def sources(root: Path | None, value: str | Path | Sequence[str | Path]) -> list[str]:
    """One folder, glob or file, or a list of them, each resolved under ``root``."""
    items = [value] if isinstance(value, str | Path) else list(value)
    return [resolve(root, item) for item in items]


def file_stem(path: Path) -> str:
    """A file's name without its last suffix (``a.mask.tif`` -> ``a.mask``)."""
    return path.name.rsplit(".", 1)[0] if "." in path.name else path.name


def pair_by_stem(
    images: Sequence[Path],
    partners: Sequence[Path],
    *,
    suffixes: Sequence[str],
    image_suffix: str = "",
    what: str = "label",
) -> list[tuple[str, Path, Path]]:
    """``(id, image, partner)`` of each image and the partner (``what``: label, target) named id + a suffix.

    The id is the image stem without ``image_suffix``; ``suffixes`` are tried in order. Images that are
    partners themselves (one folder for both) are skipped. An image without a partner, or an id that
    occurs twice, raises :class:`DataError` naming them.
    """
    by_stem = {file_stem(p): p for p in partners}
    partner_set = set(partners)
    pairs, unpaired = [], []
    for image in images:
        if image in partner_set:
            continue  # images and partners in one folder: skip the partners themselves
        stem = file_stem(image)
        sample_id = stem[: -len(image_suffix)] if image_suffix and stem.endswith(image_suffix) else stem
        partner = next((by_stem[sample_id + s] for s in suffixes if sample_id + s in by_stem), None)
        if partner is None or partner == image:
            unpaired.append(image)
        else:
            pairs.append((sample_id, image, partner))
    if unpaired:
        shown = ", ".join(str(p) for p in unpaired[:5]) + (" ..." if len(unpaired) > 5 else "")
        raise DataError(
            f"{len(unpaired)} image(s) have no {what}: {shown}. {what.capitalize()}s are matched by file stem plus "
            f"one of {list(suffixes)}; set {what}_suffix, or point {what}s at the right folder or glob."
        )
    ids = [sample_id for sample_id, _, _ in pairs]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise DataError(f"image ids {duplicates} occur more than once; give images unique file names")
    return pairs


def _split_folder(folder: Path, suffixes: Sequence[str]) -> dict[str, str]:
    """``<split><suffix>`` files in ``folder`` (a later suffix wins where several exist)."""
    return {s: str(folder / f"{s}{x}") for s in SPLITS for x in suffixes if (folder / f"{s}{x}").is_file()}


def split_paths(root: Path | None, value: Any, *, suffixes: Sequence[str] = (".txt",)) -> dict[str, str] | None:
    """The split list files ``split_files`` names: per split, a path (relative ones taken under ``root``).

    ``value`` is a mapping split -> file, a folder holding ``<split><suffix>`` files (none there raises
    :class:`DataError`), or ``None``: ``<root>/splits/<split>.txt`` where present (``None`` when there
    are none).
    """
    if value is None:
        folder = root / "splits" if root is not None else None
        if folder is None or not folder.is_dir():
            return None
        return _split_folder(folder, (".txt",)) or None
    if isinstance(value, str | Path):
        folder = Path(resolve(root, value))
        found = _split_folder(folder, suffixes)
        if not found:
            names = ", ".join(f"{s}{x}" for s in SPLITS for x in suffixes)
            raise DataError(f"split folder {folder} holds none of {names}")
        return found
    return {str(k): resolve(root, v) for k, v in dict(value).items()}


def read_file_bands(
    path: Path,
    given: list[str] | None,
    *,
    check_count: bool = False,
    example: str = "file_bands=B02,B03,B04,B8A,B11,B12 with sensor=hls_s30",
) -> list[str]:
    """The band names of the image file ``path`` in file order: ``given``, else its band descriptions.

    With ``check_count`` the given names must match the file's band count. Unnamed bands raise
    :class:`DataError` asking for ``file_bands`` (``example`` shows how).
    """
    if given and not check_count:
        return given
    from geofm.data import raster_info

    info = raster_info(path)
    if given:
        if len(given) != info.count:
            raise DataError(
                f"file_bands names {len(given)} bands ({', '.join(given)}) but {path} has {info.count}: "
                "give one name per band of the files, in file order"
            )
        return given
    names = [d for d in info.descriptions if d]
    if len(names) == info.count:
        return names
    raise DataError(
        f"the bands of {path} are not named (no band descriptions): give file_bands, the band names in "
        f"file order ({info.count} bands), e.g. {example}"
    )
