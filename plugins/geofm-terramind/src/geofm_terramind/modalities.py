"""TerraMind's raw-pixel modalities: names, checkpoint keys, bands, pretraining statistics (no torch).

A backbone is built for a list of modality names (``S2L2A``, ``S1GRD`` ...). The data pipeline delivers one
stacked tensor whose channels are the run's bands in order; :func:`plan_inputs` decides which channels feed
which modality: every channel whose band is in a modality's band list (so one Sentinel-2 + Sentinel-1 stack
feeds ``S2L1C`` and ``S1GRD``). Without bands, each modality takes its own pretraining bands, one modality
after the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from geofm.bands import SENSORS
from geofm.errors import ConfigError

__all__ = [
    "DEFAULT_MODALITY",
    "MODALITIES",
    "InputPlan",
    "Modality",
    "infer_modalities",
    "modalities_metadata",
    "parse_modalities",
    "plan_inputs",
    "resolve_modality",
]


@dataclass(frozen=True)
class Modality:
    """One raw-pixel modality as TerraMind v1 was pretrained on it.

    ``key`` is the name of its embedding in the released checkpoints (``encoder_embeddings.<key>.*``);
    ``bands`` are geofm's canonical band names in pretraining order (``DEM`` is not a band of geofm's
    vocabulary); ``mean`` / ``std`` the per-band pretraining statistics in the modality's units.
    """

    name: str
    key: str
    bands: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    units: str

    def __post_init__(self) -> None:
        if not (len(self.bands) == len(self.mean) == len(self.std)):
            raise ValueError(f"modality {self.name}: bands, mean and std differ in length")

    @property
    def channels(self) -> int:
        """Number of pretraining bands (input channels of the released embedding)."""
        return len(self.bands)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible description (what the backbone spec's ``extra["modality_table"]`` holds)."""
        return {
            "key": self.key,
            "bands": list(self.bands),
            "mean": list(self.mean),
            "std": list(self.std),
            "units": self.units,
        }


_S2L1C_BANDS = tuple(SENSORS["sentinel2"].values())  # the 13 Sentinel-2 bands in band-number order
_S2L2A_BANDS = tuple(band for band in _S2L1C_BANDS if band != "CIRRUS")  # L2A products drop B10

MODALITIES: dict[str, Modality] = {
    m.name: m
    for m in (
        Modality(
            "S2L2A",
            "untok_sen2l2a@224",
            _S2L2A_BANDS,
            (1390.458, 1503.317, 1718.197, 1853.91, 2199.1, 2779.975, 2987.011, 3083.234, 3132.22, 3162.988, 2424.884,
             1857.648),
            (2106.761, 2141.107, 2038.973, 2134.138, 2085.321, 1889.926, 1820.257, 1871.918, 1753.829, 1797.379,
             1434.261, 1334.311),
            "Sentinel-2 L2A reflectance x 10000",
        ),
        Modality(
            "S2L1C",
            "untok_sen2l1c@224",
            _S2L1C_BANDS,
            (2357.089, 2137.385, 2018.788, 2082.986, 2295.651, 2854.537, 3122.849, 3040.56, 3306.481, 1473.847, 506.07,
             2472.825, 1838.929),
            (1624.683, 1675.806, 1557.708, 1833.702, 1823.738, 1733.977, 1732.131, 1679.732, 1727.26, 1024.687,
             442.165, 1331.411, 1160.419),
            "Sentinel-2 L1C top-of-atmosphere reflectance x 10000",
        ),
        Modality(
            "S2RGB",
            "untok_sen2rgb@224",
            ("RED", "GREEN", "BLUE"),
            (87.271, 80.931, 66.667),
            (58.767, 47.663, 42.631),
            "Sentinel-2 true colour, 8-bit",
        ),
        Modality("S1GRD", "untok_sen1grd@224", ("VV", "VH"), (-12.599, -20.293), (5.195, 5.890), "Sentinel-1 GRD, dB"),
        Modality("S1RTC", "untok_sen1rtc@224", ("VV", "VH"), (-10.93, -17.329), (4.391, 4.459), "Sentinel-1 RTC, dB"),
        Modality("DEM", "untok_dem@224", ("DEM",), (670.665,), (951.272,), "elevation, m"),
    )
}  # fmt: skip
"""Modality name -> its checkpoint key, bands and pretraining statistics (TerraMind v1)."""

DEFAULT_MODALITY = "S2L2A"
"""The modality of a backbone built without modalities and without bands."""

