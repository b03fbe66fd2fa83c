"""Parity with the reference (TerraTorch 1.2.13) on the shared fixtures, to 1e-4, through geofm.build_backbone.

Also checks the stacked-input design on the reference's own numbers: the same features come out when the
modalities arrive as one stack of named bands, in any band order (the input layers are permuted to match).
"""

from __future__ import annotations

import pytest
import torch

import geofm
from geofm_terramind.modalities import MODALITIES

CASES = ("base_s2", "base_s2_s1", "tiny_s2_96x80")


def _assert_features(features: list[torch.Tensor], expected: list[torch.Tensor]) -> None:
    assert len(features) == len(expected) == 2
    for index, (got, want) in enumerate(zip(features, expected, strict=True)):
        assert got.shape == want.shape, index
        assert (got - want).abs().max().item() <= 1e-4, f"block {index}"


@pytest.mark.parametrize("case", CASES)
def test_fixture_features_match_reference(case: str, reference) -> None:
    description, checkpoint, io_path = reference.case(case)
    name, options = reference.options(description)
    model = geofm.build_backbone(name, weights=str(checkpoint), **options).eval()
    assert model.resolved_weights.pretrained
    io = torch.load(io_path, weights_only=True)
    if description["input_form"].startswith("dict"):
        assert isinstance(io["x"], dict) and list(io["x"]) == description["modalities"]
    with torch.no_grad():
        features = model.forward_features(io["x"])
    _assert_features(features, io["features"])
    report = model.checkpoint_report
    keys = torch.load(checkpoint, weights_only=True)
    assert report["loaded_keys"] + len(report["dropped_keys"]) == len(keys)
    assert report["loaded_keys"] == 3 * len(description["modalities"]) + len(
        [k for k in keys if k.startswith(("encoder.", "encoder_norm."))]
    )
    assert "mask_token" in report["dropped_keys"] and report["dropped"]["decoder"] > 0
    kept = {f"encoder_embeddings.{key}." for key in description["modality_keys"].values()}
    assert not any(k.startswith(tuple(kept)) for k in report["dropped_keys"])


def test_stacked_bands_in_any_order_give_the_reference_features(reference) -> None:
    """S2L2A + S1GRD as one stack of named bands: in pretraining order, then shuffled, both match."""
    description, checkpoint, io_path = reference.case("base_s2_s1")
    name, options = reference.options(description)
    del options["modalities"]  # inferred from the bands: S2 without CIRRUS -> S2L2A, VV / VH -> S1GRD
    io = torch.load(io_path, weights_only=True)
    bands = [*MODALITIES["S2L2A"].bands, "VV", "VH"]
    stacked = torch.cat([io["x"]["S2L2A"], io["x"]["S1GRD"]], dim=1)
    order = [13, 5, 0, 11, 12, 3, 1, 2, 4, 6, 7, 8, 9, 10]  # VH first, VV among the S2 bands
    for band_order in (list(range(14)), order):
        model = geofm.build_backbone(
            name, weights=str(checkpoint), bands=[bands[i] for i in band_order], **options
        ).eval()
        assert model.modalities == ("S2L2A", "S1GRD")
        with torch.no_grad():
            features = model.forward_features(stacked[:, band_order])
        _assert_features(features, io["features"])
    adapted = model.checkpoint_report["bands"]
    assert adapted["S1GRD"] == {"copied": ["VH", "VV"], "initialised": [], "dropped": []}
    assert len(adapted["S2L2A"]["copied"]) == 12


def test_sensor_band_codes_and_modality_aliases(reference) -> None:
    description, checkpoint, io_path = reference.case("base_s2_s1")
    name, options = reference.options(description)
    io = torch.load(io_path, weights_only=True)
    codes = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12", "VV", "VH"]
    options["modalities"] = ["s2l2a", "sen1grd"]  # the reference's matching rules
    model = geofm.build_backbone(name, weights=str(checkpoint), bands=codes, **options).eval()
    with torch.no_grad():
        from_stack = model.forward_features(torch.cat([io["x"]["S2L2A"], io["x"]["S1GRD"]], dim=1))
        from_dict = model.forward_features({"S2L2A": io["x"]["S2L2A"], "S1GRD": io["x"]["S1GRD"]})
    _assert_features(from_stack, io["features"])
    _assert_features(from_dict, io["features"])
