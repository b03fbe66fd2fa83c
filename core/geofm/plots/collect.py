"""One pass over the validation split: the first samples to draw, confusion counts, a sample of regression values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

MAX_SCATTER_POINTS = 20_000


@dataclass
class Collected:
    """What the figures need from the validation split."""

    grid: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    image_title: str = "image"
    dense: bool = False
    confusion: np.ndarray | None = None
    units: int = 0
    r2: float = float("nan")
    predicted: np.ndarray | None = None
    true: np.ndarray | None = None
    output: np.ndarray | None = None


def rgb_channels(band_names: Sequence[str], channels: int) -> tuple[list[int], str]:
    """The channels to show as red, green, blue, and what they are (true colour when the bands allow it)."""
    names = [str(name).upper() for name in band_names]
    if len(names) == channels and {"RED", "GREEN", "BLUE"} <= set(names):
        return [names.index("RED"), names.index("GREEN"), names.index("BLUE")], "image (RGB)"
    chosen = [i % channels for i in range(3)]
    if len(names) == channels:
        return chosen, f"image (false colour)\n{', '.join(names[i] for i in chosen)}"
    return chosen, f"image (false colour)\nchannels {', '.join(map(str, chosen))}"


def stretch(image: np.ndarray) -> np.ndarray:
    """(3, H, W) -> (H, W, 3) in [0, 1], each channel stretched between its 2nd and 98th percentile."""
    import numpy as np

    out = np.zeros((*image.shape[1:], 3), dtype=np.float32)
    for channel, values in enumerate(image):
        finite = values[np.isfinite(values)]
        if not finite.size:
            continue
        low, high = np.percentile(finite, [2, 98])
        scaled = (np.nan_to_num(values, nan=low) - low) / (high - low if high > low else 1.0)
        out[..., channel] = np.clip(scaled, 0.0, 1.0)
    return out


def _to_device(value: Any, device: torch.device) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, Mapping):
        return {key: _to_device(item, device) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_device(item, device) for item in value)
    return value


def _resize(output: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    import torch.nn.functional as F

    if output.ndim == 4 and tuple(output.shape[-2:]) != tuple(size):
        output = F.interpolate(output.float(), size=tuple(size), mode="bilinear", align_corners=False)
    return output


def _sample(pool: list[torch.Tensor], columns: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
    """A uniform sample of at most :data:`MAX_SCATTER_POINTS` rows of everything seen so far.

    ``pool`` holds a random key per row and the rows' columns; the rows with the smallest keys are kept.
    """
    import torch

    merged = [torch.rand(len(columns[0]), generator=generator), *columns]
    if pool:
        merged = [torch.cat([kept, new]) for kept, new in zip(pool, merged, strict=True)]
    if len(merged[0]) > MAX_SCATTER_POINTS:
        keep = merged[0].topk(MAX_SCATTER_POINTS, largest=False).indices
        merged = [column[keep] for column in merged]
    return merged


class _Accumulator:
    """Scores of one validation pass: confusion counts, or R² and a sample of (predicted, true) values."""

    def __init__(self, task: Any, kind: str, num_classes: int, ignore_index: int | None, device: torch.device) -> None:
        import torch
        from torchmetrics import R2Score
        from torchmetrics.classification import MulticlassConfusionMatrix

        self.task, self.kind, self.ignore_index = task, kind, ignore_index
        self.result = Collected(dense=kind == "segmentation")
        self.confusion = (
            None
            if kind == "regression"
            else MulticlassConfusionMatrix(num_classes=num_classes, ignore_index=ignore_index).to(device)
        )
        self.r2 = R2Score().to(device) if kind == "regression" else None
        self.generator = torch.Generator().manual_seed(0)
        self.pool: list[torch.Tensor] = []

    def add(self, output: torch.Tensor, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Score one batch; return its (truth, prediction) maps (NaN where not scored) for a dense task."""
        if self.kind == "regression":
            return self._add_values(output, batch)
        import torch

        target = self.task.get_target(batch)
        if self.kind == "segmentation":
            output = _resize(output, target.shape[-2:])
        labels = output.argmax(dim=1)
        self.confusion.update(labels, target)
        scored = (
            target != self.ignore_index if self.ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
        )
        self.result.units += int(scored.sum())
        if self.kind != "segmentation":
            return None
        return target.float().masked_fill(~scored, float("nan")), labels.float()

    def _add_values(self, output: torch.Tensor, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor] | None:
        import torch

        target, valid = self.task.get_target(batch)
        if output.ndim == 4 and target.ndim >= 3:
            output = _resize(output, target.shape[-2:])
        if target.ndim == output.ndim - 1 and output.shape[1] == 1:
            target, valid = target.unsqueeze(1), valid.unsqueeze(1)
        self.result.dense = output.ndim == 4
        if bool(valid.any()):
            self.r2.update(output[valid], target[valid])
            self.result.units += int(valid.sum())
            index = torch.arange(output.shape[1], device=output.device).view(1, -1, *([1] * (output.ndim - 2)))
            columns = [output[valid], target[valid], index.expand_as(output)[valid].float()]
            self.pool = _sample(self.pool, [column.cpu() for column in columns], self.generator)
        if not self.result.dense:
            return None
        return target.masked_fill(~valid, float("nan"))[:, 0], output[:, 0]

    def finish(self) -> Collected:
        """The scores of every batch added."""
        result = self.result
        if self.confusion is not None:
            result.confusion = self.confusion.compute().cpu().numpy()
        if self.r2 is not None and result.units >= 2:
            result.r2 = float(self.r2.compute())
        if self.pool:
            result.predicted, result.true, result.output = (
                self.pool[1].numpy(),
                self.pool[2].numpy(),
                self.pool[3].long().numpy(),
            )
        return result


def collect(
    task: Any, datamodule: Any, *, kind: str, samples: int, num_classes: int, ignore_index: int | None
) -> Collected:
    """Run ``task.model`` (eval mode, no gradients, its device) over the validation split once.

    ``kind`` is ``segmentation``, ``classification`` or ``regression``; the first ``samples`` samples of a
    dense task are kept for drawing. The train/eval mode of every submodule is restored afterwards.
    """
    import torch

    model = task.model
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    if callable(getattr(datamodule, "setup", None)):
        datamodule.setup("validate")
    scores = _Accumulator(task, kind, num_classes, ignore_index, device)
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            for raw in datamodule.val_dataloader():
                batch = _to_device(raw, device)
                image = batch["image"]
                inputs = image.to(dtype) if image.is_floating_point() else image
                maps = scores.add(model(inputs, **dict(batch.get("meta") or {})).float(), batch)
                if maps is not None and len(scores.result.grid) < samples:
                    _add_samples(scores.result, image, *maps, datamodule, samples)
    finally:
        for module, training in modes.items():
            module.training = training
    return scores.finish()


def _add_samples(
    result: Collected, image: torch.Tensor, truth: torch.Tensor, predicted: torch.Tensor, datamodule: Any, samples: int
) -> None:
    if image.ndim == 5:  # (B, C, T, H, W): the middle time step
        image = image[:, :, image.shape[2] // 2]
    channels, result.image_title = rgb_channels(tuple(getattr(datamodule, "band_names", ()) or ()), image.shape[1])
    for index in range(min(samples - len(result.grid), image.shape[0])):
        rgb = stretch(image[index, channels].float().cpu().numpy())
        result.grid.append((rgb, truth[index].cpu().numpy(), predicted[index].cpu().numpy()))
