"""Writing the rows of one plugin's checks, and turning an exception into a row's reason."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from geofm.errors import ContractError, GeofmError
from geofm.plugin_check._report import PluginCheckReport, Status

__all__ = ["CheckFailed", "Rows", "describe"]


class CheckFailed(Exception):
    """A check found something wrong; the message is the row's reason."""


def describe(error: BaseException) -> str:
    """One line saying what went wrong: geofm's own messages as they are, others with their type."""
    text = " ".join(str(error).split())
    if isinstance(error, CheckFailed | ContractError | GeofmError) and text:
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@dataclass
class Rows:
    """Adds the rows of one plugin (named ``plugin``) to ``report``."""

    report: PluginCheckReport
    plugin: str

    def add(
        self, kind: str, component: str, check: str, status: Status, reason: str = "", at: int | None = None
    ) -> None:
        """One row, at the end or at index ``at`` of the report."""
        self.report.add(self.plugin, kind, component, check, status, reason, at)

    @contextmanager
    def check(self, kind: str, component: str, check: str, passed: str = "") -> Iterator[list[str]]:
        """Run the block as one check: PASS unless it raises (FAIL, the error's message as the reason).

        The yielded list collects the reason of a pass (``passed`` when the block adds none).
        """
        notes: list[str] = []
        try:
            yield notes
        except Exception as error:
            self.add(kind, component, check, "FAIL", describe(error))
        else:
            self.add(kind, component, check, "PASS", "; ".join(notes) or passed)
