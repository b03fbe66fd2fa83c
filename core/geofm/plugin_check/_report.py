"""The rows of a plugin check and the report that holds them (plain data: no torch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

__all__ = ["COLUMNS", "CheckRow", "PluginCheckReport", "Status"]

Status = Literal["PASS", "FAIL", "SKIP"]

COLUMNS = ("PLUGIN", "KIND", "COMPONENT", "CHECK", "STATUS", "REASON")
"""The table's column headers, in the order of :meth:`CheckRow.cells`."""


@dataclass(frozen=True)
class CheckRow:
    """One check of one component: what was checked, whether it passed, and why (empty for a plain pass).

    ``kind`` is ``"plugin"`` for the checks of the plugin module itself, else the component kind in the
    singular (``"backbone"``, ``"neck"``, ``"decoder"``, ``"dataset"``, ``"task"``).
    """

    plugin: str
    kind: str
    component: str
    check: str
    status: Status
    reason: str = ""

    def cells(self) -> list[str]:
        """The row's values in the order of :data:`COLUMNS`."""
        return [self.plugin, self.kind, self.component, self.check, self.status, self.reason or "-"]

    def to_dict(self) -> dict[str, str]:
        """JSON-compatible form, as ``geofm plugins check --json`` prints it."""
        return asdict(self)


@dataclass
class PluginCheckReport:
    """The rows of one ``geofm plugins check TARGET``: ``ok`` when none failed.

    ``target`` is what was asked for; each row names the plugin it concerns (a distribution may hold
    several plugins).
    """

    target: str
    rows: list[CheckRow] = field(default_factory=list)

    def add(
        self,
        plugin: str,
        kind: str,
        component: str,
        check: str,
        status: Status,
        reason: str = "",
        at: int | None = None,
    ) -> CheckRow:
        """Add one row (its reason made one line) at the end, or at index ``at``; return it."""
        row = CheckRow(plugin, kind, component, check, status, " ".join(reason.split()))
        self.rows.insert(len(self.rows) if at is None else at, row)
        return row

    def count(self, status: Status) -> int:
        """How many rows have ``status``."""
        return sum(1 for row in self.rows if row.status == status)

    @property
    def ok(self) -> bool:
        """Whether no check failed (skipped checks do not count against it)."""
        return self.count("FAIL") == 0

    @property
    def failures(self) -> list[CheckRow]:
        """The failed rows, in order."""
        return [row for row in self.rows if row.status == "FAIL"]

    def summary(self) -> str:
        """``"N passed, M failed, K skipped"``."""
        return f"{self.count('PASS')} passed, {self.count('FAIL')} failed, {self.count('SKIP')} skipped"

    def to_dicts(self) -> list[dict[str, str]]:
        """Every row as a dict (the ``--json`` output)."""
        return [row.to_dict() for row in self.rows]

    def format_table(self) -> str:
        """The rows as an aligned plain-text table, then the summary line."""
        return "\n".join([*_aligned(COLUMNS, [row.cells() for row in self.rows]), self.summary()])


def _aligned(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    return [
        "  ".join(value.ljust(width) for value, width in zip(values, widths, strict=True)).rstrip()
        for values in [headers, *rows]
    ]
