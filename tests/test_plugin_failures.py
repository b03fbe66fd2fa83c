"""Each mistake a plugin author can make is reported as one line naming the plugin and the component.

The CLI tests install one outside distribution, ``geofm-faulty``, whose entry points are each a plugin
with one mistake, and run ``geofm`` against it as a user would.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from geofm.contracts import check_built, check_features
from geofm.errors import ComponentLoadError, ConfigError, ContractError, SpecError
from geofm.specs import BackboneSpec, DatasetSpec, DecoderSpec, NeckSpec, TaskSpec

ENTRY_POINTS = {
    "badkind": "geofm_faulty.badkind",
    "coarse": "geofm_faulty.coarse",
    "dupe": "geofm_faulty.dupe",
    "missing": "geofm_faulty.missing",
    "netask": "geofm_faulty.netask",
    "typo": "geofm_faulty.typo",
    "undecorated": "geofm_faulty.undecorated",
    "wide": "geofm_faulty.wide",
    "noreductions": "geofm_faulty.noreductions",
}

CNN_SPEC = """
def cnn(name, factory):
    return BackboneSpec(
        name=name, summary="a faulty CNN", factory=factory, output_kind="maps", embed_dim=32, depth=1,
        feature_channels=(32,), feature_reductions=(2,), default_levels=(0,), num_prefix_tokens=0,
        patch_size=2, img_size=32, default_bands=("BLUE", "GREEN", "RED"), default_mean=(0.0, 0.0, 0.0),
        default_std=(1.0, 1.0, 1.0),
    )
