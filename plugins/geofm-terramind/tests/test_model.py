"""The encoder itself: patch layout, position tables, modality routing, merges, input checks, options."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from geofm.errors import ConfigError, DataError
from geofm_terramind.factory import terramind_v1_tiny
from geofm_terramind.layers import ModalityEmbedding, resize_pos_table, sincos_2d_table
from geofm_terramind.modalities import infer_modalities, parse_modalities, plan_inputs, resolve_modality

SMALL = {"dim": 32, "depth": 2, "num_heads": 2}
S1F = ("COASTAL_AEROSOL", "BLUE", "GREEN", "RED", "RED_EDGE_1", "RED_EDGE_2", "RED_EDGE_3", "NIR_BROAD",
       "NIR_NARROW", "WATER_VAPOR", "CIRRUS", "SWIR_1", "SWIR_2", "VV", "VH")  # fmt: skip
HLS = ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")


def _model(**options: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return terramind_v1_tiny(**{**SMALL, **options}).eval()


def test_patch_layout_is_row_pixel_column_channel() -> None:
    torch.manual_seed(0)
    embedding = ModalityEmbedding(channels=3, dim=8, grid=2)
    x = torch.randn(2, 3, 32, 48)
    weight = embedding.proj.weight.detach()
    kernel = weight.reshape(8, 16, 16, 3).permute(0, 3, 1, 2)  # K[d, c, i, j] = W[d, (i*16 + j)*3 + c]
    tokens = F.conv2d(x, kernel, stride=16).flatten(2).transpose(1, 2)  # row-major grid
    pos = resize_pos_table(embedding.pos_emb, 2, 3)
    with torch.no_grad():
        torch.testing.assert_close(embedding(x), tokens + pos + embedding.mod_emb, atol=1e-5, rtol=0)


def test_position_table_formula() -> None:
    table = sincos_2d_table(grid=4, dim=16)[0]
    assert table.shape == (16, 16)
    row, col = 2, 3
    omega = 1.0 / 10000 ** (torch.arange(4, dtype=torch.float32) / 4)
    expected = torch.cat([(row * omega).sin(), (row * omega).cos(), (col * omega).sin(), (col * omega).cos()])
    torch.testing.assert_close(table[row * 4 + col], expected)


def test_position_table_resize_is_bicubic_without_align_corners() -> None:
    table = sincos_2d_table(grid=4, dim=8)
    assert resize_pos_table(table, 4, 4) is table
    resized = resize_pos_table(table, 6, 5)
    image = table.reshape(1, 4, 4, 8).permute(0, 3, 1, 2)
    expected = F.interpolate(image, size=(6, 5), mode="bicubic", align_corners=False)
    torch.testing.assert_close(resized, expected.permute(0, 2, 3, 1).reshape(1, 30, 8))


@pytest.mark.parametrize(
    ("name", "modality"),
    [
        ("S2L2A", "S2L2A"),
        ("untok_sen1rtc@224", "S1RTC"),
        ("s2l1c", "S2L1C"),
        ("S2L2A_cloudfree", "S2L2A"),
        ("S1", "S1GRD"),
        ("sen1grd", "S1GRD"),
        ("S1_RTC", "S1GRD"),  # the reference's rule: 'sen1_rtc' does not contain 'sen1rtc'
        ("RGB", "S2RGB"),
        ("dem", "DEM"),
    ],
)
def test_modality_names_follow_the_reference_rules(name: str, modality: str) -> None:
    assert resolve_modality(name) == modality


@pytest.mark.parametrize("name", ["tok_sen2l2a@224", "LULC", "ndvi", "caption", "coords"])
def test_tokenised_modalities_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="tokenizers"):
        resolve_modality(name)


def test_unknown_modality_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="S2L2A, S2L1C, S2RGB, S1GRD, S1RTC, DEM"):
        resolve_modality("landsat")


def test_modalities_from_the_bands() -> None:
    assert infer_modalities(None) == ["S2L2A"]
    assert infer_modalities(HLS) == ["S2L2A"]
    assert infer_modalities(S1F) == ["S2L1C", "S1GRD"]
    assert infer_modalities(("VH", "BLUE")) == ["S2L2A", "S1GRD"]
    assert infer_modalities(("VV", "VH")) == ["S1GRD"]
    with pytest.raises(ConfigError, match="THERMAL_1 belongs to no TerraMind modality"):
        infer_modalities(("RED", "THERMAL_1"))
    assert parse_modalities("[S2L1C, S1GRD]") == ["S2L1C", "S1GRD"]
    assert parse_modalities(["S2L2A", {"HLS": 6}]) == ["S2L2A", ("HLS", 6)]


def test_input_plan_routes_channels_by_band_membership() -> None:
    plan = plan_inputs(None, S1F)
    assert plan.names == ("S2L1C", "S1GRD")
    assert plan.channels == (tuple(range(13)), (13, 14))
    both = plan_inputs(["S2L2A", "S2L1C"], S1F[:13])  # one band may feed several modalities
    assert both.channels[0] == (*range(10), 11, 12) and both.channels[1] == tuple(range(13))
    unstacked = plan_inputs(["S1GRD", "S2L2A"], None)
    assert unstacked.channels == ((0, 1), tuple(range(2, 14))) and unstacked.num_channels == 14
    with pytest.raises(ConfigError, match="S1GRD has none of its bands"):
        plan_inputs(["S2L2A", "S1GRD"], HLS)
    with pytest.raises(ConfigError, match="band VV feeds none of the TerraMind modalities S2L2A; add S1GRD or S1RTC"):
        plan_inputs(["S2L2A"], (*HLS, "VV"))
    with pytest.raises(ConfigError, match="name one modality twice"):
        plan_inputs(["S2L2A", "s2l2a"], None)


def test_stacked_input_equals_the_dict_of_its_modalities() -> None:
    model = _model(bands=S1F)
    x = torch.randn(2, 15, 32, 32)
    with torch.no_grad():
        stacked = model.forward_features(x)
        as_dict = model.forward_features({"S2L1C": x[:, :13], "S1GRD": x[:, 13:]})
        keywords = model.forward_features(None, S2L1C=x[:, :13], S1GRD=x[:, 13:], gsd=torch.ones(2))
        one_frame = model.forward_features(x[:, :, None])
    for other in (as_dict, keywords, one_frame):
        torch.testing.assert_close(other[-1], stacked[-1])
    assert [f.shape for f in stacked] == [(2, 4, 32)] * 2


def test_mean_merge_averages_the_modalities_and_max_takes_the_maximum() -> None:
    mean = _model(bands=S1F)
    maximum = _model(bands=S1F, merge_method="max")
    concat = _model(bands=S1F, merge_method="concat")
    maximum.load_state_dict(mean.state_dict())
    x = torch.randn(1, 15, 32, 32)
    with torch.no_grad():
        tokens = [e(t) for e, t in zip(mean.encoder_embeddings.values(), (x[:, :13], x[:, 13:]), strict=True)]
        hidden = torch.cat(tokens, dim=1)
        for block in mean.encoder:
            hidden = block(hidden)
        last = mean.encoder_norm(hidden)
        torch.testing.assert_close(mean.forward_features(x)[-1], (last[:, :4] + last[:, 4:]) / 2)
        torch.testing.assert_close(maximum.forward_features(x)[-1], torch.maximum(last[:, :4], last[:, 4:]))
        wide = concat.forward_features(x)
        missing = concat.forward_features({"S1GRD": x[:, 13:]})
    assert concat.out_channels == [64, 64] and wide[-1].shape == (1, 4, 64)
    torch.testing.assert_close(missing[-1][:, :, :32], concat.missing_mod_token.detach().expand(1, 4, 32))


def test_bare_tensor_of_the_first_modality_is_the_reference_input() -> None:
    model = _model(modalities=["S2L2A", "S1GRD"])
    x = torch.randn(1, 12, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(x)[-1], model.forward_features({"S2L2A": x})[-1])


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((1, 15, 30, 32), "not a multiple of TerraMind's patch 16"),
        ((1, 7, 32, 32), "built for an input of 15 channels"),
        ((1, 15, 2, 32, 32), "single-time model"),
        ((15, 32, 32), r"expects \(B, C, H, W\)"),
    ],
)
def test_bad_inputs_are_data_errors(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(DataError, match=message):
        _model(bands=S1F).forward_features(torch.randn(shape))


def test_dict_inputs_are_checked() -> None:
    model = _model(bands=S1F)
    with pytest.raises(DataError, match="'DEM' is not a modality"):
        model.forward_features({"DEM": torch.randn(1, 1, 32, 32)})
    with pytest.raises(DataError, match="one height and width"):
        model.forward_features({"S2L1C": torch.randn(1, 13, 32, 32), "S1GRD": torch.randn(1, 2, 32, 48)})
    with pytest.raises(DataError, match="no input given"):
        model.forward_features(None)


def test_any_input_size_interpolates_the_position_table() -> None:
    model = _model(img_size=64)
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 12, 96, 80))
    assert features[-1].shape == (1, 6 * 5, 32) and torch.isfinite(features[-1]).all()


def test_grad_checkpointing_gives_the_same_output_and_gradients() -> None:
    plain = _model()
    checkpointed = _model(grad_checkpointing="true")
    checkpointed.load_state_dict(plain.state_dict())
    plain.train(), checkpointed.train()
    x = torch.randn(1, 12, 32, 32)
    for model in (plain, checkpointed):
        sum(f.sum() for f in model.forward_features(x)).backward()
    grad = checkpointed.encoder[0].attn.qkv.weight.grad
    torch.testing.assert_close(plain.encoder[0].attn.qkv.weight.grad, grad)


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="no option modality; its options are modalities"):
        terramind_v1_tiny(modality="S2L2A")
    with pytest.raises(ConfigError, match="merge_method must be one of mean, max, concat"):
        terramind_v1_tiny(merge_method="dict")
    with pytest.raises(ConfigError, match="single-time model"):
        terramind_v1_tiny(num_frames=4)
    model = terramind_v1_tiny(img_size=70, modality_table={}, blocks="", **SMALL)
    assert model.img_size == 80 and model.grid_size == 5  # rounded up to the patch; spec metadata ignored
