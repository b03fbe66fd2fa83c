"""Resolving and reading pretrained weights: an explicit file, geofm's cache, or the Hugging Face hub.

``weights`` is one of: a path to a local file; ``"none"`` (random initialisation); a weights tag of the
backbone (that file, or an error saying how to get it); ``"auto"`` (the default tag from the cache or
the hub, else random initialisation with a loud warning). Files imported with
``geofm weights import NAME PATH`` live under ``$GEOFM_CACHE`` (default ``~/.cache/geofm``); hub downloads
go to the standard Hugging Face cache and honour ``HF_HUB_OFFLINE``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geofm.errors import GeofmError, UnknownComponentError, WeightsError
from geofm.hub import offline_reason
from geofm.specs import BackboneSpec, WeightsSpec

if TYPE_CHECKING:
    import torch

__all__ = [
    "ResolvedWeights",
    "adapt_input_channels",
    "cache_dir",
    "cached_weights",
    "fetch_weights",
    "import_weights",
    "load_state_dict",
    "resolve_weights",
    "state_mismatch",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a backbone's weights come from: ``path`` is ``None`` for random initialisation."""

    path: Path | None
    tag: str | None
    spec: WeightsSpec | None
    origin: str

    @property
    def pretrained(self) -> bool:
        """Whether pretrained weights will be loaded."""
        return self.path is not None


def cache_dir() -> Path:
    """Geofm's own weights cache: ``$GEOFM_CACHE/weights`` (default ``~/.cache/geofm/weights``)."""
    root = os.environ.get("GEOFM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "geofm")
    return Path(root) / "weights"


def _first_line(error: BaseException) -> str:
    text = str(error)
    return text.splitlines()[0] if text else ""


def _imported_file(backbone: str, weights: WeightsSpec) -> Path:
    name = weights.hf_file.rsplit("/", 1)[-1] if weights.hf_file else f"{backbone}_{weights.tag}.pt"
    return cache_dir() / backbone / weights.tag / name


def _how_to_get(backbone: str, weights: WeightsSpec) -> str:
    return (
        f"Download {weights.source or 'the checkpoint'} yourself and run "
        f"`geofm weights import {backbone} PATH --tag {weights.tag}`, or run "
        f"`geofm weights fetch {backbone} --tag {weights.tag}` where the hub is reachable, or pass "
        "--weights PATH (or --weights none to train from random initialisation)."
    )


def _find_local(backbone: str, weights: WeightsSpec) -> Path | None:
    imported = _imported_file(backbone, weights)
    if imported.is_file():
        return imported
    if weights.hf_repo and weights.hf_file:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover - huggingface_hub is a dependency
            return None
        found = try_to_load_from_cache(repo_id=weights.hf_repo, filename=weights.hf_file, revision=weights.revision)
        if isinstance(found, str):
            return Path(found)
    return None


def fetch_weights(spec: BackboneSpec, tag: str | None = None) -> Path:
    """Download the weights ``tag`` of backbone ``spec`` into the Hugging Face cache and return the file."""
    weights = _weights_spec(spec, tag)
    local = _find_local(spec.name, weights)
    if local is not None:
        return local
    if not (weights.hf_repo and weights.hf_file):
        raise WeightsError(f"{spec.name} weights {weights.tag!r} have no hub source. {_how_to_get(spec.name, weights)}")
    reason = offline_reason()
    if reason is not None:
        raise WeightsError(
            f"{spec.name} weights {weights.tag!r} ({weights.source}) are not cached (looked in "
            f"{_imported_file(spec.name, weights).parent} and the Hugging Face cache) and {reason}. "
            f"{_how_to_get(spec.name, weights)}"
        )
    from huggingface_hub import hf_hub_download

    try:
        path = Path(hf_hub_download(repo_id=weights.hf_repo, filename=weights.hf_file, revision=weights.revision))
    except Exception as error:
        raise WeightsError(
            f"could not download {weights.hf_file} from the Hugging Face repo {weights.hf_repo} "
            f"({type(error).__name__}: {_first_line(error)}). "
            f"{_how_to_get(spec.name, weights)}"
        ) from error
    _verify(path, weights)
    return path


def _verify(path: Path, weights: WeightsSpec) -> None:
    if not weights.sha256:
        return
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != weights.sha256:
        raise WeightsError(
            f"{path} has sha256 {digest.hexdigest()}, expected {weights.sha256}: the file is corrupt or a "
            "different release. Delete it and fetch again."
        )


def _weights_spec(spec: BackboneSpec, tag: str | None) -> WeightsSpec:
    tag = tag or spec.default_weights
    if tag is None or tag not in spec.weights:
        tags = ", ".join(spec.weights) or "none"
        raise WeightsError(f"backbone {spec.name} has no weights tag {tag!r}; its tags: {tags}")
    return spec.weights[tag]


def import_weights(spec: BackboneSpec, source: Path, tag: str | None = None) -> Path:
    """Copy a checkpoint file into geofm's cache as the weights ``tag`` of ``spec``; return the new path.

    Before anything is copied the file is checked: it is read safely with :func:`load_state_dict`
    (safetensors, or ``torch.load(weights_only=True)``: a pickle that would run code is refused, never
    unpickled), then backbone ``spec`` is built with it through its plugin's loader, which loads it
    strictly (for a large backbone this takes as long as building it). A file that cannot be read or
    does not fit raises a :class:`~geofm.errors.WeightsError` and nothing is imported.
    """
    weights = _weights_spec(spec, tag)
    source = Path(source)
    if not source.is_file():
        raise WeightsError(f"{source} is not a file; give the path of a downloaded checkpoint")
    _verify(source, weights)
    _check_fits(spec, source, weights)
    target = _imported_file(spec.name, weights)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".partial")
    shutil.copyfile(source, partial)
    partial.replace(target)
    return target


