"""Torch helpers of the transformer backbones: running blocks, initialising linears, checking the input."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint as activation_checkpoint

from geofm.errors import DataError

__all__ = ["GradCheckpointing", "ResidualMlp", "TokenBackbone", "init_linears", "run_blocks", "single_frame_pixels"]


def run_blocks(
    blocks: Iterable[Callable[[Tensor], Tensor]],
    hidden: Tensor,
    *,
    checkpointing: bool = False,
    final_norm: Callable[[Tensor], Tensor] | None = None,
) -> list[Tensor]:
    """Every block's output, the blocks applied in turn; ``final_norm`` (if any) applied to the last one.

    With ``checkpointing`` (and gradients enabled) each block's activations are recomputed in the
    backward pass instead of kept.
    """
    outputs: list[Tensor] = []
    for block in blocks:
        if checkpointing and torch.is_grad_enabled():
            hidden = activation_checkpoint(block, hidden, use_reentrant=False)
        else:
            hidden = block(hidden)
        outputs.append(hidden)
    if final_norm is not None:
        outputs[-1] = final_norm(outputs[-1])
    return outputs


def init_linears(module: nn.Module, bias: float = 0.0) -> None:
    """Xavier-uniform weights and constant ``bias`` for every ``nn.Linear`` in ``module`` (MAE-style)."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.constant_(layer.bias, bias)


def single_frame_pixels(x: Tensor, model: str, patch_size: int, hint: str = "pad or crop it") -> Tensor:
    """A (B, C, H, W) or (B, C, 1, H, W) input as (B, C, H, W), its size a multiple of ``patch_size``.

    Anything else raises a :class:`~geofm.errors.DataError` naming ``model``; ``hint`` says what to do
    with a size that does not fit the patch.
    """
    if x.ndim == 5:
        if x.shape[2] != 1:
            raise DataError(
                f"{model} is a single-time model but the input has {x.shape[2]} frames (B, C, T, H, W = "
                f"{tuple(x.shape)}); give one frame, or use a multi-temporal backbone"
            )
        x = x[:, :, 0]
    if x.ndim != 4:
        raise DataError(f"{model} expects (B, C, H, W) or (B, C, 1, H, W); got shape {tuple(x.shape)}")
    height, width = x.shape[-2:]
    if height % patch_size or width % patch_size:
        raise DataError(f"input size {height}x{width} is not a multiple of {model}'s patch size {patch_size}; {hint}")
    return x


class ResidualMlp(nn.Module):
    """``x + act(second(act(first(x))))`` of constant width; ``names`` are the two linears' attribute names.

    The names keep a reference implementation's parameter names (and so its checkpoints' keys).
    """

    def __init__(self, size: int, activation: Callable[[Tensor], Tensor], names: Sequence[str]) -> None:
        super().__init__()
        first, second = names
        self._names = (first, second)
        self._activation = activation
        for name in self._names:
            self.add_module(name, nn.Linear(size, size))

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block to (..., size)."""
        first, second = (getattr(self, name) for name in self._names)
        return x + self._activation(second(self._activation(first(x))))


class GradCheckpointing:
    """Mixin of a backbone whose ``grad_checkpointing`` attribute turns activation checkpointing on."""

    grad_checkpointing: bool = False

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Turn activation checkpointing of the blocks on or off (timm's method name)."""
        self.grad_checkpointing = enable


class TokenBackbone:
    """Mixin of a ViT-style backbone: geofm's contract attributes for one token feature per block.

    By default one cls token precedes the patch tokens and a token is one frame's patch; a subclass
    overrides ``num_prefix_tokens`` / ``tubelet_size`` where it differs.
    """

    output_kind = "tokens"
    num_prefix_tokens = 1
    tubelet_size = 1

    def declare_token_features(self, width: int, depth: int, patch_size: int) -> None:
        """Set ``patch_size``, and ``out_channels`` / ``out_reductions`` of ``depth`` features of ``width``."""
        self.patch_size = patch_size
        self.out_channels = [width] * depth
        self.out_reductions = [patch_size] * depth
