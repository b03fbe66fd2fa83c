"""The peer's ``SMPModelFactory`` (an smp encoder + smp decoder) -> a geofm timm backbone + ``smp_<arch>`` decoder.

smp's encoders are timm's CNNs (``resnet50``, ``efficientnet-b0`` ...) and its decoders are geofm's
``smp_*`` decoders, fed from the same four levels; ``pretrained`` loads timm's ImageNet weights as the
peer's smp encoder does.
"""

from __future__ import annotations

from geofm.migrate.state import State

__all__ = ["translate_smp_model"]

ARGS = "model.model_args"


def translate_smp_model(state: State) -> None:
    """Translate ``model_args`` of an SMPModelFactory model: ``backbone``, ``model``, ``pretrained`` ..."""
    from geofm.migrate.model_map import geofm_backbone_name
    from geofm.registry import get_registry

    peer = state.peer
    for arg, key in peer.args(ARGS).items():
        value = peer.get(key)
        if arg == "backbone":
            name = geofm_backbone_name(str(value))
            if name is None:
                state.not_carried(key, f"geofm has no backbone like the smp encoder {value!r}", changes_experiment=True)
            else:
                state.backbone = get_registry("backbones").get(name)
                state.map(key, "backbone.name", lambda _, n=name: n, "the same timm CNN")
                state.put("backbone.weights", "none")
        elif arg == "model":
            decoder = f"smp_{str(value).lower()}"
            if decoder in get_registry("decoders"):
                state.map(key, "decoder.name", lambda _, d=decoder: d)
            else:
                state.not_carried(key, f"geofm has no smp decoder {value}", changes_experiment=True)
        elif arg == "pretrained":
            state.map(key, "backbone.pretrained", bool, "timm's ImageNet weights, as smp's encoder")
        elif arg in ("bands", "in_channels"):
            state.defaulted(key, "geofm takes the input channels from the data's bands")
        elif arg == "num_classes":
            state.map(key, "task.num_outputs", int, "checked against the dataset's classes")
        else:
            state.not_carried(key, f"geofm's smp decoders take no {arg!r} here", changes_experiment=True)
