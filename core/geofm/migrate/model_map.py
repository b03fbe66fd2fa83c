"""``model.model_args``: the peer's EncoderDecoderFactory arguments -> geofm backbone, necks, decoder, head.

Names go through the tables below; a backbone, neck or decoder geofm lacks is *not carried over* and
changes the experiment. Architecture details inside a component geofm has (a decoder's extra block, a
head's hidden layer, drop-path) are reported but do not block: the components, data and numbers that
define the experiment are the same.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from geofm.migrate.peer_yaml import class_name
from geofm.migrate.state import State
from geofm.vocabulary import CLASSIFICATION_TASKS

__all__ = ["BACKBONE_ALIASES", "DECODERS", "NECKS", "geofm_backbone_name", "translate_model"]

ARGS = "model.model_args"

BACKBONE_ALIASES: dict[str, str] = {
    "prithvi_vit_100": "prithvi_eo_v1_100",
    "prithvi_eo_v1": "prithvi_eo_v1_100",
    "prithvi_eo_v1_100m": "prithvi_eo_v1_100",
    "prithvi_eo_v2_tiny": "prithvi_eo_v2_tiny_tl",
    "clay_v1": "clay_v1_base",
    "clay_v1_0": "clay_v1_base",
    "clay_v1_5": "clay_v1_5_large",
    "clay_v15": "clay_v1_5_large",
    "clay_v1_5_large": "clay_v1_5_large",
    "resnet18": "timm_resnet18",
    "resnet50": "timm_resnet50",
    "convnext_tiny": "timm_convnext_tiny",
    "efficientnet_b0": "timm_efficientnet_b0",
}
"""Peer backbone names (lower case, ``terratorch_`` / ``timm_`` / ``smp_`` prefix and ``-`` removed) -> geofm."""

NECKS: dict[str, str | None] = {
    "SelectIndices": "select_levels",
    "ReshapeTokensToImage": "tokens_to_map",
    "LearnedInterpolateToPyramidal": "learned_pyramid",
    "InterpolateToPyramidal": "interpolate_pyramid",
    "AggregateTokens": "token_pool",
    "PermuteDims": None,
    "MaxpoolToPyramidal": None,
    "AddBottleneckLayer": None,
}
"""Peer neck -> geofm neck (``None``: no geofm neck; PermuteDims needs none, the others are missing)."""

DECODERS: dict[str, str] = {
    "UperNetDecoder": "upernet",
    "FCNDecoder": "fcn",
    "UNetDecoder": "smp_unet",
    "IdentityDecoder": "identity",
    "LinearDecoder": "linear",
    "MLPDecoder": "mlp",
}
"""Peer decoder -> geofm decoder; ``smp_<Arch>`` maps to ``smp_<arch>``."""

_REGULARISATION = ("drop_path", "drop_path_rate", "drop_rate", "attn_drop_rate", "proj_drop_rate")


def geofm_backbone_name(name: str) -> str | None:
    """The geofm backbone for a peer backbone name, or ``None`` when geofm has none."""
    from geofm.registry import get_registry

    registry = get_registry("backbones")
    key = str(name).strip().lower().replace("-", "_").replace(".", "_")
    for prefix in ("terratorch_", "timm_", "smp_"):
        if key.startswith(prefix) and key not in registry:
            key = key[len(prefix) :]
    for candidate in (key, BACKBONE_ALIASES.get(key), f"timm_{key}"):
        if candidate and candidate in registry:
            return candidate
    return None


def _backbone(state: State) -> None:
    from geofm.registry import get_registry

    peer, key = state.peer, f"{ARGS}.backbone"
    name = peer.get(key)
    if name is None:
        state.report.not_carried(
            key, "the peer file names no backbone: give --set backbone.name=NAME", changes_experiment=True
        )
        return
    found = geofm_backbone_name(name)
    if found is None:
        names = get_registry("backbones").names()
        close = difflib.get_close_matches(str(name).lower(), names, n=3, cutoff=0.5)
        hint = f" Closest: {', '.join(close)}." if close else ""
        state.not_carried(
            key,
            f"geofm has no backbone {name!r}.{hint} List them with: geofm backbones list",
            changes_experiment=True,
        )
        return
    state.backbone = get_registry("backbones").get(found)
    state.map(key, "backbone.name", lambda _: found, "" if found == name else f"geofm's name for {name}")


def _backbone_options(state: State) -> None:
    spec, peer = state.backbone, state.peer
    for arg, key in peer.args(ARGS).items():
        if not arg.startswith("backbone_") or arg == "backbone" or key in peer.used:
            continue
        option = arg[len("backbone_") :]
        value = peer.get(key)
        if option == "pretrained":
            state.map(
                key, "backbone.weights", lambda v: "auto" if v else "none", "the released weights" if value else ""
            )
        elif option in ("ckpt_path", "pretrained_cfg_overlay"):
            path = value.get("file") if isinstance(value, dict) else value
            state.whole(key)
            state.put("backbone.weights", str(path))
            state.report.mapped(
                key, "backbone.weights", path, "a checkpoint file (geofm weights import also caches it)"
            )
        elif option == "bands":
            state.defaulted(key, "geofm builds the patch embedding for the bands the data delivers (dataset.bands)")
        elif option in ("num_frames", "img_size"):
            state.map(key, f"backbone.{option}")
        elif option == "in_channels":
            bands = state.backbone_bands
            if bands is not None and int(value) != len(bands):
                state.not_carried(key, f"{value} input channels but {len(bands)} bands", changes_experiment=True)
            else:
                state.defaulted(key, "geofm takes the input channels from the bands (one per band)")
        elif option in _REGULARISATION:
            state.not_carried(key, f"geofm's backbones have no {option} option (stochastic depth / dropout)")
        elif option == "coords_encoding" and spec is not None and "coords_encoding" in spec.options:
            default = list(spec.extra.get("coords_encoding") or [])
            if list(value or []) == default:
                state.defaulted(key, f"{spec.name} uses {default or 'no'} time/location encodings by default")
            else:
                state.map(key, "backbone.coords_encoding", lambda v: list(v or []))
        elif spec is not None and option in spec.options:
            state.map(key, f"backbone.{option}")
        else:
            what = spec.name if spec is not None else "the backbone"
            state.not_carried(key, f"{what} has no option {option!r}", changes_experiment=True)


def _levels_count(state: State) -> int:
    levels = state.value("necks", [])
    for neck in levels:
        if isinstance(neck, dict) and neck.get("name") == "select_levels" and neck.get("levels"):
            return len(neck["levels"])
    return 4


def _necks(state: State) -> None:
    peer, necks = state.peer, []
    for _, item in peer.items(f"{ARGS}.necks"):
        name = str(peer.get(f"{item}.name"))
        name = class_name(name)
        target = NECKS.get(name)
        args = {arg: key for arg, key in peer.args(item).items() if arg != "name"}
        where = f"necks[{len(necks)}]"
        if target is None and name == "PermuteDims":
            state.defaulted(f"{item}.name", "geofm's backbones deliver channel-first maps; nothing to permute")
            for key in args.values():
                state.defaulted(key, "see PermuteDims")
            continue
        if target is None:
            state.not_carried(
                f"{item}.name",
                f"geofm has no neck like {name}; list necks with: geofm necks list",
                changes_experiment=True,
            )
            state.whole(item)
            continue
        neck: dict[str, Any] = {"name": target}
        necks.append(neck)
        state.put("necks", necks)
        why = ""
        if name == "InterpolateToPyramidal":
            why = "geofm interpolates bilinearly (the peer: nearest)"
        state.record(f"{item}.name", f"{where}.name", why)
        for arg, key in args.items():
            value = peer.get(key)
            if name == "SelectIndices" and arg == "indices":
                neck["levels"] = list(value)
                state.record(key, f"{where}.levels")
            elif name == "ReshapeTokensToImage" and arg == "remove_cls_token" and value:
                state.defaulted(key, "tokens_to_map drops the cls token")
            elif name == "ReshapeTokensToImage" and arg == "effective_time_dim":
                state.defaulted(key, "tokens_to_map folds the model's time steps into channels (num_frames / tubelet)")
            elif name == "InterpolateToPyramidal" and arg == "scale_factor":
                count = _levels_count(state)
                neck["scales"] = [float(value) ** (count - i) for i in range(count)]
                state.record(key, f"{where}.scales", f"level i of n scaled by {value}^(n-i)")
            elif name == "InterpolateToPyramidal" and arg == "mode":
                state.not_carried(key, "geofm's interpolate_pyramid interpolates bilinearly")
            elif name == "AggregateTokens" and arg in ("pooling", "mode"):
                neck["mode"] = str(value)
                state.record(key, f"{where}.mode")
            else:
                state.not_carried(key, f"geofm's {target} has no option {arg!r}", changes_experiment=True)
        if name == "InterpolateToPyramidal" and "scale_factor" not in args:
            count = _levels_count(state)
            neck["scales"] = [2.0 ** (count - i) for i in range(count)]


def _pyramid_finest(state: State) -> int:
    """The reduction of the finest map the decoder receives (for smp's U-Net block count)."""
    spec = state.backbone
    if spec is None or not spec.feature_reductions:
        return 4
    necks = state.value("necks") or []
    reductions = list(spec.feature_reductions)
    chosen = next((n["levels"] for n in necks if n.get("name") == "select_levels" and n.get("levels")), None)
    if spec.output_kind == "tokens":
        base = reductions[-1]
        pyramid = next((n for n in necks if n.get("name") in ("learned_pyramid", "interpolate_pyramid")), None)
        scale = float((pyramid or {}).get("scales", [4.0])[0])
        return max(1, round(base / scale))
    levels = chosen or list(spec.default_levels) or list(range(len(reductions)))
    return min(reductions[i] for i in levels[-4:])


def _two_adic(value: int) -> int:
    count = 0
    while value > 1 and value % 2 == 0:
        value //= 2
        count += 1
    return count


def _unet_channels(state: State, channels: list[int]) -> tuple[list[int], str]:
    """smp_unet's ``decoder_channels`` for the peer's UNetDecoder channels, and what differs."""
    blocks = _two_adic(_pyramid_finest(state)) + 3
    if len(channels) == blocks:
        return channels, ""
    if len(channels) < blocks:
        extra = [channels[-1]] * (blocks - len(channels))
        return channels + extra, (
            f"the same smp U-Net blocks, plus {len(extra)} more of {channels[-1]} channels that upsample to the "
            "input size (the peer resizes its output bilinearly instead)"
        )
    return channels[:blocks], f"geofm's smp_unet has {blocks} blocks for this pyramid; the last were dropped"


def _decoder(state: State) -> None:
    from geofm.registry import get_registry

    peer, key = state.peer, f"{ARGS}.decoder"
    name = peer.get(key)
    if name is None:
        return  # geofm's default decoder for the task (upernet, or identity to classify)
    name = class_name(name)
    target = DECODERS.get(name)
    if target is None and name.lower().startswith("smp_"):
        target = name.lower()
    if target is None or target not in get_registry("decoders"):
        state.not_carried(
            key, f"geofm has no decoder like {name}; list them with: geofm decoders list", changes_experiment=True
        )
        return
    state.decoder = target
    why = ""
    if name == "FCNDecoder":
        why = "geofm's fcn convolves at the feature resolution; the peer's upsamples x2 per conv (transposed convs)"
    state.map(key, "decoder.name", lambda _: target, why)
    spec = get_registry("decoders").get(target)
    options = {arg[len("decoder_") :]: k for arg, k in peer.args(ARGS).items() if arg.startswith("decoder_")}
    if name == "FCNDecoder" and "num_convs" not in options:
        state.put("decoder.num_convs", 4)  # the peer's FCNDecoder default
    for option, option_key in options.items():
        value = peer.get(option_key)
        if name == "UNetDecoder" and option == "channels":
            channels, note = _unet_channels(state, [int(c) for c in value])
            state.decoder_out_channels = channels[-1]
            state.map(option_key, "decoder.decoder_channels", lambda _, c=channels: c, note)
        elif option == "channels" and "channels" in spec.options:
            state.decoder_out_channels = int(value)
            state.map(option_key, "decoder.channels", int)
        elif option == "in_index" and int(value) == -1:
            state.defaulted(option_key, f"geofm's {target} reads the last feature level")
        elif option == "scale_modules" and not value:
            state.defaulted(option_key, "no scale modules (geofm's pyramid comes from the necks)")
        elif option in spec.options:
            state.map(option_key, f"decoder.{option}")
        else:
            state.not_carried(option_key, f"geofm's {target} has no option {option!r}", changes_experiment=True)
    if name == "UNetDecoder":
        state.put("decoder.add_center_block", False)


def _head(state: State) -> None:
    peer = state.peer
    for arg, key in peer.args(ARGS).items():
        if not arg.startswith("head_"):
            continue
        option, value = arg[len("head_") :], peer.get(key)
        if option == "dropout" and state.task_type != "regression":
            state.map(key, "head.dropout", float)
        elif option == "channel_list" and state.task_type in CLASSIFICATION_TASKS:
            state.map(key, "head.hidden", list)
        elif option == "channel_list" and list(value or []) == [state.decoder_out_channels]:
            state.map(key, "head.extra_conv", lambda _: True, "one 3x3 conv-norm-ReLU at the decoder's width")
        elif option == "channel_list":
            state.not_carried(
                key,
                f"geofm's dense head has at most one 3x3 block at the decoder's width "
                f"({state.decoder_out_channels}), not hidden layers of {value} channels",
            )
        elif option == "learned_upscale_layers" and state.task_type == "regression":
            state.map(key, "head.learned_upsample", int)
        elif option == "final_act" and state.task_type == "regression":
            act = class_name(value).lower() if value else None
            state.map(key, "head.activation", lambda _, a=act: a)
        else:
            state.not_carried(key, f"geofm's head has no option {option!r}", changes_experiment=True)
    if state.task_type == "segmentation" and f"{ARGS}.head_dropout" not in peer:
        state.put("head.dropout", 0.0)
        state.report.mapped("(peer default) head_dropout", "head.dropout", 0.0, "the peer's head has no dropout")


def _aux_heads(state: State) -> None:
    peer = state.peer
    heads: list[dict[str, Any]] = []
    names: dict[Any, tuple[dict[str, Any], str]] = {}
    levels = next((n.get("levels") for n in state.value("necks") or [] if n.get("name") == "select_levels"), None)
    for _, item in peer.items("model.aux_heads"):
        name = peer.get(f"{item}.name")
        decoder = class_name(peer.get(f"{item}.decoder") or "FCNDecoder")
        target = DECODERS.get(decoder)
        where = f"aux_heads[{len(heads)}]"
        if target is None:
            state.not_carried(f"{item}.decoder", f"geofm has no decoder like {decoder}", changes_experiment=True)
            state.whole(item)
            continue
        in_index = int(peer.get(f"{item}.decoder_args.decoder_in_index", -1))
        level = levels[in_index] if levels else in_index
        head: dict[str, Any] = {"decoder": target, "level": level, "weight": 1.0}
        if decoder == "FCNDecoder":
            head["num_convs"] = 4
        heads.append(head)
        names[name] = (head, where)
        state.record(f"{item}.name", where)
        state.record(f"{item}.decoder", f"{where}.decoder", f"geofm's {target}")
        for arg, key in peer.args(f"{item}.decoder_args").items():
            option = arg[len("decoder_") :] if arg.startswith("decoder_") else arg
            value = peer.get(key)
            if option == "in_index":
                state.record(key, f"{where}.level", f"backbone level {level} (the peer feeds the neck's output)")
            elif option in ("channels", "num_convs"):
                head[option] = int(value)
                state.record(key, f"{where}.{option}")
            elif arg == "head_dropout" and float(value) == 0.1:
                state.defaulted(key, "geofm's aux heads drop out 0.1")
            else:
                state.not_carried(key, f"geofm's aux heads take no {arg!r}")
    for arg, key in peer.args("model.aux_loss").items():
        if arg in names:
            head, where = names[arg]
            head["weight"] = float(peer.get(key))
            state.record(key, f"{where}.weight")
        else:
            state.not_carried(key, f"no aux head named {arg!r}")
    if heads:
        state.put("aux_heads", heads)


def _other_args(state: State) -> None:
    peer = state.peer
    for arg, key in peer.args(ARGS).items():
        if key in peer.used:
            continue
        value = peer.get(key)
        data_classes = peer.get("data.num_classes")
        if arg == "num_classes" and data_classes is not None and int(data_classes) != int(value):
            state.not_carried(key, f"the data module has {data_classes} classes", changes_experiment=True)
        elif arg == "num_classes":
            state.map(key, "task.num_outputs", int, "checked against the dataset's classes")
        elif arg == "rescale":
            if value:
                state.defaulted(key, "geofm resizes the output to the input size")
            else:
                state.not_carried(key, "geofm always resizes the model output to the input size")
        elif re.fullmatch(r"(backbone|decoder|head)_.*|backbone|decoder|necks", arg):
            continue
        else:
            state.not_carried(key, f"geofm's model has no counterpart of {arg!r}", changes_experiment=True)


def translate_model(state: State) -> None:
    """Translate ``model.model_args`` (and the task's aux heads) into geofm's model sections."""
    if class_name(state.peer.get("model.model_factory") or "") == "SMPModelFactory":
        from geofm.migrate.smp_factory import translate_smp_model

        translate_smp_model(state)
        return
    _backbone(state)
    if state.backbone is not None:
        _backbone_options(state)
    else:
        for arg, key in state.peer.args(ARGS).items():
            if arg.startswith("backbone_"):
                state.not_carried(key, "its backbone is not carried over", changes_experiment=False)
    _necks(state)
    _decoder(state)
    _head(state)
    _aux_heads(state)
    _other_args(state)
