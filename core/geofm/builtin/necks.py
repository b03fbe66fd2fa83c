"""The built-in necks: select levels, tokens -> maps, pyramids, and pooling for classification.

Every neck is built as ``Neck(in_channels=[...], in_reductions=[...], **options)`` and called as
``neck(features, context)``; ``out_channels`` / ``out_reductions`` describe what it returns (a
reduction of 0 marks a vector).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geofm.errors import DataError, IncompatibleComponentsError
from geofm.features import FeatureContext

__all__ = ["GlobalPool", "InterpolatePyramid", "LearnedPyramid", "SelectLevels", "TokenPool", "TokensToMap"]


def _check_inputs(name: str, in_channels: Sequence[int], in_reductions: Sequence[int]) -> None:
    if not in_channels or len(in_channels) != len(in_reductions):
        raise IncompatibleComponentsError(
            f"neck {name}: in_channels {list(in_channels)} and in_reductions {list(in_reductions)} must be "
            "non-empty lists of one entry per feature"
        )


def _check_count(name: str, features: Sequence[Tensor], expected: int) -> None:
    if len(features) != expected:
        raise DataError(f"neck {name} was built for {expected} features but received {len(features)}")


class SelectLevels(nn.Module):
    """Keep the features at ``levels`` (indices, negatives count from the end; default: all)."""

    def __init__(
        self, in_channels: Sequence[int], in_reductions: Sequence[int], levels: Sequence[int] | int | None = None
    ) -> None:
        super().__init__()
        _check_inputs("select_levels", in_channels, in_reductions)
        count = len(in_channels)
        chosen = range(count) if levels is None else [levels] if isinstance(levels, int) else list(levels)
        bad = [level for level in chosen if not -count <= level < count]
        if bad or not chosen:
            raise IncompatibleComponentsError(
                f"neck select_levels: levels {list(chosen)} are not valid indices of {count} features "
                f"(use 0..{count - 1} or negatives)"
            )
        self.levels = [level % count for level in chosen]
        self.in_count = count
        self.out_channels = [in_channels[i] for i in self.levels]
        self.out_reductions = [in_reductions[i] for i in self.levels]

    def forward(self, features: list[Tensor], context: FeatureContext) -> list[Tensor]:
        """The selected features, in the order of ``levels``."""
        _check_count("select_levels", features, self.in_count)
        return [features[i] for i in self.levels]


class TokensToMap(nn.Module):
    """Token sequences (B, P + T'H'W', D) -> maps: drop the P prefix tokens and fold time into channels.

    ``num_frames`` is the temporal grid size T' the model is built for. ``time="concat"`` gives
    (B, T'*D, H', W') with channel ``t*D + e``; ``time="mean"`` averages over time to (B, D, H', W').
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        in_reductions: Sequence[int],
        num_frames: int = 1,
        time: Literal["concat", "mean"] = "concat",
    ) -> None:
        super().__init__()
        _check_inputs("tokens_to_map", in_channels, in_reductions)
        if num_frames < 1 or time not in ("concat", "mean"):
            raise IncompatibleComponentsError(
                f"neck tokens_to_map: num_frames must be >= 1 (got {num_frames}) and time 'concat' or 'mean' "
                f"(got {time!r})"
            )
        self.num_frames = num_frames
        self.time = time
        factor = num_frames if time == "concat" else 1
        self.out_channels = [c * factor for c in in_channels]
        self.out_reductions = list(in_reductions)

    def forward(self, features: list[Tensor], context: FeatureContext) -> list[Tensor]:
        """One map per token feature."""
        if context.grid is None:
            raise DataError("neck tokens_to_map needs the token grid (T', H', W') but the context has none")
        frames, height, width = context.grid
        if frames != self.num_frames:
            raise DataError(
                f"neck tokens_to_map was built for {self.num_frames} frame(s) per token grid but the input gives "
                f"{frames}; build the model with num_frames matching the data"
            )
        return [self._to_map(tokens, context.num_prefix_tokens, frames, height, width) for tokens in features]

    def _to_map(self, tokens: Tensor, prefix: int, frames: int, height: int, width: int) -> Tensor:
        batch, length, dim = tokens.shape
        if length != prefix + frames * height * width:
            raise DataError(
                f"neck tokens_to_map: {length} tokens do not match {prefix} prefix + a {frames}x{height}x{width} grid"
            )
        grid = tokens[:, prefix:].reshape(batch, frames, height, width, dim)
        if self.time == "mean":
            return grid.mean(dim=1).permute(0, 3, 1, 2).contiguous()
        return grid.permute(0, 1, 4, 2, 3).reshape(batch, frames * dim, height, width).contiguous()


def _pyramid_sources(name: str, in_channels: Sequence[int], in_reductions: Sequence[int], levels: int) -> list[int]:
    """Which input feeds each of the ``levels`` outputs: one input for all, or one each."""
    _check_inputs(name, in_channels, in_reductions)
    if len(set(in_reductions)) != 1:
        raise IncompatibleComponentsError(
            f"neck {name} needs maps of one stride, got reductions {list(in_reductions)}; they already form a "
            "pyramid, so remove the neck"
        )
    if len(in_channels) == 1:
        return [0] * levels
    if len(in_channels) == levels:
        return list(range(levels))
    raise IncompatibleComponentsError(
        f"neck {name} takes 1 or {levels} maps but receives {len(in_channels)}; add --neck select_levels before it"
    )


class InterpolatePyramid(nn.Module):
    """Same-stride maps -> a pyramid: resize level i by ``scales[i]`` (bilinear up, max-pool down).

    With the default scales (4, 2, 1, 0.5) maps of reduction r become reductions r/4, r/2, r and 2r;
    channels are unchanged. One input map feeds every level; otherwise there is one input per scale.
    """

    def __init__(
        self, in_channels: Sequence[int], in_reductions: Sequence[int], scales: Sequence[float] = (4, 2, 1, 0.5)
    ) -> None:
        super().__init__()
        if not scales or any(s <= 0 or (s < 1 and (1 / s) != int(1 / s)) for s in scales):
            raise IncompatibleComponentsError(
                f"neck interpolate_pyramid: scales {list(scales)} must be positive, and those below 1 of the form 1/n"
            )
        self.sources = _pyramid_sources("interpolate_pyramid", in_channels, in_reductions, len(scales))
        self.scales = [float(s) for s in scales]
        self.out_channels = [in_channels[i] for i in self.sources]
        self.out_reductions = [max(1, round(in_reductions[0] / s)) for s in self.scales]

    def forward(self, features: list[Tensor], context: FeatureContext) -> list[Tensor]:
        """The resized maps, finest first."""
        _check_count("interpolate_pyramid", features, max(self.sources) + 1)
        outputs = []
        for source, scale in zip(self.sources, self.scales, strict=True):
            x = features[source]
            if scale > 1:
                x = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
            elif scale < 1:
                x = F.max_pool2d(x, kernel_size=round(1 / scale))
            outputs.append(x)
        return outputs


class LearnedPyramid(nn.Module):
    """Same-stride maps -> a 4-level pyramid with learned upsampling (as ViTDet's simple feature pyramid).

    Level 0: two stride-2 transposed convolutions (x4, channels C/4); level 1: one (x2, C/2); level 2:
    unchanged; level 3: 2x2 max pooling. Reductions become r/4, r/2, r, 2r.
    """

    def __init__(self, in_channels: Sequence[int], in_reductions: Sequence[int]) -> None:
        super().__init__()
        self.sources = _pyramid_sources("learned_pyramid", in_channels, in_reductions, 4)
        c0, c1, c2, c3 = (in_channels[i] for i in self.sources)
        if c0 % 4 or c1 % 2:
            raise IncompatibleComponentsError(
                f"neck learned_pyramid halves the channels twice: {c0} and {c1} must be divisible by 4 and 2"
            )
        self.levels = nn.ModuleList(
            [
                nn.Sequential(
                    nn.ConvTranspose2d(c0, c0 // 2, kernel_size=2, stride=2),
                    nn.BatchNorm2d(c0 // 2),
                    nn.GELU(),
                    nn.ConvTranspose2d(c0 // 2, c0 // 4, kernel_size=2, stride=2),
                ),
                nn.ConvTranspose2d(c1, c1 // 2, kernel_size=2, stride=2),
                nn.Identity(),
                nn.MaxPool2d(kernel_size=2),
            ]
        )
        reduction = in_reductions[0]
        self.out_channels = [c0 // 4, c1 // 2, c2, c3]
        self.out_reductions = [max(1, reduction // 4), max(1, reduction // 2), reduction, reduction * 2]

    def forward(self, features: list[Tensor], context: FeatureContext) -> list[Tensor]:
        """The four pyramid levels, finest first."""
        _check_count("learned_pyramid", features, max(self.sources) + 1)
        return [level(features[source]) for level, source in zip(self.levels, self.sources, strict=True)]


class _PoolToVector(nn.Module):
    """A neck that pools its last feature into one vector (B, D) in one of ``modes``; checks inputs and mode."""

    def __init__(
        self, name: str, in_channels: Sequence[int], in_reductions: Sequence[int], mode: str, modes: Sequence[str]
    ) -> None:
        super().__init__()
        _check_inputs(name, in_channels, in_reductions)
        if mode not in modes:
            raise IncompatibleComponentsError(f"neck {name}: mode {mode!r} is not one of {', '.join(modes)}")
        self.mode = mode
        self.out_channels = [in_channels[-1]]
        self.out_reductions = [0]


class TokenPool(_PoolToVector):
    """The last token feature (B, P + N, D) -> one vector (B, D): mean or max of the patch tokens, or the cls token.

    Over several frames the patch tokens of every frame are pooled together.
    """

    def __init__(
        self, in_channels: Sequence[int], in_reductions: Sequence[int], mode: Literal["mean", "max", "cls"] = "mean"
    ) -> None:
        super().__init__("token_pool", in_channels, in_reductions, mode, ("mean", "max", "cls"))

    def forward(self, features: list[Tensor], context: FeatureContext) -> list[Tensor]:
        """One pooled vector of the last feature."""
        tokens = features[-1]
        prefix = context.num_prefix_tokens
        if self.mode == "cls":
            if prefix < 1:
                raise DataError("neck token_pool mode 'cls' needs a cls token but the backbone has none; use mean")
            return [tokens[:, 0]]
        patches = tokens[:, prefix:]
        pooled = patches.mean(dim=1) if self.mode == "mean" else patches.amax(dim=1)
        return [pooled]


class GlobalPool(_PoolToVector):
    """The last map (B, C, h, w) -> one vector (B, C) by global mean or max pooling."""

    def __init__(
        self, in_channels: Sequence[int], in_reductions: Sequence[int], mode: Literal["mean", "max"] = "mean"
    ) -> None:
        super().__init__("global_pool", in_channels, in_reductions, mode, ("mean", "max"))

    def forward(self, features: list[Tensor], context: FeatureContext) -> list[Tensor]:
        """One pooled vector of the last map."""
        x = features[-1]
        pooled = x.mean(dim=(-2, -1)) if self.mode == "mean" else torch.amax(x, dim=(-2, -1))
        return [pooled]
