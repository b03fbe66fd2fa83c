"""Loading the released layout: encoder keys kept strictly, the rest dropped and listed; band adaptation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import geofm
from geofm.errors import ConfigError, WeightsError
from geofm_terramind.checkpoint import adapt_patch_projection, encoder_state_dict
from geofm_terramind.factory import terramind_v1_tiny
from geofm_terramind.modalities import MODALITIES

SMALL = {"dim": 32, "num_heads": 2}
HLS = ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory: pytest.TempPathFactory, released) -> tuple[Path, dict[str, torch.Tensor]]:
    """terramind_v1_tiny's released layout at width 32: 12 GELU blocks, 4 decoder blocks, small vocabularies."""
    state = released(dim=32, depth=12, num_heads=2, gated=False, decoder_depth=4, vocabulary=16)
    path = tmp_path_factory.mktemp("weights") / "TerraMind_v1_tiny.pt"
    torch.save(state, path)
    return path, state


def _save(state: dict[str, Any], path: Path) -> Path:
    torch.save(state, path)
    return path


def test_released_tiny_layout_loads_its_encoder_keys_strictly(tiny_file) -> None:
    path, state = tiny_file
    assert len(state) == 306  # the released tiny file's key count
    model = terramind_v1_tiny(checkpoint=path, **SMALL)
    report = model.checkpoint_report
    assert report["loaded_keys"] == 149 and len(report["dropped_keys"]) == 157
    assert report["dropped"] == {
        "mask_token": 1,
        "other raw-pixel modalities": 15,
        "tokenised / sequence embeddings": 21,
        "decoder": 28 + 2 + 4 * 22 + 2,
    }
    assert set(report["dropped_keys"]) | set(model.state_dict()) == set(state)
    assert report["initialised"] == [] and report["bands"] == {"S2L2A": None}
    for name, value in model.state_dict().items():
        assert torch.equal(value, state[name]), name


def test_two_modalities_load_both_embeddings(tiny_file) -> None:
    path, state = tiny_file
    model = terramind_v1_tiny(checkpoint=path, modalities="S2L1C,S1RTC", **SMALL)
    assert model.checkpoint_report["loaded_keys"] == 149 + 3
    key = "encoder_embeddings.untok_sen1rtc@224.proj.weight"
    assert torch.equal(model.state_dict()[key], state[key])


def test_bands_adapt_each_modality_input_layer(tiny_file) -> None:
    path, state = tiny_file
    model = terramind_v1_tiny(checkpoint=path, bands=(*HLS, "VH"), **SMALL)
    assert model.modalities == ("S2L2A", "S1GRD")
    report = model.checkpoint_report["bands"]
    assert report["S2L2A"] == {
        "copied": list(HLS),
        "initialised": [],
        "dropped": ["COASTAL_AEROSOL", "RED_EDGE_1", "RED_EDGE_2", "RED_EDGE_3", "NIR_BROAD", "WATER_VAPOR"],
    }
    assert report["S1GRD"] == {"copied": ["VH"], "initialised": [], "dropped": ["VV"]}
    weight = model.encoder_embeddings["untok_sen2l2a@224"].proj.weight.detach().reshape(32, 256, 6)
    pretrained = state["encoder_embeddings.untok_sen2l2a@224.proj.weight"].reshape(32, 256, 12)
    for index, band in enumerate(HLS):
        assert torch.equal(weight[:, :, index], pretrained[:, :, MODALITIES["S2L2A"].bands.index(band)])
    vh = model.encoder_embeddings["untok_sen1grd@224"].proj.weight.detach()
    assert torch.equal(vh, state["encoder_embeddings.untok_sen1grd@224.proj.weight"].reshape(32, 256, 2)[:, :, 1])


