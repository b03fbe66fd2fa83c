"""Clay's dynamic, wavelength-conditioned patch embedding: a patch convolution generated per band.

The convolution weights for C input bands are produced from the bands' wavelengths by a small
transformer (``weight_generator``), so any band list works without weight surgery.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geofm.backbone_kit import ResidualMlp, init_linears
from geofm_clay.encodings import posemb_sincos_1d

__all__ = ["DynamicEmbedding", "FCBlock", "WavesTransformer"]


class FCBlock(ResidualMlp):
    """Residual two-layer GELU MLP of constant width: ``x + GELU(l2(GELU(l1(x))))``."""

    def __init__(self, size: int) -> None:
        super().__init__(size, F.gelu, ("l1", "l2"))


class WavesTransformer(nn.Module):
    """Wave tokens (C, wave_dim) -> patch-convolution weights (C, out_dim) and bias (embed_dim,).

    The sequence ``[weight_tokens; waves; bias_token]`` goes through one post-norm transformer layer;
    the weights come from the wave positions (plus a skip of their input), the bias from the bias token.
    """

    def __init__(
        self, wave_dim: int, output_dim: int, num_latent_tokens: int, embed_dim: int, num_heads: int = 4
    ) -> None:
        super().__init__()
        self.num_latent_tokens = num_latent_tokens
        layer = nn.TransformerEncoderLayer(
            d_model=wave_dim, nhead=num_heads, activation="gelu", dropout=0.0, norm_first=False, batch_first=False
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.fc_weight = nn.Linear(wave_dim, output_dim)
        self.fc_bias = nn.Linear(wave_dim, embed_dim)
        self.weight_tokens = nn.Parameter(torch.randn(num_latent_tokens, wave_dim) * 0.02)
        self.bias_token = nn.Parameter(torch.randn(1, wave_dim) * 0.02)

    def forward(self, waves: Tensor) -> tuple[Tensor, Tensor]:
        """Encoded waves (C, wave_dim) -> (weights (C, output_dim), bias (embed_dim,))."""
        x = torch.cat([self.weight_tokens, waves, self.bias_token], dim=0)
        out = self.encoder(x)
        start = self.num_latent_tokens
        weights = self.fc_weight(out[start:-1] + x[start:-1])
        bias = self.fc_bias(out[-1])
        return weights, bias


class DynamicEmbedding(nn.Module):
    """Pixels (B, C, H, W) + wavelengths (C,) -> patch tokens (B, H/p * W/p, embed_dim), row-major."""

    scaler = 0.02

    def __init__(self, wave_dim: int, num_latent_tokens: int, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.wave_dim = wave_dim
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.weight_generator = WavesTransformer(wave_dim, patch_size**2 * embed_dim, num_latent_tokens, embed_dim)
        self.fclayer = FCBlock(wave_dim)
        for module in (self.weight_generator, self.fclayer):
            init_linears(module, bias=0.01)

    def forward(self, pixels: Tensor, waves: Tensor) -> Tensor:
        """Embed ``pixels`` (B, C, H, W) whose bands have central wavelengths ``waves`` (C,) in micrometres."""
        encoded = self.fclayer(posemb_sincos_1d(waves, self.wave_dim).to(pixels.device))
        weight, bias = self.weight_generator(encoded)
        p = self.patch_size
        # cin (cout k1 k2) -> cout cin k1 k2
        kernel = weight.reshape(weight.shape[0], self.embed_dim, p, p).transpose(0, 1)
        out = F.conv2d(pixels, kernel * self.scaler, bias=bias, stride=p)
        return out.flatten(2).transpose(1, 2)
