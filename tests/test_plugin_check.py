"""``geofm plugins check`` and ``geofm.plugin_check``: every plugin of this repository passes; broken ones fail
with a reason that names what is wrong.

The broken and the good plugins are packages written under a temporary folder and imported from there (by
path: they are not installed), as a plugin author would check a plugin under development.
"""

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from geofm.errors import GeofmError
from geofm.plugin_check import assert_plugin_passes, check_plugin, resolve_target

COMMON_MODELS = """
from torch import nn


class TinyCNN(nn.Module):
    output_kind = "maps"
    num_prefix_tokens = 0
    patch_size = 2
    tubelet_size = 1

    def __init__(self, in_chans, channels, strides, declare_reductions):
        super().__init__()
        layers, previous = [], in_chans
        for width, stride in zip(channels, strides):
            layers.append(nn.Conv2d(previous, width, 3, stride=stride, padding=1))
            previous = width
        self.stages = nn.ModuleList(layers)
        self.out_channels = [16, 32, 64]
        if declare_reductions:
            self.out_reductions = [2, 4, 8]

    def forward_features(self, x, **meta):
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


def build_cnn(*, checkpoint=None, bands=None, num_frames=None, img_size=None, channels=(16, 32, 64),
              strides=(2, 2, 2), declare_reductions=True):
    return TinyCNN(len(bands or ()) or 6, channels, strides, declare_reductions)


class Head(nn.Module):
    def __init__(self, *, in_channels, in_reductions):
        super().__init__()
        self.conv = nn.Conv2d(in_channels[-1], 8, 1)
        self.out_channels = 8
        self.out_reduction = in_reductions[-1]

    def forward(self, features):
        return self.conv(features[-1])
"""

BROKEN_MODELS = """
import torch
from lightning.pytorch import LightningModule
from torch import nn

torch.set_float32_matmul_precision("medium")  # a process-wide change at import: what the check catches


class NeckWithoutChannels(nn.Module):
    def __init__(self, *, in_channels, in_reductions):
        super().__init__()
        self.out_reductions = list(in_reductions)

    def forward(self, features, context):
        return features


class DecoderWithoutChannels(nn.Module):
    def __init__(self, *, in_channels, in_reductions):
        super().__init__()
        self.conv = nn.Conv2d(in_channels[-1], 8, 1)
        self.out_reduction = in_reductions[-1]

    def forward(self, features):
        return self.conv(features[-1])


class NetTask(LightningModule):
    monitor = "val/loss"
    monitor_mode = "min"

    def __init__(self, *, model, num_classes, class_names=(), ignore_index=None, **options):
        super().__init__()
        self.net = model

    def training_step(self, batch, batch_index):
        return self.net(batch["image"]).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)
"""

DATA = """
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from geofm.errors import DataError
from geofm.specs import DatasetSpec

BANDS = ("BLUE", "GREEN", "RED")


class Tiles(LightningDataModule):
    def __init__(self, name, size, with_frames):
        super().__init__()
        self.spec = DatasetSpec(name=name, summary="tiles", factory="pc_common.data:Tiles", bands=("B02", "B03", "B04"))
        self.band_names = BANDS
        self.num_classes = 2
        self.class_names = ("land", "water")
        self.ignore_index = None
        if with_frames:
            self.num_frames = 1
        self.mean = (0.0,) * 3
        self.std = (1.0,) * 3
        self.size = size

    def setup(self, stage=None):
        self.samples = [
            {"image": torch.randn(3, self.size, self.size), "mask": torch.zeros(self.size, self.size, dtype=torch.long),
             "meta": {"gsd": torch.tensor(10.0)}}
            for _ in range(4)
        ]

    def train_dataloader(self):
        return DataLoader(self.samples, batch_size=2)

    def val_dataloader(self):
        return DataLoader(self.samples, batch_size=2)


def build_generated(*, data_root=None, bands=None, batch_size=2, num_workers=0, seed=0, mean=None, std=None):
    return Tiles("acme_memory", 16, with_frames=False)


def write_example(root):
    (root / "size.txt").write_text("16")


def build_tiles(*, data_root=None, bands=None, batch_size=2, num_workers=0, seed=0, mean=None, std=None):
    if data_root is None or not (data_root / "size.txt").is_file():
        raise DataError(f"dataset acme_tiles is not at {data_root}: size.txt is missing")
    return Tiles("acme_tiles", int((data_root / "size.txt").read_text()), with_frames=True)
"""

