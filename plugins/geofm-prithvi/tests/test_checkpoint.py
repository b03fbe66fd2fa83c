"""Strict loading of both released layouts, corrupted checkpoints, and the released 300M layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from geofm.errors import WeightsError
from geofm_prithvi.build import prithvi_eo_v2_300, prithvi_eo_v2_300_tl
from geofm_prithvi.checkpoint import encoder_state_dict, is_mae_decoder_key
from geofm_prithvi.model import PrithviViT

TINY = {"embed_dim": 32, "depth": 2, "num_heads": 2, "patch_size": (1, 8, 8), "img_size": 32, "num_frames": 2}
SMALLEST_DEMO = {"batch_size": 1, "num_workers": 0, "num_scenes": 6, "size": 64}
"""The smallest demo dataset a run trains on: 6 scenes of 64 px, one sample a batch, no workers."""


def _mae_decoder_keys(width: int, depth: int, grid_tokens: int, patch_values: int, tl: bool) -> dict[str, tuple]:
    """Names and shapes of the reference MAE decoder in a released file (``decoder.`` prefix)."""
    shapes: dict[str, tuple] = {
        "mask_token": (1, 1, width),
        "decoder_pos_embed": (1, 1 + grid_tokens, width),
    }
    if tl:
        shapes["temporal_embed_dec.scale"] = (1,)
        shapes["location_embed_dec.scale"] = (1,)
    shapes["decoder_embed.weight"] = (width, 0)  # filled by the caller (needs the encoder width)
    shapes["decoder_embed.bias"] = (width,)
    for i in range(depth):
        block = f"decoder_blocks.{i}"
        shapes |= {
            f"{block}.norm1.weight": (width,),
            f"{block}.norm1.bias": (width,),
            f"{block}.attn.qkv.weight": (3 * width, width),
            f"{block}.attn.qkv.bias": (3 * width,),
            f"{block}.attn.proj.weight": (width, width),
            f"{block}.attn.proj.bias": (width,),
            f"{block}.norm2.weight": (width,),
            f"{block}.norm2.bias": (width,),
            f"{block}.mlp.fc1.weight": (4 * width, width),
            f"{block}.mlp.fc1.bias": (4 * width,),
            f"{block}.mlp.fc2.weight": (width, 4 * width),
            f"{block}.mlp.fc2.bias": (width,),
        }
    shapes["decoder_norm.weight"] = (width,)
    shapes["decoder_norm.bias"] = (width,)
    shapes["decoder_pred.weight"] = (patch_values, width)
    shapes["decoder_pred.bias"] = (patch_values,)
    return {f"decoder.{k}": v for k, v in shapes.items()}


def released_layout(model: PrithviViT, decoder_width: int = 16, decoder_depth: int = 1) -> dict[str, torch.Tensor]:
    """A random checkpoint in the released ``encoder.*`` / ``decoder.*`` layout for ``model``'s architecture."""
    generator = torch.Generator().manual_seed(0)
    state = {f"encoder.{k}": torch.randn(v.shape, generator=generator) for k, v in model.state_dict().items()}
    tokens = model.pos_embed.shape[1] - 1
    patch_values = model.in_chans * model.tubelet_size * model.patch_size**2
    tl = model.temporal_encoding
    for key, shape in _mae_decoder_keys(decoder_width, decoder_depth, tokens, patch_values, tl).items():
        if key == "decoder.decoder_embed.weight":
            shape = (decoder_width, model.embed_dim)
        state[key] = torch.randn(shape, generator=generator)
    return state


def _write(state: dict[str, torch.Tensor], path: Path) -> Path:
    torch.save(state, path)
    return path


def test_prefixed_and_unprefixed_layouts_load_the_same_weights(tmp_path: Path) -> None:
    source = prithvi_eo_v2_300(**TINY)
    state = released_layout(source)
    prefixed = _write(state, tmp_path / "prefixed.pt")
    unprefixed_state = {k.removeprefix("encoder.").removeprefix("decoder."): v for k, v in state.items()}
    unprefixed = _write(unprefixed_state, tmp_path / "unprefixed.pt")
    first = prithvi_eo_v2_300(checkpoint=prefixed, **TINY)
    second = prithvi_eo_v2_300(checkpoint=unprefixed, **TINY)
    assert first.checkpoint_report["layout"] == "prefixed"
    assert second.checkpoint_report["layout"] == "unprefixed"
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    weight = state["encoder.blocks.1.mlp.fc2.weight"]
    assert torch.equal(first.blocks[1].mlp.fc2.weight, weight)
    # pos_embed is the model's own fixed table, not the file's (random) values
    assert not torch.equal(first.pos_embed, state["encoder.pos_embed"])
    assert torch.equal(first.pos_embed, source.pos_embed)


