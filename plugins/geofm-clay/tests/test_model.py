"""Clay's encoder: reference parity, any bands, any size, metadata from geofm's batch vocabulary."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import pytest
import torch

from geofm.errors import ConfigError, DataError
from geofm_clay.factory import clay_v1_base

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
FIXTURES = SHARED / "fixtures" / "clay"
TINY = {"dim": 64, "depth": 2, "heads": 2, "dim_head": 16}

S2_13 = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
)  # fmt: skip


def _tiny(**kwargs):
    torch.manual_seed(0)
    options = {"checkpoint": None, "num_frames": None, "img_size": None, **TINY, **kwargs}
    return clay_v1_base(**options).eval()


@pytest.fixture(scope="module")
def fixture_io() -> dict:
    if not (FIXTURES / "clay_small_io.pt").is_file():
        pytest.skip(f"Clay fixtures not found under {FIXTURES}")
    return torch.load(FIXTURES / "clay_small_io.pt", weights_only=True)


def test_fixture_features_match_reference(fixture_io: dict) -> None:
    module = clay_v1_base(checkpoint=FIXTURES / "clay_small.ckpt", bands=None, num_frames=None, img_size=32, **TINY)
    module.eval()
    with torch.no_grad():
        features = module.forward_features(
            fixture_io["pixels"],
            time=fixture_io["time"],
            latlon=fixture_io["latlon"],
            gsd=fixture_io["gsd"],
            waves=fixture_io["waves"],
        )
    expected = fixture_io["features"]
    assert len(features) == len(expected) == 2
    for got, want in zip(features, expected, strict=True):
        assert got.shape == want.shape
        assert (got - want).abs().max().item() <= 1e-4


def test_fixture_band_names_give_the_reference_wavelengths(fixture_io: dict) -> None:
    """The fixture's waves are Clay's Sentinel-2 values; sensor='sentinel-2-l2a' reproduces them exactly."""
    bands = ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")
    module = clay_v1_base(
        checkpoint=FIXTURES / "clay_small.ckpt",
        bands=bands,
        num_frames=None,
        img_size=None,
        sensor="sentinel-2-l2a",
        **TINY,
    ).eval()
    assert torch.equal(torch.tensor(module.wavelengths), fixture_io["waves"])
    with torch.no_grad():
        features = module.forward_features(
            fixture_io["pixels"], time=fixture_io["time"], latlon=fixture_io["latlon"], gsd=fixture_io["gsd"]
        )
    assert (features[-1] - fixture_io["features"][-1]).abs().max().item() <= 1e-4


@pytest.mark.parametrize(
    ("bands", "expected_waves"),
    [
        (S2_13, (0.443, 0.49, 0.56, 0.665, 0.705, 0.74, 0.783, 0.842, 0.865, 0.945, 1.375, 1.61, 2.19)),
        (("VV", "VH"), (3.5, 4.0)),
    ],
    ids=["sentinel2_13_bands", "sentinel1_vv_vh"],
)
def test_any_band_list_runs(bands: tuple[str, ...], expected_waves: tuple[float, ...]) -> None:
    module = _tiny(bands=bands)
    assert module.wavelengths == pytest.approx(expected_waves)
    features = module.forward_features(torch.randn(2, len(bands), 32, 32), gsd=torch.tensor([10.0, 10.0]))
    assert [tuple(f.shape) for f in features] == [(2, 17, 64)] * 2
    assert all(torch.isfinite(f).all() for f in features)


def test_band_count_must_match_the_input() -> None:
    module = _tiny(bands=("VV", "VH"))
    with pytest.raises(DataError, match="2 wavelengths for an input of 3 channels"):
        module.forward_features(torch.randn(1, 3, 16, 16))


def test_band_names_in_meta_override_the_built_bands() -> None:
    module = _tiny(bands=("VV", "VH"))
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        from_names = module.forward_features(x, band_names=["RED", "GREEN", "BLUE"])
        collated = module.forward_features(x, band_names=[("RED",), ("GREEN",), ("BLUE",)])
        explicit = module.forward_features(x, waves=torch.tensor([0.665, 0.56, 0.49]))
    assert torch.equal(from_names[-1], explicit[-1])
    assert torch.equal(collated[-1], explicit[-1])


def test_unknown_band_is_an_error_naming_it() -> None:
    with pytest.raises(DataError, match="HYPERSPECTRAL_7"):
        _tiny(bands=("RED", "HYPERSPECTRAL_7"))


def test_band_outside_the_chosen_sensor_is_an_error() -> None:
    with pytest.raises(DataError, match="VV"):
        _tiny(bands=("RED", "VV"), sensor="naip")


@pytest.mark.parametrize(("height", "width"), [(64, 64), (96, 96), (64, 96), (8, 8)])
def test_non_224_and_non_square_sizes(height: int, width: int) -> None:
    module = _tiny()
    features = module.forward_features(torch.randn(1, 10, height, width))
    assert features[-1].shape == (1, 1 + (height // 8) * (width // 8), 64)


def test_non_square_grid_is_row_major() -> None:
    """Token i of an h x w grid is the patch at row i // w, column i % w (a rolled column moves tokens)."""
    module = _tiny()
    x = torch.randn(1, 10, 16, 32)
    with torch.no_grad():
        patches = module.patch_embedding(x, torch.tensor(module.wavelengths))
    assert patches.shape == (1, 2 * 4, 64)
    shifted = torch.roll(x, shifts=-8, dims=3)  # column j+1 -> j
    with torch.no_grad():
        patches_shifted = module.patch_embedding(shifted, torch.tensor(module.wavelengths))
    torch.testing.assert_close(patches_shifted[0, 0], patches[0, 1])
    torch.testing.assert_close(patches_shifted[0, 4], patches[0, 5])


