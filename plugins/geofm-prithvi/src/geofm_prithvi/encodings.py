"""The temporal and location encodings of the TL variants, and the conversion from geofm batch metadata.

geofm batches carry ``timestamps`` (B, T) in seconds since 1970-01-01 UTC and ``center_latlon`` (B, 2) in
degrees, NaN where unknown. Prithvi wants ``temporal_coords`` (B, T, 2) = (year, day of year) and
``location_coords`` (B, 2) = (lon, lat), as its reference inference script passes them.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import torch
from torch import nn

from geofm_prithvi.pos_embed import sincos_1d

__all__ = ["LocationEncoder", "TemporalEncoder", "latlon_to_location", "timestamps_to_year_doy"]


class _HalvedSinCos(nn.Module):
    """Two 1-D sin-cos encodings side by side (the first ``D//2`` channels, then the rest), times ``scale``.

    ``scale`` is a learned parameter (starting at 0.1) when ``trainable_scale``, else a buffer of 1.
    """

    def __init__(self, embed_dim: int, trainable_scale: bool) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.first_dim = embed_dim // 2
        self.second_dim = embed_dim - self.first_dim
        if trainable_scale:
            self.scale = nn.Parameter(torch.full((1,), 0.1))
        else:
            self.register_buffer("scale", torch.ones(1))

    def encode(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """(M,) and (M,) positions -> (M, D)."""
        return self.scale * torch.cat([sincos_1d(self.first_dim, first), sincos_1d(self.second_dim, second)], dim=-1)


class TemporalEncoder(_HalvedSinCos):
    """Sin-cos of the year (first ``D//2`` channels) and of the day of year (the rest), times ``scale``."""

    def __init__(self, embed_dim: int, trainable_scale: bool = False) -> None:
        super().__init__(embed_dim, trainable_scale)

    @property
    def year_dim(self) -> int:
        """Channels of the year encoding."""
        return self.first_dim

    @property
    def day_dim(self) -> int:
        """Channels of the day-of-year encoding."""
        return self.second_dim

    def forward(self, temporal_coords: torch.Tensor, tokens_per_frame: int) -> torch.Tensor:
        """(B, T, 2) year/day -> (B, T*tokens_per_frame, D), each frame's encoding repeated over its tokens."""
        coords = temporal_coords.float()
        batch, frames = coords.shape[:2]
        encoding = self.encode(coords[..., 0].reshape(-1), coords[..., 1].reshape(-1)).reshape(batch, frames, -1)
        return encoding.repeat_interleave(tokens_per_frame, dim=1)


class LocationEncoder(_HalvedSinCos):
    """Sin-cos of coordinate 0 (first ``D//2`` channels) and coordinate 1 (the rest), times ``scale``."""

    def __init__(self, embed_dim: int, trainable_scale: bool = False) -> None:
        super().__init__(embed_dim, trainable_scale)

    def forward(self, location_coords: torch.Tensor) -> torch.Tensor:
        """(B, 2) -> (B, 1, D), broadcast over every patch token by the caller."""
        coords = location_coords.float()
        return self.encode(coords[:, 0], coords[:, 1]).unsqueeze(1)


def timestamps_to_year_doy(timestamps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) seconds since the epoch -> ((B, T, 2) float32 [year, day of year 1..366] UTC, (B, T) valid mask).

    NaN (unknown) timestamps give zeros and ``False`` in the mask.
    """
    values = timestamps.detach().to("cpu", torch.float64)
    out = torch.zeros(*values.shape, 2, dtype=torch.float32)
    valid = torch.isfinite(values)
    flat_out = out.view(-1, 2)
    for i, (seconds, ok) in enumerate(zip(values.reshape(-1).tolist(), valid.reshape(-1).tolist(), strict=True)):
        if ok:
            moment = datetime.fromtimestamp(math.floor(seconds), tz=timezone.utc)
            flat_out[i, 0] = moment.year
            flat_out[i, 1] = moment.timetuple().tm_yday
    return out.to(timestamps.device), valid.to(timestamps.device)


def latlon_to_location(center_latlon: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 2) (lat, lon) degrees -> ((B, 2) float32 (lon, lat) with NaN rows zeroed, (B,) valid mask)."""
    location = center_latlon.flip(-1).float()
    valid = torch.isfinite(location).all(dim=-1)
    return torch.where(valid.unsqueeze(-1), location, torch.zeros_like(location)), valid