BROKEN_PLUGIN = '''
"""A plugin with one mistake per component."""

import torch  # heavy at import: what the light-import check catches

from geofm import BackboneSpec, DatasetSpec, DecoderSpec, NeckSpec, TaskSpec, hookimpl


def _cnn(name, **extra):
    return BackboneSpec(
        name=name, summary="tiny CNN", factory="pc_common.models:build_cnn", output_kind="maps", embed_dim=64,
        depth=3, feature_channels=(16, 32, 64), feature_reductions=(2, 4, 8), default_levels=(0, 1, 2),
        patch_size=2, img_size=32, extra=extra,
    )


@hookimpl
def geofm_backbones():
    """Backbones whose outputs differ from their specs."""
    yield _cnn("acme_cnn", channels=(16, 32, 96))
    yield _cnn("acme_strides", strides=(2, 1, 2))
    yield _cnn("acme_noreductions", declare_reductions=False)


@hookimpl
def geofm_necks():
    """A neck without out_channels."""
    yield NeckSpec(name="acme_neck", summary="no channels", factory="pc_broken.models:NeckWithoutChannels",
                   consumes="maps", produces="maps")


@hookimpl
def geofm_decoders():
    """A decoder without out_channels."""
    yield DecoderSpec(name="acme_decoder", summary="no channels", factory="pc_broken.models:DecoderWithoutChannels")


@hookimpl
def geofm_datasets():
    """A data module without num_frames."""
    yield DatasetSpec(name="acme_memory", summary="in memory", factory="pc_common.data:build_generated",
                      bands=("B02", "B03", "B04"), classes=("land", "water"), layout="generated in memory")


@hookimpl
def geofm_tasks():
    """A task keeping its model as self.net."""
    yield TaskSpec(name="acme_task", summary="net, not model", factory="pc_broken.models:NetTask",
                   monitor="val/loss", monitor_mode="min")
'''

GOOD_PLUGIN = '''
"""A plugin that passes every check, with a dataset checked from its example layout."""

from geofm import BackboneSpec, DatasetSpec, DecoderSpec, TaskSpec, hookimpl


@hookimpl
def geofm_backbones():
    """A small CNN."""
    yield BackboneSpec(
        name="acme_good_cnn", summary="tiny CNN", factory="pc_common.models:build_cnn", output_kind="maps",
        embed_dim=64, depth=3, feature_channels=(16, 32, 64), feature_reductions=(2, 4, 8),
        default_levels=(0, 1, 2), patch_size=2, img_size=32,
    )


@hookimpl
def geofm_decoders():
    """A 1x1 convolution."""
    yield DecoderSpec(name="acme_head", summary="1x1 conv", factory="pc_common.models:Head")


@hookimpl
def geofm_datasets():
    """Tiles on disk, with a tiny example of their layout."""
    yield DatasetSpec(name="acme_tiles", summary="tiles", factory="pc_common.data:build_tiles",
                      bands=("B02", "B03", "B04"), classes=("land", "water"), layout="size.txt: the tile size",
                      example_layout="pc_common.data:write_example")


@hookimpl
def geofm_tasks():
    """Core's segmentation task under another name."""
    yield TaskSpec(name="acme_segmentation", summary="segmentation",
                   factory="geofm.tasks.segmentation:SegmentationTask", monitor="val/miou", monitor_mode="max")
'''

CHANNELS_MODEL = """
import torch

from pc_common.models import build_cnn

torch.set_float32_matmul_precision("medium")
"""

CHANNELS_PLUGIN = '''
"""One backbone returning other channels than it declares."""

from geofm import BackboneSpec, hookimpl


@hookimpl
def geofm_backbones():
    """A CNN whose last stage is wider than declared."""
    yield BackboneSpec(
        name="acme_cnn", summary="tiny CNN", factory="pc_channels.model:build_cnn", output_kind="maps", embed_dim=64,
        depth=3, feature_channels=(16, 32, 64), feature_reductions=(2, 4, 8), default_levels=(0, 1, 2),
        patch_size=2, img_size=32, extra={"channels": (16, 32, 96)},
    )
'''