def _check_fits(spec: BackboneSpec, source: Path, weights: WeightsSpec) -> None:
    """Raise a one-line WeightsError unless ``source`` reads safely and builds backbone ``spec``."""
    from geofm.compose import build_backbone

    try:
        load_state_dict(source)
    except WeightsError as error:
        raise WeightsError(
            f"{source} was not imported as {spec.name} weights {weights.tag!r}: {_first_line(error)} "
            "Nothing was imported."
        ) from error
    try:
        build_backbone(spec.name, weights=str(source.resolve()))
    except UnknownComponentError:
        raise
    except Exception as error:
        where = weights.source or "its release"
        cause = _first_line(error) if isinstance(error, GeofmError) else f"{type(error).__name__}: {_first_line(error)}"
        raise WeightsError(
            f"{source} does not fit backbone {spec.name} ({cause}); "
            f"nothing was imported. Give the {spec.name} checkpoint of weights {weights.tag!r} ({where})."
        ) from error


def cached_weights(spec: BackboneSpec) -> dict[str, Path | None]:
    """Each weights tag of ``spec`` -> its local file, or ``None`` when not cached."""
    return {tag: _find_local(spec.name, weights) for tag, weights in spec.weights.items()}


def resolve_weights(spec: BackboneSpec, weights: str | os.PathLike[str] | None = "auto") -> ResolvedWeights:
    """Decide which file (if any) backbone ``spec`` loads for the ``--weights`` value ``weights``."""
    choice = "auto" if weights is None else str(weights)
    default = spec.weights.get(spec.default_weights or "")
    if choice.lower() == "none":
        return ResolvedWeights(None, None, default, "random initialisation (--weights none)")
    if choice in spec.weights:
        path = fetch_weights(spec, choice)
        return ResolvedWeights(path, choice, spec.weights[choice], f"tag {choice}: {path}")
    if choice.lower() == "auto":
        if default is None:
            return ResolvedWeights(None, None, None, f"random initialisation ({spec.name} has no released weights)")
        try:
            path = fetch_weights(spec, default.tag)
        except WeightsError as error:
            warnings.warn(
                f"TRAINING FROM RANDOM INITIALISATION: no pretrained weights for {spec.name}. {error}",
                stacklevel=2,
            )
            return ResolvedWeights(None, None, default, "random initialisation (weights unavailable)")
        return ResolvedWeights(path, default.tag, default, f"tag {default.tag}: {path}")
    path = Path(choice).expanduser()
    if path.is_file():
        return ResolvedWeights(path, None, default, str(path))
    tags = ", ".join(spec.weights) or "none"
    raise WeightsError(
        f"--weights {choice!r} is neither a file, 'auto', 'none', nor a weights tag of {spec.name} (tags: {tags})"
    )


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a checkpoint file safely: safetensors, or ``torch.load(weights_only=True)``.

    A Lightning checkpoint is returned whole (a dict with ``state_dict``); callers pick their keys.
    A file that cannot be read raises a :class:`~geofm.errors.WeightsError` naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        import torch

        loaded: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise WeightsError(
            f"cannot read checkpoint {path}: {type(error).__name__}: {_first_line(error)}. "
            "The file may be truncated or corrupt (download it again), or it holds pickled objects other "
            "than tensors, which geofm refuses to unpickle."
        ) from error
    if not isinstance(loaded, dict):
        raise WeightsError(f"checkpoint {path} holds a {type(loaded).__name__}, not a dict of tensors")
    return loaded


