"""Checkpoints: both released layouts load strictly (extra keys dropped and listed), errors name the keys."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import geofm  # noqa: E402
from geofm.errors import WeightsError  # noqa: E402
from geofm.weights import import_weights, resolve_weights  # noqa: E402
from geofm_dofa.factory import dofa_base_patch16_224  # noqa: E402
from geofm_dofa.pos_embed import resize_pos_embed  # noqa: E402

TINY: dict[str, Any] = {"embed_dim": 32, "depth": 2, "num_heads": 2, "patch_size": 8}
MAE_LEFTOVERS = ("mask_token", "norm.weight", "norm.bias", "projector.weight", "projector.bias")


def _original_layout(state: dict[str, Any], dim: int) -> dict[str, Any]:
    """``state`` (the torchgeo layout) plus the earthflow originals' extra keys, in their file order."""
    return {
        "mask_token": torch.zeros(1, 1, dim),
        **state,
        "norm.weight": torch.ones(dim),
        "norm.bias": torch.zeros(dim),
        "projector.weight": torch.randn(dim, dim),
        "projector.bias": torch.zeros(dim),
    }


@pytest.fixture
def tiny_state() -> dict[str, Any]:
    torch.manual_seed(1)
    return dict(dofa_base_patch16_224(img_size=32, **TINY).state_dict())


def _save(state: dict[str, Any], path: Path) -> Path:
    torch.save(state, path)
    return path


def test_torchgeo_layout_loads_strictly(tiny_state: dict[str, Any], tmp_path: Path) -> None:
    path = _save(tiny_state, tmp_path / "torchgeo.pth")
    model = geofm.build_backbone("dofa_base_patch16_224", weights=str(path), img_size=32, **TINY)
    report = model.checkpoint_report
    assert report["layout"] == "torchgeo" and report["dropped_keys"] == []
    assert report["loaded_keys"] == len(tiny_state) == 2 * 12 + 2 + 22
    assert all(torch.equal(model.state_dict()[k], v) for k, v in tiny_state.items())
    assert model.resolved_weights.pretrained


@pytest.mark.parametrize("wrapper", [None, "model", "state_dict"])
def test_original_layout_drops_and_lists_the_mae_leftovers(
    tiny_state: dict[str, Any], tmp_path: Path, wrapper: str | None
) -> None:
    state = _original_layout(tiny_state, 32)
    path = _save({wrapper: state, "epoch": 100} if wrapper else state, tmp_path / "original.pth")
    model = dofa_base_patch16_224(checkpoint=path, img_size=32, **TINY)
    report = model.checkpoint_report
    assert report["layout"] == "original"
    assert report["dropped_keys"] == list(MAE_LEFTOVERS)
    assert report["loaded_keys"] == len(tiny_state)


def test_classifier_keys_are_dropped_too(tiny_state: dict[str, Any], tmp_path: Path) -> None:
    state = {
        **tiny_state,
        "fc_norm.weight": torch.ones(32),
        "fc_norm.bias": torch.zeros(32),
        "head.weight": torch.zeros(5, 32),
    }
    model = dofa_base_patch16_224(checkpoint=_save(state, tmp_path / "c.pth"), img_size=32, **TINY)
    assert model.checkpoint_report["dropped_keys"] == ["fc_norm.weight", "fc_norm.bias", "head.weight"]
    assert model.checkpoint_report["layout"] == "torchgeo"


def test_pos_embed_is_resized_bilinearly_on_load(tiny_state: dict[str, Any], tmp_path: Path) -> None:
    path = _save(tiny_state, tmp_path / "t.pth")
    model = dofa_base_patch16_224(checkpoint=path, img_size=48, **TINY)
    assert model.checkpoint_report["pos_embed_resized"] == [[4, 4], [6, 6]]
    table = tiny_state["pos_embed"]
    grid = table[:, 1:].reshape(1, 4, 4, 32).permute(0, 3, 1, 2)
    expected = torch.nn.functional.interpolate(grid, size=(6, 6), mode="bilinear", align_corners=False)
    torch.testing.assert_close(model.pos_embed[:, 1:], expected.permute(0, 2, 3, 1).reshape(1, 36, 32))
    torch.testing.assert_close(model.pos_embed[:, :1], table[:, :1])  # the cls row is kept
    torch.testing.assert_close(resize_pos_embed(table, (4, 4), (4, 4)), table)