TYPO_PLUGIN = '''
"""A plugin whose hook name has a typo."""

from geofm import BackboneSpec, hookimpl


@hookimpl
def geofm_backbone():
    """Singular: no such hook."""
    return []
'''

REPO_PLUGINS = [
    "geofm-clay",
    "geofm-decoders",
    "geofm-dofa",
    "geofm-terramind",
    pytest.param("geofm", marks=pytest.mark.slow),
    pytest.param("geofm-datasets", marks=pytest.mark.slow),
    pytest.param("geofm-detection", marks=pytest.mark.slow),
    pytest.param("geofm-prithvi", marks=pytest.mark.slow),
]
"""Every distribution of this repository (marked slow: those with the most or largest components)."""


TEST_PACKAGES = ("pc_common", "pc_broken", "pc_good", "pc_channels", "pc_typo")


def _write(folder: Path, package: str, files: dict[str, str]) -> None:
    (folder / package).mkdir(parents=True, exist_ok=True)
    (folder / package / "__init__.py").write_text("")
    for name, source in files.items():
        (folder / package / f"{name}.py").write_text(textwrap.dedent(source))


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    """A folder holding the test plugins (``pc_broken``, ``pc_good`` ...) and their shared ``pc_common``."""
    folder = tmp_path_factory.mktemp("plugins")
    _write(folder, "pc_common", {"models": COMMON_MODELS, "data": DATA})
    _write(folder, "pc_broken", {"plugin": BROKEN_PLUGIN, "models": BROKEN_MODELS})
    _write(folder, "pc_good", {"plugin": GOOD_PLUGIN})
    _write(folder, "pc_channels", {"plugin": CHANNELS_PLUGIN, "model": CHANNELS_MODEL})
    _write(folder, "pc_typo", {"plugin": TYPO_PLUGIN})
    return folder


@pytest.fixture
def on_path(plugin_dir, monkeypatch):
    """The test plugins importable here (sys.path) and in fresh interpreters (PYTHONPATH)."""
    monkeypatch.syspath_prepend(str(plugin_dir))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(plugin_dir), os.environ.get("PYTHONPATH")) if p))
    yield plugin_dir
    for name in [m for m in sys.modules if m.split(".")[0] in TEST_PACKAGES]:
        del sys.modules[name]


def _env(plugin_dir: Path, tmp_path: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(plugin_dir), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, "GEOFM_CACHE": str(tmp_path / "cache")}


