"""Quiet by default: third-party warnings that tell a geofm user nothing to act on are not shown.

Each entry names why it is not actionable; everything else still reaches the user, and ``geofm -vv``
shows the libraries' own debug logging.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["NOT_ACTIONABLE", "library_warnings_filtered"]

NOT_ACTIONABLE: tuple[tuple[str, str], ...] = (
    (r".*isinstance\(treespec, LeafSpec\).*", "Lightning calling a deprecated torch API"),
    (r"The number of training batches .* is smaller than the logging interval", "geofm logs every epoch"),
    (r".*exists and is not empty.*", "a resumed run writes into its own run directory"),
    (r"The `srun` command is available on your system but is not used", "a SLURM host running without srun"),
)
"""``(message pattern, why it is not actionable)`` of the warnings :func:`library_warnings_filtered` hides."""


@contextmanager
def library_warnings_filtered() -> Iterator[None]:
    """Hide the :data:`NOT_ACTIONABLE` warnings inside the ``with`` block (and nothing else)."""
    with warnings.catch_warnings():
        for pattern, _ in NOT_ACTIONABLE:
            warnings.filterwarnings("ignore", message=pattern)
        yield
