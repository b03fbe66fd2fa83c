"""geofm.testing: the isolated registry, write_geotiff, synthetic batches and the synthetic data module."""

from __future__ import annotations

import importlib
import sys
import textwrap
import warnings
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

from geofm import plugins
from geofm.plugins import PluginWarning, plugin_records
from geofm.registry import get_registry
from geofm.testing import import_is_light, isolated_plugins, write_geotiff

PLUGIN_SOURCE = '''
"""Test plugin {package}."""

from geofm.hookspecs import hookimpl
from geofm.specs import BackboneSpec


@hookimpl
def geofm_backbones():
    """One backbone."""
    yield BackboneSpec(name="{package}_net", summary="test", factory="geofm.builtin.tiny_vit:build_tiny_vit")
'''

TYPO_SOURCE = '''
"""A plugin whose hook name is misspelt."""

from geofm.hookspecs import hookimpl
from geofm.specs import BackboneSpec


@hookimpl
def geofm_backbone():
    """Misspelt: the hook is geofm_backbones."""
    yield BackboneSpec(name="typo_net", summary="test", factory="geofm.builtin.tiny_vit:build_tiny_vit")
'''


@pytest.fixture
def make_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A function writing package ``NAME`` with a ``plugin.py`` module under ``tmp_path``; returns the module."""
    monkeypatch.syspath_prepend(str(tmp_path))
    created: list[str] = []

    def make(package: str, source: str = PLUGIN_SOURCE) -> ModuleType:
        folder = tmp_path / package
        folder.mkdir()
        (folder / "__init__.py").write_text("", encoding="utf-8")
        (folder / "plugin.py").write_text(textwrap.dedent(source.format(package=package)), encoding="utf-8")
        created.append(package)
        return importlib.import_module(f"{package}.plugin")

    yield make
    for package in created:
        for name in [n for n in sys.modules if n == package or n.startswith(f"{package}.")]:
            del sys.modules[name]


def _snapshot() -> dict[str, tuple[str, str, str]]:
    return {r.name: (r.distribution, r.version, r.status) for r in plugin_records()}


# --- isolated_plugins ----------------------------------------------------------------------------------


def test_two_plugin_modules_both_named_plugin_are_registered_side_by_side(make_plugin) -> None:
    first, second = make_plugin("acme_a"), make_plugin("acme_b")
    with isolated_plugins(first, second, include_installed=False):
        backbones = get_registry("backbones")
        assert backbones.names() == ["acme_a_net", "acme_b_net"]
        records = {r.name: r for r in plugin_records()}
        assert set(records) == {"acme_a.plugin", "acme_b.plugin"}
        assert records["acme_a.plugin"].distribution == "test-acme_a.plugin"
        assert records["acme_b.plugin"].hooks == ["geofm_backbones"]
        assert backbones.get("acme_b_net").distribution == "test-acme_b.plugin"


def test_an_installed_plugin_by_name_combines_with_an_ad_hoc_module(make_plugin) -> None:
    ad_hoc = make_plugin("acme_c")
    version = metadata.version("geofm-decoders")
    for name in ("decoders", "geofm-decoders", "geofm_decoders.plugin"):
        with isolated_plugins(name, ad_hoc, include_installed=False):
            assert get_registry("backbones").names() == ["acme_c_net"]  # tiny_vit's builtin plugin is left out
            upernet = get_registry("decoders").get("upernet")
            assert (upernet.distribution, upernet.version) == ("geofm-decoders", version)
            assert {r.name: r.distribution for r in plugin_records()} == {
                "decoders": "geofm-decoders",
                "acme_c.plugin": "test-acme_c.plugin",
            }


def test_the_module_of_an_installed_plugin_is_not_registered_twice() -> None:
    from geofm_decoders import plugin as decoders_plugin

    with isolated_plugins(decoders_plugin, decoders_plugin) as manager:
        assert manager.get_plugin("decoders") is decoders_plugin
        assert [n for n, p in manager.list_name_plugin() if p is decoders_plugin] == ["decoders"]
        assert get_registry("decoders").get("upernet").distribution == "geofm-decoders"
    with isolated_plugins(decoders_plugin, include_installed=False):
        assert {r.name: r.distribution for r in plugin_records()} == {"decoders": "geofm-decoders"}


def test_include_installed_takes_a_subset_of_the_installed_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOFM_BLOCK_PLUGINS", "datasets")  # an explicit subset wins over the variables
    with isolated_plugins(include_installed=["builtin", "geofm-datasets"]):
        assert {r.name for r in plugin_records()} == {"builtin", "datasets"}
        assert "tiny_vit" in get_registry("backbones") and "prithvi_eo_v2_300" not in get_registry("backbones")
        assert get_registry("datasets").get("demo").distribution == "geofm-datasets"
        assert len(get_registry("decoders")) == 0


def test_an_unknown_plugin_name_is_an_error_with_close_matches() -> None:
    with (
        pytest.raises(LookupError, match=r"'decoderz'.*Did you mean decoders") as info,
        isolated_plugins(include_installed=["decoderz"]),
    ):
        pass
    assert "geofm plugins" in str(info.value)
    with pytest.raises(LookupError, match="no_such_plugin_module"), isolated_plugins("no_such_plugin_module"):
        pass


def test_a_misspelt_hook_makes_the_ad_hoc_plugin_a_recorded_failure(make_plugin) -> None:
    broken, good = make_plugin("acme_typo", TYPO_SOURCE), make_plugin("acme_good")
    with pytest.warns(PluginWarning, match="geofm_backbone"), isolated_plugins(broken, good, include_installed=False):
        records = {r.name: r for r in plugin_records()}
        assert records["acme_typo.plugin"].status == "failed"
        assert get_registry("backbones").names() == ["acme_good_net"]


def test_records_manager_and_registry_are_restored_afterwards(make_plugin) -> None:
    before, manager, backbones = _snapshot(), plugins.get_plugin_manager(), get_registry("backbones")
    with (
        pytest.raises(RuntimeError, match="inside"),
        isolated_plugins(make_plugin("acme_d"), include_installed=["builtin"]),
    ):
        assert "acme_d_net" in get_registry("backbones")
        raise RuntimeError("inside the block")
    assert _snapshot() == before
    assert plugins.get_plugin_manager() is manager
    assert get_registry("backbones") is backbones and "acme_d_net" not in backbones


def test_the_geofm_isolated_fixture_opens_isolated_plugins(geofm_isolated, make_plugin) -> None:
    with geofm_isolated(make_plugin("acme_e"), include_installed=False):
        assert get_registry("backbones").names() == ["acme_e_net"]


# --- write_geotiff -------------------------------------------------------------------------------------


def test_write_geotiff_creates_missing_folders(tmp_path: Path) -> None:
    import numpy as np
    import rasterio

    path = tmp_path / "not" / "yet" / "there" / "scene.tif"
    write_geotiff(path, np.arange(2 * 4 * 5, dtype=np.int16).reshape(2, 4, 5), band_names=["RED", "NIR_NARROW"])
    with rasterio.open(path) as src:
        assert (src.count, src.height, src.width) == (2, 4, 5)
        assert src.descriptions == ("RED", "NIR_NARROW")
        assert int(src.read(2)[3, 4]) == 39


# --- synthetic batches ---------------------------------------------------------------------------------

TASKS = [
    ("segmentation", "upernet", 3, {"mask": ((2, 32, 32), "int64")}),
    ("regression", "upernet", 1, {"target": ((2, 1, 32, 32), "float32"), "valid": ((2, 1, 32, 32), "bool")}),
    ("classification", "identity", 3, {"target": ((2,), "int64")}),
    ("multilabel_classification", "identity", 4, {"target": ((2, 4), "float32")}),
]


@pytest.mark.parametrize(("task_type", "decoder", "num_classes", "labels"), TASKS, ids=[t[0] for t in TASKS])
def test_synthetic_batch_trains_a_core_task(task_type: str, decoder: str, num_classes: int, labels: dict) -> None:
    from geofm.compose import build_model
    from geofm.testing import synthetic_batch

    bands = ("BLUE", "GREEN", "RED", "NIR_NARROW")
    batch = synthetic_batch(task_type, bands=bands, num_classes=num_classes)
    assert tuple(batch["image"].shape) == (2, 4, 32, 32) and str(batch["image"].dtype) == "torch.float32"
    assert {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in batch.items() if k in labels} == labels
    assert set(batch) == {"image", *labels, "meta"}
    meta = {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in batch["meta"].items()}
    assert meta == {"timestamps": ((2, 1), "float64"), "center_latlon": ((2, 2), "float32"), "gsd": ((2,), "float32")}

    model = build_model("tiny_vit", decoder, task=task_type, num_classes=num_classes, weights="none", bands=bands)
    task = get_registry("tasks").build(task_type, model=model, num_classes=num_classes)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*self.log.*")  # no Trainer attached: logging is skipped
        loss = task.training_step(batch, 0)
    assert loss.ndim == 0 and bool(loss.isfinite())
    loss.backward()
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in task.parameters())


def test_synthetic_batch_of_a_time_series_and_its_options() -> None:
    from geofm.compose import build_model
    from geofm.testing import synthetic_batch

    batch = synthetic_batch(bands=3, batch_size=3, size=16, num_frames=4, ignore_index=255, seed=5)
    assert tuple(batch["image"].shape) == (3, 3, 4, 16, 16)
    assert tuple(batch["meta"]["timestamps"].shape) == (3, 4)
    assert bool((batch["mask"][:, 0] == 255).all()) and set(batch["mask"][:, 1:].unique().tolist()) <= {0, 1}
    again = synthetic_batch(bands=3, batch_size=3, size=16, num_frames=4, ignore_index=255, seed=5)
    assert bool((again["image"] == batch["image"]).all())
    model = build_model(
        "tiny_vit", "upernet", num_classes=2, weights="none", bands=("BLUE", "GREEN", "RED"), num_frames=4
    )
    assert tuple(model(batch["image"], **batch["meta"]).shape) == (3, 2, 16, 16)
    with pytest.raises(ValueError, match="task type 'detection'"):
        synthetic_batch("detection")


# --- SyntheticDataModule -------------------------------------------------------------------------------


def test_synthetic_data_module_has_what_core_reads() -> None:
    from geofm.contracts import DataModule
    from geofm.testing import SyntheticDataModule

    data = SyntheticDataModule(
        "segmentation", bands=("B02", "B03", "B04"), num_classes=3, num_frames=2, ignore_index=255
    )
    assert isinstance(data, DataModule)
    assert data.band_names == ("BLUE", "GREEN", "RED") and data.num_frames == 2
    assert (data.num_classes, data.class_names, data.ignore_index) == (3, ("class_0", "class_1", "class_2"), 255)
    assert (data.mean, data.std) == ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert data.spec.name == "synthetic" and data.spec.task == "segmentation" and "test" in data.spec.splits
    batch = next(iter(data.val_dataloader()))
    assert tuple(batch["image"].shape) == (2, 3, 2, 32, 32) and tuple(batch["meta"]["timestamps"].shape) == (2, 2)
    regression = SyntheticDataModule("regression", num_classes=2)
    assert (regression.num_outputs, regression.class_names, regression.ignore_index) == (2, (), None)


@pytest.mark.parametrize(("task_type", "decoder"), [("segmentation", "upernet"), ("classification", "identity")])
def test_synthetic_data_module_runs_in_a_lightning_trainer(task_type: str, decoder: str, tmp_path: Path) -> None:
    import lightning as L

    from geofm.compose import build_model
    from geofm.testing import SyntheticDataModule

    data = SyntheticDataModule(task_type, bands=4, num_classes=3)
    model = build_model("tiny_vit", decoder, task=task_type, num_classes=3, weights="none", bands=data.band_names)
    task = get_registry("tasks").build(
        task_type,
        model=model,
        num_classes=data.num_classes,
        class_names=data.class_names,
        ignore_index=data.ignore_index,
    )
    trainer = L.Trainer(
        fast_dev_run=True,
        accelerator="cpu",
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(task, datamodule=data)
    assert trainer.state.finished
    assert "train/loss" in trainer.callback_metrics and task.monitor in trainer.callback_metrics


def test_synthetic_data_has_a_learnable_pattern() -> None:
    import torch

    from geofm.compose import build_model
    from geofm.testing import SyntheticDataModule

    torch.manual_seed(0)
    data = SyntheticDataModule("classification", batch_size=4, batches=4, size=16)
    model = build_model(
        "tiny_vit", "identity", task="classification", num_classes=2, weights="none", bands=data.band_names
    )
    task = get_registry("tasks").build("classification", model=model, num_classes=2)
    optimiser = torch.optim.AdamW(task.parameters(), lr=1e-3)
    val = next(iter(data.val_dataloader()))

    def val_loss() -> float:
        with torch.no_grad():
            return float(task.compute_loss(task(val["image"], **val["meta"]), task.get_target(val)))

    before = val_loss()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*self.log.*")
        for _ in range(3):
            for batch in data.train_dataloader():
                optimiser.zero_grad()
                task.training_step(batch, 0).backward()
                optimiser.step()
    assert val_loss() < 0.5 * before


# --- a light import ------------------------------------------------------------------------------------


def test_importing_geofm_testing_imports_no_torch() -> None:
    assert import_is_light("geofm.testing") == []


def test_lazy_names_resolve_on_use() -> None:
    import geofm.testing
    from geofm.testing.synthetic import SyntheticDataModule, synthetic_batch

    assert geofm.testing.synthetic_batch is synthetic_batch
    assert geofm.testing.SyntheticDataModule is SyntheticDataModule
    assert {"check_plugin", "synthetic_batch", "SyntheticDataModule"} <= set(geofm.testing.__all__)
    with pytest.raises(AttributeError, match="no_such_helper"):
        geofm.testing.no_such_helper  # noqa: B018


def test_check_plugin_is_the_plugin_check_assertion() -> None:
    import geofm.testing
    from geofm.plugin_check import assert_plugin_passes

    assert geofm.testing.check_plugin is assert_plugin_passes
