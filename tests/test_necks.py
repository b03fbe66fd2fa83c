"""The built-in necks and heads: shapes, reductions, channel layouts and errors."""

from __future__ import annotations

import pytest
import torch

from geofm.builtin.heads import ClassificationHead, RegressionHead, SegmentationHead
from geofm.builtin.necks import GlobalPool, InterpolatePyramid, LearnedPyramid, SelectLevels, TokenPool, TokensToMap
from geofm.errors import DataError, IncompatibleComponentsError
from geofm.features import FeatureContext
from geofm.registry import get_registry

CONTEXT = FeatureContext(image_size=(32, 32), grid=(1, 4, 4), num_prefix_tokens=1)


def test_every_registered_builtin_neck_resolves() -> None:
    classes = {spec.name: spec.load_factory() for spec in get_registry("necks") if spec.factory.startswith("geofm.")}
    assert classes == {
        "select_levels": SelectLevels,
        "tokens_to_map": TokensToMap,
        "interpolate_pyramid": InterpolatePyramid,
        "learned_pyramid": LearnedPyramid,
        "token_pool": TokenPool,
        "global_pool": GlobalPool,
    }


def test_select_levels() -> None:
    neck = SelectLevels(in_channels=[1, 2, 3, 4], in_reductions=[2, 4, 8, 16], levels=[1, -1])
    assert neck.out_channels == [2, 4] and neck.out_reductions == [4, 16]
    features = [torch.full((1, c, 2, 2), float(c)) for c in (1, 2, 3, 4)]
    assert [f.shape[1] for f in neck(features, CONTEXT)] == [2, 4]
    with pytest.raises(IncompatibleComponentsError, match="not valid indices"):
        SelectLevels(in_channels=[1, 2], in_reductions=[2, 4], levels=[2])


def test_tokens_to_map_channel_layout() -> None:
    batch, frames, height, width, dim, prefix = 2, 3, 2, 5, 4, 1
    tokens = torch.randn(batch, prefix + frames * height * width, dim)
    context = FeatureContext(image_size=(16, 40), grid=(frames, height, width), num_prefix_tokens=prefix)
    neck = TokensToMap(in_channels=[dim], in_reductions=[8], num_frames=frames)
    assert neck.out_channels == [frames * dim] and neck.out_reductions == [8]
    (out,) = neck([tokens], context)
    assert out.shape == (batch, frames * dim, height, width)
    for t, h, w, e in [(0, 0, 0, 0), (2, 1, 4, 3), (1, 0, 3, 2)]:
        assert out[1, t * dim + e, h, w] == tokens[1, prefix + t * height * width + h * width + w, e]


def test_tokens_to_map_mean_time_and_errors() -> None:
    tokens = torch.randn(1, 1 + 2 * 4 * 4, 8)
    context = FeatureContext(image_size=(32, 32), grid=(2, 4, 4), num_prefix_tokens=1)
    (out,) = TokensToMap(in_channels=[8], in_reductions=[8], num_frames=2, time="mean")([tokens], context)
    expected = tokens[:, 1:].reshape(1, 2, 4, 4, 8).mean(1).permute(0, 3, 1, 2)
    torch.testing.assert_close(out, expected)
    with pytest.raises(DataError, match="built for 1 frame"):
        TokensToMap(in_channels=[8], in_reductions=[8])([tokens], context)
    with pytest.raises(DataError, match="do not match"):
        TokensToMap(in_channels=[8], in_reductions=[8])([tokens[:, :10]], CONTEXT)


@pytest.mark.parametrize("inputs", [1, 4])
def test_interpolate_pyramid(inputs: int) -> None:
    neck = InterpolatePyramid(in_channels=[6] * inputs, in_reductions=[16] * inputs)
    assert neck.out_reductions == [4, 8, 16, 32] and neck.out_channels == [6] * 4
    features = [torch.randn(1, 6, 4, 6) for _ in range(inputs)]
    outs = neck(features, CONTEXT)
    assert [tuple(o.shape[-2:]) for o in outs] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    torch.testing.assert_close(outs[2], features[2 if inputs == 4 else 0])
    torch.testing.assert_close(outs[3], torch.nn.functional.max_pool2d(features[-1], 2))


def test_interpolate_pyramid_refuses_a_pyramid() -> None:
    with pytest.raises(IncompatibleComponentsError, match="one stride"):
        InterpolatePyramid(in_channels=[4, 4], in_reductions=[8, 16])
    with pytest.raises(IncompatibleComponentsError, match="1 or 4"):
        InterpolatePyramid(in_channels=[4, 4], in_reductions=[8, 8])


def test_learned_pyramid() -> None:
    neck = LearnedPyramid(in_channels=[16] * 4, in_reductions=[8] * 4)
    assert neck.out_channels == [4, 8, 16, 16] and neck.out_reductions == [2, 4, 8, 16]
    outs = neck([torch.randn(2, 16, 4, 4) for _ in range(4)], CONTEXT)
    assert [tuple(o.shape[1:]) for o in outs] == [(4, 16, 16), (8, 8, 8), (16, 4, 4), (16, 2, 2)]


def test_token_pool_modes() -> None:
    tokens = torch.randn(2, 1 + 16, 8)
    make = lambda mode: TokenPool(in_channels=[8, 8], in_reductions=[8, 8], mode=mode)  # noqa: E731
    torch.testing.assert_close(make("mean")([tokens, tokens], CONTEXT)[0], tokens[:, 1:].mean(1))
    torch.testing.assert_close(make("max")([tokens, tokens], CONTEXT)[0], tokens[:, 1:].amax(1))
    torch.testing.assert_close(make("cls")([tokens, tokens], CONTEXT)[0], tokens[:, 0])
    assert make("mean").out_reductions == [0]
    with pytest.raises(DataError, match="cls token"):
        make("cls")([tokens[:, 1:]], FeatureContext(image_size=(32, 32), grid=(1, 4, 4)))
    with pytest.raises(IncompatibleComponentsError, match="mode"):
        make("median")


def test_global_pool() -> None:
    x = torch.randn(2, 5, 3, 3)
    torch.testing.assert_close(GlobalPool(in_channels=[5], in_reductions=[32])([x], CONTEXT)[0], x.mean((2, 3)))
    pooled = GlobalPool(in_channels=[5], in_reductions=[32], mode="max")([x], CONTEXT)[0]
    torch.testing.assert_close(pooled, x.amax((2, 3)))


def test_heads() -> None:
    x = torch.randn(2, 8, 4, 4)
    assert SegmentationHead(8, 3, extra_conv=True)(x).shape == (2, 3, 4, 4)
    assert RegressionHead(8, num_outputs=2, learned_upsample=2)(x).shape == (2, 2, 16, 16)
    assert (RegressionHead(8, activation="sigmoid")(x) > 0).all()
    assert ClassificationHead(8, 5, hidden=(16,), pool="max")(x).shape == (2, 5)
    assert ClassificationHead(8, 5)(x.mean((2, 3))).shape == (2, 5)
    with pytest.raises(DataError, match="pool"):
        ClassificationHead(8, 5)(x)
    with pytest.raises(IncompatibleComponentsError, match="activation"):
        RegressionHead(8, activation="cube")  # type: ignore[arg-type]
