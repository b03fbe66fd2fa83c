"""How the work of predicting one scene is spread over threads: the call schedule.

Reading the next batch, and blending and writing the last ones, always run in threads beside the model.
:func:`call_schedule` chooses how many model calls run at once and with how many of torch's threads;
:func:`torch_threads` sets torch's threads for the time of a scene. A caller that wants a given schedule
(a test, a benchmark) passes a :class:`CallSchedule` as ``schedule`` to :func:`geofm.predict.predict`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["STREAMS", "WRITE_QUEUE", "CallSchedule", "call_schedule", "torch_threads", "usable_cores"]

STREAMS = 2
"""Model calls that run at once on a CPU whose cores torch's threads fill (each with its share of the threads)."""
WRITE_QUEUE = 2
"""Batches of model output that may wait for the writer thread, when there is one (bounded memory)."""


@dataclass(frozen=True)
class CallSchedule:
    """How the work of one scene is spread over threads (see :func:`call_schedule`).

    ``streams``: model calls in flight at once, each in a thread of its own; ``model_threads``: torch's
    intra-op threads during prediction (``None``: left as they are); ``io_threads``: the threads GDAL
    decodes and compresses blocks with, and the threads that normalise tiles.
    """

    streams: int
    model_threads: int | None
    io_threads: int

    def fitted(self, full_batches: int) -> CallSchedule:
        """The schedule for a scene of ``full_batches`` full batches: one call at a time unless each call gets one.

        One batch on a share of the threads takes longer than on all of them, so several calls at once
        need a full batch each.
        """
        return self if full_batches >= self.streams else CallSchedule(1, None, self.io_threads)


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity on Linux, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def call_schedule(device: Any, cores: int | None = None) -> CallSchedule:
    """The threads of prediction on torch ``device`` with ``cores`` CPU cores (default :func:`usable_cores`).

    This is the schedule of a scene of many batches; :meth:`CallSchedule.fitted` fits it to a smaller one.
    On a GPU, or when torch's CPU threads leave cores free, one model call runs at a time and the I/O
    threads use the spare cores. When torch's threads fill every core (the default on a CPU),
    :data:`STREAMS` model calls run at once, each with its share of the threads: the threads of one call
    wait for each other after every operation, so splitting the cores between calls wastes less of them,
    and a call that I/O threads preempt holds up fewer threads. The model's forward must be safe to call
    from two threads at once, as an ``eval()`` module's forward without state is.
    """
    import torch

    cores = usable_cores() if cores is None else cores
    if device.type != "cpu":
        return CallSchedule(1, None, max(1, cores - 1))
    threads = torch.get_num_threads()
    if threads < cores:
        return CallSchedule(1, None, cores - threads)
    streams = min(STREAMS, threads)
    return CallSchedule(streams, threads // streams if streams > 1 else None, cores)


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Set torch's intra-op threads to ``count`` (``None``: unchanged) for the block; restore them after.

    The setting is torch's, for the whole process: other threads' torch work in the meantime gets it too.
    """
    import torch

    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