@pytest.mark.parametrize("distribution", REPO_PLUGINS)
def test_every_plugin_of_the_repository_passes(cli, tmp_path, distribution):
    result = cli("plugins", "check", distribution, "--json", env={"GEOFM_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(result.stdout)
    assert {r["status"] for r in rows} <= {"PASS", "SKIP"}, [r for r in rows if r["status"] == "FAIL"]
    plugin_rows = {r["check"]: r["status"] for r in rows if r["kind"] == "plugin"}
    assert plugin_rows == {"import": "PASS", "light import": "PASS", "torch state": "PASS"}
    listing = {r["name"]: r for r in json.loads(cli("plugins", "--json").stdout)}
    [entry] = [r for r in listing.values() if r["distribution"] == distribution]
    checked = {(r["kind"], r["component"]) for r in rows if r["check"] == "factory" and r["status"] == "PASS"}
    assert len(checked) == sum(entry["components"].values())  # every component it registers was checked
    built = [r for r in rows if r["check"] in ("build", "forward") and r["status"] == "PASS"]
    assert built  # and something was really built and run


def test_broken_plugin_fails_with_the_reason_of_each_mistake(cli, plugin_dir, tmp_path):
    result = cli("plugins", "check", "pc_broken.plugin", "--json", env=_env(plugin_dir, tmp_path))
    assert result.returncode == 1, result.stderr
    rows = json.loads(result.stdout)
    failed = {(r["component"], r["check"]): r["reason"] for r in rows if r["status"] == "FAIL"}

    assert "backbone acme_cnn: feature 2 has 96 channels, the spec declares 64" in failed[("acme_cnn", "forward")]
    assert "backbone acme_strides: feature 1 is 8x8 for a 16x16 input" in failed[("acme_strides", "forward")]
    assert "reduction 4" in failed[("acme_strides", "forward")]
    assert "without 'out_reductions'" in failed[("acme_noreductions", "build")]
    assert "without 'out_channels'" in failed[("acme_neck", "build")]
    assert "without 'out_channels'" in failed[("acme_decoder", "build")]
    assert "without 'model'" in failed[("acme_task", "build")]
    assert "without 'num_frames'" in failed[("acme_memory", "build")]
    state = failed[("pc_broken.plugin", "torch state")]
    assert "importing pc_broken.models sets float32 matmul precision 'highest' -> 'medium'" in state
    assert "imports torch" in failed[("pc_broken.plugin", "light import")]
    # a failed build is not run: no forward row for it
    assert not [r for r in rows if r["component"] == "acme_noreductions" and r["check"] == "forward"]
    # every other check of a broken component still ran and passed
    passed = {(r["component"], r["check"]) for r in rows if r["status"] == "PASS"}
    assert {("acme_cnn", "build"), ("acme_strides", "build"), ("pc_broken.plugin", "import")} <= passed
    assert {r["plugin"] for r in rows} == {"pc_broken.plugin"}


def test_assert_plugin_passes_raises_with_the_table(on_path):
    import torch

    precision = torch.get_float32_matmul_precision()
    with pytest.raises(AssertionError) as raised:
        assert_plugin_passes("pc_channels.plugin")
    message = str(raised.value)
    assert "backbone acme_cnn forward: backbone acme_cnn: feature 2 has 96 channels, the spec declares 64" in message
    assert "PLUGIN" in message and "failed," in message.splitlines()[-1]
    assert torch.get_float32_matmul_precision() == precision  # the plugin's import did not leak out of the check


def test_good_plugin_passes_and_its_dataset_builds_from_its_example_layout(on_path):
    report = assert_plugin_passes("pc_good.plugin")
    assert report.ok and report.count("FAIL") == 0
    status = {(r.component, r.check): r.status for r in report.rows}
    assert status[("acme_tiles", "example layout")] == "PASS"
    assert status[("acme_tiles", "batch")] == "PASS"
    assert status[("acme_good_cnn", "forward")] == "PASS"
    assert status[("acme_head", "forward")] == "PASS"
    assert status[("acme_segmentation", "training step")] == "PASS"
    assert report.format_table().splitlines()[-1] == report.summary()


def test_hook_typo_is_an_import_failure(on_path, cli, tmp_path):
    report = check_plugin("pc_typo.plugin")
    assert not report.ok
    [row] = report.rows
    assert (row.check, row.status) == ("import", "FAIL")
    assert "geofm_backbone is not a geofm hook" in row.reason
    result = cli("plugins", "check", "pc_typo.plugin", env=_env(on_path, tmp_path))
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["PLUGIN", "KIND", "COMPONENT", "CHECK", "STATUS", "REASON"]
    assert "FAIL" in lines[1] and "geofm_backbone is not a geofm hook" in lines[1]
    assert lines[-1] == "0 passed, 1 failed, 0 skipped"


def test_unknown_target_is_one_line_listing_the_installed_plugins(cli):
    result = cli("plugins", "check", "geofm-nonexistent")
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[0]
    assert error.startswith("error: unknown plugin 'geofm-nonexistent'")
    assert "prithvi (geofm-prithvi)" in error and "builtin (geofm)" in error


@pytest.mark.parametrize("name", ["dofa", "geofm-dofa", "geofm_dofa", "GEOFM-Dofa", "geofm_dofa.plugin"])
def test_a_plugin_is_named_by_entry_point_distribution_or_module(name):
    [target] = resolve_target(name)
    assert (target.name, target.module, target.distribution) == ("dofa", "geofm_dofa.plugin", "geofm-dofa")


def test_an_uninstalled_module_is_an_ad_hoc_target(on_path):
    [target] = resolve_target("pc_good.plugin")
    assert (target.name, target.module, target.installed) == ("pc_good.plugin", "pc_good.plugin", False)


def test_geofm_testing_exports_the_asserting_check():
    from geofm.testing import check_plugin as exported

    assert exported is assert_plugin_passes


def test_unknown_target_raises_a_geofm_error():
    with pytest.raises(GeofmError, match="Installed plugins"):
        check_plugin("no_such_module_anywhere")


def test_bare_plugins_still_lists(cli):
    result = cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    assert "builtin" in {r["name"] for r in json.loads(result.stdout)}
