"""The TerraMind v1 encoder as a geofm backbone: modality embeddings, joint transformer, per-token merge.

One module covers every released size. It is built for a list of modalities and (optionally) the bands
of the stacked input it will receive; see :mod:`geofm_terramind.modalities` for how channels are routed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from geofm.backbone_kit import GradCheckpointing, TokenBackbone, TransformerGeometry, run_blocks
from geofm.errors import ConfigError, DataError
from geofm_terramind.layers import Block, LayerNorm, ModalityEmbedding
from geofm_terramind.modalities import MODALITIES, InputPlan, resolve_modality

__all__ = ["MERGE_METHODS", "TerraMindEncoder"]

MERGE_METHODS = ("mean", "max", "concat")
"""How the modalities' tokens at one position become one feature."""


class TerraMindEncoder(TokenBackbone, GradCheckpointing, nn.Module):
    """The TerraMind v1 encoder (the reference ``TerraMindViT`` with raw-pixel modalities).

    ``plan`` says which input channels feed which modality (:func:`~geofm_terramind.modalities.plan_inputs`);
    ``geometry`` sizes the transformer; each modality has an embedding ``encoder_embeddings[<checkpoint
    key>]`` for its channels. ``img_size`` sets the grid of the stored position tables (other inputs get them
    resized per call). ``merge_method`` ``mean`` / ``max`` give (B, N, dim) features, ``concat`` (B, N, dim *
    modalities) in build order, a fixed ``missing_mod_token`` standing in for a modality absent from a dict
    input (the reference learns it when training drops modalities; geofm batches always hold them all).
    """

    num_prefix_tokens = 0

    def __init__(
        self,
        plan: InputPlan,
        geometry: TransformerGeometry,
        *,
        gated_mlp: bool = False,
        bias: bool = True,
        img_size: int = 224,
        patch_size: int = 16,
        merge_method: str = "mean",
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        if merge_method not in MERGE_METHODS:
            raise ValueError(f"merge_method must be one of {', '.join(MERGE_METHODS)}, not {merge_method!r}")
        if img_size % patch_size:
            raise ValueError(f"img_size {img_size} is not a multiple of the patch size {patch_size}")
        self.plan = plan
        self.modalities: tuple[str, ...] = plan.names
        self.modality_keys: dict[str, str] = {
            name: MODALITIES[kind].key if kind is not None else name
            for name, kind in zip(plan.names, plan.modalities, strict=True)
        }
        self.bands = plan.input_bands
        self.modality_bands = dict(zip(plan.names, plan.bands, strict=True))
        dim, depth = geometry.width, geometry.depth
        self.geometry, self.dim, self.depth, self.img_size = geometry, dim, depth, img_size
        self.grid_size = img_size // patch_size
        self.merge_method = merge_method
        self.grad_checkpointing = grad_checkpointing
        self.declare_token_features(dim * len(plan.names) if merge_method == "concat" else dim, depth, patch_size)

        self.encoder_embeddings = nn.ModuleDict(
            {
                self.modality_keys[name]: ModalityEmbedding(len(channels), dim, self.grid_size, patch_size)
                for name, channels in zip(plan.names, plan.channels, strict=True)
            }
        )
        self.encoder = nn.ModuleList(
            Block(dim, geometry.num_heads, geometry.mlp_ratio, gated_mlp=gated_mlp, bias=bias) for _ in range(depth)
        )
        self.encoder_norm = LayerNorm(dim)
        if merge_method == "concat":
            # The reference learns it from training batches that lack a modality; a geofm batch always holds every
            # modality, so it would get no gradient (and break DDP's unused-parameter check): a fixed buffer.
            self.register_buffer("missing_mod_token", torch.randn(dim) * 0.02)
        self._init_blocks()

    def _init_blocks(self) -> None:
        """MAE-style initialisation of the blocks, as the reference (qkv: Xavier bound per q, k, v)."""
        for name, module in self.encoder.named_modules():
            if isinstance(module, nn.Linear):
                if name.endswith("qkv"):
                    bound = math.sqrt(6.0 / float(module.weight.shape[0] // 3 + module.weight.shape[1]))
                    nn.init.uniform_(module.weight, -bound, bound)
                else:
                    nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def _modality_of(self, name: str) -> str:
        """The built modality that input key ``name`` means (exact build name, else by the matching rules)."""
        if name in self.modality_keys:
            return name
        try:
            kind: str | None = resolve_modality(name)
        except ConfigError:
            kind = None
        for built, built_kind in zip(self.plan.names, self.plan.modalities, strict=True):
            if kind is not None and built_kind == kind:
                return built
        raise DataError(
            f"input {name!r} is not a modality of this TerraMind backbone (built for {', '.join(self.modalities)})"
        )

    def split_inputs(self, x: Tensor | Mapping[str, Tensor] | None, **inputs: Any) -> dict[str, Tensor]:
        """The per-modality inputs (in input order) of a stacked tensor, a dict, or keyword tensors.

        A stacked (B, C, H, W) tensor with the channels of the built bands is split by the plan; a tensor
        with the channels of the first modality alone is that modality (the reference's bare tensor).
        (B, C, 1, H, W) is accepted as one frame.
        """
        given: dict[str, Tensor] = {}
        if isinstance(x, Mapping):
            given.update(x)
        elif x is not None:
            tensor = self._four_d(x, "input")
            first = len(self.plan.channels[0])
            if tensor.shape[1] == self.plan.num_channels:
                for name, channels in zip(self.plan.names, self.plan.channels, strict=True):
                    start, stop = channels[0], channels[-1] + 1
                    if list(channels) == list(range(start, stop)):
                        given[name] = tensor[:, start:stop]
                    else:
                        given[name] = tensor[:, torch.as_tensor(channels, device=tensor.device)]
            elif tensor.shape[1] == first:
                given[self.plan.names[0]] = tensor
            else:
                bands = ", ".join(self.bands) if self.bands else f"{self.plan.num_channels} channels"
                raise DataError(
                    f"TerraMind was built for an input of {self.plan.num_channels} channels ({bands}) feeding "
                    f"{', '.join(self.modalities)}, but the input has {tensor.shape[1]} (shape {tuple(tensor.shape)}); "
                    "build the backbone with the input's bands"
                )
        given.update({k: v for k, v in inputs.items() if isinstance(v, Tensor) and k not in given})
        if not given:
            raise DataError(f"no input given; pass a tensor or a dict of {', '.join(self.modalities)}")
        result: dict[str, Tensor] = {}
        for name, tensor in given.items():
            built = self._modality_of(name)
            if built in result:
                raise DataError(f"modality {built} is given twice (as {name!r})")
            result[built] = self._four_d(tensor, built)
        return result

    @staticmethod
    def _four_d(x: Tensor, what: str) -> Tensor:
        if x.ndim == 5:
            if x.shape[2] != 1:
                raise DataError(
                    f"TerraMind is a single-time model but {what} has {x.shape[2]} frames (shape {tuple(x.shape)})"
                )
            x = x[:, :, 0]
        if x.ndim != 4:
            raise DataError(f"TerraMind expects (B, C, H, W) or (B, C, 1, H, W) for {what}; got {tuple(x.shape)}")
        return x

    def _merge(self, feature: Tensor, names: Sequence[str], counts: Sequence[int]) -> Tensor:
        if len(set(counts)) != 1:
            raise DataError(
                f"the modalities {', '.join(names)} give {', '.join(map(str, counts))} tokens; merging them per "
                "position needs inputs of one height and width"
            )
        parts = dict(zip(names, torch.split(feature, list(counts), dim=1), strict=True))
        if self.merge_method == "concat":
            missing = self.missing_mod_token.to(feature.dtype).expand(feature.shape[0], counts[0], -1)
            return torch.cat([parts.get(name, missing) for name in self.modalities], dim=-1)
        stacked = torch.stack([parts[name] for name in names], dim=1)  # (B, M, N, D)
        return stacked.mean(dim=1) if self.merge_method == "mean" else stacked.amax(dim=1)

    def forward_features(self, x: Tensor | Mapping[str, Tensor] | None = None, **meta: Any) -> list[Tensor]:
        """Every block's output merged over the modalities, (B, H/16 * W/16, D); the last after the norm.

        ``x`` is the stacked input (the built bands in order), a dict of modality name -> (B, C, H, W) (the
        reference's input; the names as built, or any name meaning the same modality), or one tensor of
        the first modality. Modality tensors may also come as keywords; other keywords (batch metadata such
        as ``timestamps``) are ignored. Tokens are concatenated in input order through the blocks.
        """
        inputs = self.split_inputs(x, **{k: v for k, v in meta.items() if k in self.modality_keys})
        tokens, counts = [], []
        for name, tensor in inputs.items():
            embedded = self.encoder_embeddings[self.modality_keys[name]](tensor)
            tokens.append(embedded)
            counts.append(embedded.shape[1])
        outputs = run_blocks(
            self.encoder, torch.cat(tokens, dim=1), checkpointing=self.grad_checkpointing, final_norm=self.encoder_norm
        )
        names = list(inputs)
        return [self._merge(feature, names, counts) for feature in outputs]

    def forward(self, x: Tensor | Mapping[str, Tensor] | None = None, **meta: Any) -> list[Tensor]:
        """Same as :meth:`forward_features`."""
        return self.forward_features(x, **meta)
