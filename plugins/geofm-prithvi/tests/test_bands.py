"""Band adaptation: which pretrained input channels are copied, initialised or dropped."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from geofm.errors import WeightsError
from geofm.weights import adapt_input_channels
from geofm_prithvi.build import prithvi_eo_v2_300
from geofm_prithvi.variants import PRETRAINING_BANDS

S2_ALL = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")
S2_SIX = ("B2", "B3", "B4", "B8A", "B11", "B12")
TINY = {"embed_dim": 32, "depth": 1, "num_heads": 2, "patch_size": (1, 8, 8), "img_size": 16, "num_frames": 1}


def _pretrained() -> torch.Tensor:
    return torch.randn(32, 6, 1, 8, 8, generator=torch.Generator().manual_seed(1))


def test_sentinel2_six_bands_copy_every_column() -> None:
    weight = _pretrained()
    new, report = adapt_input_channels(weight, PRETRAINING_BANDS, S2_SIX)
    assert report == {"copied": list(S2_SIX), "initialised": [], "dropped": []}
    assert torch.equal(new, weight)


def test_sentinel2_thirteen_bands_copy_six_and_initialise_seven() -> None:
    weight = _pretrained()
    new, report = adapt_input_channels(weight, PRETRAINING_BANDS, S2_ALL)
    assert report["copied"] == ["B2", "B3", "B4", "B8A", "B11", "B12"]
    assert report["initialised"] == ["B1", "B5", "B6", "B7", "B8", "B9", "B10"]
    assert report["dropped"] == []
    assert new.shape == (32, 13, 1, 8, 8)
    for model_index, pretrained_index in {1: 0, 2: 1, 3: 2, 8: 3, 11: 4, 12: 5}.items():
        assert torch.equal(new[:, model_index], weight[:, pretrained_index])
    for model_index in (0, 4, 5, 6, 7, 9, 10):
        column = new[:, model_index]
        assert not any(torch.equal(column, weight[:, j]) for j in range(6))
        assert 0 < column.abs().max().item() <= (6 / (32 + 13 * 64)) ** 0.5  # Xavier-uniform bound over (D, -1)


def test_other_order_subset_and_landsat_codes() -> None:
    weight = _pretrained()
    new, report = adapt_input_channels(weight, PRETRAINING_BANDS, ("l30:B05", "RED", "VV"))
    assert report == {
        "copied": ["l30:B05", "RED"],
        "initialised": ["VV"],
        "dropped": ["BLUE", "GREEN", "SWIR_1", "SWIR_2"],
    }
    assert torch.equal(new[:, 0], weight[:, 3])  # B05 on Landsat / HLS L30 is NIR_NARROW
    assert torch.equal(new[:, 1], weight[:, 2])


def test_adaptation_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="geofm.weights"):
        adapt_input_channels(_pretrained(), PRETRAINING_BANDS, ("B2", "B5"))
    assert "copied B2; initialised B5; dropped GREEN, RED, NIR_NARROW, SWIR_1, SWIR_2" in caplog.text


def test_channel_count_must_match_checkpoint_bands() -> None:
    with pytest.raises(WeightsError, match="one input channel per checkpoint band"):
        adapt_input_channels(torch.zeros(4, 5, 1, 2, 2), PRETRAINING_BANDS, S2_SIX)


def _checkpoint(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    state = {f"encoder.{k}": v for k, v in prithvi_eo_v2_300(**TINY).state_dict().items()}
    state["encoder.patch_embed.proj.weight"] = _pretrained()
    path = tmp_path / "tiny.pt"
    torch.save(state, path)
    return path, state


def test_backbone_on_thirteen_sentinel2_bands(tmp_path: Path) -> None:
    path, state = _checkpoint(tmp_path)
    model = prithvi_eo_v2_300(checkpoint=path, bands=S2_ALL, **TINY)
    report = model.checkpoint_report["bands"]
    assert len(report["copied"]) == 6 and len(report["initialised"]) == 7
    assert torch.equal(model.patch_embed.proj.weight[:, 8], state["encoder.patch_embed.proj.weight"][:, 3])
    assert torch.equal(model.patch_embed.proj.bias, state["encoder.patch_embed.proj.bias"])
    features = model.forward_features(torch.randn(1, 13, 16, 16))
    assert features[-1].shape == (1, 5, 32)


def test_backbone_on_pretraining_bands_needs_no_adaptation(tmp_path: Path) -> None:
    path, state = _checkpoint(tmp_path)
    model = prithvi_eo_v2_300(checkpoint=path, bands=S2_SIX, **TINY)
    assert model.checkpoint_report["bands"] is None
    assert torch.equal(model.patch_embed.proj.weight, state["encoder.patch_embed.proj.weight"])


def test_different_patch_kernel_keeps_random_weight_and_warns(tmp_path: Path) -> None:
    path, _ = _checkpoint(tmp_path)
    options = {**TINY, "patch_size": (1, 4, 4)}
    with pytest.warns(UserWarning, match="keeping the randomly initialised patch embedding"):
        model = prithvi_eo_v2_300(checkpoint=path, **options)
    assert model.checkpoint_report["bands"]["copied"] == []
