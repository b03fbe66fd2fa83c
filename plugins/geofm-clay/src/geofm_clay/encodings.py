"""Clay's encodings: wavelengths (1-D sin-cos), token grid + gsd (2-D sin-cos), time and location.

Also turns geofm's batch metadata (``timestamps``, ``center_latlon``, ``gsd``) into Clay's reference
inputs (``time`` (B, 4), ``latlon`` (B, 4), ``gsd``), with zeros for unknown time or place as in pretraining.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import torch
from torch import Tensor

from geofm.errors import DataError

__all__ = [
    "gsd_tensor",
    "latlon_from_meta",
    "posemb_sincos_1d",
    "posemb_sincos_2d_with_gsd",
    "time_from_meta",
    "wavelengths_tensor",
]


def posemb_sincos_1d(waves: Tensor, dim: int, temperature: float = 10000.0) -> Tensor:
    """Wavelengths (C,) -> (C, dim): ``[sin(w * omega) | cos(w * omega)]``, omega_k = 1 / T^(k / (dim/2 - 1))."""
    if dim % 2:
        raise ValueError(f"wave encoding width {dim} must be even")
    omega = torch.arange(dim // 2, device=waves.device) / (dim // 2 - 1)
    omega = 1.0 / (temperature**omega)
    scaled = waves.float()[:, None] * omega[None, :]
    return torch.cat((scaled.sin(), scaled.cos()), dim=1)


def posemb_sincos_2d_with_gsd(h: int, w: int, dim: int, gsd: Tensor, temperature: float = 10000.0) -> Tensor:
    """The h x w token grid (row-major) -> (B, h*w, dim) sin-cos table scaled by the gsd of each sample.

    ``gsd`` is (B,) metres (or a scalar, giving B = 1). Per sample this is exactly Clay's
    ``posemb_sincos_2d_with_gsd``: ``[sin(x f), cos(x f), sin(y f), cos(y f)]`` with x the column and y
    the row index and f_k = gsd / T^(2 (k / (dim/4 - 1)) / dim). Clay assumes a square grid; the same
    formula serves h != w.
    """
    if dim % 4:
        raise ValueError(f"position encoding width {dim} must be a multiple of 4")
    device = gsd.device
    y, x = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    omega = torch.arange(dim // 4, device=device) / (dim // 4 - 1)
    omega = (1.0 / (temperature ** (2 * omega / dim)))[None, :] * gsd.float().reshape(-1, 1)  # (B, Q)
    y = y.flatten()[None, :, None] * omega[:, None, :]
    x = x.flatten()[None, :, None] * omega[:, None, :]
    return torch.cat((x.sin(), x.cos(), y.sin(), y.cos()), dim=2)


def _values(value: Any, batch: int, width: int, name: str) -> list[list[float]]:
    """``value`` as ``batch`` rows of ``width`` floats (first column(s) of a (B, T[, ...]) array)."""
    tensor = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    if tensor.ndim == 1 and width == 1:
        tensor = tensor[:, None]
    if tensor.ndim < 2 or tensor.shape[0] != batch or tensor.shape[-1] < width:
        raise DataError(
            f"meta {name!r} has shape {tuple(tensor.shape)}; expected ({batch}, ...) for a batch of {batch}"
        )
    return tensor.reshape(batch, -1)[:, :width].tolist()


def time_from_meta(timestamps: Any, batch: int, device: torch.device) -> Tensor:
    """``timestamps`` (B,) or (B, T) seconds since 1970 UTC -> Clay's time (B, 4); NaN or absent -> zeros.

    ``[sin w, cos w, sin h, cos h]`` with w = ISO week * 2 pi / 52 and h = hour * 2 pi / 24 of the first
    frame's time (UTC).
    """
    if timestamps is None:
        return torch.zeros(batch, 4, dtype=torch.float32, device=device)
    rows: list[list[float]] = []
    for (seconds,) in _values(timestamps, batch, 1, "timestamps"):
        if not math.isfinite(seconds):
            rows.append([0.0, 0.0, 0.0, 0.0])
            continue
        moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
        week = moment.isocalendar()[1] * 2 * math.pi / 52
        hour = moment.hour * 2 * math.pi / 24
        rows.append([math.sin(week), math.cos(week), math.sin(hour), math.cos(hour)])
    return torch.tensor(rows, dtype=torch.float32, device=device)


def latlon_from_meta(center_latlon: Any, batch: int, device: torch.device) -> Tensor:
    """``center_latlon`` (B, 2) degrees -> Clay's latlon (B, 4) ``[sin lat, cos lat, sin lon, cos lon]``.

    A sample with a NaN coordinate (or no ``center_latlon`` at all) gets zeros.
    """
    if center_latlon is None:
        return torch.zeros(batch, 4, dtype=torch.float32, device=device)
    rows: list[list[float]] = []
    for lat, lon in _values(center_latlon, batch, 2, "center_latlon"):
        if not (math.isfinite(lat) and math.isfinite(lon)):
            rows.append([0.0, 0.0, 0.0, 0.0])
            continue
        lat, lon = math.radians(lat), math.radians(lon)
        rows.append([math.sin(lat), math.cos(lat), math.sin(lon), math.cos(lon)])
    return torch.tensor(rows, dtype=torch.float32, device=device)


def gsd_tensor(gsd: Any, batch: int, default: float, device: torch.device) -> Tensor:
    """``gsd`` (scalar or (B,) metres; NaN or absent -> ``default``) as a float32 tensor (B,) or scalar ()."""
    if gsd is None:
        return torch.tensor(float(default), dtype=torch.float32, device=device)
    tensor = torch.as_tensor(gsd).to(device=device, dtype=torch.float32)
    if tensor.numel() == 1:
        tensor = tensor.reshape(())
    elif tensor.numel() != batch:
        raise DataError(f"meta 'gsd' has {tensor.numel()} values for a batch of {batch}; give one per sample")
    else:
        tensor = tensor.reshape(batch)
    return torch.where(torch.isfinite(tensor), tensor, torch.full_like(tensor, float(default)))


def wavelengths_tensor(waves: Sequence[float] | Tensor, channels: int, device: torch.device) -> Tensor:
    """Wavelengths (C,) in micrometres as float32 on ``device``; their number must equal the channels."""
    tensor = torch.as_tensor(waves, dtype=torch.float32, device=device).reshape(-1)
    if tensor.shape[0] != channels:
        raise DataError(
            f"{tensor.shape[0]} wavelengths for an input of {channels} channels: Clay needs one wavelength per "
            "band; build the backbone with the input's bands (bands=...) or pass waves=... / band_names=..."
        )
    return tensor
