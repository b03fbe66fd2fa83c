"""Full-size models on CPU at 224 px with the documented feature shapes (slow)."""

from __future__ import annotations

import pytest
import torch

from geofm_prithvi import build


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "params", "tokens", "dim", "depth"),
    [("prithvi_eo_v2_300", 303e6, 1 + 14 * 14, 1024, 24), ("prithvi_eo_v2_600", 630e6, 1 + 16 * 16, 1280, 32)],
)
def test_full_size_forward_at_224(name: str, params: float, tokens: int, dim: int, depth: int) -> None:
    model = getattr(build, name)().eval()
    count = sum(p.numel() for p in model.parameters())
    assert abs(count - params) / params < 0.05
    assert model.pos_embed.shape == (1, 1 + 4 * (tokens - 1), dim)
    with torch.inference_mode():
        features = model.forward_features(torch.randn(1, 6, 224, 224))
    assert len(features) == depth
    assert all(f.shape == (1, tokens, dim) for f in features)
    assert torch.isfinite(features[-1]).all()
