"""The hook specifications of the ``geofm`` plugin system; each docstring is the contract.

A plugin is a module named by an entry point in the ``geofm`` group, e.g.::

    [project.entry-points.geofm]
    myplugin = "geofm_myplugin.plugin"

whose functions are decorated with :data:`geofm.hookimpl`. The module must stay light: it may import
``geofm.specs`` and ``geofm.hookimpl`` but never torch (listings import every plugin module).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pluggy

from geofm.specs import BackboneSpec, DatasetSpec, DecoderSpec, NeckSpec, TaskSpec

PROJECT_NAME = "geofm"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = [
    "PROJECT_NAME",
    "geofm_backbones",
    "geofm_cli",
    "geofm_datasets",
    "geofm_decoders",
    "geofm_necks",
    "geofm_tasks",
    "hookimpl",
    "hookspec",
]


@hookspec
def geofm_backbones() -> Iterable[BackboneSpec]:
    """Return the backbones this plugin contributes, as :class:`~geofm.specs.BackboneSpec` objects.

    Called once per process, the first time any backbone is looked up. Must not import torch: the
    factory is named lazily. The module the factory returns follows :class:`geofm.contracts.BackboneModule`
    (checked when it is built; its features are checked against it on the first forward). Names must be
    unique across all plugins: a name already taken skips the later plugin, with a warning naming both
    distributions. A spec that fails its own validation, or a hook that raises, skips this plugin the same
    way. The registry fills in ``plugin``, ``distribution`` and ``version``. Every hook needs a docstring.
    See docs/plugins.md.
    """


@hookspec
def geofm_necks() -> Iterable[NeckSpec]:
    """Return the necks (feature transformations between backbone and decoder) this plugin contributes.

    Each :class:`~geofm.specs.NeckSpec` says what feature kind it consumes and produces, so composition
    can check a pairing before any weight exists. The module follows :class:`geofm.contracts.NeckModule`.
    Same rules as :func:`geofm_backbones`.
    """


@hookspec
def geofm_decoders() -> Iterable[DecoderSpec]:
    """Return the decoders this plugin contributes, as :class:`~geofm.specs.DecoderSpec` objects.

    The spec declares what the decoder consumes (feature kind, number of levels, whether it needs a
    pyramid of increasing strides) so composition can insert or demand the right neck. The module follows
    :class:`geofm.contracts.DecoderModule` (a detection decoder: :class:`geofm.contracts.DetectorModule`).
    Same rules as :func:`geofm_backbones`.
    """


@hookspec
def geofm_datasets() -> Iterable[DatasetSpec]:
    """Return the datasets this plugin contributes, as :class:`~geofm.specs.DatasetSpec` objects.

    The factory builds a Lightning data module (see :mod:`geofm.specs` for its signature) that follows
    :class:`geofm.contracts.DataModule`. A dataset that is not on disk must fail at build time with a
    :class:`~geofm.errors.DataError` naming the expected layout under ``--data-root`` and where to download
    it. Same rules as :func:`geofm_backbones`.
    """


@hookspec
def geofm_tasks() -> Iterable[TaskSpec]:
    """Return the training tasks (Lightning modules) this plugin contributes, as :class:`TaskSpec`.

    A run picks the task whose ``name`` equals ``--task``, or by default the one whose ``task_type``
    matches the dataset's task. The module follows :class:`geofm.contracts.TaskModule` (the model stays
    ``self.model``). Same rules as :func:`geofm_backbones`.
    """


@hookspec
def geofm_cli(app: Any) -> None:
    """Add subcommands to the ``geofm`` Typer application ``app`` (optional).

    Called when the CLI starts, so the implementation must be cheap and must not import torch at
    module level; import heavy libraries inside the command functions.
    """
