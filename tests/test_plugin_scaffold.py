"""``geofm plugin new``: a plugin distribution that installs, passes its own tests and trains in ``geofm run``."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from geofm_cli.scaffold import KINDS, run_command_line

ALL_FILES = {
    "README.md",
    "pyproject.toml",
    "src/geofm_acme/__init__.py",
    "src/geofm_acme/py.typed",
    "src/geofm_acme/plugin.py",
    "src/geofm_acme/backbone.py",
    "src/geofm_acme/dataset.py",
    "src/geofm_acme/synthetic_chips.py",
    "src/geofm_acme/decoder.py",
    "src/geofm_acme/neck.py",
    "src/geofm_acme/task.py",
    "tests/test_plugin.py",
    "tests/test_backbone.py",
    "tests/test_dataset.py",
    "tests/test_decoder.py",
    "tests/test_neck.py",
    "tests/test_task.py",
    "tests/test_model.py",
}
PIP_INSTALL = (sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation")
HEAVY = ("torch", "lightning", "rasterio", "timm", "segmentation_models_pytorch")


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _hooks(plugin_py: Path) -> set[str]:
    tree = ast.parse(plugin_py.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("geofm_")}


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The ``error: ...`` line of a command that failed the way the CLI reports a GeofmError."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_writes_a_complete_distribution(cli, tmp_path):
    result = cli("plugin", "new", "acme", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    project = tmp_path / "geofm-acme"
    assert _files(project) == ALL_FILES
    for name in ALL_FILES:
        assert f"  {name}" in result.stdout
    for step in ('pip install -e ".[dev]"', "python -m pytest", "geofm plugins check geofm-acme"):
        assert step in result.stdout
    assert run_command_line("acme", KINDS) in result.stdout

    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "geofm-acme" and meta["project"]["license"] == "Apache-2.0"
    assert meta["project"]["dependencies"] == ["geofm"]
    assert meta["build-system"]["requires"] == ["setuptools>=77"]
    assert meta["project"]["entry-points"]["geofm"] == {"acme": "geofm_acme.plugin"}
    assert meta["tool"]["setuptools"]["package-data"] == {"geofm_acme": ["py.typed"]}
    assert meta["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]

    for path in project.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")  # raises on a syntax error or a leftover placeholder
        assert "${" not in path.read_text(), path
    assert _hooks(project / "src/geofm_acme/plugin.py") == {
        "geofm_backbones",
        "geofm_datasets",
        "geofm_decoders",
        "geofm_necks",
        "geofm_tasks",
    }
    readme = (project / "README.md").read_text()
    for text in ("pip install -e", "python -m pytest", "geofm plugins check geofm-acme", "geofm backbones list"):
        assert text in readme
    assert "--backbone acme_cnn" in readme and "--dataset acme_chips" in readme and "docs/plugins.md" in readme


@pytest.mark.parametrize(
    ("kinds", "hooks", "modules"),
    [
        ("dataset", {"geofm_datasets"}, {"dataset", "synthetic_chips"}),
        ("decoder, backbone", {"geofm_backbones", "geofm_decoders"}, {"backbone", "decoder", "model"}),
        ("task,neck", {"geofm_tasks", "geofm_necks"}, {"neck", "task"}),
    ],
)
def test_writes_only_the_chosen_kinds(cli, tmp_path, kinds, hooks, modules):
    result = cli("plugin", "new", "acme", "--kinds", kinds, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    project = tmp_path / "geofm-acme"
    assert _hooks(project / "src/geofm_acme/plugin.py") == hooks
    kind_modules = {p.stem for p in (project / "src/geofm_acme").glob("*.py")} - {"__init__", "plugin"}
    assert kind_modules == modules - {"model"}
    tests = {p.stem.removeprefix("test_") for p in (project / "tests").glob("test_*.py")}
    assert tests == (modules - {"synthetic_chips"}) | {"plugin"}
    test_plugin = (project / "tests/test_plugin.py").read_text()
    for kind in KINDS:
        assert (f'("{kind}s", "acme_' in test_plugin) == (kind in kinds)
    for path in project.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")
    if "dataset" in kinds:
        assert "## Your data" in (project / "README.md").read_text()
    if "backbone" in kinds:
        assert "test_first_training_batch" not in (project / "tests/test_model.py").read_text()


PROBE = """
import sys
import geofm.testing
from geofm_acme import plugin