_BY_KEY = {m.key: m.name for m in MODALITIES.values()}
_TOKENISED = ("lulc", "ndvi", "caption", "coords", "coordinates", "text")


def resolve_modality(name: str) -> str:
    """The modality (a key of :data:`MODALITIES`) that ``name`` means, by the reference's matching rules.

    An exact name or checkpoint key is itself; otherwise the lower-cased name with ``s2`` -> ``sen2`` and
    ``s1`` -> ``sen1`` is tested in order: ``sen2l2a``, ``sen2l1c``, ``sen1rtc``, any other ``sen1`` (GRD),
    ``rgb``, ``dem``. Tokenised and sequence inputs (``tok_*``, LULC, NDVI, captions, coordinates) need
    TerraMind's tokenizers and are refused, as are unknown names.
    """
    text = str(name).strip()
    if text in MODALITIES:
        return text
    if text in _BY_KEY:
        return _BY_KEY[text]
    lowered = text.lower()
    renamed = lowered.replace("s2", "sen2").replace("s1", "sen1")
    if not lowered.startswith("tok_") and not any(word in lowered for word in _TOKENISED):
        for fragment, modality in (
            ("sen2l2a", "S2L2A"),
            ("sen2l1c", "S2L1C"),
            ("sen1rtc", "S1RTC"),
            ("sen1", "S1GRD"),
            ("rgb", "S2RGB"),
            ("dem", "DEM"),
        ):
            if fragment in renamed:
                return modality
        raise ConfigError(
            f"unknown TerraMind modality {name!r}; the raw-pixel modalities are {', '.join(MODALITIES)} "
            "(e.g. --set backbone.modalities=[S2L2A,S1GRD])"
        )
    raise ConfigError(
        f"TerraMind modality {name!r} is a tokenised or sequence input that needs TerraMind's tokenizers, which "
        f"this plugin does not include; use the raw-pixel modalities {', '.join(MODALITIES)}"
    )


def parse_modalities(value: Any) -> list[str | tuple[str, int]]:
    """``backbone.modalities`` as given (a list, or a comma-separated string) -> modalities in order.

    Each entry is a modality name (see :func:`resolve_modality`) or a ``{name: channels}`` mapping for a
    new modality with a freshly initialised embedding, returned as ``(name, channels)``.
    """
    if isinstance(value, str):
        items: list[Any] = [part.strip() for part in value.strip("[]").split(",") if part.strip()]
    elif isinstance(value, Mapping):
        items = [value]
    elif isinstance(value, Sequence):
        items = list(value)
    else:
        raise ConfigError(f"backbone.modalities must be a list of modality names, not {value!r}")
    result: list[str | tuple[str, int]] = []
    for item in items:
        if isinstance(item, Mapping):
            for key, channels in item.items():
                if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
                    raise ConfigError(f"new modality {{{key}: {channels!r}}}: give its number of input channels")
                result.append((str(key), int(channels)))
        else:
            result.append(str(item).strip())
    if not result:
        raise ConfigError(f"backbone.modalities is empty; give at least one of {', '.join(MODALITIES)}")
    return result


def infer_modalities(bands: Sequence[str] | None) -> list[str]:
    """The modalities a stack of canonical ``bands`` feeds when the user names none.

    Sentinel-2 bands feed ``S2L1C`` when ``CIRRUS`` (B10, only in L1C products) is among them, else
    ``S2L2A``; ``VV`` / ``VH`` feed ``S1GRD``; ``DEM`` feeds ``DEM``; in that order, whatever the order of
    the bands. No bands: ``[S2L2A]``. A band of no modality is an error.
    """
    if not bands:
        return [DEFAULT_MODALITY]
    optical = "S2L1C" if "CIRRUS" in bands else "S2L2A"
    by_band = {band: optical for band in _S2L1C_BANDS} | {"VV": "S1GRD", "VH": "S1GRD", "DEM": "DEM"}
    unknown = [band for band in bands if band not in by_band]
    if unknown:
        raise ConfigError(
            f"band {', '.join(unknown)} belongs to no TerraMind modality (Sentinel-2 bands, VV / VH, DEM); "
            "drop it with --bands, or name the modalities with --set backbone.modalities=[...]"
        )
    present = {by_band[band] for band in bands}
    return [m for m in (optical, "S1GRD", "DEM") if m in present]


