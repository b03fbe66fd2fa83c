"""Every registered decoder composed with a token backbone and a CNN pyramid backbone: shape and backward."""

from __future__ import annotations

import pytest
import torch

import geofm

BACKBONES = ("tiny_vit", "timm_resnet18")
SIZE = 64
BANDS = ("RED", "GREEN", "BLUE")


def _dense_decoders() -> list[str]:
    return [spec.name for spec in geofm.list_components("decoders") if "segmentation" in spec.tasks]


@pytest.mark.parametrize("decoder", _dense_decoders())
@pytest.mark.parametrize("backbone", BACKBONES)
def test_decoder_composes_and_backpropagates(backbone, decoder):
    torch.manual_seed(0)
    model = geofm.build_model(backbone, decoder, num_classes=3, weights="none", img_size=SIZE, bands=BANDS).train()
    image = torch.randn(2, len(BANDS), SIZE, SIZE)
    logits = model(image)
    assert logits.shape == (2, 3, SIZE, SIZE)
    assert torch.isfinite(logits).all()
    logits.logsumexp(dim=1).mean().backward()
    decoder_grads = [p.grad for p in model.decoder.parameters() if p.requires_grad]
    assert decoder == "identity" or any(g is not None and g.abs().sum() > 0 for g in decoder_grads)
    first_backbone_grad = next(p.grad for p in model.backbone.parameters() if p.requires_grad)
    assert first_backbone_grad is not None and first_backbone_grad.abs().sum() > 0
