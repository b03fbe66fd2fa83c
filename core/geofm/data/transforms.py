"""Per-sample transforms on numpy arrays, applied jointly to the image and its mask.

Images are (C, H, W) or (C, T, H, W) with the spatial axes last; masks are (H, W). Randomness comes
from an explicit :class:`numpy.random.Generator` so a seed reproduces a run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from geofm.errors import DataError

__all__ = [
    "center_crop_offset",
    "normalize",
    "pad_to",
    "random_crop_offset",
    "random_flips",
]


def normalize(
    image: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    scale: float = 1.0,
    valid: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``(image * scale - mean) / std`` per band (axis 0), as float32; pixels not ``valid`` become 0.

    ``mean`` and ``std`` are in the units after scaling (e.g. reflectance x 10000 when the model was
    pretrained on that). A band count that differs from ``len(mean)`` raises :class:`DataError`.
    The result is a new array, or ``out`` (float32, the image's shape) when given.
    """
    channels = image.shape[0]
    if len(mean) != channels or len(std) != channels:
        raise DataError(
            f"normalisation has {len(mean)} means and {len(std)} stds for an image of {channels} bands; "
            "give one mean and one std per selected band"
        )
    shape = (channels,) + (1,) * (image.ndim - 1)
    mean_arr = np.asarray(mean, np.float32).reshape(shape)
    std_arr = np.asarray(std, np.float32).reshape(shape)
    if out is None:
        out = np.empty(image.shape, np.float32)  # the input is never changed
    if scale == 1.0 and np.result_type(image.dtype, np.float32) == np.float32:
        np.subtract(image, mean_arr, out=out)  # one pass: integer pixels up to 16 bits are exact in float32
    else:
        np.copyto(out, image, casting="unsafe")
        if scale != 1.0:
            np.multiply(out, np.float32(scale), out=out)
        np.subtract(out, mean_arr, out=out)
    np.divide(out, std_arr, out=out)
    if valid is not None:
        np.copyto(out, np.float32(0.0), where=~np.asarray(valid, bool))
    return out


def random_crop_offset(height: int, width: int, size: int, rng: np.random.Generator) -> tuple[int, int]:
    """A uniformly random (row, col) top-left corner of a ``size`` square inside ``height`` x ``width``."""
    row = int(rng.integers(0, max(height - size, 0) + 1))
    col = int(rng.integers(0, max(width - size, 0) + 1))
    return row, col


def center_crop_offset(height: int, width: int, size: int) -> tuple[int, int]:
    """The (row, col) top-left corner of the centred ``size`` square (0 where the image is smaller)."""
    return max(height - size, 0) // 2, max(width - size, 0) // 2


def pad_to(image: np.ndarray, mask: np.ndarray, size: int, *, ignore_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad image (with 0) and mask (with ``ignore_index``) at the bottom/right up to ``size`` x ``size``."""
    height, width = mask.shape
    pad_h, pad_w = max(size - height, 0), max(size - width, 0)
    if not pad_h and not pad_w:
        return image, mask
    image_pad = [(0, 0)] * (image.ndim - 2) + [(0, pad_h), (0, pad_w)]
    return (
        np.pad(image, image_pad, constant_values=0),
        np.pad(mask, [(0, pad_h), (0, pad_w)], constant_values=ignore_index),
    )


def random_flips(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, *, horizontal: bool = True, vertical: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Flip image and mask together, left-right and/or up-down, each with probability 1/2."""
    if horizontal and rng.random() < 0.5:
        image, mask = image[..., ::-1], mask[..., ::-1]
    if vertical and rng.random() < 0.5:
        image, mask = image[..., ::-1, :], mask[..., ::-1, :]
    return np.ascontiguousarray(image), np.ascontiguousarray(mask)
