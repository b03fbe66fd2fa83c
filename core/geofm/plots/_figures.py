"""The figures of ``<run>/plots/``, drawn with matplotlib's object API (no pyplot, no global backend).

Each function takes plain numbers and numpy arrays and returns a :class:`matplotlib.figure.Figure`;
:func:`save_png` writes one atomically. Figures are at most 1600 px on a side at :data:`DPI`.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

DPI = 100
MAX_INCHES = 16.0  # 1600 px at DPI
ANNOTATE_MAX_CLASSES = 25


def save_png(figure: Figure, path: Path) -> Path:
    """Write ``figure`` to ``path`` as PNG through a temporary file and an atomic rename."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            figure.savefig(file, format="png", dpi=DPI)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def curves_figure(series: Mapping[str, Mapping[int, float]], monitor: str, mode: str) -> Figure:
    """Loss (train and val) and the monitored metric per epoch; the best epoch of ``monitor`` marked."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    losses = [key for key in ("train/loss", "val/loss") if series.get(key)]
    panels = [("loss", losses)] if losses else []
    if monitor not in losses and series.get(monitor):
        panels.append((monitor, [monitor]))
    figure = Figure(figsize=(5.5 * len(panels), 4.0), dpi=DPI, layout="constrained")
    for ax, (title, keys) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        for key in keys:
            epochs = sorted(series[key])
            ax.plot(epochs, [series[key][e] for e in epochs], marker="o", markersize=3, label=key)
        values = series.get(monitor) or {}
        if monitor in keys and values:
            best = (max if mode == "max" else min)(values, key=values.__getitem__)
            ax.axvline(best, color="grey", linestyle="--", label=f"best: {values[best]:.4g} (epoch {best})")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    return figure


def class_colours(count: int) -> list[Any]:
    """``count`` distinct RGBA colours (tab10, tab20, then a sampled turbo)."""
    from matplotlib import colormaps

    if count <= 10:
        return [colormaps["tab10"](i) for i in range(count)]
    if count <= 20:
        return [colormaps["tab20"](i) for i in range(count)]
    return [colormaps["turbo"](i / max(count - 1, 1)) for i in range(count)]


def samples_figure(
    grid: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    image_title: str,
    class_names: Sequence[str] | None,
    value_name: str = "value",
) -> Figure:
    """Rows of (image, ground truth, prediction).

    With ``class_names`` (segmentation) truth and prediction are class maps whose NaN pixels (ignored)
    are black, with a class legend; without (regression) they are value maps on one shared colour scale.
    """
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows = len(grid)
    row_inches = min(3.0, (MAX_INCHES - 2.0) / rows)
    figure = Figure(figsize=(10.0, row_inches * rows + 1.0), dpi=DPI, layout="constrained")
    axes = figure.subplots(rows, 3, squeeze=False)
    if class_names is not None:
        colours = class_colours(len(class_names))
        cmap = ListedColormap(colours).with_extremes(bad="black")
        limits = {"vmin": -0.5, "vmax": len(class_names) - 0.5, "interpolation": "nearest"}
    else:
        cmap = colormaps["viridis"].with_extremes(bad="lightgrey")
        truth = np.concatenate([row[1].ravel() for row in grid])
        finite = truth[np.isfinite(truth)]
        low, high = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
        limits = {"vmin": float(low), "vmax": float(high) if high > low else float(low) + 1.0}
    shown = None
    for row, (image, truth, prediction) in zip(axes, grid, strict=True):
        row[0].imshow(image)
        row[1].imshow(np.ma.masked_invalid(truth), cmap=cmap, **limits)
        shown = row[2].imshow(np.ma.masked_invalid(prediction), cmap=cmap, **limits)
        for ax in row:
            ax.set_axis_off()
    for ax, title in zip(axes[0], (image_title, "ground truth", "prediction"), strict=True):
        ax.set_title(title, fontsize=10)
    if class_names is not None:
        handles = [Patch(facecolor=c, label=n) for c, n in zip(colours, class_names, strict=True)]
        if any(np.isnan(row[1]).any() for row in grid):
            handles.append(Patch(facecolor="black", label="ignored"))
        figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), fontsize=9)
    elif shown is not None:
        figure.colorbar(shown, ax=axes[:, 1:].ravel().tolist(), label=value_name, shrink=0.8)
    return figure


def confusion_figure(counts: np.ndarray, class_names: Sequence[str], unit: str) -> Figure:
    """The confusion matrix ``counts`` (rows: true class), normalised per true class and annotated."""
    import numpy as np
    from matplotlib.figure import Figure

    count = len(class_names)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        fractions = np.where(totals > 0, counts / np.maximum(totals, 1), np.nan)
    side = min(MAX_INCHES - 1.5, max(4.5, 0.45 * count + 3.0))
    figure = Figure(figsize=(side + 1.5, side), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=ax, label="fraction of the true class", shrink=0.8)
    if count <= ANNOTATE_MAX_CLASSES:
        size = 9 if count <= 10 else 7
        for (true, predicted), value in np.ndenumerate(fractions):
            if not math.isnan(value):
                colour = "white" if value > 0.5 else "black"
                ax.text(predicted, true, f"{value:.2f}", ha="center", va="center", color=colour, fontsize=size)
    ax.set_xticks(range(count), class_names, rotation=45, ha="right")
    ax.set_yticks(range(count), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Validation confusion matrix ({int(counts.sum()):,} {unit}),\nnormalised per true class", fontsize=10)
    return figure


def scatter_figure(
    predicted: np.ndarray,
    true: np.ndarray,
    output: np.ndarray,
    *,
    r2: float,
    total: int,
    output_names: Sequence[str],
) -> Figure:
    """Predicted against true values (one colour per output), the 1:1 line, and R² over ``total`` values."""
    import numpy as np
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5, 6.0), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    for index in np.unique(output):
        chosen = output == index
        label = output_names[index] if len(output_names) > 1 and index < len(output_names) else None
        ax.scatter(true[chosen], predicted[chosen], s=4, alpha=0.35, linewidths=0, label=label)
    values = np.concatenate([true, predicted])
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    ax.plot([low, high], [low, high], color="black", linestyle="--", linewidth=1, label="1:1")
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    shown = f", {len(true):,} shown" if len(true) < total else ""
    ax.set_title(f"Validation: predicted vs true\nR² = {r2:.3f} over {total:,} values{shown}", fontsize=10)
    return figure
