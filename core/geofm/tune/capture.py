"""Console output of a trial into its log file, while the study's own progress stays on the console.

Lightning, geofm's logging and Python warnings write to ``sys.stdout`` / ``sys.stderr`` and to logging
handlers that captured those streams when they were made. While :func:`routed_output` is active, each of
these streams is replaced by a router that writes to the log file of the trial running in the current
thread (:func:`output_to`), or to the original stream when no trial runs in that thread. Trials in
parallel threads (``--jobs``) therefore each write their own log, and the study's progress, written to
:func:`console`, is never mixed with them.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

__all__ = ["console", "output_to", "routed_output"]

_local = threading.local()
_lock = threading.Lock()
_installed: list[tuple[Any, str, Any]] = []  # (owner, attribute, original) to restore
_depth = 0


class _Router(io.TextIOBase):
    """A text stream writing to the current thread's trial log, or to ``original`` outside trials."""

    def __init__(self, original: TextIO) -> None:
        super().__init__()
        self.original = original

    def _target(self) -> TextIO:
        return getattr(_local, "target", None) or self.original

    def write(self, text: str) -> int:
        self._target().write(text)
        return len(text)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        if getattr(_local, "target", None) is not None:
            return False
        try:
            return bool(self.original.isatty())
        except (AttributeError, ValueError, OSError):  # a stream without isatty, or closed (at exit)
            return False

    def fileno(self) -> int:
        return self.original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True


def _original(stream: Any) -> Any:
    return stream.original if isinstance(stream, _Router) else stream


def console() -> TextIO:
    """The real standard error (never a trial's log): where a study reports its progress."""
    return _original(sys.stderr)


def _stream_handlers() -> Iterator[logging.StreamHandler[Any]]:
    loggers: list[Any] = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                yield handler


@contextmanager
def routed_output() -> Iterator[None]:
    """Route ``sys.stdout``, ``sys.stderr`` and every logging stream handler through per-thread targets.

    Nested uses are allowed (only the outermost installs and restores). Handlers created while it is
    active write to ``sys.stderr`` and so are routed too.
    """
    global _depth
    with _lock:
        _depth += 1
        if _depth == 1:
            for name in ("stdout", "stderr"):
                stream = getattr(sys, name)
                if not isinstance(stream, _Router):
                    _installed.append((sys, name, stream))
                    setattr(sys, name, _Router(stream))
            for handler in _stream_handlers():
                if not isinstance(handler.stream, _Router):
                    _installed.append((handler, "stream", handler.stream))
                    handler.stream = _Router(handler.stream)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                while _installed:
                    owner, attribute, original = _installed.pop()
                    setattr(owner, attribute, original)


@contextmanager
def output_to(path: Path) -> Iterator[TextIO]:
    """Send this thread's routed output to ``path`` (appended; line-buffered) while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = getattr(_local, "target", None)
    with path.open("a", encoding="utf-8", buffering=1) as handle:
        _local.target = handle
        try:
            yield handle
        finally:
            _local.target = previous
