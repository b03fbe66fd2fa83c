"""Generic timm CNN backbones (ResNet, ConvNeXt, EfficientNet ...) through ``features_only``.

The timm model name comes from the spec's ``extra["timm_model"]``, which composition passes as the
``timm_model`` option. Any band count works: timm adapts the first convolution to ``in_chans``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import timm
from torch import Tensor, nn

from geofm.errors import ConfigError, DataError, WeightsError

__all__ = ["TimmBackbone", "build_timm_backbone"]

DEFAULT_IN_CHANS = 6
_HEAD_PREFIXES = ("fc.", "head.", "classifier.", "conv_head.", "bn2.", "global_pool.")


class TimmBackbone(nn.Module):
    """A timm model with ``features_only=True``: ``forward_features`` returns every stage (B, C_i, H/r_i, W/r_i)."""

    output_kind = "maps"
    num_prefix_tokens = 0
    tubelet_size = 1

    def __init__(self, timm_model: str, in_chans: int = DEFAULT_IN_CHANS, pretrained: bool = False) -> None:
        super().__init__()
        self.timm_model = timm_model
        self.in_chans = in_chans
        self.model = timm.create_model(timm_model, features_only=True, in_chans=in_chans, pretrained=pretrained)
        info = self.model.feature_info
        self.out_channels: list[int] = list(info.channels())
        self.out_reductions: list[int] = list(info.reduction())
        self.patch_size = max(self.out_reductions)

    def forward_features(self, x: Tensor, **meta: Any) -> list[Tensor]:
        """Feature maps of every stage, finest first; ``meta`` is accepted and ignored."""
        if x.ndim == 5:
            if x.shape[2] != 1:
                raise DataError(
                    f"{self.timm_model} takes single images but received {x.shape[2]} frames (B, C, T, H, W); "
                    "use a backbone that accepts time series, or one frame"
                )
            x = x[:, :, 0]
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise DataError(f"{self.timm_model} expects (B, {self.in_chans}, H, W), got {tuple(x.shape)}")
        return list(self.model(x))

    def forward(self, x: Tensor, **meta: Any) -> list[Tensor]:
        """Same as :meth:`forward_features`."""
        return self.forward_features(x, **meta)


def _load(backbone: TimmBackbone, checkpoint: Path) -> None:
    from geofm.weights import load_state_dict

    state = load_state_dict(checkpoint)
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    expected = backbone.model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(k for k in set(state) - set(expected) if not k.startswith(_HEAD_PREFIXES))
    if missing or unexpected:
        raise WeightsError(
            f"{checkpoint} does not fit timm model {backbone.timm_model}: missing keys {missing[:8]}, "
            f"unexpected keys {unexpected[:8]}. Pass a timm state dict of this architecture or --weights none."
        )
    try:
        backbone.model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=True)
    except RuntimeError as error:
        raise WeightsError(f"{checkpoint} does not fit timm model {backbone.timm_model}: {error}") from error


def build_timm_backbone(
    *,
    timm_model: str | None = None,
    checkpoint: Path | None = None,
    bands: Sequence[str] | None = None,
    num_frames: int | None = None,
    img_size: int | None = None,
    pretrained: bool = False,
    **meta: Any,
) -> TimmBackbone:
    """Build timm ``timm_model`` with ``len(bands)`` input channels (6 without bands).

    ``pretrained`` loads timm's ImageNet weights from the hub (first layer adapted to the band count);
    ``checkpoint`` (a local state dict of the same architecture) is loaded after. Unknown options are ignored.
    """
    if not timm_model:
        raise ConfigError("build_timm_backbone needs the timm model name: pass timm_model='resnet18' (or similar)")
    if num_frames not in (None, 1):
        raise ConfigError(f"timm model {timm_model} takes single images, not num_frames={num_frames}")
    backbone = TimmBackbone(timm_model, in_chans=len(bands) if bands else DEFAULT_IN_CHANS, pretrained=pretrained)
    if checkpoint is not None:
        _load(backbone, Path(checkpoint))
    return backbone