specs = geofm.testing.check_plugin_module(plugin)
print(",".join(sorted(spec.name for spec in specs)))
print(",".join(m for m in {heavy!r} if m in sys.modules))
"""


def test_plugin_module_builds_valid_specs_without_heavy_imports(cli, tmp_path):
    assert cli("plugin", "new", "acme", "--out", str(tmp_path)).returncode == 0
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "geofm-acme" / "src")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY)], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    names, heavy = [*result.stdout.splitlines(), ""][:2]
    assert names == "acme_chips,acme_cnn,acme_fpn,acme_projection,acme_segmentation"
    assert heavy == "", f"geofm_acme.plugin imported {heavy}"


def test_the_command_imports_no_heavy_library(tmp_path):
    probe = textwrap.dedent(
        f"""
        import sys
        sys.argv = ["geofm", "plugin", "new", "acme", "--out", {str(tmp_path)!r}]
        from geofm_cli.app import main
        try:
            main()
        except SystemExit:
            pass
        print("HEAVY=" + ",".join(m for m in {HEAVY!r} if m in sys.modules))
        """
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert (tmp_path / "geofm-acme" / "pyproject.toml").is_file(), result.stderr
    assert result.stdout.splitlines()[-1] == "HEAVY=", result.stdout


def test_generated_code_is_ruff_clean(cli, tmp_path):
    if subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True, check=False).returncode:
        pytest.skip("ruff is not installed")
    long_name = "a" * 32  # the longest name allowed: no line of the generated code may grow past the limit
    for name in ("acme", long_name):
        assert cli("plugin", "new", name, "--out", str(tmp_path)).returncode == 0
    for project in tmp_path.iterdir():
        for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
            result = subprocess.run(
                [sys.executable, "-m", "ruff", *command], cwd=project, capture_output=True, text=True, check=False
            )
            assert result.returncode == 0, f"{project.name}: ruff {command[0]}\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("name", ["Acme", "acme-labs", "1acme", "acme__labs", "acme_", "a" * 33])
def test_a_bad_name_is_one_line_and_exit_1(cli, tmp_path, name):
    line = _one_line_error(cli("plugin", "new", name, "--out", str(tmp_path)))
    assert "lower snake case" in line and "acme_labs" in line
    assert not any(tmp_path.iterdir())


def test_an_unknown_kind_names_the_valid_ones(cli, tmp_path):
    line = _one_line_error(cli("plugin", "new", "acme", "--kinds", "backbone,encoder", "--out", str(tmp_path)))
    assert "encoder" in line and "backbone,dataset,decoder,neck,task" in line
    assert not any(tmp_path.iterdir())
    assert "no kind given" in _one_line_error(cli("plugin", "new", "acme", "--kinds", " , ", "--out", str(tmp_path)))


def test_an_existing_folder_is_never_overwritten(cli, tmp_path):
    project = tmp_path / "geofm-acme"
    project.mkdir()
    (project / "notes.txt").write_text("keep me")
    line = _one_line_error(cli("plugin", "new", "acme", "--out", str(tmp_path)))
    assert str(project) in line and "not empty" in line
    assert _files(project) == {"notes.txt"} and (project / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["geofm-acme"]  # no staging folder left behind


def test_an_empty_existing_folder_is_used(cli, tmp_path):
    (tmp_path / "geofm-acme").mkdir()
    result = cli("plugin", "new", "acme", "--kinds", "neck", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "geofm-acme" / "src" / "geofm_acme" / "neck.py").is_file()


def test_an_unwritable_destination_is_one_line(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    line = _one_line_error(cli("plugin", "new", "acme", "--out", str(blocker / "plugins")))
    assert "cannot write" in line and "--out" in line


def test_a_name_an_installed_plugin_uses_is_refused(cli, tmp_path):
    line = _one_line_error(cli("plugin", "new", "decoders", "--out", str(tmp_path)))  # geofm-decoders' entry point
    assert "decoders" in line and "choose another name" in line
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_generated_plugin_installs_passes_its_tests_and_trains(cli, tmp_path):
    assert cli("plugin", "new", "acme", "--out", str(tmp_path)).returncode == 0
    project = tmp_path / "geofm-acme"
    # a temporary environment: installed into a --target folder put on PYTHONPATH; there is nothing to
    # uninstall afterwards, the folder goes with tmp_path
    site = tmp_path / "site"
    install = subprocess.run(
        [*PIP_INSTALL, "--target", str(site), str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": path, "GEOFM_CACHE": str(tmp_path / "cache")}

    own_tests = subprocess.run(
        [sys.executable, "-m", "pytest", str(project / "tests"), "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        cwd=project,
        env={**os.environ, **env},
        check=False,
        timeout=900,
    )
    assert own_tests.returncode == 0, own_tests.stdout[-4000:] + own_tests.stderr[-2000:]

    check = cli("plugins", "check", "geofm-acme", env=env)
    assert check.returncode == 0, check.stdout + check.stderr

    runs = tmp_path / "runs"
    result = cli(
        *run_command_line("acme", KINDS).split()[1:],  # the command the README and the output show
        "--set",
        "dataset.num_workers=0",
        "--out",
        str(runs),
        "--name",
        "acme",
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((runs / "acme" / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert (summary["backbone"], summary["decoder"], summary["dataset"], summary["task"]) == (
        "acme_cnn",
        "acme_fpn",
        "acme_chips",
        "acme_segmentation",
    )
    assert summary["necks"] == [{"name": "acme_projection"}]
    assert summary["bands"] == ["BLUE", "GREEN", "RED", "NIR_BROAD"]