"""

MODULES = {
    "__init__.py": "",
    "badkind.py": """
        from geofm import BackboneSpec, hookimpl

        @hookimpl
        def geofm_backbones():
            \"\"\"A spec with a typo in a choice field.\"\"\"
            return [BackboneSpec(name="faulty_badkind", summary="x", factory="geofm_faulty.nets:W", output_kind="map")]
        """,
    "typo.py": """
        from geofm import BackboneSpec, hookimpl

        @hookimpl
        def geofm_backbone():
            \"\"\"Misspelt hook name.\"\"\"
            return [BackboneSpec(name="faulty_typo", summary="x", factory="geofm_faulty.nets:Wide")]
        """,
    "undecorated.py": """
        from geofm import BackboneSpec

        def geofm_backbones():
            \"\"\"Forgot @hookimpl.\"\"\"
            return [BackboneSpec(name="faulty_undecorated", summary="x", factory="geofm_faulty.nets:Wide")]
        """,
    "dupe.py": """
        from geofm import BackboneSpec, hookimpl

        @hookimpl
        def geofm_backbones():
            \"\"\"Takes a name the built-in plugin already has.\"\"\"
            return [BackboneSpec(name="tiny_vit", summary="x", factory="geofm_faulty.nets:Wide")]
        """,
    "missing.py": """
        from geofm import BackboneSpec, DatasetSpec, hookimpl

        @hookimpl
        def geofm_backbones():
            \"\"\"A factory in a module that does not exist.\"\"\"
            return [BackboneSpec(name="faulty_missing", summary="x", factory="geofm_faulty.nowhere:build",
                                 output_kind="maps", feature_channels=(32,), feature_reductions=(2,))]

        @hookimpl
        def geofm_datasets():
            \"\"\"A dataset whose factory leaves a marker when it is built.\"\"\"
            return [DatasetSpec(name="faulty_marker", summary="x", factory="geofm_faulty.nets:marker_dataset")]
        """,
    "wide.py": """
        from geofm import BackboneSpec, hookimpl
        from geofm_faulty.specs import cnn

        @hookimpl
        def geofm_backbones():
            \"\"\"Returns more channels than it declares.\"\"\"
            return [cnn("faulty_wide", "geofm_faulty.nets:Wide")]
        """,
    "coarse.py": """
        from geofm import BackboneSpec, hookimpl
        from geofm_faulty.specs import cnn

        @hookimpl
        def geofm_backbones():
            \"\"\"Returns a coarser map than it declares.\"\"\"
            return [cnn("faulty_coarse", "geofm_faulty.nets:Coarse")]
        """,
    "noreductions.py": """
        from geofm import BackboneSpec, hookimpl
        from geofm_faulty.specs import cnn

        @hookimpl
        def geofm_backbones():
            \"\"\"Its module lacks out_reductions.\"\"\"
            return [cnn("faulty_noreductions", "geofm_faulty.nets:NoReductions")]
        """,
    "netask.py": """
        from geofm import TaskSpec, hookimpl

        @hookimpl
        def geofm_tasks():
            \"\"\"A task that keeps its model as self.net.\"\"\"
            return [TaskSpec(name="faulty_net_task", summary="x", factory="geofm_faulty.nets:NetTask",
                             task_type="segmentation", monitor="val/miou")]
        """,
    "specs.py": "from geofm import BackboneSpec\n" + CNN_SPEC,
    "nets.py": """
        from pathlib import Path
        import os

        import torch
        from torch import nn

        from geofm.tasks.segmentation import SegmentationTask


        class Wide(nn.Module):
            output_kind, num_prefix_tokens, patch_size, tubelet_size = "maps", 0, 2, 1

            def __init__(self, *, checkpoint=None, bands=None, num_frames=None, img_size=None, **options):
                super().__init__()
                self.out_channels, self.out_reductions = [32], [2]
                self.conv = nn.Conv2d(len(bands or (1, 2, 3)), self.real_channels(), 2, stride=self.stride())

            def real_channels(self):
                return 48

            def stride(self):
                return 2

            def forward_features(self, x, **meta):
                return [self.conv(x)]


        class Coarse(Wide):
            def real_channels(self):
                return 32

            def stride(self):
                return 4


        class NoReductions(Coarse):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                del self.out_reductions


        class NetTask(SegmentationTask):
            def __init__(self, *, model, **kwargs):
                super().__init__(model=model, **kwargs)
                self.net = self.model
                del self.model


        def marker_dataset(**kwargs):
            Path(os.environ["FAULTY_MARKER"]).touch()
            raise RuntimeError("the dataset was built")
        """,
}


def _pyproject() -> str:
    entry_points = "\n".join(f'{name} = "{module}"' for name, module in ENTRY_POINTS.items())
    return (
        textwrap.dedent(
            """
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "geofm-faulty"
        version = "0.1.0"
        dependencies = ["geofm"]

        [tool.setuptools.packages.find]
        where = ["src"]

        [project.entry-points.geofm]
        """
        )
        + entry_points
        + "\n"
    )


@pytest.fixture(scope="module")
def faulty_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment in which ``geofm-faulty`` is installed (into a --target folder put on PYTHONPATH)."""
    root = tmp_path_factory.mktemp("faulty")
    package = root / "geofm-faulty" / "src" / "geofm_faulty"
    package.mkdir(parents=True)
    (root / "geofm-faulty" / "pyproject.toml").write_text(_pyproject())
    for name, text in MODULES.items():
        (package / name).write_text(textwrap.dedent(text))
    site = root / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--target", str(site), str(root / "geofm-faulty")],
        check=True,
        capture_output=True,
    )
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "GEOFM_CACHE": str(root / "cache"), "FAULTY_MARKER": str(root / "marker")}


