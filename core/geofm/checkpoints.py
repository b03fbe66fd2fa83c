"""Checkpoint writing that never leaves a half-written file behind."""

from __future__ import annotations

import os
from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO

__all__ = ["AtomicCheckpointIO"]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to ``<path>.partial`` and rename it into place (atomic on POSIX)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        """Save ``checkpoint`` to ``path`` atomically."""
        partial = f"{os.fspath(path)}.partial"
        super().save_checkpoint(checkpoint, partial, storage_options)
        os.replace(partial, os.fspath(path))