def test_size_not_a_multiple_of_the_patch_is_an_error() -> None:
    with pytest.raises(DataError, match="multiple of Clay's patch size 8"):
        _tiny().forward_features(torch.randn(1, 10, 30, 32))


def test_five_dimensional_input_with_one_frame() -> None:
    module = _tiny()
    x = torch.randn(1, 10, 16, 16)
    with torch.no_grad():
        assert torch.equal(module.forward_features(x[:, :, None])[-1], module.forward_features(x)[-1])
    with pytest.raises(DataError, match="single-time"):
        module.forward_features(torch.randn(1, 10, 2, 16, 16))
    with pytest.raises(ConfigError, match="single-time"):
        _tiny(num_frames=4)


def test_unknown_option_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no option depht"):
        clay_v1_base(depht=3)


def test_geofm_metadata_equals_reference_encodings() -> None:
    module = _tiny()
    x = torch.randn(3, 10, 16, 16)
    moment = datetime(2023, 6, 15, 10, 30, tzinfo=timezone.utc)  # ISO week 24, 10:30 UTC
    timestamps = torch.tensor([[moment.timestamp()], [math.nan], [moment.timestamp()]], dtype=torch.float64)
    center = torch.tensor([[48.5, -3.25], [10.0, 20.0], [math.nan, 5.0]])
    week, hour = 24 * 2 * math.pi / 52, 10 * 2 * math.pi / 24
    time = torch.tensor([[math.sin(week), math.cos(week), math.sin(hour), math.cos(hour)], [0.0] * 4, [0.0] * 4])
    time[2] = time[0]
    lat, lon = math.radians(48.5), math.radians(-3.25)
    latlon = torch.tensor(
        [
            [math.sin(lat), math.cos(lat), math.sin(lon), math.cos(lon)],
            [
                math.sin(math.radians(10)),
                math.cos(math.radians(10)),
                math.sin(math.radians(20)),
                math.cos(math.radians(20)),
            ],
            [0.0] * 4,
        ]
    )
    with torch.no_grad():
        from_meta = module.forward_features(x, timestamps=timestamps, center_latlon=center, gsd=torch.full((3,), 10.0))
        reference = module.forward_features(x, time=time, latlon=latlon, gsd=torch.tensor(10.0))
        absent = module.forward_features(x)
        zeros = module.forward_features(x, time=torch.zeros(3, 4), latlon=torch.zeros(3, 4), gsd=10.0)
    for got, want in zip(from_meta, reference, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    torch.testing.assert_close(absent[-1], zeros[-1], rtol=0, atol=0)
    assert not torch.allclose(from_meta[-1], absent[-1])


def test_gsd_is_applied_per_sample() -> None:
    module = _tiny()
    x = torch.randn(2, 10, 16, 16)
    with torch.no_grad():
        batch = module.forward_features(x, gsd=torch.tensor([10.0, 30.0]))[-1]
        first = module.forward_features(x[:1], gsd=torch.tensor(10.0))[-1]
        second = module.forward_features(x[1:], gsd=30.0)[-1]
        unknown = module.forward_features(x, gsd=torch.tensor([math.nan, 30.0]))[-1]
    torch.testing.assert_close(batch, torch.cat([first, second]), rtol=0, atol=1e-5)
    torch.testing.assert_close(unknown, batch, rtol=0, atol=0)  # NaN -> default gsd 10
    assert not torch.allclose(first, module.forward_features(x[:1], gsd=30.0)[-1].detach())


def test_grad_checkpointing_gives_the_same_gradients() -> None:
    x = torch.randn(2, 10, 16, 16)
    grads = []
    for enabled in (False, True):
        module = _tiny(grad_checkpointing=enabled).train()
        module.forward_features(x)[-1].sum().backward()
        grads.append(module.transformer.layers[0][0].to_qkv.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.slow
def test_full_size_clay_v1_base_runs_at_224() -> None:
    module = clay_v1_base(checkpoint=None, bands=None, num_frames=None, img_size=None).eval()
    assert sum(p.numel() for p in module.parameters()) > 80_000_000
    with torch.no_grad():
        features = module.forward_features(torch.randn(1, 10, 224, 224), gsd=torch.tensor([10.0]))
    assert len(features) == 12
    assert all(f.shape == (1, 1 + 28 * 28, 768) for f in features)
