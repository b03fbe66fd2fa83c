"""Parity with the reference implementation: the shared fixtures' features to 1e-4, both layouts."""

from __future__ import annotations

import pytest
import torch

from geofm_prithvi.build import prithvi_eo_v1_100, prithvi_eo_v2_300, prithvi_eo_v2_300_tl

CASES = ("v1_small_flat", "v2_small", "v2_tl_small")


@pytest.mark.parametrize("case", CASES)
def test_fixture_features_match_reference(case: str, reference) -> None:
    description, checkpoint, io_path = reference.case(case)
    model = prithvi_eo_v2_300(checkpoint=checkpoint, **reference.options(description))
    model.eval()
    io = torch.load(io_path, weights_only=True)
    assert tuple(io["x"].shape) == tuple(description["input_shape"])
    coords = {}
    if description["coords"]:
        coords = {"temporal_coords": io["temporal_coords"], "location_coords": io["location_coords"]}
    with torch.no_grad():
        features = model.forward_features(io["x"], **coords)
    assert len(features) == len(io["features"]) == description["architecture"]["depth"]
    for index, (got, expected) in enumerate(zip(features, io["features"], strict=True)):
        assert got.shape == expected.shape, index
        assert (got - expected).abs().max().item() <= 1e-4, f"block {index}"


def test_fixture_layouts_are_the_two_released_ones(reference) -> None:
    _, prefixed, _ = reference.case("v2_small")
    _, unprefixed, _ = reference.case("v1_small_flat")
    description, _, _ = reference.case("v2_small")
    model = prithvi_eo_v2_300(checkpoint=prefixed, **reference.options(description))
    assert model.checkpoint_report["layout"] == "prefixed"
    assert model.checkpoint_report["dropped_keys"] == 20  # the MAE decoder
    description, _, _ = reference.case("v1_small_flat")
    model = prithvi_eo_v1_100(checkpoint=unprefixed, **reference.options(description))
    assert model.checkpoint_report["layout"] == "unprefixed"
    assert model.checkpoint_report["dropped_keys"] == 20


def test_tl_fixture_coordinates_matter(reference) -> None:
    description, checkpoint, io_path = reference.case("v2_tl_small")
    model = prithvi_eo_v2_300_tl(checkpoint=checkpoint, **reference.options(description))
    model.eval()
    io = torch.load(io_path, weights_only=True)
    with torch.no_grad():
        without = model.forward_features(io["x"])[-1]
    assert (without - io["features"][-1]).abs().max().item() > 1e-3