def test_adapt_patch_projection_initialises_unknown_bands() -> None:
    weight = torch.randn(8, 256 * 2)
    adapted, report = adapt_patch_projection(weight, ("VV", "VH"), ("VH", "HH", "VV"))
    assert report == {"copied": ["VH", "VV"], "initialised": ["HH"], "dropped": []}
    per_band = adapted.reshape(8, 256, 3)
    assert torch.equal(per_band[:, :, 0], weight.reshape(8, 256, 2)[:, :, 1])
    assert torch.equal(per_band[:, :, 2], weight.reshape(8, 256, 2)[:, :, 0])
    with pytest.raises(WeightsError, match="not \\(dim, pixels x 3 bands\\)"):
        adapt_patch_projection(torch.randn(8, 100), ("A", "B", "C"), ("A",))


def test_other_img_size_recomputes_the_position_tables(tiny_file) -> None:
    path, _ = tiny_file
    model = terramind_v1_tiny(checkpoint=path, img_size=256, **SMALL)
    assert model.checkpoint_report["initialised"] == ["encoder_embeddings.untok_sen2l2a@224.pos_emb"]
    assert model.encoder_embeddings["untok_sen2l2a@224"].pos_emb.shape == (1, 256, 32)


def test_concat_merge_initialises_the_missing_modality_token(tiny_file) -> None:
    path, _ = tiny_file
    model = terramind_v1_tiny(checkpoint=path, merge_method="concat", **SMALL)
    assert model.checkpoint_report["initialised"] == ["missing_mod_token"]


def test_missing_key_is_named(tiny_file, tmp_path: Path) -> None:
    _, state = tiny_file
    broken = {k: v for k, v in state.items() if k != "encoder.3.attn.proj.bias"}
    path = _save(broken, tmp_path / "missing.pt")
    with pytest.raises(WeightsError, match=r"missing keys: encoder\.3\.attn\.proj\.bias") as info:
        terramind_v1_tiny(checkpoint=path, **SMALL)
    assert str(path) in str(info.value)


def test_modality_absent_from_the_file_is_named(tiny_file, tmp_path: Path) -> None:
    _, state = tiny_file
    broken = {k: v for k, v in state.items() if "untok_dem@224" not in k}
    path = _save(broken, tmp_path / "no_dem.pt")
    with pytest.raises(WeightsError, match=r"missing keys: encoder_embeddings\.untok_dem@224\."):
        terramind_v1_tiny(checkpoint=path, modalities=["S2L2A", "DEM"], **SMALL)


def test_wrong_size_is_a_shape_mismatch(tiny_file) -> None:
    path, _ = tiny_file
    with pytest.raises(WeightsError, match=r"shape mismatch: encoder_embeddings\.untok_sen2l2a@224\.mod_emb"):
        terramind_v1_tiny(checkpoint=path, dim=48, num_heads=2)
    with pytest.raises(WeightsError, match=r"unexpected keys: encoder\.2\."):
        terramind_v1_tiny(checkpoint=path, depth=2, **SMALL)


def test_files_that_are_not_terramind_or_unsafe_are_refused(tmp_path: Path) -> None:
    prithvi_like = _save({"encoder.pos_embed": torch.zeros(1, 5, 32)}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="does not fit this TerraMind encoder"):
        terramind_v1_tiny(checkpoint=prithvi_like, **SMALL)
    nothing = _save({"decoder.0.norm1.weight": torch.ones(2)}, tmp_path / "decoder_only.pt")
    with pytest.raises(WeightsError, match=r"no encoder\.\* tensors: it is not a TerraMind v1 file"):
        terramind_v1_tiny(checkpoint=nothing, **SMALL)
    pickled = tmp_path / "pickled.pt"
    torch.save({"encoder.0.norm1.weight": torch.ones(32), "config": object()}, pickled)
    with pytest.raises(WeightsError, match=r"pickled\.pt"):
        terramind_v1_tiny(checkpoint=pickled, **SMALL)


