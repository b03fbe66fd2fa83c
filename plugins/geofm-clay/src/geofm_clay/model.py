"""The Clay v1 encoder: dynamic patch embedding, position + gsd + time + location encoding, transformer.

Module and parameter names follow the reference implementation, so a released checkpoint's
``model.encoder.*`` keys load into :class:`ClayEncoder` with only the prefix stripped.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geofm.backbone_kit import TokenBackbone, TransformerGeometry, flat_band_names, run_blocks, single_frame_pixels
from geofm.errors import DataError
from geofm_clay.embedding import DynamicEmbedding
from geofm_clay.encodings import (
    gsd_tensor,
    latlon_from_meta,
    posemb_sincos_2d_with_gsd,
    time_from_meta,
    wavelengths_tensor,
)
from geofm_clay.sensors import wavelengths_for

__all__ = ["Attention", "ClayEncoder", "FeedForward", "Transformer"]

_METADATA_DIMS = 8  # time (4) + latlon (4), the last channels of the position encoding


class Attention(nn.Module):
    """Pre-norm multi-head self-attention with bias-free projections (``dim_head`` independent of ``dim``)."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.to_qkv = nn.Linear(dim, heads * dim_head * 3, bias=False)
        self.to_out = nn.Linear(heads * dim_head, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """(B, N, dim) -> (B, N, dim), without the residual."""
        b, n, _ = x.shape
        q, k, v = self.to_qkv(self.norm(x)).reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Module):
    """Pre-norm MLP ``net`` = LayerNorm, Linear, GELU, Linear."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        """(B, N, dim) -> (B, N, dim), without the residual."""
        return self.net(x)


class Transformer(nn.Module):
    """``layers.i`` = [Attention, FeedForward] with residuals, then the final ``norm``."""

    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(
            nn.ModuleList([Attention(dim, heads, dim_head), FeedForward(dim, mlp_dim)]) for _ in range(depth)
        )
        self.grad_checkpointing = False

    @staticmethod
    def _layer(layer: nn.ModuleList, x: Tensor) -> Tensor:
        attn, ff = layer
        x = attn(x) + x
        return ff(x) + x

    def forward_intermediates(self, x: Tensor) -> list[Tensor]:
        """Every layer's output (B, N, dim); the last one after the final norm."""
        layers = [partial(self._layer, layer) for layer in self.layers]
        return run_blocks(layers, x, checkpointing=self.grad_checkpointing and self.training, final_norm=self.norm)

    def forward(self, x: Tensor) -> Tensor:
        """The last layer's output after the final norm."""
        return self.forward_intermediates(x)[-1]


class ClayEncoder(TokenBackbone, nn.Module):
    """Clay's ViT encoder; ``forward_features`` returns every layer's tokens (B, 1 + h*w, dim).

    ``geometry`` sizes the transformer (``dim_head`` is each head's width); ``band_names`` / ``wavelengths``
    describe the channels the module expects by default (wavelengths in micrometres); ``default_gsd`` (metres)
    is used when a batch carries no gsd. The module follows the geofm backbone contract (see
    :mod:`geofm.specs`): ``out_channels``, ``out_reductions``, ``output_kind="tokens"``,
    ``num_prefix_tokens=1`` (the cls token), ``patch_size``, ``tubelet_size=1``.
    """

    def __init__(
        self,
        geometry: TransformerGeometry,
        *,
        dim_head: int = 64,
        patch_size: int = 8,
        wave_dim: int = 128,
        num_latent_tokens: int = 128,
        band_names: Sequence[str] = (),
        wavelengths: Sequence[float] = (),
        default_gsd: float = 10.0,
        img_size: int = 224,
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        dim, depth = geometry.width, geometry.depth
        if (dim - _METADATA_DIMS) % 4:
            raise ValueError(f"Clay needs dim - 8 to be a multiple of 4 (got dim={dim})")
        if band_names and len(band_names) != len(wavelengths):
            raise ValueError(f"{len(band_names)} band names but {len(wavelengths)} wavelengths")
        self.geometry, self.dim, self.img_size = geometry, dim, img_size
        self.band_names = tuple(band_names)
        self.wavelengths = tuple(float(w) for w in wavelengths)
        self.default_gsd = float(default_gsd)
        self.declare_token_features(dim, depth, patch_size)
        self.patch_embedding = DynamicEmbedding(wave_dim, num_latent_tokens, patch_size, dim)
        self.transformer = Transformer(dim, depth, geometry.num_heads, dim_head, geometry.mlp_width)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.transformer.grad_checkpointing = grad_checkpointing

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each layer in the backward pass (less memory, more compute) while training."""
        self.transformer.grad_checkpointing = enable

    def _waves(self, channels: int, waves: Any, band_names: Any, device: torch.device) -> Tensor:
        if waves is not None:
            return wavelengths_tensor(waves, channels, device)
        if band_names is not None:
            return wavelengths_tensor(wavelengths_for(flat_band_names(band_names, "Clay")), channels, device)
        if not self.wavelengths:
            raise DataError("this Clay encoder was built without bands: pass waves=... or band_names=...")
        return wavelengths_tensor(self.wavelengths, channels, device)

    def forward_features(
        self,
        x: Tensor,
        time: Tensor | None = None,
        latlon: Tensor | None = None,
        gsd: Tensor | float | None = None,
        waves: Tensor | Sequence[float] | None = None,
        timestamps: Any = None,
        center_latlon: Any = None,
        band_names: Any = None,
        **ignored: Any,
    ) -> list[Tensor]:
        """Every layer's tokens (B, 1 + h*w, dim), cls first; the last one after the final norm.

        Reference inputs are used as given: ``time`` (B, 4), ``latlon`` (B, 4), ``gsd`` (scalar or (B,)
        metres, applied per sample), ``waves`` (C,) micrometres. Otherwise they come from geofm's batch
        metadata: time from ``timestamps`` (ISO week and hour, UTC), latlon from ``center_latlon``
        (degrees), waves from ``band_names``, else the bands the module was built with; unknown time or
        place gives zeros, an unknown gsd the module's ``default_gsd``. Other keywords are ignored.
        """
        pixels = single_frame_pixels(x, "Clay", self.patch_size)
        b, c, h, w = pixels.shape
        device = pixels.device
        wave_values = self._waves(c, waves, band_names, device)
        if time is None:
            time = time_from_meta(timestamps, b, device)
        if latlon is None:
            latlon = latlon_from_meta(center_latlon, b, device)
        gsd_values = gsd_tensor(gsd, b, self.default_gsd, device)

        patches = self.patch_embedding(pixels, wave_values)  # (B, L, D)
        grid_h, grid_w = h // self.patch_size, w // self.patch_size
        position = posemb_sincos_2d_with_gsd(grid_h, grid_w, self.dim - _METADATA_DIMS, gsd_values)
        metadata = torch.cat((time, latlon), dim=-1).to(device=device, dtype=position.dtype)
        encoding = torch.cat(
            (position.expand(b, -1, -1), metadata[:, None, :].expand(-1, grid_h * grid_w, -1)), dim=-1
        ).detach()
        tokens = torch.cat((self.cls_token.expand(b, -1, -1), patches + encoding), dim=1)
        return self.transformer.forward_intermediates(tokens)

    def forward(self, x: Tensor, **meta: Any) -> list[Tensor]:
        """Same as :meth:`forward_features`."""
        return self.forward_features(x, **meta)
