"""Clay Lightning checkpoints load strictly; every mismatch is a WeightsError naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from geofm.errors import WeightsError
from geofm_clay.checkpoint import ENCODER_PREFIX, encoder_state_dict
from geofm_clay.factory import clay_v1_base

TINY = {"dim": 64, "depth": 2, "heads": 2, "dim_head": 16}
FIXTURE = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "clay" / "clay_small.ckpt"


def _build(checkpoint: Path | None = None, **overrides):
    return clay_v1_base(checkpoint=checkpoint, bands=None, num_frames=None, img_size=None, **{**TINY, **overrides})


def _lightning_file(tmp_path: Path, encoder: dict[str, torch.Tensor], name: str = "clay.ckpt") -> Path:
    state = {ENCODER_PREFIX + key: value for key, value in encoder.items()}
    state["model.decoder.weight"] = torch.zeros(3)
    state["model.proj.weight"] = torch.zeros(2, 2)
    state["model.teacher.blocks.0.weight"] = torch.zeros(1)
    path = tmp_path / name
    torch.save({"state_dict": state, "epoch": 0, "global_step": 0}, path)
    return path


def test_lightning_checkpoint_roundtrip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    source = _build()
    path = _lightning_file(tmp_path, source.state_dict())
    torch.manual_seed(2)
    target = _build(checkpoint=path)
    for key, value in source.state_dict().items():
        assert torch.equal(value, target.state_dict()[key]), key


def test_fixture_checkpoint_has_the_reference_layout() -> None:
    if not FIXTURE.is_file():
        pytest.skip(f"Clay fixture not found at {FIXTURE}")
    raw = torch.load(FIXTURE, weights_only=True)
    encoder = encoder_state_dict(raw)
    assert set(encoder) == set(_build().state_dict())
    assert len(encoder) < len(raw["state_dict"])  # decoder / proj / teacher dropped


def test_missing_key_is_named(tmp_path: Path) -> None:
    state = _build().state_dict()
    del state["transformer.layers.1.0.to_qkv.weight"]
    with pytest.raises(WeightsError, match=r"missing keys: transformer\.layers\.1\.0\.to_qkv\.weight"):
        _build(checkpoint=_lightning_file(tmp_path, state))


def test_unexpected_key_is_named(tmp_path: Path) -> None:
    state = _build(depth=3).state_dict()
    with pytest.raises(WeightsError, match=r"unexpected keys: transformer\.layers\.2\."):
        _build(checkpoint=_lightning_file(tmp_path, state))


def test_wrong_shape_is_named(tmp_path: Path) -> None:
    state = _build(heads=4).state_dict()
    with pytest.raises(
        WeightsError,
        match=r"shape mismatch: transformer\.layers\.0\.0\.to_qkv\.weight \(checkpoint \(192, 64\), model \(96, 64\)\)",
    ):
        _build(checkpoint=_lightning_file(tmp_path, state))


def test_not_a_clay_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"model.backbone.weight": torch.zeros(1)}}, path)
    with pytest.raises(WeightsError, match=r"no 'model\.encoder\.\*' keys"):
        _build(checkpoint=path)


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "pickled.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"obj": Path("x")}}, path)
    with pytest.raises(WeightsError, match="pickled"):
        _build(checkpoint=path)


def test_bare_encoder_state_dict_loads(tmp_path: Path) -> None:
    source = _build()
    path = tmp_path / "encoder.pt"
    torch.save(source.state_dict(), path)
    target = _build(checkpoint=path)
    assert torch.equal(target.cls_token, source.cls_token)
