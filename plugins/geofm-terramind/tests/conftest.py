"""Shared helpers of the geofm-terramind tests: the reference fixtures (../shared), the released layout, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from geofm.testing.reference_fixtures import ReferenceFixtures, architecture_options

REPO = Path(__file__).resolve().parents[3]
SHARED = (REPO / ".." / "shared").resolve()
FIXTURES = SHARED / "fixtures" / "terramind"


def _backbone_and_options(description: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(backbone name, geofm.build_backbone keyword options) reproducing a fixture's architecture."""
    name = "terramind_v1_base" if description["architecture"]["gated_mlp"] else "terramind_v1_tiny"
    options = architecture_options(
        description, ("img_size", "dim", "num_heads", "mlp_ratio"), {"depth": "encoder_depth"}
    )
    return name, {**options, "modalities": list(description["modalities"]), "merge_method": description["merge_method"]}


@pytest.fixture
def reference() -> ReferenceFixtures:
    """The TerraMind fixture cases (skipped without ../shared); ``options`` gives (backbone, build options)."""
    return ReferenceFixtures(FIXTURES, "TerraMind", _backbone_and_options)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``geofm ARGS`` in a fresh interpreter (as a user would) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "geofm_cli.app", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=600,
    )


@pytest.fixture(scope="session")
def cli() -> Any:
    """:func:`run_cli`: run the ``geofm`` command in a subprocess."""
    return run_cli


TOKENISED_KEYS = (
    "tok_sen2l2a@224",
    "tok_sen1grd@224",
    "tok_sen1rtc@224",
    "tok_dem@224",
    "tok_lulc@224",
    "tok_ndvi@224",
)
VOCABULARIES = {"tok_lulc@224": 4375, "coords": 30000}


def _decoder_block(dim: int, hidden: int, gated: bool) -> dict[str, tuple[int, ...]]:
    bias = not gated
    shapes: dict[str, tuple[int, ...]] = {}
    layers = {
        "self_attn.qkv": (3 * dim, dim),
        "self_attn.proj": (dim, dim),
        "cross_attn.q": (dim, dim),
        "cross_attn.kv": (2 * dim, dim),
        "cross_attn.proj": (dim, dim),
        "mlp.fc1": (hidden, dim),
        "mlp.fc2": (dim, hidden),
        **({"mlp.fc3": (hidden, dim)} if gated else {}),
    }
    for norm in ("norm1", "query_norm", "context_norm", "norm2"):
        shapes[f"{norm}.weight"] = shapes[f"{norm}.bias"] = (dim,)
    for name, shape in layers.items():
        shapes[f"{name}.weight"] = shape
        if bias:
            shapes[f"{name}.bias"] = (shape[0],)
    return shapes


def released_layout(
    *, dim: int, depth: int, num_heads: int, gated: bool, decoder_depth: int, grid: int = 14,
    vocabulary: int = 15360, cheap_dropped: bool = False, seed: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """A random state dict in the released layout of the whole TerraMind v1 encoder-decoder model.

    Key groups as the released files (and the shared fixtures): ``mask_token``; encoder embeddings of the 6
    raw-pixel modalities, the 6 tokenised ones and ``coords``; ``encoder.<i>``; ``encoder_norm``; decoder
    embeddings (with ``to_logits``) of the tokenised modalities and ``coords``; ``decoder_proj_context``;
    ``decoder.<i>`` blocks with cross-attention; ``decoder_norm``. Norm biases are zeros and position tables
    the sin-cos tables, as the reference writes them. ``cheap_dropped`` stores every key a backbone drops as
    a stride-0 view (full shape, one element on disk).
    """
    import torch

    from geofm_terramind.layers import sincos_2d_table
    from geofm_terramind.modalities import MODALITIES

    hidden = int(2 * 4 * dim / 3) if gated else 4 * dim
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, Any] = {}

    def put(name: str, shape: tuple[int, ...], kept: bool) -> None:
        if name.endswith("pos_emb") and shape[1] == grid * grid:
            state[name] = sincos_2d_table(grid, dim)
        elif name.endswith(".bias") and "norm" in name:
            state[name] = torch.zeros(shape)
        elif cheap_dropped and not kept:
            state[name] = torch.zeros(()).expand(shape)
        else:
            state[name] = torch.randn(shape, generator=generator) * 0.05

    put("mask_token", (1, 1, dim), False)
    tokens = grid * grid
    for modality in MODALITIES.values():
        prefix = f"encoder_embeddings.{modality.key}"
        put(f"{prefix}.proj.weight", (dim, 256 * modality.channels), True)
        put(f"{prefix}.mod_emb", (1, 1, dim), True)
        put(f"{prefix}.pos_emb", (1, tokens, dim), True)
    for side in ("encoder", "decoder"):
        for key in (*TOKENISED_KEYS, "coords"):
            prefix = f"{side}_embeddings.{key}"
            size = VOCABULARIES.get(key, vocabulary)
            put(f"{prefix}.token_emb.weight", (size, dim), False)
            if side == "decoder":
                put(f"{prefix}.to_logits.weight", (size, dim), False)
            put(f"{prefix}.mod_emb", (1, 1, dim), False)
            put(f"{prefix}.pos_emb", (1, 512 if key == "coords" else tokens, dim), False)
    for i in range(depth):
        block = {
            "norm1.weight": (dim,), "norm1.bias": (dim,), "attn.qkv.weight": (3 * dim, dim),
            "attn.proj.weight": (dim, dim), "norm2.weight": (dim,), "norm2.bias": (dim,),
            "mlp.fc1.weight": (hidden, dim), "mlp.fc2.weight": (dim, hidden),
        }  # fmt: skip
        if gated:
            block["mlp.fc3.weight"] = (hidden, dim)
        else:
            block |= {"attn.qkv.bias": (3 * dim,), "attn.proj.bias": (dim,), "mlp.fc1.bias": (hidden,)}
            block["mlp.fc2.bias"] = (dim,)
        for name, shape in block.items():
            put(f"encoder.{i}.{name}", shape, True)
    put("encoder_norm.weight", (dim,), True)
    put("encoder_norm.bias", (dim,), True)
    put("decoder_proj_context.weight", (dim, dim), False)
    put("decoder_proj_context.bias", (dim,), False)
    for i in range(decoder_depth):
        for name, shape in _decoder_block(dim, hidden, gated).items():
            put(f"decoder.{i}.{name}", shape, False)
    put("decoder_norm.weight", (dim,), False)
    put("decoder_norm.bias", (dim,), False)
    return state


@pytest.fixture(scope="session")
def released() -> Any:
    """:func:`released_layout`: a random state dict in the released TerraMind v1 layout."""
    return released_layout