def _records(cli, env: dict[str, str]) -> dict[str, dict]:
    result = cli("plugins", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return {r["name"]: r for r in json.loads(result.stdout)}


def test_listing_still_works_and_names_each_broken_plugin(cli, faulty_env):
    records = _records(cli, faulty_env)
    assert records["badkind"]["status"] == "failed"
    assert "backbone 'faulty_badkind': output_kind 'map' is not one of 'tokens', 'maps'" in records["badkind"]["error"]
    assert records["typo"]["status"] == "failed"
    assert "geofm_backbone is not a geofm hook; did you mean geofm_backbones?" in records["typo"]["error"]
    assert records["undecorated"]["status"] == "failed"
    assert "not decorated with @geofm.hookimpl" in records["undecorated"]["error"]
    assert records["dupe"]["status"] == "failed"
    assert "backbone 'tiny_vit' is already registered by geofm" in records["dupe"]["error"]
    assert "geofm-faulty 0.1.0 (plugin dupe) was skipped" in records["dupe"]["error"]
    for good in ("builtin", "wide", "coarse", "missing", "netask"):
        assert records[good]["status"] == "loaded", records[good]
    table = cli("plugins", env=faulty_env)
    assert table.returncode == 0, table.stderr
    typo_row = next(line for line in table.stdout.splitlines() if " typo " in line)
    assert "failed" in typo_row and "geofm_backbone is not" in typo_row
    listing = cli("backbones", "list", env=faulty_env)
    assert listing.returncode == 0, listing.stderr
    assert "faulty_wide" in listing.stdout and "faulty_badkind" not in listing.stdout
    # each skipped plugin was announced in one warning line naming its distribution
    assert "geofm plugin geofm-faulty 0.1.0 (typo) was skipped" in listing.stderr


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return lines[0]


def _run(cli, env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    out = tmp_path / "runs"
    return cli("run", *args, "--fast-dev-run", "--out", str(out), "--set", "dataset.num_workers=0", env=env)


def test_factory_in_a_missing_module_is_reported_before_the_dataset_is_built(cli, faulty_env, tmp_path):
    line = _one_line_error(
        _run(cli, faulty_env, tmp_path, "--backbone", "faulty_missing", "--dataset", "faulty_marker")
    )
    assert "backbone faulty_missing from plugin missing (distribution geofm-faulty 0.1.0)" in line
    assert "'geofm_faulty.nowhere:build' cannot be imported (ModuleNotFoundError" in line
    assert not Path(faulty_env["FAULTY_MARKER"]).exists()  # nothing was built
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--backbone", "faulty_wide", "--decoder", "fcn"),
            "backbone faulty_wide: feature 0 has 48 channels, the module declares 32",
        ),
        (
            ("--backbone", "faulty_coarse", "--decoder", "fcn"),
            "backbone faulty_coarse: feature 0 is 32x32 for a 128x128 input, not the declared reduction 2",
        ),
        (
            ("--backbone", "faulty_noreductions", "--decoder", "fcn"),
            "backbone faulty_noreductions from plugin noreductions (distribution geofm-faulty 0.1.0): its factory "
            "returned a NoReductions without 'out_reductions'",
        ),
        (
            ("--backbone", "tiny_vit", "--task", "faulty_net_task"),
            "task faulty_net_task from plugin netask (distribution geofm-faulty 0.1.0): its factory returned a "
            "NetTask without 'model'",
        ),
    ],
)
def test_built_component_that_breaks_its_contract_fails_in_one_line(cli, faulty_env, tmp_path, args, expected):
    line = _one_line_error(_run(cli, faulty_env, tmp_path, *args))
    assert expected in line


# ---- the same contracts in process, fast ----


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: BackboneSpec(name="x", summary="", factory="m:f", output_kind="map"), "output_kind 'map'"),
        (lambda: BackboneSpec(name="My-Net", summary="", factory="m:f"), "must be lower-case snake case"),
        (lambda: NeckSpec(name="n", summary="", factory="module.attr"), "factory 'module.attr' must be"),
        (lambda: NeckSpec(name="n", summary="", factory="m:f", produces="map"), "produces 'map'"),
        (lambda: DecoderSpec(name="d", summary="", factory="m:f", tasks=("segmentaton",)), "tasks entry"),
        (lambda: DatasetSpec(name="d", summary="", factory="m:f", task="detect"), "task 'detect'"),
        (lambda: TaskSpec(name="t", summary="", factory="m:f", monitor_mode="maximum"), "monitor_mode"),
        (lambda: BackboneSpec(name="b", summary="", factory="m:f", statistics="m.stats"), "statistics 'm.stats'"),
        (lambda: BackboneSpec(name="b", summary="", factory="m:f", default_bands=("RED",)), None),
        (
            lambda: BackboneSpec(name="b", summary="", factory="m:f", default_bands=("RED",), default_mean=(1.0, 2.0)),
            "1 default_bands but 2 default_mean",
        ),
    ],
)
def test_spec_fields_are_validated_at_construction(make, message):
    if message is None:
        assert make().bands == ("RED",)
        return
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_lists_become_tuples():
    spec = BackboneSpec(name="b", summary="", factory="m:f", feature_channels=[8, 8], feature_reductions=[4, 8])
    assert spec.feature_channels == (8, 8) and spec.feature_reductions == (4, 8)


