"""A plugin installed with pip from an outside folder appears in geofm with no change to geofm."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "geofm-acme"
version = "1.2.3"
dependencies = ["geofm"]

[project.entry-points.geofm]
acme = "geofm_acme.plugin"

[tool.setuptools.packages.find]
where = ["src"]
"""

PLUGIN = '''
"""Acme's in-house geofm plugin."""

from geofm import BackboneSpec, hookimpl


@hookimpl
def geofm_backbones():
    """Acme's backbone."""
    yield BackboneSpec(
        name="acme_vit",
        summary="Acme in-house ViT",
        factory="geofm_acme.model:build",
        output_kind="tokens",
        embed_dim=32,
        depth=2,
        feature_channels=(32, 32),
        feature_reductions=(8, 8),
        default_levels=(0, 1),
        num_prefix_tokens=1,
        patch_size=8,
        img_size=64,
        max_frames=0,
    )
'''

MODEL = """
from geofm.builtin.tiny_vit import build_tiny_vit


def build(**kwargs):
    return build_tiny_vit(embed_dim=32, depth=2, num_heads=2, **kwargs)
"""


def _install(tmp_path: Path, plugin_source: str) -> dict[str, str]:
    project = tmp_path / "geofm-acme"
    package = project / "src" / "geofm_acme"
    package.mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT)
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(textwrap.dedent(plugin_source))
    (package / "model.py").write_text(textwrap.dedent(MODEL))
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(project),
        ],
        check=True,
        capture_output=True,
    )
    path = os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "GEOFM_CACHE": str(tmp_path / "cache")}


@pytest.mark.slow
def test_outside_plugin_is_listed_and_trains(cli, tmp_path):
    env = _install(tmp_path, PLUGIN)
    listing = cli("backbones", "list", "acme", env=env)
    assert listing.returncode == 0, listing.stderr
    assert "acme_vit" in listing.stdout and "geofm-acme" in listing.stdout
    plugins = {r["distribution"]: r for r in json.loads(cli("plugins", "--json", env=env).stdout)}
    assert plugins["geofm-acme"]["status"] == "loaded" and plugins["geofm-acme"]["version"] == "1.2.3"

    out = tmp_path / "runs"
    result = cli(
        "run",
        "--backbone",
        "acme_vit",
        "--decoder",
        "upernet",
        "--fast-dev-run",
        "--out",
        str(out),
        "--name",
        "acme",
        "--set",
        "dataset.num_workers=0",
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "acme" / "summary.json").read_text())
    assert summary["backbone"] == "acme_vit"
    assert summary["pretrained"] is False


def test_plugin_that_raises_on_import_leaves_every_command_working(cli, tmp_path):
    env = _install(tmp_path, 'raise RuntimeError("acme is broken")\n')
    plugins = cli("plugins", "--json", env=env)
    assert plugins.returncode == 0, plugins.stderr
    record = {r["distribution"]: r for r in json.loads(plugins.stdout)}["geofm-acme"]
    assert record["status"] == "failed" and "acme is broken" in record["error"]
    assert "geofm-acme 1.2.3" in plugins.stderr  # the one-line warning names distribution and version

    table = cli("plugins", env=env)
    assert table.returncode == 0 and "acme is broken" in table.stdout
    for args in (["backbones", "list"], ["decoders", "list"], ["--help"], ["datasets", "show", "demo"]):
        result = cli(*args, env=env)
        assert result.returncode == 0, (args, result.stderr)

    missing = cli("run", "--backbone", "acme_vit", "--out", str(tmp_path / "runs"), env=env)
    assert missing.returncode == 1
    assert "geofm-acme" in missing.stderr and "failed to load" in missing.stderr
