"""The migration report: every peer key as *mapped*, *defaulted* or *not carried over*, and why.

*mapped*: the value went to a geofm key (named). *defaulted*: geofm has no key for it but does the same
by default (the reason says what geofm does). *not carried over*: geofm cannot do what the key asks; the
reason says why, and ``changes_experiment`` says whether that changes what is trained and measured (a
component, the data, the classes, the loss, or one of the numbers that define the experiment) rather
than how it is logged or scheduled. A report with such an entry makes ``geofm migrate`` exit 1 and
``geofm run`` refuse the file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["DEFAULTED", "MAPPED", "NOT_CARRIED", "Entry", "MigrationReport"]

MAPPED: Literal["mapped"] = "mapped"
DEFAULTED: Literal["defaulted"] = "defaulted"
NOT_CARRIED: Literal["not carried over"] = "not carried over"
Status = Literal["mapped", "defaulted", "not carried over"]


def _short(value: Any, width: int = 60) -> str:
    if isinstance(value, list | tuple):
        text = "[" + ", ".join(_short(v, 20) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {_short(v, 20)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass(frozen=True)
class Entry:
    """What became of one peer key (``key`` is its dotted name without ``init_args``)."""

    key: str
    status: Status
    value: Any = None
    target: str | None = None
    why: str = ""
    changes_experiment: bool = False

    def line(self) -> str:
        """One line of the printed report."""
        value = f" = {_short(self.value)}" if self.value is not None else ""
        if self.status == MAPPED:
            text = f"  {self.key}{value} -> {self.target}"
            return text + (f"  ({self.why})" if self.why else "")
        flag = "  [CHANGES THE EXPERIMENT]" if self.changes_experiment else ""
        return f"  {self.key}{value}: {self.why}{flag}"


@dataclass
class MigrationReport:
    """The entries of one translation, plus notes (placeholders filled, paths missing, overrides applied)."""

    source: str = ""
    entries: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing_paths: list[str] = field(default_factory=list)
    unfilled_placeholders: list[str] = field(default_factory=list)

    # --- recording ---------------------------------------------------------------------------------

    def mapped(self, key: str, target: str, value: Any = None, why: str = "") -> None:
        """``key`` (value ``value``) went to geofm's ``target``; ``why`` notes a difference of detail."""
        self.entries.append(Entry(key, MAPPED, value, target, why))

    def defaulted(self, key: str, why: str, value: Any = None) -> None:
        """Record that geofm has no key for ``key`` but does what it asks by default (``why``: what it does)."""
        self.entries.append(Entry(key, DEFAULTED, value, None, why))

    def not_carried(self, key: str, why: str, value: Any = None, *, changes_experiment: bool = False) -> None:
        """Record that geofm cannot do what ``key`` asks; ``why`` says why (and what to do)."""
        self.entries.append(Entry(key, NOT_CARRIED, value, None, why, changes_experiment))

    # --- reading -----------------------------------------------------------------------------------

    def by_status(self, status: Status) -> list[Entry]:
        """The entries of one status, in file order."""
        return [e for e in self.entries if e.status == status]

    def entry(self, key: str) -> Entry:
        """The entry of one peer key (``KeyError`` when the report has none)."""
        for e in self.entries:
            if e.key == key:
                return e
        raise KeyError(key)

    @property
    def blocking(self) -> list[Entry]:
        """Entries not carried over that change the experiment: the translation is not the same experiment."""
        return [e for e in self.entries if e.status == NOT_CARRIED and e.changes_experiment]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``geofm migrate --json``)."""
        return {
            "source": self.source,
            "entries": [asdict(e) for e in self.entries],
            "notes": list(self.notes),
            "missing_paths": list(self.missing_paths),
            "unfilled_placeholders": list(self.unfilled_placeholders),
            "blocking": [e.key for e in self.blocking],
        }

    def format(self) -> str:
        """The printed report: one block per status, then notes, then the verdict."""
        titles = (
            (MAPPED, "mapped (peer key = value -> geofm key)"),
            (DEFAULTED, "defaulted (geofm does the same without a key)"),
            (NOT_CARRIED, "not carried over"),
        )
        lines = [f"migration report for {self.source}" if self.source else "migration report"]
        for status, title in titles:
            entries = self.by_status(status)
            lines.append(f"{title}: {len(entries)}")
            lines.extend(e.line() for e in entries)
        for placeholder in self.unfilled_placeholders:
            lines.append(f"placeholder {placeholder} is not filled: pass --data-root DIR")
        for path in self.missing_paths:
            lines.append(f"missing path: {path}")
        lines.extend(f"note: {n}" for n in self.notes)
        blocking = self.blocking
        if blocking:
            keys = ", ".join(e.key for e in blocking)
            lines.append(
                f"NOT THE SAME EXPERIMENT: {len(blocking)} key(s) change it and cannot be carried over: {keys}"
            )
        else:
            lines.append("the same experiment: nothing that defines it was left behind")
        return "\n".join(lines)
