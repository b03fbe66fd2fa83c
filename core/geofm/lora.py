"""LoRA fine-tuning of any backbone: peft's adapters in its linear layers, every other backbone weight frozen.

A run with a ``backbone.lora`` section (:class:`geofm.config.LoraConfig`) trains low-rank adapters
``W x + alpha / rank * B A x`` on the backbone's attention projections (and MLP layers with ``mlp``)
instead of all of its weights; necks, decoder and heads stay fully trainable. The adapters are peft's
(:func:`peft.inject_adapter_in_model`), injected in place, so the backbone keeps its type, attributes
and ``forward_features``. :func:`geofm.run_model.build_run_model` adapts the backbone after its
pretrained weights are loaded, so training, ``evaluate``, ``predict`` and ``--resume`` rebuild the same
model from ``config.yaml``, and checkpoints hold the adapters (``lora_A`` / ``lora_B`` keys) beside the
frozen weights. :func:`merge_run` (``geofm export RUN --merge-lora --out NEW_RUN``) writes a run whose
backbone has the adapters folded into its weights and whose configuration has no ``lora`` section.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geofm.config import LoraConfig
from geofm.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ATTENTION_TARGETS", "MLP_TARGETS", "apply_lora", "lora_targets", "merge_lora", "merge_run"]

log = logging.getLogger(__name__)

ATTENTION_TARGETS: tuple[str, ...] = ("attn.qkv", "attn.proj", "to_qkv", "to_out")
"""Default targets: the attention projections of timm-style blocks (Prithvi, DOFA, TerraMind, timm ViTs,
``tiny_vit``: ``attn.qkv``, ``attn.proj``) and of Clay's transformer (``to_qkv``, ``to_out``)."""

MLP_TARGETS: tuple[str, ...] = ("mlp.fc1", "mlp.fc2", "mlp.fc3", "net.1", "net.3")
"""Added with ``mlp``: the MLP linear layers of timm-style blocks (``mlp.fc1``, ``mlp.fc2``; TerraMind's
gated MLP also ``mlp.fc3``) and of Clay's feed-forward (``net.1``, ``net.3``)."""

PEFT_MISSING = "LoRA needs peft: pip install 'geofm[lora]'"
_SHOWN_NAMES = 6


def _settings(config: LoraConfig | Mapping[str, Any]) -> LoraConfig:
    if isinstance(config, LoraConfig):
        return config
    from geofm.config import validate_config

    lora = validate_config({"backbone": {"lora": dict(config)}}).backbone.lora  # errors name backbone.lora.*
    assert lora is not None
    return lora


def _matches(name: str, pattern: str) -> bool:
    """Whether module ``name`` is ``pattern`` or ends with ``.<pattern>`` (``*`` wildcards allowed)."""
    return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name, f"*.{pattern}")


def _patterns(config: LoraConfig) -> list[str]:
    attention = config.targets if config.targets is not None else ATTENTION_TARGETS
    return [*attention, *(MLP_TARGETS if config.mlp else ())]


def lora_targets(backbone: nn.Module, config: LoraConfig | Mapping[str, Any], *, name: str | None = None) -> list[str]:
    """Names of the linear layers of ``backbone`` that ``config``'s target patterns select, in module order.

    None selected is a one-line :class:`~geofm.errors.ConfigError` naming the patterns looked for and a few
    of the backbone's linear layers to choose from (``backbone.lora.targets``). ``name`` (the backbone's
    registry name) is for that message.
    """
    from torch import nn

    settings = _settings(config)
    patterns = _patterns(settings)
    linear = [n for n, module in backbone.named_modules() if isinstance(module, nn.Linear)]
    chosen = [n for n in linear if any(_matches(n, p) for p in patterns)]
    if chosen:
        return chosen
    label = f"backbone {name}" if name else f"the backbone ({type(backbone).__name__})"
    looked = ", ".join(patterns)
    if not linear:
        raise ConfigError(
            f"LoRA found no layer to adapt in {label}: it has no linear layer at all (looked for {looked}); "
            "LoRA adapts linear layers, so choose a transformer backbone (geofm backbones list) or drop backbone.lora"
        )
    shown = ", ".join(linear[:_SHOWN_NAMES]) + (f" ... ({len(linear)} in all)" if len(linear) > _SHOWN_NAMES else "")
    raise ConfigError(
        f"LoRA found no linear layer of {label} matching {looked}; set backbone.lora.targets to patterns of "
        f"its linear layers, e.g. --set 'backbone.lora.targets=[...]' with names among: {shown}"
    )


