"""The encoder itself: input shapes, position tables, TL encodings from batch metadata, checkpointing."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import torch

from geofm.errors import DataError
from geofm_prithvi.build import prithvi_eo_v2_300, prithvi_eo_v2_300_tl, prithvi_eo_v2_600
from geofm_prithvi.encodings import latlon_to_location, timestamps_to_year_doy
from geofm_prithvi.pos_embed import resize_pos_embed, sincos_3d_table

TINY = {"embed_dim": 32, "depth": 2, "num_heads": 2, "patch_size": (1, 8, 8), "img_size": 32, "num_frames": 2}


def _tl_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return prithvi_eo_v2_300_tl(**TINY).eval()


def _seconds(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def test_non_square_input_and_position_interpolation() -> None:
    model = prithvi_eo_v2_300(**TINY).eval()
    features = model.forward_features(torch.randn(2, 6, 2, 48, 80))
    assert len(features) == 2
    assert all(f.shape == (2, 1 + 2 * 6 * 10, 32) for f in features)
    table = resize_pos_embed(model.pos_embed, model.grid_size, (2, 6, 10))
    assert table.shape == (1, 121, 32)
    grid = table[0, 1:].reshape(2, 6, 10, 32)
    original = model.pos_embed[0, 1:].reshape(2, 4, 4, 32)
    # align_corners=True keeps the corner positions of every frame; the cls row stays zero
    for h, w, oh, ow in [(0, 0, 0, 0), (0, 9, 0, 3), (5, 0, 3, 0), (5, 9, 3, 3)]:
        torch.testing.assert_close(grid[:, h, w], original[:, oh, ow], atol=1e-6, rtol=0)
    assert torch.equal(table[0, 0], torch.zeros(32))


def test_more_frames_rebuild_the_table() -> None:
    model = prithvi_eo_v2_300(**TINY)
    assert torch.equal(resize_pos_embed(model.pos_embed, (2, 4, 4), (2, 4, 4)), model.pos_embed)
    assert torch.equal(resize_pos_embed(model.pos_embed, (2, 4, 4), (5, 4, 4)), sincos_3d_table(32, (5, 4, 4)))
    assert model.forward_features(torch.randn(1, 6, 5, 32, 32))[-1].shape == (1, 1 + 5 * 16, 32)


def test_position_table_layout() -> None:
    table = sincos_3d_table(32, (2, 3, 4))[0]
    assert table.shape == (1 + 24, 32)
    row = 1 + 1 * 12 + 2 * 4 + 3  # t=1, h=2, w=3
    # channels [w (12) | h (12) | t (8)], each [sin ... | cos ...]; position 0 gives sin 0 = 0 and cos 0 = 1
    assert table[row, 0].item() == pytest.approx(torch.sin(torch.tensor(3.0)).item(), abs=1e-6)
    assert table[row, 12].item() == pytest.approx(torch.sin(torch.tensor(2.0)).item(), abs=1e-6)
    assert table[row, 24].item() == pytest.approx(torch.sin(torch.tensor(1.0)).item(), abs=1e-6)
    assert table[1, 6].item() == 1.0


def test_four_d_input_is_one_frame() -> None:
    model = prithvi_eo_v2_300(**TINY).eval()
    x = torch.randn(1, 6, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(x)[-1], model.forward_features(x.unsqueeze(2))[-1])


@pytest.mark.parametrize("shape", [(1, 6, 30, 32), (1, 5, 32, 32), (6, 32, 32)])
def test_bad_inputs_are_data_errors(shape: tuple[int, ...]) -> None:
    model = prithvi_eo_v2_300(**TINY)
    with pytest.raises(DataError):
        model.forward_features(torch.randn(shape))


def test_img_size_is_rounded_up_to_the_patch() -> None:
    model = prithvi_eo_v2_300(**{**TINY, "img_size": 30})
    assert model.grid_size == (2, 4, 4)


def test_tl_coordinates_change_the_output() -> None:
    model = _tl_model()
    x = torch.randn(2, 6, 2, 32, 32)
    temporal = torch.tensor([[[2020.0, 10.0], [2020.0, 100.0]], [[2021.0, 50.0], [2021.0, 200.0]]])
    location = torch.tensor([[-121.3, 38.5], [45.25, -12.0]])
    with torch.no_grad():
        plain = model.forward_features(x)[-1]
        timed = model.forward_features(x, temporal_coords=temporal)[-1]
        located = model.forward_features(x, location_coords=location)[-1]
        both = model.forward_features(x, temporal_coords=temporal, location_coords=location)[-1]
    for other in (timed, located, both):
        assert (other - plain).abs().max().item() > 1e-3
    assert (both - timed).abs().max().item() > 1e-3


def test_batch_metadata_feeds_the_tl_encodings() -> None:
    model = _tl_model()
    x = torch.randn(2, 6, 2, 32, 32)
    stamps = torch.tensor(
        [[_seconds(2020, 1, 10, 12), _seconds(2020, 12, 31, 23)], [_seconds(2021, 2, 19), _seconds(2021, 7, 19)]],
        dtype=torch.float64,
    )
    latlon = torch.tensor([[38.5, -121.3], [-12.0, 45.25]])
    temporal = torch.tensor([[[2020.0, 10.0], [2020.0, 366.0]], [[2021.0, 50.0], [2021.0, 200.0]]])
    location = torch.tensor([[-121.3, 38.5], [45.25, -12.0]])
    with torch.no_grad():
        expected = model.forward_features(x, temporal_coords=temporal, location_coords=location)[-1]
        got = model.forward_features(x, timestamps=stamps, center_latlon=latlon, gsd=torch.ones(2))[-1]
    torch.testing.assert_close(got, expected)


def test_nan_metadata_skips_the_encodings_per_sample() -> None:
    model = _tl_model()
    x = torch.randn(2, 6, 2, 32, 32)
    nan = float("nan")
    stamps = torch.tensor([[_seconds(2020, 5, 1), _seconds(2020, 6, 1)], [nan, nan]], dtype=torch.float64)
    latlon = torch.tensor([[10.0, 20.0], [nan, nan]])
    with torch.no_grad():
        plain = model.forward_features(x)[-1]
        all_nan = model.forward_features(x, timestamps=torch.full((2, 2), nan), center_latlon=torch.full((2, 2), nan))
        mixed = model.forward_features(x, timestamps=stamps, center_latlon=latlon)[-1]
    torch.testing.assert_close(all_nan[-1], plain)
    assert torch.isfinite(mixed).all()
    torch.testing.assert_close(mixed[1], plain[1])
    assert (mixed[0] - plain[0]).abs().max().item() > 1e-3


def test_timestamp_and_location_conversion() -> None:
    stamps = torch.tensor(
        [[_seconds(2020, 12, 31, 23, 59), _seconds(2021, 1, 1)], [0.0, float("nan")]], dtype=torch.float64
    )
    coords, valid = timestamps_to_year_doy(stamps)
    assert coords.tolist() == [[[2020.0, 366.0], [2021.0, 1.0]], [[1970.0, 1.0], [0.0, 0.0]]]
    assert valid.tolist() == [[True, True], [True, False]]
    location, ok = latlon_to_location(torch.tensor([[1.0, 2.0], [float("nan"), 3.0]]))
    assert location.tolist() == [[2.0, 1.0], [0.0, 0.0]] and ok.tolist() == [True, False]


def test_non_tl_variant_ignores_coordinates() -> None:
    torch.manual_seed(0)
    model = prithvi_eo_v2_300(**TINY).eval()
    x = torch.randn(1, 6, 2, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            model.forward_features(x, temporal_coords=torch.ones(1, 2, 2), center_latlon=torch.ones(1, 2))[-1],
            model.forward_features(x)[-1],
        )


def test_grad_checkpointing_gives_the_same_output_and_gradients() -> None:
    torch.manual_seed(0)
    plain = prithvi_eo_v2_300(**TINY)
    checkpointed = prithvi_eo_v2_300(grad_checkpointing="true", **TINY)
    checkpointed.load_state_dict(plain.state_dict())
    assert checkpointed.grad_checkpointing and not plain.grad_checkpointing
    x = torch.randn(1, 6, 2, 32, 32)
    for model in (plain, checkpointed):
        sum(f.sum() for f in model.forward_features(x)).backward()
    torch.testing.assert_close(plain.blocks[0].attn.qkv.weight.grad, checkpointed.blocks[0].attn.qkv.weight.grad)


def test_module_attributes_follow_the_contract() -> None:
    model = prithvi_eo_v2_600(embed_dim=32, depth=3, num_heads=2, img_size=28)
    assert model.out_channels == [32, 32, 32]
    assert model.out_reductions == [14, 14, 14]
    assert (model.output_kind, model.num_prefix_tokens, model.patch_size, model.tubelet_size) == ("tokens", 1, 14, 1)
    assert model.bands == ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")


def test_unknown_option_is_a_config_error() -> None:
    from geofm.errors import ConfigError

    with pytest.raises(ConfigError, match="no option embed_dims"):
        prithvi_eo_v2_300(embed_dims=3)
