"""Run checkpoints: written atomically, read without ever unpickling code.

Every checkpoint geofm writes holds tensors and plain data only, so it loads with
``torch.load(weights_only=True)``; a file that needs full unpickling is refused, because unpickling runs
whatever code the file names. :class:`AtomicCheckpointIO` is the Lightning checkpoint plugin of every run:
it writes through a temporary file and reads only safely, so resuming and evaluating obey the same rule.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO

from geofm.errors import UnsafeCheckpointError, WeightsError

__all__ = ["AtomicCheckpointIO", "load_checkpoint", "model_state"]

MODEL_PREFIX = "model."
"""Keys of the composed model in a task checkpoint's ``state_dict`` (the task keeps it as ``self.model``)."""


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """A Lightning checkpoint read with ``weights_only=True``; anything else is a one-line WeightsError."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(
            f"refused to load {path}: it holds pickled objects other than tensors and plain data, and "
            "unpickling them could run arbitrary code. geofm never does; use a checkpoint that geofm wrote "
            "(or re-save its state_dict with torch.save)"
        ) from error
    except (OSError, RuntimeError, EOFError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(
            f"cannot read checkpoint {path}: it is truncated or damaged ({first}); use another checkpoint"
        ) from error
    if not isinstance(data, Mapping) or "state_dict" not in data:
        raise WeightsError(f"{path} is not a Lightning checkpoint (no 'state_dict'); give a .ckpt that geofm wrote")
    return dict(data)


def model_state(checkpoint: Mapping[str, Any], path: str | os.PathLike[str]) -> dict[str, Any]:
    """The composed model's tensors of a task checkpoint (its ``model.*`` keys, prefix removed)."""
    state = {k[len(MODEL_PREFIX) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(MODEL_PREFIX)}
    if not state:
        raise WeightsError(f"{path} holds no '{MODEL_PREFIX}*' weights; it was not written by a geofm task")
    return state


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to ``<path>.partial`` and rename it into place; read with ``weights_only=True``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        """Save ``checkpoint`` to ``path`` atomically."""
        partial = f"{os.fspath(path)}.partial"
        super().save_checkpoint(checkpoint, partial, storage_options)
        os.replace(partial, os.fspath(path))

    def load_checkpoint(
        self, path: Any, map_location: Callable[..., Any] | Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        """Load ``path`` safely, whatever ``weights_only`` Lightning passes."""
        return load_checkpoint(path, map_location=map_location if map_location is not None else "cpu")
