"""What the composition plan gives a backbone and a decoder: the necks and the backbone levels they use."""

from __future__ import annotations

from typing import Any

__all__ = ["planned_levels"]


def planned_levels(backbone: str, decoder: str, task_type: str = "segmentation") -> tuple[list[str], list[int], Any]:
    """(neck names, backbone levels used, backbone spec) of the plan for ``backbone`` + ``decoder``.

    The levels are those the plan's first neck keeps when it selects levels, or every block otherwise.
    """
    from geofm.compose import plan_composition
    from geofm.registry import get_registry

    backbone_spec = get_registry("backbones").get(backbone)
    plan = plan_composition(backbone_spec, get_registry("decoders").get(decoder), task_type=task_type)
    names = [neck["name"] for neck in plan]
    selects = bool(plan) and get_registry("necks").get(names[0]).selects_levels
    levels = list(plan[0]["levels"]) if selects else list(range(backbone_spec.depth))
    return names, levels, backbone_spec
