"""What generated (demo) datasets share: generate once into a cache, regenerate when stale, split the scenes.

A generator writes its files into a temporary folder beside the dataset's root, which is renamed into
place with a marker (the generation parameters, as JSON) written last, so an interrupted or concurrent
generation never leaves a half-written cache and a changed generator (another version in the marker)
regenerates. Light: the standard library only.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geofm.errors import DataError

__all__ = ["generate_once", "is_current", "split_counts"]


def is_current(root: Path, marker: str, params: dict[str, Any]) -> bool:
    """Whether ``root`` holds a finished generation with ``params`` (its ``marker`` file says so)."""
    try:
        return json.loads((root / marker).read_text()) == params
    except (OSError, ValueError):
        return False


def generate_once(
    root: Path,
    *,
    marker: str,
    params: dict[str, Any],
    write: Callable[[Path], None],
    force: bool = False,
    what: str,
) -> Path:
    """Run ``write(folder)`` into a fresh folder renamed to ``root``, unless ``root`` is current; return ``root``.

    The ``marker`` file (``params`` as JSON) is written last. A ``root`` that exists, is not empty and
    has no marker is not a cache of ``what`` and is never touched (:class:`DataError`). When another
    process finishes first, its files are kept.
    """
    if not force and is_current(root, marker, params):
        return root
    if root.exists() and not (root / marker).exists() and any(root.iterdir()):
        raise DataError(f"{root} exists and is not a {what} folder; give an empty or new --data-root for it")
    root.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp, old = root.parent / f".{root.name}.tmp-{tag}", root.parent / f".{root.name}.old-{tag}"
    try:
        write(tmp)
        (tmp / marker).write_text(json.dumps(params))
        if root.exists():
            if not force and is_current(root, marker, params):  # another process finished first
                return root
            os.rename(root, old)
        try:
            os.rename(tmp, root)
        except OSError:
            if is_current(root, marker, params):  # a concurrent generation won the race
                return root
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return root


def split_counts(count: int, *, what: str = "a generated dataset", items: str = "scenes") -> tuple[int, int, int]:
    """Train, val and test sizes of ``count`` ``items``: a sixth (at least one) each for val and test, the rest train.

    Fewer than 3 raise :class:`DataError` naming ``what`` needs them.
    """
    if count < 3:
        raise DataError(f"{what} needs at least 3 {items} (train, val, test); num_{items}={count}")
    held = max(1, count // 6)
    return count - 2 * held, held, held
