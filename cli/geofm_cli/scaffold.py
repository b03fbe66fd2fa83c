"""``geofm plugin new NAME``: write a plugin distribution a team can start from.

The distribution ``geofm-NAME`` (package ``geofm_NAME``, entry point ``NAME``) holds one working
example per chosen kind of component, the light ``plugin.py`` with their specs, tests that pass as
generated, and a README. The files are rendered with :class:`string.Template` from
``scaffold_templates/`` (``${name}``-style placeholders), written into a temporary folder and renamed
into place, so a failed command leaves nothing behind and nothing is ever overwritten.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

import typer

__all__ = ["KINDS", "parse_kinds", "plugin_app", "run_command_line", "scaffold_plugin", "validate_name"]

KINDS: tuple[str, ...] = ("backbone", "dataset", "decoder", "neck", "task")
"""The kinds of component ``geofm plugin new`` can generate (``--kinds``), in the order they are written."""

_HELPER_MODULES: dict[str, tuple[str, ...]] = {"dataset": ("synthetic_chips",)}
"""Modules a kind brings besides its own (the dataset's generated stand-in)."""
_NAME = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
_MAX_NAME = 32


@dataclass(frozen=True)
class _Kind:
    """What one kind of component generates: its component's name, its spec and how the README describes it."""

    registry: str  # the registry kind, e.g. "backbones"
    suffix: str  # the component is NAME_<suffix>
    spec_class: str
    constant: str  # the spec's name in plugin.py
    summary: str
    phrase: str  # in the distribution's description


_KIND_INFO: dict[str, _Kind] = {
    "backbone": _Kind(
        "backbones", "cnn", "BackboneSpec", "CNN", "small four-stage CNN (maps, reductions 2 to 16)", "a CNN backbone"
    ),
    "dataset": _Kind(
        "datasets",
        "chips",
        "DatasetSpec",
        "CHIPS",
        "GeoTIFF image chips and masks; a generated stand-in without --data-root",
        "a GeoTIFF chip dataset",
    ),
    "decoder": _Kind("decoders", "fpn", "DecoderSpec", "FPN", "small feature pyramid network", "an FPN decoder"),
    "neck": _Kind(
        "necks", "projection", "NeckSpec", "PROJECTION", "1x1 convolution to one width per level", "a projection neck"
    ),
    "task": _Kind(
        "tasks",
        "segmentation",
        "TaskSpec",
        "SEGMENTATION",
        "segmentation on cross-entropy + soft Dice",
        "a Dice + cross-entropy segmentation task",
    ),
}

plugin_app = typer.Typer(
    help="Start a plugin of your own: a distribution with example components.", no_args_is_help=True
)


@plugin_app.callback()
def _plugin() -> None:
    """Start a plugin of your own: a distribution with example components."""


def _error(message: str) -> Exception:
    from geofm.errors import ConfigError

    return ConfigError(message)


def validate_name(name: str) -> str:
    """``name`` when it is a plugin name (lower snake case, at most 32 characters); else a ConfigError."""
    if not _NAME.fullmatch(name) or len(name) > _MAX_NAME:
        raise _error(
            f"plugin name {name!r} must be lower snake case (letters, digits and single underscores, starting "
            f"with a letter, at most {_MAX_NAME} characters), e.g. acme or acme_labs"
        )
    return name


def parse_kinds(text: str) -> tuple[str, ...]:
    """The kinds in a comma-separated ``text`` (e.g. ``"backbone,dataset"``), in :data:`KINDS` order."""
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [kind for kind in wanted if kind not in KINDS]
    if unknown or not wanted:
        given = f"unknown kind(s) {', '.join(unknown)}" if unknown else "no kind given"
        raise _error(f"--kinds: {given}; choose from {','.join(KINDS)} (comma-separated)")
    return tuple(kind for kind in KINDS if kind in wanted)


def _distribution(name: str) -> str:
    return "geofm-" + name.replace("_", "-")


def _component(name: str, kind: str) -> str:
    return f"{name}_{_KIND_INFO[kind].suffix}"


def _check_free(name: str) -> None:
    """Refuse a name whose entry point or package an installed distribution already uses."""
    from importlib.metadata import entry_points
    from importlib.util import find_spec

    taken = [ep for ep in entry_points(group="geofm") if ep.name == name]
    if taken:
        owner = taken[0].dist.name if taken[0].dist is not None else taken[0].value
        raise _error(f"the plugin name {name!r} is the entry point of installed {owner}; choose another name")
    if find_spec(f"geofm_{name}") is not None:
        raise _error(f"a package geofm_{name} is already importable here; choose another plugin name")


def run_command_line(name: str, kinds: Sequence[str]) -> str:
    """The ``geofm run`` command that trains with the generated components (built-ins where one is missing)."""
    parts = ["geofm run"]
    if "backbone" in kinds:
        parts.append(f"--backbone {_component(name, 'backbone')}")
        if "neck" in kinds:
            parts.append(f"--neck {_component(name, 'neck')}")
    elif "neck" in kinds:  # a CNN of the core, four of its levels, then the plugin's neck
        parts.append(f"--backbone timm_resnet18 --neck select_levels --neck {_component(name, 'neck')}")
    for kind, flag in (("decoder", "--decoder"), ("dataset", "--dataset"), ("task", "--task")):
        if kind in kinds:
            parts.append(f"{flag} {_component(name, kind)}")
    parts.append("--max-epochs 1")
    return " ".join(parts)


def _template(name: str) -> str:
    return (resources.files("geofm_cli") / "scaffold_templates" / name).read_text(encoding="utf-8")


def _render(name: str, values: dict[str, str]) -> str:
    return Template(_template(name)).substitute(values)


def _join(phrases: Sequence[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _values(name: str, kinds: Sequence[str]) -> dict[str, str]:
    """Every placeholder of the templates."""
    package = f"geofm_{name}"
    values = {
        "name": name,
        "dist": _distribution(name),
        "package": package,
        "title": name.replace("_", " ").title(),
        "description": _join([_KIND_INFO[kind].phrase for kind in kinds]),
        **{kind: _component(name, kind) for kind in KINDS},
    }
    exported = [_KIND_INFO[kind].constant for kind in kinds] + [f"geofm_{_KIND_INFO[kind].registry}" for kind in kinds]
    rows = [
        f"| {kind} | `{_component(name, kind)}` | `{package}.{kind}` | {_KIND_INFO[kind].summary} |" for kind in kinds
    ]
    commands = [("geofm plugins", f"{values['dist']} is listed as loaded")]
    commands += [(f"geofm {_KIND_INFO[k].registry} list {name}", f"the {name} {_KIND_INFO[k].registry}") for k in kinds]
    commands.append((f"geofm plugins check {values['dist']}", "builds every component with tiny inputs"))
    width = max(len(command) for command, _ in commands)
    values.update(
        components_table="\n".join(rows),
        list_commands="\n".join(f"{command:<{width}}  # {comment}" for command, comment in commands),
        run_command=run_command_line(name, kinds).replace(" --", " \\\n    --"),
        components="\n" + "".join(f'    ("{_KIND_INFO[k].registry}", "{_component(name, k)}"),\n' for k in kinds),
        spec_classes=", ".join(sorted(_KIND_INFO[kind].spec_class for kind in kinds)),
        all_names="\n" + "".join(f'    "{item}",\n' for item in sorted(exported)),
    )
    values["dataset_section"] = _render("README_dataset.md.tmpl", values) if "dataset" in kinds else ""
    return values


def _model_test(values: dict[str, str], kinds: Sequence[str]) -> str:
    """``tests/test_model.py``: the backbone and decoder composed (with the neck, task and dataset when chosen)."""
    arguments = [("backbone", values["backbone"]), ("decoder", values["decoder"])]
    if "neck" in kinds:
        arguments.append(("necks", f'["{values["neck"]}"]'))
    if "task" in kinds:
        arguments.append(("task", values["task"]))
    lines = [f'    "{key}": {value},' if key == "necks" else f'    "{key}": "{value}",' for key, value in arguments]
    constants = "CHIPS, CNN" if "dataset" in kinds else "CNN"
    imports = f"from {values['package']}.plugin import {constants}"
    if "dataset" in kinds:
        imports = f"from geofm.bands import canonical_bands\n{imports}"
    model_values = {**values, "model_arguments": "\n".join(lines), "model_imports": imports}
    text = _render("test_model.py.tmpl", model_values)
    if "dataset" in kinds:
        text += _render("test_model_dataset.py.tmpl", model_values)
    return text


def _files(name: str, kinds: Sequence[str]) -> dict[str, str]:
    """Relative path -> text of every file of the distribution."""
    values = _values(name, kinds)
    package = f"src/{values['package']}"
    hooks = "".join("\n" + _render(f"plugin_{kind}.py.tmpl", values) for kind in kinds)
    files = {
        "pyproject.toml": _render("pyproject.toml.tmpl", values),
        "README.md": _render("README.md.tmpl", values),
        f"{package}/__init__.py": _render("__init__.py.tmpl", values),
        f"{package}/py.typed": "",
        f"{package}/plugin.py": _render("plugin.py.tmpl", {**values, "hooks": hooks}),
        "tests/test_plugin.py": _render("test_plugin.py.tmpl", values),
    }
    for kind in kinds:
        for module in (kind, *_HELPER_MODULES.get(kind, ())):
            files[f"{package}/{module}.py"] = _render(f"{module}.py.tmpl", values)
        files[f"tests/test_{kind}.py"] = _render(f"test_{kind}.py.tmpl", values)
    if "backbone" in kinds and "decoder" in kinds:
        files["tests/test_model.py"] = _model_test(values, kinds)
    return {path: text.rstrip("\n") + "\n" if text else "" for path, text in files.items()}


def _prepare_target(target: Path) -> None:
    """Refuse a target that exists and is not an empty folder."""
    if target.is_dir():
        if any(target.iterdir()):
            raise _error(f"{target} already exists and is not empty; remove it or choose another folder with --out")
    elif target.exists():
        raise _error(f"{target} exists and is not a folder; remove it or choose another folder with --out")


def scaffold_plugin(name: str, kinds: Iterable[str] = KINDS, out: str | os.PathLike[str] = ".") -> list[Path]:
    """Write the distribution ``geofm-NAME`` with examples of ``kinds`` into ``out``; return the files written.

    ``out/geofm-NAME`` must not exist or be empty. The files are written into a temporary folder beside
    it and renamed into place, so a failure leaves nothing behind. Raises
    :class:`~geofm.errors.ConfigError` for a bad name or kind, a taken name, an existing target, or a
    folder that cannot be written.
    """
    validate_name(name)
    chosen = parse_kinds(",".join(kinds))
    _check_free(name)
    out_dir = Path(out).expanduser()
    target = out_dir / _distribution(name)
    _prepare_target(target)
    files = _files(name, chosen)
    staging = out_dir / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        for relative, text in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        _prepare_target(target)  # unchanged while the files were written
        if target.is_dir():
            target.rmdir()
        os.rename(staging, target)
    except OSError as error:
        reason = error.strerror or str(error)
        message = f"cannot write the plugin into {out_dir}: {reason}; choose a writable folder with --out"
        raise _error(message) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [target / relative for relative in files]


@plugin_app.command("new")
def new_command(
    name: str = typer.Argument(..., help="plugin name in lower snake case, e.g. acme (distribution geofm-acme)"),
    kinds: str = typer.Option(
        ",".join(KINDS), "--kinds", help="comma-separated kinds of example component: " + ",".join(KINDS)
    ),
    out: Path = typer.Option(Path("."), "--out", help="folder to write geofm-NAME/ into (default: here)"),
) -> None:
    """Write geofm-NAME/: an installable plugin with a working example of each kind, tests and a README."""
    validate_name(name)
    chosen = parse_kinds(kinds)
    written = scaffold_plugin(name, chosen, out)
    target = Path(out).expanduser() / _distribution(name)
    typer.echo(f"wrote {target}/ ({len(written)} files):")
    for path in sorted(written):
        typer.echo(f"  {path.relative_to(target)}")
    typer.echo("next steps:")
    for step in (
        f"cd {target}",
        'pip install -e ".[dev]"',
        "python -m pytest",
        f"geofm plugins check {target.name}",
        run_command_line(name, chosen),
    ):
        typer.echo(f"  {step}")