@dataclass(frozen=True)
class InputPlan:
    """How one stacked input feeds the modalities.

    ``names`` are the modalities as given at build time, ``modalities`` what each means (a key of
    :data:`MODALITIES`, or ``None`` for a new modality), ``channels[i]`` the input channels (indices into
    the stack) that feed modality i, ``bands[i]`` their band names (``None`` for a new modality) and
    ``input_bands`` the bands of the whole stack.
    """

    names: tuple[str, ...]
    modalities: tuple[str | None, ...]
    channels: tuple[tuple[int, ...], ...]
    bands: tuple[tuple[str, ...] | None, ...]
    input_bands: tuple[str, ...] | None

    @property
    def num_channels(self) -> int:
        """Channels of the stacked input."""
        return 1 + max(max(c) for c in self.channels)


def plan_inputs(modalities: Any, bands: Sequence[str] | None) -> InputPlan:
    """Which channels of the stacked input (bands ``bands``, canonical names) feed which of ``modalities``.

    ``modalities`` is what :func:`parse_modalities` accepts, or ``None`` to infer them from the bands
    (:func:`infer_modalities`). With ``bands`` every modality takes the channels whose band is one of its
    bands, in input order; a modality with none of them, or a band of no modality, is an error. Without
    ``bands`` the modalities take their pretraining bands one after another (new modalities their
    channel count).
    """
    given = parse_modalities(modalities) if modalities is not None else list(infer_modalities(bands))
    names: list[str] = []
    kinds: list[str | None] = []
    for item in given:
        if isinstance(item, tuple):
            names.append(item[0])
            kinds.append(None)
        else:
            names.append(item)
            kinds.append(resolve_modality(item))
    taken = [k for k in kinds if k is not None]
    if len(set(taken)) != len(taken) or len(set(names)) != len(names):
        raise ConfigError(f"TerraMind modalities {names} name one modality twice")
    if bands is None:
        channels: list[tuple[int, ...]] = []
        start = 0
        for item, kind in zip(given, kinds, strict=True):
            count = item[1] if isinstance(item, tuple) else MODALITIES[str(kind)].channels
            channels.append(tuple(range(start, start + count)))
            start += count
        band_lists = [MODALITIES[k].bands if k is not None else None for k in kinds]
        return InputPlan(tuple(names), tuple(kinds), tuple(channels), tuple(band_lists), None)
    bands = tuple(bands)
    if any(kind is None for kind in kinds):
        raise ConfigError(
            "a new modality given as {name: channels} has no bands, so it cannot take channels from a run's "
            "bands; use the pretrained modalities, whose input layers adapt to the bands given"
        )
    channels, band_lists = [], []
    for name, kind in zip(names, kinds, strict=True):
        own = MODALITIES[str(kind)].bands
        indices = tuple(i for i, band in enumerate(bands) if band in own)
        if not indices:
            raise ConfigError(
                f"TerraMind modality {name} has none of its bands ({', '.join(own)}) among the input bands "
                f"({', '.join(bands)}); drop it from backbone.modalities or add its bands"
            )
        channels.append(indices)
        band_lists.append(tuple(bands[i] for i in indices))
    used = {i for indices in channels for i in indices}
    unused = [band for i, band in enumerate(bands) if i not in used]
    if unused:
        homes = sorted({m.name for m in MODALITIES.values() for band in unused if band in m.bands})
        hint = f"add {' or '.join(homes)} to backbone.modalities" if homes else "no TerraMind modality has it"
        raise ConfigError(
            f"input band {', '.join(unused)} feeds none of the TerraMind modalities {', '.join(names)}; {hint}, "
            "or leave it out with --bands"
        )
    return InputPlan(tuple(names), tuple(kinds), tuple(channels), tuple(band_lists), bands)


def run_statistics(bands: Sequence[str], options: Mapping[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per input band, the pretraining mean and std of the modality that band feeds.

    ``options`` are the backbone's (``modalities`` as given, or inferred from ``bands``), so a Sentinel-2
    band fed to S2L1C gets the L1C statistics and the same band fed to S2L2A the L2A ones.
    """
    plan = plan_inputs(options.get("modalities"), bands)
    mean = [0.0] * len(bands)
    std = [1.0] * len(bands)
    for kind, channels in zip(plan.modalities, plan.channels, strict=True):
        modality = MODALITIES[str(kind)]
        for channel in channels:
            index = modality.bands.index(bands[channel])
            mean[channel], std[channel] = modality.mean[index], modality.std[index]
    return tuple(mean), tuple(std)


def modalities_metadata() -> dict[str, dict[str, Any]]:
    """Every modality's :meth:`Modality.to_dict`, keyed by name (for ``geofm backbones show``)."""
    return {name: modality.to_dict() for name, modality in MODALITIES.items()}
