"""The encoder: the generated patch embedding as specified, any bands with one set of weights, sizes, errors."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")

import geofm  # noqa: E402
from geofm.errors import ConfigError, DataError  # noqa: E402
from geofm.testing import import_changes_torch_state  # noqa: E402
from geofm_dofa.embedding import wavelength_code  # noqa: E402
from geofm_dofa.factory import dofa_base_patch16_224, dofa_small  # noqa: E402

TINY: dict[str, Any] = {"embed_dim": 32, "depth": 3, "num_heads": 2, "patch_size": 8}
HLS6 = ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")
S2_13 = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")


def _tiny(bands: Any = HLS6, img_size: int = 32, **options: Any) -> Any:
    torch.manual_seed(0)
    return dofa_base_patch16_224(bands=bands, img_size=img_size, **{**TINY, **options}).eval()


def test_wavelength_code_is_sin_cos_of_nanometres() -> None:
    code = wavelength_code(torch.tensor([0.49, 2.2]), 128)
    k = torch.arange(64, dtype=torch.float64)
    angles = torch.tensor([490.0, 2200.0], dtype=torch.float64)[:, None] / 10000 ** (k / 64)
    assert code.shape == (2, 128)
    torch.testing.assert_close(code.double(), torch.cat((angles.sin(), angles.cos()), 1), atol=2e-4, rtol=0)


def test_generated_kernel_layout_and_padded_convolution() -> None:
    model = _tiny()
    embed = model.patch_embed
    waves = torch.tensor(model.wavelengths)
    with torch.no_grad():
        codes = embed.fclayer(wavelength_code(waves, 128))
        rows, bias = embed.weight_generator(codes)
        weight, generated_bias = embed.kernel(waves)
    p, dim = 8, 32
    c, i, j, d = 4, 3, 5, 7
    assert weight.shape == (dim, 6, p, p)
    assert weight[d, c, i, j].item() == pytest.approx(0.01 * rows[c, (i * p + j) * dim + d].item(), abs=1e-7)
    torch.testing.assert_close(generated_bias, 0.01 * bias)
    x = torch.randn(1, 6, 32, 32)
    with torch.no_grad():
        tokens = embed(x, waves)
        # patch (0, 0) sees the zero padding and pixels 0..p-2; the last pixel row and column are never seen
        expected = (weight[:, :, 1:, 1:] * x[0, :, : p - 1, : p - 1]).sum((1, 2, 3)) + generated_bias
        changed = x.clone()
        changed[..., -1, :] = 100.0
        changed[..., :, -1] = 100.0
        unchanged = embed(changed, waves)
    assert tokens.shape == (1, 16, dim)
    torch.testing.assert_close(tokens[0, 0], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(unchanged, tokens)


def test_every_block_is_returned_cls_first_without_final_norm() -> None:
    model = _tiny()
    x = torch.randn(2, 6, 32, 32)
    with torch.no_grad():
        features = model.forward_features(x)
        assert len(features) == 3 and all(f.shape == (2, 1 + 16, 32) for f in features)
        torch.testing.assert_close(model.blocks[2](features[1]), features[2])  # the last block's raw output
        tokens = model.patch_embed(x, torch.tensor(model.wavelengths)) + model.pos_embed[:, 1:]
        cls = (model.cls_token + model.pos_embed[:, :1]).expand(2, -1, -1)
        torch.testing.assert_close(model.blocks[0](torch.cat((cls, tokens), 1)), features[0])
    assert model.forward(x)[0].shape == features[0].shape


def test_one_set_of_weights_serves_every_sensor_without_band_adaptation() -> None:
    hls = _tiny(HLS6)
    state = {k: v.clone() for k, v in hls.state_dict().items()}
    for bands in (S2_13, (*S2_13, "VV", "VH"), ("VV", "VH"), ("l30:B10", "l30:B11", "RED")):
        model = dofa_base_patch16_224(bands=bands, img_size=32, **TINY).eval()
        assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {
            k: tuple(v.shape) for k, v in state.items()
        }
        model.load_state_dict(state, strict=True)
        with torch.no_grad():
            features = model.forward_features(torch.randn(1, len(bands), 32, 32))
        assert features[-1].shape == (1, 17, 32)
    # the same pixels under other wavelengths give other features
    x = torch.randn(1, 6, 32, 32)
    with torch.no_grad():
        as_hls = hls.forward_features(x)[-1]
        as_other = hls.forward_features(x, wavelengths=[0.44, 0.56, 0.665, 0.864, 1.61, 2.2])[-1]
    assert (as_hls - as_other).abs().max() > 1e-3


def test_wavelengths_and_band_names_per_call() -> None:
    model = _tiny(bands=None)
    x = torch.randn(1, 6, 32, 32)
    with pytest.raises(DataError, match=r"built without bands.*wavelengths="):
        model.forward_features(x)
    with torch.no_grad():
        by_waves = model.forward_features(x, wavelengths=torch.tensor([0.49, 0.56, 0.665, 0.864, 1.61, 2.2]))[-1]
        by_names = model.forward_features(x, band_names=["B2", "B3", "B4", "B8A", "B11", "B12"])[-1]
        collated = model.forward_features(x, band_names=[(b,) for b in HLS6])[-1]  # default_collate, batch of 1
        ignored = model.forward_features(x, band_names=HLS6, timestamps=torch.zeros(1, 1), gsd=torch.ones(1))[-1]
    torch.testing.assert_close(by_waves, by_names)
    torch.testing.assert_close(by_waves, collated)
    torch.testing.assert_close(by_waves, ignored)
    with pytest.raises(DataError, match=r"5 wavelengths .* input of 6 channels"):
        model.forward_features(x, wavelengths=[0.49, 0.56, 0.665, 0.864, 1.61])
    with pytest.raises(DataError, match="differ between the samples"):
        model.forward_features(x, band_names=[("BLUE", "RED")] * 6)


def test_input_shape_errors() -> None:
    model = _tiny()
    with torch.no_grad():
        five_d = model.forward_features(torch.randn(1, 6, 1, 32, 32))
    assert five_d[-1].shape == (1, 17, 32)
    with pytest.raises(DataError, match="single-time"):
        model.forward_features(torch.randn(1, 6, 2, 32, 32))
    with pytest.raises(DataError, match="multiple of DOFA's patch size 8"):
        model.forward_features(torch.randn(1, 6, 30, 32))
    with pytest.raises(DataError, match="6 wavelengths from the bands it was built with"):
        model.forward_features(torch.randn(1, 13, 32, 32))


def test_other_input_sizes_interpolate_the_position_table_as_on_load(tmp_path) -> None:
    small = _tiny(img_size=32)
    path = tmp_path / "tiny.pth"
    torch.save(small.state_dict(), path)
    large = dofa_base_patch16_224(checkpoint=path, bands=HLS6, img_size=48, **TINY).eval()
    assert large.checkpoint_report["pos_embed_resized"] == [[4, 4], [6, 6]]
    x = torch.randn(1, 6, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(small.forward_features(x)[-1], large.forward_features(x)[-1])
        rectangle = small.forward_features(torch.randn(1, 6, 24, 40))
    assert rectangle[-1].shape == (1, 1 + 3 * 5, 32)
    fixed = _tiny(dynamic_img_size="false")
    with pytest.raises(DataError, match=r"takes 32x32 inputs.*img_size=48"):
        fixed.forward_features(x)


def test_grad_checkpointing_gives_the_same_gradients() -> None:
    x = torch.randn(2, 6, 32, 32)
    grads = []
    for enabled in (False, True):
        model = _tiny(grad_checkpointing=enabled).train()
        model.forward_features(x)[-1].square().mean().backward()
        grads.append(model.patch_embed.weight_generator.weight_tokens.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])
    assert not _tiny().pos_embed.requires_grad  # frozen, as in the reference


def test_factory_options_and_errors() -> None:
    model = dofa_small(bands=None, img_size=40, wavelengths=[0.49, 0.56], **TINY)
    assert model.img_size == 40 and model.wavelengths == (0.49, 0.56)  # 40 is a multiple of 8
    assert dofa_small(img_size=50, **TINY).img_size == 56  # rounded up to the patch
    assert dofa_small(num_frames=1, **TINY).grid_size == (28, 28)
    with pytest.raises(ConfigError, match="no option colour"):
        dofa_small(colour=1)
    with pytest.raises(ConfigError, match="single-time"):
        dofa_small(num_frames=3)
    with pytest.raises(ConfigError, match="2 wavelengths for 6 bands"):
        dofa_small(bands=HLS6, wavelengths="0.49,0.56", **TINY)
    with pytest.raises(ConfigError, match="at least 3"):
        dofa_small(patch_size=2)
    with pytest.raises(DataError, match="no wavelength for band"):
        dofa_small(bands=["BLUE", "BLU"], **TINY)


def test_variants_build_at_full_width_with_the_spec_sizes() -> None:
    spec = geofm.get_spec("backbones", "dofa_small")
    model = geofm.build_backbone("dofa_small", weights="none", bands=list(HLS6), depth=2)
    assert (model.embed_dim, model.patch_size, model.img_size, model.grid_size) == (384, 16, 224, (14, 14))
    assert model.blocks[0].attn.num_heads == 6 and model.blocks[0].mlp.fc1.out_features == 4 * 384
    assert model.patch_embed.weight_generator.fc_weight.out_features == 16 * 16 * 384
    assert spec.embed_dim == 384 and spec.depth == 12
    assert model.resolved_weights.pretrained is False


def test_importing_the_model_changes_no_global_torch_state() -> None:
    assert import_changes_torch_state("geofm_dofa.factory", "geofm_dofa.model", "geofm_dofa.checkpoint") == ""
