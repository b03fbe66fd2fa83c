"""One backbone factory per released variant, all through the plugin's builder (no torch)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["BackboneRequest", "variant_factory"]

ModelT = TypeVar("ModelT")


@dataclass(frozen=True)
class BackboneRequest:
    """One call of a backbone factory: the variant it builds, the contract's keywords and the other options.

    ``bands`` is a tuple (or ``None``); ``options`` is the call's own dict, which the builder may consume.
    """

    variant: str
    checkpoint: Path | str | None = None
    bands: tuple[str, ...] | None = None
    num_frames: int | None = None
    img_size: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


def variant_factory(build: Callable[[BackboneRequest], ModelT], variant: str, summary: str) -> Callable[..., ModelT]:
    """The factory a spec names for ``variant``: ``build`` applied to the :class:`BackboneRequest` of the call.

    The function is called ``variant`` and documented with ``summary``, so that
    ``module:variant`` references and ``help()`` read as if it were written out.
    """

    def factory(
        *,
        checkpoint: Path | str | None = None,
        bands: Sequence[str] | None = None,
        num_frames: int | None = None,
        img_size: int | None = None,
        **options: Any,
    ) -> ModelT:
        band_names = tuple(bands) if bands is not None else None
        return build(BackboneRequest(variant, checkpoint, band_names, num_frames, img_size, options))

    factory.__name__ = factory.__qualname__ = variant
    factory.__module__ = build.__module__
    factory.__doc__ = f"Build {variant} ({summary}); see :func:`{build.__name__}`."
    factory.__annotations__ = {**factory.__annotations__, "return": build.__annotations__.get("return", "Any")}
    return factory