def apply_lora(backbone: nn.Module, config: LoraConfig | Mapping[str, Any], *, name: str | None = None) -> nn.Module:
    """Inject peft LoRA adapters into ``backbone`` (in place, and returned) and freeze its other weights.

    ``config`` is a :class:`~geofm.config.LoraConfig` (or its mapping): ``rank``, ``alpha`` (default
    ``rank``), ``dropout`` and the target patterns (:func:`lora_targets`). Afterwards only the ``lora_``
    parameters of the backbone require gradients. Logs the trainable and total backbone parameters.
    Without peft installed, or when no layer matches, raises :class:`~geofm.errors.ConfigError`.
    """
    settings = _settings(config)
    targets = lora_targets(backbone, settings, name=name)
    try:
        from peft import LoraConfig as PeftLoraConfig
        from peft import inject_adapter_in_model
    except ImportError as error:
        raise ConfigError(PEFT_MISSING) from error

    peft_config = PeftLoraConfig(
        r=settings.rank,
        lora_alpha=float(settings.alpha if settings.alpha is not None else settings.rank),
        lora_dropout=settings.dropout,
        target_modules=targets,
        bias="none",
    )
    try:
        adapted = inject_adapter_in_model(peft_config, backbone)
    except ValueError as error:  # peft's refusals (e.g. a layer type it cannot adapt) in one line
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"peft could not add LoRA adapters to {name or type(backbone).__name__}: {first}") from error
    for parameter_name, parameter in adapted.named_parameters():
        parameter.requires_grad_("lora_" in parameter_name)
    total = sum(p.numel() for p in adapted.parameters())
    trainable = sum(p.numel() for p in adapted.parameters() if p.requires_grad)
    log.info(
        "LoRA rank %d on %d layers of %s: %s of %s backbone parameters trainable (%.2f %%)",
        settings.rank,
        len(targets),
        name or type(backbone).__name__,
        f"{trainable:,}",
        f"{total:,}",
        100.0 * trainable / max(total, 1),
    )
    return adapted


def merge_lora(backbone: nn.Module) -> nn.Module:
    """Fold every LoRA adapter of ``backbone`` into its base layer and put the plain layer back (in place).

    Afterwards the backbone has the module structure and state-dict keys it had before :func:`apply_lora`,
    with the adapted weights ``W + alpha / rank * B A``. A backbone without adapters is returned unchanged.
    """
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError as error:
        raise ConfigError(PEFT_MISSING) from error

    adapted = [(n, m) for n, m in backbone.named_modules() if isinstance(m, BaseTunerLayer)]
    for module_name, module in adapted:
        module.merge(safe_merge=True)
        parent_name, _, child = module_name.rpartition(".")
        parent = backbone.get_submodule(parent_name) if parent_name else backbone
        setattr(parent, child, module.get_base_layer())
    if hasattr(backbone, "peft_config"):
        del backbone.peft_config
    return backbone


def merge_run(run_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Write ``out_dir``: a copy of a LoRA run with its adapters merged into the backbone; return its path.

    ``run_dir`` is a run directory (its best checkpoint) or a ``.ckpt`` inside one. The new run's
    ``config.yaml`` is the run's without ``backbone.lora`` and its ``checkpoints/best.ckpt`` holds the
    merged weights (and no optimiser state), so ``geofm predict`` and ``geofm evaluate`` use it as any
    run, with the same predictions. ``out_dir`` must not exist yet.
    """
    from geofm.checkpoints import MODEL_PREFIX, AtomicCheckpointIO, load_checkpoint, model_state
    from geofm.run_model import build_run_model, load_model_state
    from geofm.rundir import BEST_CHECKPOINT, SUMMARY_FILE, RunDir, new_directory

    source, checkpoint_path = RunDir.find(run_dir)
    config = source.read_config()
    if config.backbone.lora is None:
        raise ConfigError(
            f"{source.path} was not trained with LoRA (its config.yaml has no backbone.lora): nothing to merge"
        )
    checkpoint = load_checkpoint(checkpoint_path)
    model = build_run_model(config, weights="none")
    load_model_state(model, model_state(checkpoint, checkpoint_path), f"checkpoint {checkpoint_path}")
    merge_lora(model.backbone)

    merged = config.model_copy(update={"backbone": config.backbone.model_copy(update={"lora": None})})
    data = merged.to_dict()
    data["backbone"].pop("lora", None)
    target = Path(out_dir).expanduser()
    run = RunDir(
        new_directory(
            target.parent,
            target.name,
            kind="run directories",
            taken="{path} already exists: give --out a new folder for the merged run",
        )
    )
    run.write_config(data)
    others = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith(MODEL_PREFIX)}
    state = {**others, **{MODEL_PREFIX + k: v.detach().clone() for k, v in model.state_dict().items()}}
    kept = {k: checkpoint[k] for k in ("epoch", "global_step", "pytorch-lightning_version") if k in checkpoint}
    run.checkpoint_dir.mkdir()
    AtomicCheckpointIO().save_checkpoint({**kept, "state_dict": state}, run.checkpoint(BEST_CHECKPOINT))
    run.write_provenance()
    summary = source.read_json(SUMMARY_FILE) or {}
    run.write_summary(
        {
            **{k: v for k, v in summary.items() if k not in ("run_dir", "best_checkpoint")},
            "run_dir": str(run.path),
            "best_checkpoint": run.relative(run.checkpoint(BEST_CHECKPOINT)),
            "lora_merged_from": f"{source.path} ({source.relative(checkpoint_path)})",
        }
    )
    log.info("merged the LoRA adapters of %s into %s", checkpoint_path, run.path)
    return run.path
