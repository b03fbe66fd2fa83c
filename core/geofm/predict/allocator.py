"""Keeping freed memory in the process, so that a loop of large allocations does not fault pages in again.

glibc's allocator moves its mmap threshold as blocks are freed and returns the top of the heap to the
system once it is past a threshold derived from it. A loop that alternates model calls with the
allocations of reading and writing (tiled prediction) then maps fresh pages on most model calls, where
the bare model loop maps none (``bench/predict.py`` reports what that costs).
:func:`keep_freed_memory` fixes both thresholds instead, as PyTorch's CPU inference guides advise
(or a different allocator: jemalloc, tcmalloc).
"""

from __future__ import annotations

import ctypes
import os
import platform

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "USER_SETTINGS", "keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20
"""Blocks up to this size come from the heap (glibc's ceiling for the setting on 64-bit systems)."""
TRIM_THRESHOLD = 256 * 2**20
"""Free memory at the top of the heap beyond this goes back to the system."""
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")
"""The environment variables through which a user tunes glibc's allocator; when one is set, it rules."""


def keep_freed_memory() -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD` and its trim threshold at :data:`TRIM_THRESHOLD`.

    Process-wide; ``geofm predict`` calls it before predicting. Returns whether the settings were applied:
    not off Linux with glibc, nor where the user has tuned the allocator through its environment variables
    (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``), which are left to rule.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ for name in USER_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mmap = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    trim = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(mmap and trim)
