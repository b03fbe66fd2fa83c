"""DOFA's wavelength-generated patch embedding: one patch convolution made per band list.

The bands' central wavelengths are encoded (1-D sin-cos of the wavelength in nanometres, then a residual
ReLU MLP); a one-layer transformer (the hypernetwork) reads them beside 128 learned weight tokens and a
bias token, and linear layers turn its outputs into the convolution kernel and bias. Module and parameter
names follow the reference, so the released ``patch_embed.*`` keys load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geofm.backbone_kit import ResidualMlp, init_linears

__all__ = ["DOFAEmbedding", "FCResLayer", "TransformerWeightGenerator", "wavelength_code"]


def wavelength_code(wavelengths_um: Tensor, dim: int) -> Tensor:
    """Wavelengths (C,) in micrometres -> (C, dim): ``[sin(w o) | cos(w o)]``, w in nm, o_k = 1 / 10000^(2k/dim)."""
    if dim % 2:
        raise ValueError(f"the wavelength code width {dim} must be even")
    nanometres = wavelengths_um.to(torch.float32).reshape(-1) * 1000
    omega = torch.arange(dim // 2, dtype=torch.float32, device=nanometres.device) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = nanometres[:, None] * omega[None, :]
    return torch.cat((angles.sin(), angles.cos()), dim=1)


class FCResLayer(ResidualMlp):
    """``x + ReLU(w2(ReLU(w1(x))))`` of constant width (the reference's ``fclayer``)."""

    def __init__(self, size: int) -> None:
        super().__init__(size, F.relu, ("w1", "w2"))


class TransformerWeightGenerator(nn.Module):
    """Wavelength codes (C, dim) -> kernel rows (C, output_dim) and bias (embed_dim,).

    The sequence ``[weight_tokens; codes; bias_token]`` (no batch) goes through one post-norm transformer
    encoder layer (``generator_heads`` heads, ``generator_ffn`` feed-forward width, exact GELU, no dropout);
    the kernel comes from the code positions plus a skip of their input, the bias from the bias token.
    """

    def __init__(
        self,
        dim: int,
        output_dim: int,
        embed_dim: int,
        *,
        num_weight_tokens: int = 128,
        generator_heads: int = 4,
        generator_ffn: int = 2048,
    ) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            d_model=dim,
            nhead=generator_heads,
            dim_feedforward=generator_ffn,
            dropout=0.0,
            activation="gelu",
            norm_first=False,
            batch_first=False,
        )
        self.transformer_encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.fc_weight = nn.Linear(dim, output_dim)
        self.fc_bias = nn.Linear(dim, embed_dim)
        self.num_weight_tokens = num_weight_tokens
        self.weight_tokens = nn.Parameter(torch.empty(num_weight_tokens, dim))
        self.bias_token = nn.Parameter(torch.empty(1, dim))
        nn.init.normal_(self.weight_tokens, std=0.02)
        nn.init.normal_(self.bias_token, std=0.02)

    def forward(self, codes: Tensor) -> tuple[Tensor, Tensor]:
        """Codes (C, dim) -> (kernel rows (C, output_dim), bias (embed_dim,))."""
        sequence = torch.cat((self.weight_tokens, codes, self.bias_token), dim=0)
        out = self.transformer_encoder(sequence)
        weights = self.fc_weight(out[self.num_weight_tokens : -1] + codes)
        bias = self.fc_bias(out[-1])
        return weights, bias


class DOFAEmbedding(nn.Module):
    """Pixels (B, C, H, W) + wavelengths (C,) -> patch tokens (B, H/p * W/p, embed_dim), row-major.

    The generated kernel K[d, c, i, j] = 0.01 * G[c, (i p + j) D + d] and bias 0.01 * b run as a
    convolution with stride p and 1 pixel of zero padding, as in the reference: patch (r, c) covers
    pixel rows r p - 1 .. r p + p - 2, and the last pixel row and column are never seen.
    """

    scaler = 0.01

    def __init__(self, dim: int, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        if patch_size < 3:
            raise ValueError(f"DOFA's padded patch convolution needs a patch size of at least 3, not {patch_size}")
        self.dim = dim
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.weight_generator = TransformerWeightGenerator(dim, patch_size * patch_size * embed_dim, embed_dim)
        self.fclayer = FCResLayer(dim)
        for module in (self.weight_generator, self.fclayer):
            init_linears(module, bias=0.01)

    def kernel(self, wavelengths_um: Tensor) -> tuple[Tensor, Tensor]:
        """The generated convolution (weight (D, C, p, p), bias (D,)) for bands of these wavelengths."""
        codes = self.fclayer(wavelength_code(wavelengths_um, self.dim).to(self.fclayer.w1.weight.dtype))
        rows, bias = self.weight_generator(codes)
        p = self.patch_size
        weight = rows.reshape(rows.shape[0], p, p, self.embed_dim).permute(3, 0, 1, 2)
        return weight * self.scaler, bias * self.scaler

    def forward(self, pixels: Tensor, wavelengths_um: Tensor) -> Tensor:
        """Embed ``pixels`` (B, C, H, W) whose bands have central wavelengths ``wavelengths_um`` (C,)."""
        weight, bias = self.kernel(wavelengths_um.to(pixels.device))
        out = F.conv2d(pixels, weight.to(pixels.dtype), bias.to(pixels.dtype), stride=self.patch_size, padding=1)
        return out.flatten(2).transpose(1, 2)
