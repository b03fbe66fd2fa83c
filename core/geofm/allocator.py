"""Keeping freed memory in the process, so that a loop of large allocations does not fault pages in again.

glibc's allocator moves its mmap threshold as blocks are freed and returns the top of the heap to the
system once it is past a threshold derived from it. A loop that alternates model calls with the
allocations of reading and writing (tiled inference) then maps fresh pages on most model calls: 20,000 to
40,000 page faults per 2048 x 2048 scene with the benchmark's tiny model (``bench/predict.py``), against
none for the bare model loop. At about 4 microseconds a fault (measured on a 2-core virtual machine) that
is 0.1 to 0.16 s, 5 to 8 % of the model's time.
:func:`keep_freed_memory` fixes both thresholds instead, as PyTorch's CPU inference guides advise
(or a different allocator: jemalloc, tcmalloc).
"""

from __future__ import annotations

import ctypes
import os
import platform

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20
"""Blocks up to this size come from the heap (glibc's ceiling for the setting on 64-bit systems)."""
TRIM_THRESHOLD = 256 * 2**20
"""Free memory at the top of the heap beyond this goes back to the system."""
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def keep_freed_memory() -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD` and its trim threshold at :data:`TRIM_THRESHOLD`.

    Process-wide; ``geofm predict`` calls it before predicting. Returns whether the settings were applied:
    not off Linux with glibc, nor where the user has tuned the allocator through its environment variables
    (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``), which are left to rule.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ for name in _USER_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mmap = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    trim = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(mmap and trim)