def test_missing_unexpected_and_misshaped_keys_are_errors(tiny_state: dict[str, Any], tmp_path: Path) -> None:
    missing = {k: v for k, v in tiny_state.items() if k != "blocks.1.mlp.fc2.bias"}
    with pytest.raises(WeightsError, match=r"missing keys: blocks\.1\.mlp\.fc2\.bias"):
        dofa_base_patch16_224(checkpoint=_save(missing, tmp_path / "m.pth"), img_size=32, **TINY)
    unexpected = {**tiny_state, "decoder_embed.weight": torch.zeros(1)}
    with pytest.raises(WeightsError, match=r"unexpected keys: decoder_embed\.weight"):
        dofa_base_patch16_224(checkpoint=_save(unexpected, tmp_path / "u.pth"), img_size=32, **TINY)
    with pytest.raises(WeightsError, match=r"shape mismatch: cls_token .*embed_dim"):
        dofa_base_patch16_224(checkpoint=_save(tiny_state, tmp_path / "t.pth"), **{**TINY, "embed_dim": 64})
    deeper = dofa_base_patch16_224(img_size=32, **{**TINY, "depth": 3})
    with pytest.raises(WeightsError, match=r"missing keys: blocks\.2\."):
        dofa_base_patch16_224(checkpoint=_save(tiny_state, tmp_path / "t.pth"), **{**TINY, "depth": 3})
    assert deeper.checkpoint_report is None
    with pytest.raises(WeightsError, match="holds no tensors"):
        dofa_base_patch16_224(checkpoint=_save({"epoch": 1}, tmp_path / "e.pth"), **TINY)


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "hostile.pth"
    torch.save({"pos_embed": torch.zeros(1), "extra": Path("x")}, path)
    with pytest.raises(WeightsError, match="refuses to unpickle"):
        dofa_base_patch16_224(checkpoint=path, **TINY)


def test_auto_weights_come_from_the_hub_source_or_warn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GEOFM_CACHE", str(tmp_path / "geofm"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = geofm.get_spec("backbones", "dofa_base_patch16_224")
    with pytest.warns(UserWarning, match=r"RANDOM INITIALISATION.*torchgeo/dofa.*dofa_base_patch16_224-a0275954\.pth"):
        resolved = resolve_weights(spec, "auto")
    assert resolved.path is None and resolved.spec is spec.weights["default"]
    with pytest.raises(WeightsError, match=r"earthflow/DOFA"):
        resolve_weights(spec, "original")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small = resolve_weights(geofm.get_spec("backbones", "dofa_small"), "auto")
    assert small.path is None and "no released weights" in small.origin


@pytest.mark.slow
def test_full_size_base_checkpoints_load_strictly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """dofa_base_patch16_224 at 224 px: the torchgeo layout (168 keys) and the original (+5 dropped)."""
    torch.manual_seed(0)
    source = geofm.build_backbone("dofa_base_patch16_224", weights="none")
    state = dict(source.state_dict())
    assert len(state) == 168
    assert state["pos_embed"].shape == (1, 197, 768)
    assert state["patch_embed.weight_generator.fc_weight.weight"].shape == (196608, 128)
    path = _save(_original_layout(state, 768), tmp_path / "DOFA_ViT_base_e100.pth")
    del source

    model = geofm.build_backbone(
        "dofa_base_patch16_224", weights=str(path), bands=["B2", "B3", "B4", "B8A", "B11", "B12"]
    )
    report = model.checkpoint_report
    assert report["layout"] == "original" and report["loaded_keys"] == 168
    assert report["dropped_keys"] == list(MAE_LEFTOVERS)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    with torch.inference_mode():
        features = model.eval().forward_features(torch.randn(1, 6, 224, 224))
    assert len(features) == 12 and all(f.shape == (1, 197, 768) for f in features)
    del model

    # the torchgeo file, imported into geofm's cache as the default weights: "auto" then finds it
    torchgeo = _save(state, tmp_path / "dofa_base_patch16_224-a0275954.pth")
    monkeypatch.setenv("GEOFM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = geofm.get_spec("backbones", "dofa_base_patch16_224")
    cached = import_weights(spec, torchgeo)
    assert cached.name == "dofa_base_patch16_224-a0275954.pth"
    model = geofm.build_backbone("dofa_base_patch16_224", weights="auto")
    assert model.resolved_weights.path == cached and model.resolved_weights.tag == "default"
    assert model.checkpoint_report["layout"] == "torchgeo" and model.checkpoint_report["loaded_keys"] == 168
    assert model.checkpoint_report["dropped_keys"] == []
