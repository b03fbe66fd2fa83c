"""Parity with the reference (TerraTorch 1.2.13 over TorchGeo 0.9): every shared fixture to 1e-4."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")

import geofm  # noqa: E402

CASES = ("hls6", "s2_13", "hls6_48")
TOLERANCE = 1e-4


def _compare(features: list[Any], expected: list[Any]) -> None:
    assert len(features) == len(expected)
    for index, (got, want) in enumerate(zip(features, expected, strict=True)):
        assert got.shape == want.shape, index
        difference = (got - want).abs().max().item()
        assert difference <= TOLERANCE, f"block {index}: max abs difference {difference:.2e}"


@pytest.mark.usefixtures("full_precision")
@pytest.mark.parametrize("case", CASES)
def test_fixture_features_match_reference_with_its_bands(case: str, reference) -> None:
    description, checkpoint, io_path = reference.case(case)
    architecture = description["architecture"]
    model = geofm.build_backbone(
        "dofa_base_patch16_224",
        weights=str(checkpoint),
        bands=description["bands"],
        **reference.options(description),
    ).eval()
    io = torch.load(io_path, weights_only=True)
    assert tuple(io["x"].shape) == tuple(description["input_shape"])
    # the band table gives exactly the wavelengths the reference fed the model
    assert model.wavelengths == pytest.approx(description["wavelengths_um"], abs=0)
    assert torch.equal(torch.tensor(model.wavelengths, dtype=torch.float32), io["wavelengths"])
    with torch.no_grad():
        features = model.forward_features(io["x"])
    assert len(features) == architecture["depth"]
    _compare(features, io["features"])
    resized = architecture["img_size"] != architecture["checkpoint_img_size"]
    grid = architecture["img_size"] // architecture["patch_size"]
    old = architecture["checkpoint_img_size"] // architecture["patch_size"]
    assert model.checkpoint_report["pos_embed_resized"] == ([[old, old], [grid, grid]] if resized else None)
    assert model.checkpoint_report["loaded_keys"] == 48 and model.checkpoint_report["dropped_keys"] == []


@pytest.mark.usefixtures("full_precision")
@pytest.mark.parametrize("case", CASES)
def test_fixture_features_match_with_the_reference_inputs(case: str, reference) -> None:
    """``bands=None`` (channels as given) and the reference's own ``wavelengths`` (micrometres) input."""
    description, checkpoint, io_path = reference.case(case)
    model = geofm.build_backbone(
        "dofa_base_patch16_224", weights=str(checkpoint), bands=None, **reference.options(description)
    ).eval()
    assert model.bands is None and model.wavelengths is None
    io = torch.load(io_path, weights_only=True)
    with torch.no_grad():
        features = model.forward_features(io["x"], wavelengths=io["wavelengths"])
        by_list = model.forward_features(io["x"], wavelengths=description["wavelengths_um"])
    _compare(features, io["features"])
    _compare(by_list, io["features"])


@pytest.mark.usefixtures("full_precision")
def test_one_nanometre_off_moves_the_features(reference) -> None:
    description, checkpoint, io_path = reference.case("hls6")
    model = geofm.build_backbone(
        "dofa_base_patch16_224", weights=str(checkpoint), **reference.options(description)
    ).eval()
    io = torch.load(io_path, weights_only=True)
    off = io["wavelengths"].clone()
    off[3] += 0.001  # NIR_NARROW 0.864 -> 0.865 (geofm's vocabulary value)
    with torch.no_grad():
        shifted = model.forward_features(io["x"], wavelengths=off)[-1]
    assert (shifted - io["features"][-1]).abs().max().item() > 100 * TOLERANCE
