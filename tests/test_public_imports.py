"""Tests and benchmarks use the public surface of the packages they exercise, never a private name."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _own_packages(path: Path) -> set[str]:
    """The top-level packages a test file belongs to: its plugin's own modules, or the repository's tests."""
    parts = path.relative_to(ROOT).parts
    if parts[0] == "plugins":
        source = ROOT / "plugins" / parts[1] / "src"
        return {p.name for p in source.iterdir() if p.is_dir() and p.name.isidentifier()} if source.is_dir() else set()
    return {"tests", "conftest", "bench", "__future__"}


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def private_uses(path: Path, own: set[str] | None = None) -> list[str]:
    """Each place ``path`` imports, reaches into or patches a private name of a package not in ``own``."""
    tree = ast.parse(path.read_text())
    own = _own_packages(path) if own is None else own
    imported: set[str] = set()  # names bound to another package's modules and objects
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in own:
                continue
            if any(_private(part) for part in node.module.split(".")):
                found.append(f"{node.lineno}: from {node.module} import ...")
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{node.lineno}: {node.module}.{alias.name}")
                imported.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in own:
                    continue
                if any(_private(part) for part in alias.name.split(".")):
                    found.append(f"{node.lineno}: import {alias.name}")
                imported.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in imported:
                found.append(f"{node.lineno}: .{node.attr}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("setattr", "delattr")
        ):
            for argument in node.args[:2]:
                text = argument.value if isinstance(argument, ast.Constant) else None
                if isinstance(text, str) and any(_private(part) for part in text.split(".")):
                    found.append(f"{node.lineno}: {node.func.attr} {argument.value!r}")
    return found


def _checked_files() -> list[Path]:
    return sorted({*ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/**/*.py"), *ROOT.glob("plugins/*/tests/**/*.py")})


def test_no_test_or_bench_uses_a_private_name_of_another_package() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{use}" for path in _checked_files() for use in private_uses(path)]
    assert offenders == []


def test_the_check_finds_each_kind_of_private_use(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "import geofm.hub\n"
        "from geofm._neck_planning import NeckCatalogue\n"
        "from geofm.resolve import _with_default_dataset\n"
        "from geofm import registry\n"
        "registry._reset()\n"
        "def test(monkeypatch):\n"
        "    monkeypatch.setattr(geofm.hub, '_private', None)\n"
        "    monkeypatch.setattr('geofm.hub._private', None)\n"
        "from tests._own import helper\n"
    )
    uses = private_uses(sample, own={"tests"})
    assert [use.split(":")[0] for use in uses] == ["2", "3", "5", "7", "8"]
    assert len(_checked_files()) > 50