def test_lightning_style_wrapper_is_unwrapped() -> None:
    state, layout, dropped = encoder_state_dict(
        {"state_dict": {"encoder.norm.weight": torch.ones(2), "decoder.mask_token": torch.ones(1)}, "epoch": 3}
    )
    assert (list(state), layout, dropped) == (["norm.weight"], "prefixed", 1)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("decoder_blocks.0.attn.qkv.weight", True),
        ("mask_token", True),
        ("temporal_embed_dec.scale", True),
        ("temporal_embed_enc.scale", False),
        ("blocks.0.norm1.weight", False),
    ],
)
def test_mae_decoder_keys_are_recognised(key: str, expected: bool) -> None:
    assert is_mae_decoder_key(key) is expected


def test_missing_key_is_named(tmp_path: Path) -> None:
    state = released_layout(prithvi_eo_v2_300(**TINY))
    del state["encoder.blocks.1.attn.proj.bias"]
    path = _write(state, tmp_path / "missing.pt")
    with pytest.raises(WeightsError, match=r"missing keys: blocks\.1\.attn\.proj\.bias") as info:
        prithvi_eo_v2_300(checkpoint=path, **TINY)
    assert str(path) in str(info.value)


def test_wrong_shape_is_named(tmp_path: Path) -> None:
    state = released_layout(prithvi_eo_v2_300(**TINY))
    state["encoder.blocks.0.mlp.fc1.weight"] = torch.zeros(64, 32)
    path = _write(state, tmp_path / "shape.pt")
    with pytest.raises(
        WeightsError, match=r"shape mismatch: blocks\.0\.mlp\.fc1\.weight \(checkpoint \(64, 32\), model \(128, 32\)\)"
    ):
        prithvi_eo_v2_300(checkpoint=path, **TINY)


def test_unexpected_key_is_named(tmp_path: Path) -> None:
    # a TL checkpoint into the plain variant: its learned scales are unexpected
    state = released_layout(prithvi_eo_v2_300_tl(**TINY))
    path = _write(state, tmp_path / "tl.pt")
    with pytest.raises(WeightsError, match=r"unexpected keys: .*temporal_embed_enc\.scale"):
        prithvi_eo_v2_300(checkpoint=path, **TINY)
    model = prithvi_eo_v2_300_tl(checkpoint=path, **TINY)
    assert torch.equal(model.temporal_embed_enc.scale, state["encoder.temporal_embed_enc.scale"])


def test_truncated_file_is_a_weights_error(tmp_path: Path) -> None:
    path = _write(released_layout(prithvi_eo_v2_300(**TINY)), tmp_path / "ok.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError, match=r"broken\.pt"):
        prithvi_eo_v2_300(checkpoint=broken, **TINY)


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "pickled.pt"
    torch.save({"encoder.norm.weight": torch.ones(32), "config": object()}, path)
    with pytest.raises(WeightsError, match=r"pickled\.pt"):
        prithvi_eo_v2_300(checkpoint=path, **TINY)


@pytest.mark.slow
def test_released_300m_layout_loads_strictly(tmp_path: Path) -> None:
    model = prithvi_eo_v2_300()
    state = released_layout(model, decoder_width=512, decoder_depth=8)
    assert len(state) == 398
    assert state["encoder.patch_embed.proj.weight"].shape == (1024, 6, 1, 16, 16)
    assert state["encoder.pos_embed"].shape == (1, 785, 1024)
    assert state["encoder.blocks.23.attn.qkv.weight"].shape == (3072, 1024)
    assert state["encoder.blocks.0.mlp.fc1.weight"].shape == (4096, 1024)
    assert state["decoder.decoder_pred.weight"].shape == (1536, 512)
    path = _write(state, tmp_path / "Prithvi_EO_V2_300M.pt")
    del model
    loaded = prithvi_eo_v2_300(checkpoint=path)
    report = loaded.checkpoint_report
    assert (report["layout"], report["loaded_keys"], report["dropped_keys"]) == ("prefixed", 294, 104)
    assert torch.equal(loaded.blocks[23].attn.qkv.weight, state["encoder.blocks.23.attn.qkv.weight"])
    assert torch.equal(loaded.patch_embed.proj.weight, state["encoder.patch_embed.proj.weight"])


@pytest.mark.slow
def test_run_with_a_released_300m_file_records_it_as_pretrained(tmp_path: Path) -> None:
    import geofm

    state = released_layout(prithvi_eo_v2_300(), decoder_width=512, decoder_depth=8)
    path = _write(state, tmp_path / "Prithvi_EO_V2_300M.pt")
    del state
    summary = geofm.run(
        {
            "backbone": {"name": "prithvi_eo_v2_300", "weights": str(path)},
            "decoder": {"name": "upernet", "channels": 32},
            "dataset": {"name": "demo", "data_root": str(tmp_path / "demo"), **SMALLEST_DEMO},
            "trainer": {"fast_dev_run": True, "progress_bar": False},
            "out": str(tmp_path / "runs"),
            "name": "released",
        }
    )
    written = (tmp_path / "runs" / "released" / "summary.json").read_text()
    assert summary["pretrained"] is True
    assert Path(summary["weights"]) == path
    assert str(path) in written
