"""Specs of the detection decoders and tasks (filled in by the models' author)."""

from __future__ import annotations

from geofm.specs import DecoderSpec, TaskSpec

DECODERS: tuple[DecoderSpec, ...] = ()
TASKS: tuple[TaskSpec, ...] = ()