def test_load_factory_names_spec_plugin_and_distribution():
    spec = BackboneSpec(
        name="acme_net", summary="", factory="acme_missing.model:build", distribution="geofm-acme", version="2.0"
    )
    spec = dataclasses.replace(spec, plugin="acme")
    with pytest.raises(ComponentLoadError) as info:
        spec.load_factory()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("backbone acme_net from plugin acme (distribution geofm-acme 2.0): its factory")
    assert "ModuleNotFoundError" in message


class _Maps:
    output_kind, num_prefix_tokens, patch_size, tubelet_size = "maps", 0, 4, 1

    def __init__(self, channels: list[int], reductions: list[int]) -> None:
        self.out_channels, self.out_reductions = channels, reductions

    def forward_features(self, x, **meta):
        return []


def test_check_features_catches_channels_and_reductions():
    import torch

    module = _Maps([16, 32], [4, 8])
    good = [torch.zeros(1, 16, 8, 8), torch.zeros(1, 32, 4, 4)]
    check_features(good, module, (32, 32), name="backbone m")
    with pytest.raises(ContractError, match="feature 1 has 24 channels, the module declares 32"):
        check_features([good[0], torch.zeros(1, 24, 4, 4)], module, (32, 32), name="backbone m")
    with pytest.raises(ContractError, match="feature 1 is 8x8 for a 32x32 input, not the declared reduction 8"):
        check_features([good[0], torch.zeros(1, 32, 8, 8)], module, (32, 32), name="backbone m")
    with pytest.raises(ContractError, match="returned 1 features but the module declares 2"):
        check_features(good[:1], module, (32, 32), name="backbone m")


def test_check_features_counts_tokens_with_prefix_and_time():
    import torch

    module = _Maps([8], [4])
    module.output_kind, module.num_prefix_tokens, module.tubelet_size = "tokens", 1, 1
    check_features([torch.zeros(1, 1 + 2 * 16, 8)], module, (16, 16), frames=2, name="backbone v")
    with pytest.raises(ContractError, match="has 17 tokens"):
        check_features([torch.zeros(1, 17, 8)], module, (16, 16), frames=2, name="backbone v")


def test_check_built_names_the_missing_attribute():
    spec = BackboneSpec(name="m", summary="", factory="m:f", output_kind="maps", distribution="geofm-x", version="1")

    class Bare:
        output_kind = "maps"

        def __init__(self) -> None:
            self.out_channels = [8]

    with pytest.raises(ContractError, match=r"backbone m from \(distribution geofm-x 1\).*'out_reductions'"):
        check_built("backbones", Bare(), spec)
    with pytest.raises(ContractError, match="output_kind is 'tokens' but the spec declares 'maps'"):
        wrong = _Maps([8], [4])
        wrong.output_kind = "tokens"
        check_built("backbones", wrong, spec)


def record_keywords(**keywords):
    """A keyword-form dataset factory that declares no crop_size: it returns what it was given."""
    return keywords


def test_crop_size_for_a_dataset_that_does_not_declare_it_is_refused():
    from geofm.data.factory import DatasetOptions, build_datamodule

    spec = DatasetSpec(name="plain", summary="", factory=f"{__name__}:record_keywords")
    with pytest.raises(ConfigError, match="dataset plain takes no crop_size"):
        build_datamodule(spec, DatasetOptions(spec, crop_size=64))
    assert "crop_size" not in build_datamodule(spec, DatasetOptions(spec))
