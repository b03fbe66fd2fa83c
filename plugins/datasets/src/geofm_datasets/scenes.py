"""Synthetic land-cover scenes in the six HLS bands: class layouts and per-class spectra (numpy only).

A scene is a label map of four classes (water, vegetation, bare soil, built-up) laid out as smooth
random fields (fields and soils), thresholded blobs and a sinuous river (water) and rectangular blocks
of buildings, streets and gardens (built-up), and an image of reflectance x 10000 made from per-class
spectra with smooth within-class variation, mixed pixels at boundaries, scene-wide gain and haze, and
sensor noise. Pixel spectra alone confuse built-up with soil and vegetation, so spatial context pays.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CLASSES", "LABEL_NODATA", "NODATA", "SPECTRA", "add_nodata", "make_scene"]

CLASSES = ("water", "vegetation", "bare_soil", "built_up")
NODATA = -9999
LABEL_NODATA = 255

# reflectance x 10000 in BLUE, GREEN, RED, NIR_NARROW, SWIR_1, SWIR_2
SPECTRA = np.array(
    [
        [700, 650, 450, 250, 120, 80],  # water: dark, NIR and SWIR absorbed
        [350, 650, 400, 3300, 1900, 950],  # vegetation: red edge, bright NIR
        [1000, 1300, 1600, 2300, 2900, 2600],  # bare soil: rising to SWIR
        [1500, 1600, 1650, 1850, 1950, 1850],  # built-up: flat and bright (concrete)
    ],
    dtype=np.float64,
)
_ROOFS = np.array(
    [
        [1700, 1800, 1850, 2000, 2100, 2000],  # concrete
        [1000, 1100, 1500, 1800, 2100, 1900],  # red tiles
        [800, 850, 900, 1000, 1100, 1050],  # dark roofing
    ],
    dtype=np.float64,
)
_ASPHALT = np.array([700, 750, 800, 900, 1000, 950], dtype=np.float64)
_HAZE = np.array([1.0, 0.7, 0.45, 0.15, 0.03, 0.0])


def _smooth(field: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian filter (periodic, through the FFT) of a 2-D or (C, H, W) field."""
    height, width = field.shape[-2:]
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    kernel = np.exp(-2.0 * (np.pi * sigma) ** 2 * (fy**2 + fx**2))
    return np.fft.ifft2(np.fft.fft2(field) * kernel).real


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    field = _smooth(rng.standard_normal((size, size)), sigma)
    return (field - field.mean()) / (field.std() + 1e-12)


def _river(rng: np.random.Generator, size: int) -> np.ndarray:
    cols = np.arange(size)
    centre = rng.uniform(0.2, 0.8) * size + rng.uniform(-0.3, 0.3) * (cols - size / 2)
    centre = centre + rng.uniform(3, 10) * np.sin(2 * np.pi * cols / rng.uniform(40, 90) + rng.uniform(0, 6.3))
    width = rng.uniform(1.5, 4.0)
    rows = np.arange(size)[:, None]
    river = np.abs(rows - centre[None, :]) < width
    return river.T if rng.random() < 0.5 else river


def _built_up(rng: np.random.Generator, size: int, spectra: np.ndarray, labels: np.ndarray) -> None:
    """Blocks of buildings, streets and gardens, written into ``spectra`` and ``labels`` in place."""
    for _ in range(int(rng.integers(0, 5))):
        block_h, block_w = (int(v) for v in rng.integers(12, 32, size=2))
        top, left = int(rng.integers(0, size - block_h)), int(rng.integers(0, size - block_w))
        rows, cols = slice(top, top + block_h), slice(left, left + block_w)
        labels[rows, cols] = 3
        spectra[:, rows, cols] = _ASPHALT[:, None, None]
        garden = rng.random((block_h, block_w)) < 0.12
        spectra[:, rows, cols] = np.where(garden, SPECTRA[1][:, None, None], spectra[:, rows, cols])
        for _ in range(int(rng.integers(3, 10))):
            bh, bw = (int(v) for v in rng.integers(3, 9, size=2))
            bt, bl = top + int(rng.integers(0, max(block_h - bh, 1))), left + int(rng.integers(0, max(block_w - bw, 1)))
            roof = _ROOFS[int(rng.integers(0, len(_ROOFS)))] * rng.uniform(0.9, 1.1)
            spectra[:, bt : bt + bh, bl : bl + bw] = roof[:, None, None]


def make_scene(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (image int16 (6, size, size) reflectance x 10000, labels uint8 (size, size)), no nodata yet."""
    fields = _smooth_noise(rng, size, size / 10)
    labels = np.where(fields > rng.uniform(-0.6, 0.6), 1, 2).astype(np.uint8)
    spectra = SPECTRA[labels].transpose(2, 0, 1).copy()
    variation = _smooth_noise(rng, size, size / 20)
    vigour = 1.0 + 0.18 * variation
    spectra[3] = np.where(labels == 1, spectra[3] * vigour, spectra[3])  # NIR of vegetation
    spectra[:, labels == 2] *= (1.0 + 0.12 * variation[labels == 2])[None, :]  # soil brightness / moisture

    _built_up(rng, size, spectra, labels)

    water = _smooth_noise(rng, size, size / 14) > rng.uniform(1.2, 2.2)
    if rng.random() < 0.7:
        water |= _river(rng, size)
    turbidity = 1.0 + 0.25 * _smooth_noise(rng, size, size / 16)[water]
    labels[water] = 0
    spectra[:, water] = SPECTRA[0][:, None] * turbidity[None, :]

    spectra = _smooth(spectra, 0.7)  # mixed pixels at class boundaries (sensor point spread)
    gain = rng.uniform(0.9, 1.1)
    haze = rng.uniform(0, 250) * _HAZE
    spectra = spectra * gain + haze[:, None, None]
    spectra += rng.normal(0.0, 1.0, spectra.shape) * (0.04 * spectra + 40.0)
    image = np.clip(np.rint(spectra), 1, 10000).astype(np.int16)
    return image, labels


def add_nodata(rng: np.random.Generator, index: int, image: np.ndarray, labels: np.ndarray) -> None:
    """Mark nodata in some scenes (in place): a swath edge every 4th scene, scattered bad pixels every 5th."""
    size = labels.shape[0]
    if index % 4 == 1:
        rows, cols = np.mgrid[0:size, 0:size]
        angle = rng.uniform(0, 2 * np.pi)
        edge = (rows - size / 2) * np.cos(angle) + (cols - size / 2) * np.sin(angle) > rng.uniform(0.25, 0.45) * size
        image[:, edge] = NODATA
        labels[edge] = LABEL_NODATA
    if index % 5 == 2:
        bad = rng.random(labels.shape) < 0.005
        image[4:, bad] = NODATA  # saturated SWIR only: any band at nodata makes the pixel nodata
        labels[bad] = LABEL_NODATA
