"""Reference fixture cases of a backbone plugin's tests: a description, a checkpoint and recorded inputs/outputs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["ReferenceFixtures", "architecture_options"]


def architecture_options(
    description: Mapping[str, Any], keys: Iterable[str], renamed: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Build options from a case's ``architecture``: its entries ``keys``, and option <- entry for ``renamed``.

    Lists (as JSON stores tuples) become tuples.
    """
    architecture = description["architecture"]
    sources = {**{key: key for key in keys}, **(renamed or {})}
    values = {option: architecture[entry] for option, entry in sources.items()}
    return {option: tuple(value) if isinstance(value, list) else value for option, value in values.items()}


class ReferenceFixtures:
    """The cases in ``folder``: ``<name>.json`` (the description), its checkpoint and ``<name>_io.pt``.

    The checkpoint is the description's ``"checkpoint"`` entry (a file name in ``folder``), else
    ``<name>.pt``. ``label`` names the family in the skip message of a missing case; ``options`` turns a
    description into what the plugin's tests build the case's model with (:meth:`options`).
    """

    def __init__(self, folder: Path, label: str, options: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.folder = Path(folder)
        self.label = label
        self._options = options

    def options(self, description: dict[str, Any]) -> Any:
        """What the plugin's tests build case ``description``'s model with (the ``options`` given)."""
        if self._options is None:
            raise TypeError(f"the {self.label} reference fixtures were made without an options function")
        return self._options(description)

    def case(self, name: str) -> tuple[dict[str, Any], Path, Path]:
        """(description, checkpoint path, io path) of case ``name``; the test is skipped when it is absent."""
        import pytest

        description = self.folder / f"{name}.json"
        if not description.is_file():
            pytest.skip(f"shared {self.label} fixtures not found at {self.folder.resolve()}")
        data = json.loads(description.read_text())
        return data, self.folder / data.get("checkpoint", f"{name}.pt"), self.folder / f"{name}_io.pt"