def adapt_input_channels(
    weight: torch.Tensor, checkpoint_bands: Sequence[str], model_bands: Sequence[str]
) -> tuple[torch.Tensor, dict[str, list[str]]]:
    """Turn a pretrained input-layer weight for ``checkpoint_bands`` into one for ``model_bands``.

    ``weight`` is (out, len(checkpoint_bands), *kernel) (a conv or patch-embedding weight). The new
    weight starts from Xavier-uniform over (out, -1); each model band that is also a checkpoint band
    (matched through :mod:`geofm.bands`, so ``B8A`` and ``l30:B05`` both mean ``NIR_NARROW``) gets the
    pretrained input-channel slice; bands only in the model stay random; bands only in the checkpoint are
    dropped. Returns the weight and ``{"copied": [...], "initialised": [...], "dropped": [...]}`` (model
    band names as given for copied / initialised, checkpoint band names for dropped), which is also logged.
    """
    import torch

    from geofm.bands import canonical_bands

    if weight.ndim < 2 or weight.shape[1] != len(checkpoint_bands):
        raise WeightsError(
            f"the pretrained input weight has shape {tuple(weight.shape)}, which does not have one input channel "
            f"per checkpoint band ({len(checkpoint_bands)}: {', '.join(checkpoint_bands)})"
        )
    pretrained = canonical_bands(checkpoint_bands)
    wanted = canonical_bands(model_bands)
    new = torch.empty(weight.shape[0], len(wanted), *weight.shape[2:], dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        torch.nn.init.xavier_uniform_(new.view(new.shape[0], -1))
        report: dict[str, list[str]] = {"copied": [], "initialised": [], "dropped": []}
        for index, (name, band) in enumerate(zip(model_bands, wanted, strict=True)):
            if band in pretrained:
                new[:, index] = weight[:, pretrained.index(band)]
                report["copied"].append(name)
            else:
                report["initialised"].append(name)
    report["dropped"] = [name for name, band in zip(checkpoint_bands, pretrained, strict=True) if band not in wanted]
    log.info(
        "band adaptation: copied %s; initialised %s; dropped %s",
        ", ".join(report["copied"]) or "none",
        ", ".join(report["initialised"]) or "none",
        ", ".join(report["dropped"]) or "none",
    )
    return new, report


def state_mismatch(expected: Mapping[str, Any], state: Mapping[str, Any], shown: int = 4) -> list[str]:
    """What keeps ``state`` from loading strictly into a module whose ``state_dict()`` is ``expected``.

    One entry per kind of problem, each naming the first ``shown`` keys: ``missing keys: ...``,
    ``unexpected keys: ...`` and ``shape mismatch: KEY (checkpoint (..), model (..))``; empty when it fits.
    """

    def listing(keys: Sequence[str]) -> str:
        return ", ".join(keys[:shown]) + (f" and {len(keys) - shown} more" if len(keys) > shown else "")

    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    reshaped = [
        f"{key} (checkpoint {tuple(state[key].shape)}, model {tuple(value.shape)})"
        for key, value in expected.items()
        if key in state and tuple(getattr(state[key], "shape", ())) != tuple(value.shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {listing(unexpected)}")
    if reshaped:
        problems.append(f"shape mismatch: {listing(reshaped)}")
    return problems