def test_encoder_state_dict_unwraps_and_splits() -> None:
    kept, dropped = encoder_state_dict(
        {
            "state_dict": {
                "encoder_embeddings.untok_sen1grd@224.mod_emb": torch.zeros(1),
                "encoder_embeddings.untok_sen2l2a@224.mod_emb": torch.zeros(1),
                "encoder.0.norm1.weight": torch.zeros(1),
                "encoder_norm.weight": torch.zeros(1),
                "decoder_embeddings.coords.mod_emb": torch.zeros(1),
                "mask_token": torch.zeros(1),
            }
        },
        ["untok_sen1grd@224"],
    )
    assert sorted(kept) == [
        "encoder.0.norm1.weight",
        "encoder_embeddings.untok_sen1grd@224.mod_emb",
        "encoder_norm.weight",
    ]
    assert dropped == [
        "encoder_embeddings.untok_sen2l2a@224.mod_emb",
        "decoder_embeddings.coords.mod_emb",
        "mask_token",
    ]


def test_new_modality_gets_a_fresh_embedding(tiny_file) -> None:
    path, _ = tiny_file
    model = terramind_v1_tiny(checkpoint=path, modalities=["S2L2A", {"HLS": 6}], **SMALL)
    assert sorted(model.checkpoint_report["initialised"]) == [
        "encoder_embeddings.HLS.mod_emb",
        "encoder_embeddings.HLS.pos_emb",
        "encoder_embeddings.HLS.proj.weight",
    ]
    features = model.forward_features({"S2L2A": torch.randn(1, 12, 32, 32), "HLS": torch.randn(1, 6, 32, 32)})
    assert features[-1].shape == (1, 4, 32)
    with pytest.raises(ConfigError, match="new modality"):
        terramind_v1_tiny(bands=HLS, modalities=["S2L2A", {"HLS": 6}], **SMALL)


@pytest.mark.slow
def test_released_base_layout_loads_strictly_at_full_size(tmp_path: Path, released) -> None:
    state = released(dim=768, depth=12, num_heads=12, gated=True, decoder_depth=12, cheap_dropped=True)
    assert len(state) == 374
    assert state["encoder_embeddings.untok_sen2l2a@224.proj.weight"].shape == (768, 3072)
    assert state["encoder_embeddings.untok_sen2l2a@224.pos_emb"].shape == (1, 196, 768)
    assert state["encoder.0.attn.qkv.weight"].shape == (2304, 768)
    assert state["encoder.11.mlp.fc1.weight"].shape == (2048, 768)
    assert state["encoder.11.mlp.fc3.weight"].shape == (2048, 768)
    assert state["encoder.11.mlp.fc2.weight"].shape == (768, 2048)
    assert state["decoder_embeddings.tok_sen2l2a@224.token_emb.weight"].shape == (15360, 768)
    assert not any(k.startswith("encoder.") and k.endswith(".bias") and "norm" not in k for k in state)
    path = _save(state, tmp_path / "TerraMind_v1_base.pt")
    model = geofm.build_backbone("terramind_v1_base", weights=str(path)).eval()
    report = model.checkpoint_report
    assert report["loaded_keys"] == 113 and len(report["dropped_keys"]) == 374 - 113
    assert report["dropped"] == {
        "mask_token": 1,
        "other raw-pixel modalities": 15,
        "tokenised / sequence embeddings": 21,
        "decoder": 28 + 2 + 12 * 16 + 2,
    }
    assert "decoder.11.cross_attn.kv.weight" in report["dropped_keys"]
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(86.5e6, rel=0.02)
    for name, value in model.state_dict().items():
        assert torch.equal(value, state[name]), name
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 12, 224, 224))
    assert len(features) == 12 and all(f.shape == (1, 196, 768) for f in features)
    multimodal = geofm.build_backbone("terramind_v1_base", weights=str(path), modalities=["S2L1C", "S1GRD"])
    assert multimodal.checkpoint_report["loaded_keys"] == 116
