"""``geofm migrate`` and ``geofm run --config PEER.yaml``: TerraTorch configurations translated, reported and run.

The four peer configurations in ``../shared/data/peer_configs`` are translated with their reports checked
key by key and the numbers that define each experiment compared with the YAML; the slow tests run each
through the CLI on tiny generated chips in the layout its paths name (Sen1Floods11 also on the real chip).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from geofm.errors import ConfigError
from geofm.migrate import translate
from geofm.migrate.peer_yaml import flatten
from geofm.testing import write_geotiff

SHARED = Path(__file__).resolve().parents[2] / "shared"
PEER = SHARED / "data" / "peer_configs"
REAL_S1F11 = SHARED / "data" / "real" / "sen1floods11"
CONFIGS = ("sen1floods11_vit", "burn_scars", "multi_temporal_crop", "prithvi_v2_eo_300_tl_unet_burnscars")
HLS = ["BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"]
TINY = [  # a quick CPU run: the peer's architecture at a small width, no download
    "--set", "trainer.accelerator=cpu", "--set", "dataset.num_workers=0", "--set", "backbone.weights=none",
    "--set", "backbone.embed_dim=64", "--set", "backbone.num_heads=2", "--set", "trainer.progress_bar=false",
]  # fmt: skip

needs_shared = pytest.mark.skipif(not PEER.is_dir(), reason=f"{PEER} is absent (shared fixtures)")


def _peer(name: str) -> dict[str, Any]:
    return yaml.safe_load((PEER / f"{name}.yaml").read_text())


def _keys(migration: Any, status: str) -> set[str]:
    return {e.key for e in migration.report.by_status(status)}


# --- the reports of the four shared configurations -----------------------------------------------------

_TRAINER = {"trainer.accelerator", "trainer.strategy", "trainer.devices", "trainer.num_nodes", "trainer.precision",
            "trainer.max_epochs", "trainer.log_every_n_steps", "seed_everything"}  # fmt: skip
_VIT_UNET = {"model.model_args.backbone", "model.model_args.backbone_pretrained", "model.model_args.necks[0].name",
             "model.model_args.necks[0].indices", "model.model_args.necks[1].name", "model.model_args.necks[2].name",
             "model.model_args.decoder", "model.model_args.decoder_channels", "model.model_args.head_dropout",
             "model.model_args.num_classes", "model", "model.loss", "model.freeze_backbone", "optimizer.lr",
             "optimizer.weight_decay", "lr_scheduler"}  # fmt: skip
_DATA = {"data", "data.train_data_root", "data.output_bands", "data.num_classes", "data.batch_size",
         "data.num_workers", "data.means", "data.stds"}  # fmt: skip
_LAYOUT = {"data.val_data_root", "data.test_data_root", "data.train_label_data_root", "data.val_label_data_root",
           "data.test_label_data_root", "data.img_grep", "data.label_grep", "data.dataset_bands"}  # fmt: skip
_TILING = {
    f"model.tiled_inference_parameters.{k}" for k in ("h_crop", "h_stride", "w_crop", "w_stride", "average_patches")
}
_LOGGER = {"trainer.logger", "trainer.logger.save_dir", "trainer.logger.name"}
_LR_MONITOR = {"trainer.callbacks[1]", "trainer.callbacks[1].logging_interval"}

EXPECTED: dict[str, dict[str, set[str]]] = {
    "sen1floods11_vit": {
        "mapped": _TRAINER | _VIT_UNET | _DATA | {
            "(peer default) no EarlyStopping", "data.constant_scale", "(peer default) no train_transform",
            "model.aux_heads[0].name", "model.aux_heads[0].decoder", "model.aux_heads[0].decoder_args.decoder_channels",
            "model.aux_heads[0].decoder_args.decoder_in_index", "model.aux_heads[0].decoder_args.decoder_num_convs",
            "model.aux_loss.aux_head", "lr_scheduler.patience", "lr_scheduler.factor"},
        "defaulted": _LAYOUT | {
            "trainer.check_val_every_n_epoch", "trainer.enable_checkpointing", "trainer.callbacks[0]",
            "data.train_split", "data.val_split", "data.test_split", "model.ignore_index", "data.no_label_replace",
            "model.model_args.backbone_bands", "model.aux_heads[0].decoder_args.head_dropout", "model.model_factory",
            "model.freeze_decoder", "optimizer"},
        "not carried over": _LR_MONITOR | {
            "trainer.logger", "trainer.default_root_dir", "data.rgb_indices", "data.no_data_replace",
            "model.model_args.backbone_drop_path", "model.model_args.head_channel_list", "lr_scheduler.monitor"},
    },
    "burn_scars": {
        "mapped": _TRAINER | _VIT_UNET | _DATA | {
            "trainer.callbacks[2]", "trainer.callbacks[2].patience", "(peer default) constant_scale",
            "data.train_transform[0]", "data.train_transform[0].height", "data.train_transform[0].width",
            "data.train_transform[1]", "(torch default) ReduceLROnPlateau patience", "optimizer"},
        "defaulted": _LAYOUT | {
            "trainer.check_val_every_n_epoch", "trainer.enable_checkpointing", "trainer.callbacks[0]",
            "model.ignore_index", "data.no_label_replace", "data.train_transform[2]", "model.model_args.backbone_bands",
            "model.model_factory", "model.freeze_decoder"},
        "not carried over": _LOGGER | _LR_MONITOR | _TILING | {
            "trainer.default_root_dir", "trainer.callbacks[2].monitor", "data.rgb_indices", "data.no_data_replace",
            "model.model_args.backbone_drop_path", "model.model_args.head_channel_list", "model.plot_on_val",
            "lr_scheduler.monitor"},
    },
    "multi_temporal_crop": {
        "mapped": _TRAINER | _DATA | {
            "(peer default) no EarlyStopping", "(peer default) constant_scale", "data.train_transform[1]",
            "model.model_args.backbone", "model.model_args.backbone_pretrained", "model.model_args.backbone_num_frames",
            "model.model_args.decoder", "model.model_args.decoder_channels", "model.model_args.head_dropout",
            "model.model_args.num_classes", "model", "model.loss", "model.freeze_backbone", "model.class_weights",
            "optimizer.lr", "optimizer.weight_decay", "lr_scheduler", "(torch default) ReduceLROnPlateau patience"},
        "defaulted": _LAYOUT | {
            "trainer.check_val_every_n_epoch", "trainer.enable_checkpointing", "trainer.callbacks[0]",
            "data.train_split", "data.val_split", "data.test_split", "data.expand_temporal_dimension",
            "data.reduce_zero_label", "model.class_names", "model.ignore_index", "data.train_transform[0]",
            "data.train_transform[2]", "data.train_transform[3]", "data.train_transform[3].n_timesteps",
            "model.model_args.backbone_in_channels", "model.model_args.backbone_bands", "model.model_factory",
            "model.freeze_decoder", "optimizer"},
        "not carried over": _LOGGER | _LR_MONITOR | _TILING | {
            "trainer.default_root_dir", "data.rgb_indices", "model.model_args.head_channel_list",
            "model.model_args.rescale", "lr_scheduler.monitor"},
    },
    "prithvi_v2_eo_300_tl_unet_burnscars": {
        "mapped": _TRAINER | _VIT_UNET | _DATA | {
            "trainer.default_root_dir", "(peer default) no EarlyStopping", "data.train_split", "data.val_data_root",
            "data.val_split", "data.test_data_root", "data.test_split", "data.img_grep", "data.label_grep",
            "data.dataset_bands", "model.ignore_index", "data.no_label_replace", "data.train_transform[0]",
            "model.model_args.backbone_img_size", "lr_scheduler.patience", "lr_scheduler.factor"},
        "defaulted": {
            "trainer.callbacks[0]", "trainer.callbacks[2]", "trainer.callbacks[2].mode", "trainer.callbacks[2].monitor",
            "data.train_transform[1]", "model.model_args.backbone_coords_encoding", "model.model_args.backbone_bands",
            "model.model_factory", "model.freeze_decoder", "optimizer"},
        "not carried over": _LR_MONITOR | {
            "trainer.logger", "trainer.callbacks[2].dirpath", "trainer.callbacks[2].filename", "data.rgb_indices",
            "data.no_data_replace", "lr_scheduler.monitor"},
    },
}  # fmt: skip


@needs_shared
@pytest.mark.parametrize("name", CONFIGS)
def test_report_of_each_shared_config(name: str, tmp_path: Path) -> None:
    migration = translate(PEER / f"{name}.yaml", data_root=tmp_path)
    for status in ("mapped", "defaulted", "not carried over"):
        assert _keys(migration, status) == EXPECTED[name][status], status
    assert migration.report.blocking == [] and migration.same_experiment
    # every key of the file is reported exactly once (besides the peer defaults geofm had to make explicit)
    reported = [e.key for e in migration.report.entries if not e.key.startswith("(")]
    assert sorted(reported) == sorted(flatten(_peer(name)))
    assert all(e.why for e in migration.report.entries if e.status != "mapped"), "every non-mapping says why"


@needs_shared
@pytest.mark.parametrize("name", CONFIGS)
def test_numbers_that_define_the_experiment_carry_exactly(name: str, tmp_path: Path) -> None:
    peer = _peer(name)
    data, task, model = peer["data"]["init_args"], peer["model"]["init_args"], peer["model"]["init_args"]["model_args"]
    config = translate(PEER / f"{name}.yaml", data_root=tmp_path).config
    dataset = config["dataset"]
    assert dataset["mean"] == data["means"] and dataset["std"] == data["stds"]  # normalisation, band by band
    assert dataset.get("scale", 1.0) == data.get("constant_scale", 1.0)  # the peer's default scale is 1
    assert dataset["bands"] == data["output_bands"] == HLS  # the bands, in their order
    if dataset["name"] == "geotiff_segmentation":
        assert dataset["file_bands"] == data["dataset_bands"]
        assert dataset["ignore_index"] == task["ignore_index"] == -1
    assert config["task"]["num_outputs"] == data["num_classes"] == model["num_classes"]  # classes
    assert config["task"]["lr"] == peer["optimizer"]["init_args"]["lr"]
    assert config["task"]["weight_decay"] == peer["optimizer"]["init_args"]["weight_decay"]
    assert config["task"]["loss"] == task["loss"]
    assert config["task"].get("class_weights") == task.get("class_weights")
    assert config["trainer"]["max_epochs"] == peer["trainer"]["max_epochs"]
    assert config["dataset"]["batch_size"] == data["batch_size"]
    assert config["seed"] == peer["seed_everything"]
    assert config["backbone"]["name"] == model["backbone"] and config["backbone"]["weights"] == "auto"
    if "backbone_num_frames" in model:
        assert config["backbone"]["num_frames"] == model["backbone_num_frames"] == 3


@needs_shared
def test_ignored_labels_match_the_peer_in_the_named_datasets(tmp_path: Path) -> None:
    """The peer ignores label -1 (no data; crops: 0 - 1); geofm's named datasets ignore the same pixels."""
    from geofm.registry import get_registry

    named = {
        "sen1floods11_vit": "sen1floods11",
        "burn_scars": "hls_burn_scars",
        "multi_temporal_crop": "multi_temporal_crop",
    }
    for name, dataset in named.items():
        migration = translate(PEER / f"{name}.yaml", data_root=tmp_path)
        assert migration.config["dataset"]["name"] == dataset
        entry = migration.report.entry("model.ignore_index")
        assert entry.status == "defaulted" and "(-1)" in entry.why and entry.value == -1
        assert get_registry("datasets").get(dataset).ignore_index == 255
    crop = translate(PEER / "multi_temporal_crop.yaml", data_root=tmp_path).report
    assert "mask 0 is no data" in crop.entry("data.reduce_zero_label").why


# --- behaviour on edited configurations ------------------------------------------------------------------


def _edited(tmp_path: Path, name: str, edit: Any) -> Path:
    peer = _peer(name)
    edit(peer)
    path = tmp_path / f"{name}_edited.yaml"
    path.write_text(yaml.safe_dump(peer, sort_keys=False))
    return path


@needs_shared
def test_unknown_backbone_and_a_decoder_geofm_lacks_exit_1(cli, tmp_path: Path) -> None:
    def edit(peer: dict[str, Any]) -> None:
        peer["model"]["init_args"]["model_args"].update(backbone="satmae_vit_large", decoder="SatMAEHead")

    path = _edited(tmp_path, "burn_scars", edit)
    result = cli("migrate", str(path), "--data-root", str(tmp_path), "-o", str(tmp_path / "run.yaml"))
    assert result.returncode == 1, result.stderr
    assert "geofm has no backbone 'satmae_vit_large'" in result.stderr and "geofm backbones list" in result.stderr
    assert "geofm has no decoder like SatMAEHead" in result.stderr
    assert "NOT THE SAME EXPERIMENT" in result.stderr and "Traceback" not in result.stderr
    refused = cli("run", "--config", str(path), "--data-root", str(tmp_path), "--out", str(tmp_path / "runs"))
    assert refused.returncode == 1 and "cannot run as the same experiment" in refused.stderr
    assert len([line for line in refused.stderr.splitlines() if line.startswith("error:")]) == 1
    assert not (tmp_path / "runs").exists()


@needs_shared
@pytest.mark.parametrize(
    ("edit", "key", "phrase"),
    [
        (lambda p: p["model"]["init_args"].update(freeze_head=True), "model.freeze_head", "cannot freeze"),
        (lambda p: p["model"]["init_args"].update(loss="jaccard"), "model.loss", "no jaccard loss"),
        (lambda p: p["optimizer"].update(class_path="torch.optim.RMSprop"), "optimizer", "not RMSprop"),
        (lambda p: p["model"]["init_args"]["model_args"]["necks"].insert(2, {"name": "MaxpoolToPyramidal"}),
         "model.model_args.necks[2].name", "no neck like MaxpoolToPyramidal"),
        (lambda p: p["data"]["init_args"].update(num_classes=3), "data.num_classes", "has 2 classes"),
        (lambda p: p["data"]["init_args"].update(mystery_option=1), "data.mystery_option", "cannot tell"),
        (lambda p: p["trainer"]["callbacks"].append({"class_path": "StochasticWeightAveraging"}),
         "trainer.callbacks[3]", "no callback like"),
    ],
)  # fmt: skip
def test_what_changes_the_experiment_blocks(tmp_path: Path, edit: Any, key: str, phrase: str) -> None:
    migration = translate(_edited(tmp_path, "burn_scars", edit), data_root=tmp_path)
    blocking = {e.key: e.why for e in migration.report.blocking}
    assert key in blocking and phrase in blocking[key], blocking


@needs_shared
def test_optimiser_plateau_factor_and_frozen_decoder_carry_over_exactly(tmp_path: Path) -> None:
    def adam(peer: dict[str, Any]) -> None:
        peer["model"]["init_args"]["freeze_decoder"] = True
        peer["lr_scheduler"]["init_args"]["factor"] = 0.5

    migration = translate(_edited(tmp_path, "burn_scars", adam), data_root=tmp_path)
    task = migration.config["task"]
    assert migration.same_experiment
    assert task["optimizer"] == "adam" and task["weight_decay"] == 0.05  # the peer's Adam with L2 decay
    assert task["freeze_decoder"] is True and task["scheduler_factor"] == 0.5

    def sgd(peer: dict[str, Any]) -> None:
        peer["optimizer"] = {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.01, "momentum": 0.8}}

    (tmp_path / "sgd").mkdir()
    migration = translate(_edited(tmp_path / "sgd", "burn_scars", sgd), data_root=tmp_path)
    task = migration.config["task"]
    assert migration.same_experiment
    assert (task["optimizer"], task["lr"], task["momentum"], task["weight_decay"]) == ("sgd", 0.01, 0.8, 0.0)


@needs_shared
def test_adam_without_decay_is_adamw_and_peer_defaults_are_explicit(tmp_path: Path) -> None:
    def edit(peer: dict[str, Any]) -> None:
        del peer["optimizer"]["init_args"]["weight_decay"], peer["lr_scheduler"], peer["trainer"]["max_epochs"]
        del peer["trainer"]["callbacks"][2], peer["seed_everything"]

    migration = translate(_edited(tmp_path, "burn_scars", edit), data_root=tmp_path)
    assert migration.same_experiment
    assert migration.report.entry("optimizer").status == "defaulted"
    task, trainer = migration.config["task"], migration.config["trainer"]
    assert task["weight_decay"] == 0.0 and task["scheduler"] == "none"  # torch's Adam, no schedule
    assert trainer["max_epochs"] == 1000 and trainer["early_stopping_patience"] is None  # Lightning's default
    assert migration.report.entry("(peer default) seed_everything").status == "not carried over"


@needs_shared
def test_placeholders_and_missing_paths_are_reported_before_running(cli, tmp_path: Path) -> None:
    config = PEER / "sen1floods11_vit.yaml"
    unfilled = translate(config).report
    assert unfilled.unfilled_placeholders == ["<sen1floods11_root>"]
    result = cli("migrate", str(config))
    assert result.returncode == 0 and "placeholder <sen1floods11_root> is not filled" in result.stderr
    assert yaml.safe_load(result.stdout)["dataset"]["name"] == "sen1floods11"  # the configuration on stdout
    runs = tmp_path / "runs"
    no_root = cli("run", "--config", str(config), "--out", str(runs))
    assert no_root.returncode == 1 and "pass --data-root DIR" in no_root.stderr
    missing = cli("run", "--config", str(config), "--data-root", str(tmp_path / "nowhere"), "--out", str(runs))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert str(tmp_path / "nowhere" / "v1.1" / "data" / "flood_events" / "HandLabeled" / "S2Hand") in missing.stderr
    assert "Traceback" not in missing.stderr and not runs.exists()


@needs_shared
def test_written_config_is_a_geofm_config(cli, tmp_path: Path) -> None:
    from geofm.config import load_config, validate_config
    from geofm.migrate import is_peer_config

    out = tmp_path / "run.yaml"
    result = cli("migrate", str(PEER / "burn_scars.yaml"), "--data-root", str(tmp_path), "-o", str(out),
                 "--set", "trainer.devices=1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = load_config(out)
    assert not is_peer_config(data) and validate_config(data).trainer.devices == 1
    assert f"wrote {out}" in result.stderr and result.stdout == ""
    as_json = cli("migrate", str(PEER / "burn_scars.yaml"), "--data-root", str(tmp_path), "--json")
    report = json.loads(as_json.stdout)["report"]
    assert report["blocking"] == [] and {"key", "status", "target", "why"} <= set(report["entries"][0])
    again = cli("migrate", str(out))
    assert again.returncode == 1 and "is not a TerraTorch (LightningCLI) configuration" in again.stderr


def test_migrate_does_not_import_torch(tmp_path: Path) -> None:
    peer = {
        "model": {"class_path": "terratorch.tasks.SemanticSegmentationTask",
                  "init_args": {"model_args": {"backbone": "prithvi_eo_v2_300_tl", "decoder": "UperNetDecoder",
                                               "num_classes": 2}}},
        "data": {"class_path": "Sen1Floods11NonGeoDataModule", "init_args": {"data_root": "<root>", "bands": HLS}},
    }  # fmt: skip
    path = tmp_path / "peer.yaml"
    path.write_text(yaml.safe_dump(peer))
    probe = (
        f"import sys\nsys.argv = ['geofm', 'migrate', {str(path)!r}, '--data-root', {str(tmp_path)!r}]\n"
        "from geofm_cli.app import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'lightning', 'rasterio') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy), file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert "HEAVY=\n" in result.stderr + "\n", result.stderr
    config = yaml.safe_load(result.stdout)
    assert config["backbone"]["name"] == "prithvi_eo_v2_300_tl" and config["decoder"]["name"] == "upernet"
    assert config["dataset"]["scale"] == 0.0001  # the peer module's constant scale and statistics
    assert config["dataset"]["mean"][0] == 0.1412956 and config["dataset"]["std"][-1] == 0.07659938


def test_a_geofm_config_is_not_translated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a TerraTorch"):
        translate({"backbone": {"name": "tiny_vit"}, "trainer": {"max_epochs": 1}}, name="run.yaml")


# --- generated chips in each configuration's layout ------------------------------------------------------

HAND = Path("v1.1/data/flood_events/HandLabeled")
S1F11_SPLITS = Path("v1.1/splits/flood_handlabeled")


def _sen1floods11_lists(root: Path, ids: dict[str, list[str]], suffix: str = ".csv") -> None:
    (root / S1F11_SPLITS).mkdir(parents=True, exist_ok=True)
    for split, names in ids.items():
        text = "".join(f"{i}_S1Hand.tif,{i}_LabelHand.tif\n" if suffix == ".csv" else f"{i}\n" for i in names)
        (root / S1F11_SPLITS / f"flood_{split}_data{suffix}").write_text(text)


def _sen1floods11_layout(root: Path) -> Path:
    rng = np.random.default_rng(0)
    ids = ["Ghana_1", "Ghana_2", "India_3", "Spain_4"]
    for chip in ids:
        (root / HAND / "S2Hand").mkdir(parents=True, exist_ok=True)
        (root / HAND / "LabelHand").mkdir(parents=True, exist_ok=True)
        write_geotiff(
            root / HAND / "S2Hand" / f"{chip}_S2Hand.tif", rng.integers(1, 3000, (13, 32, 32)).astype(np.int16)
        )
        label = rng.integers(0, 2, (32, 32)).astype(np.int16)
        label[:4] = -1
        write_geotiff(root / HAND / "LabelHand" / f"{chip}_LabelHand.tif", label)
    _sen1floods11_lists(root, {"train": ids[:2], "valid": ids[2:3], "test": ids[3:]})
    return root


def _burn_scars_layout(root: Path, *, tutorial: bool = False) -> Path:
    """``training/`` + ``validation/`` (the tarball), or the tutorial's ``hls_burn_scars/{data,splits}``."""
    rng = np.random.default_rng(1)
    ids = [f"subsetted_512x512_HLS.S30.T10SEH.2018{i:03d}.v1.4" for i in range(4)]
    folders = {
        i: ("hls_burn_scars/data" if tutorial else ("training" if n < 2 else "validation")) for n, i in enumerate(ids)
    }
    for chip, folder in folders.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        write_geotiff(root / folder / f"{chip}_merged.tif", rng.uniform(0, 0.4, (6, 32, 32)).astype(np.float32))
        mask = rng.integers(0, 2, (32, 32)).astype(np.int16)
        mask[:4] = -1
        write_geotiff(root / folder / f"{chip}.mask.tif", mask)
    if tutorial:
        (root / "hls_burn_scars" / "splits").mkdir(parents=True)
        for split, chosen in (("train", ids[:2]), ("val", ids[2:3]), ("test", ids[3:])):
            (root / "hls_burn_scars" / "splits" / f"{split}.txt").write_text("\n".join(chosen) + "\n")
    return root


def _crop_layout(root: Path) -> Path:
    rng = np.random.default_rng(2)
    for folder, names, listing in (
        ("training_chips", ["chip_1_1", "chip_1_2"], "training_data.txt"),
        ("validation_chips", ["chip_2_1"], "validation_data.txt"),
    ):
        (root / folder).mkdir(parents=True)
        for chip in names:
            image = rng.integers(100, 4000, (18, 32, 32)).astype(np.int16)
            write_geotiff(root / folder / f"{chip}_merged.tif", image, nodata=-9999)
            write_geotiff(root / folder / f"{chip}.mask.tif", rng.integers(0, 14, (32, 32)).astype(np.uint8))
        (root / folder / listing).write_text("".join(f"{c}_merged.tif\n" for c in names))  # the peer's lists
    return root


LAYOUTS = {
    "sen1floods11_vit": (_sen1floods11_layout, "sen1floods11"),
    "burn_scars": (_burn_scars_layout, "hls_burn_scars"),
    "multi_temporal_crop": (_crop_layout, "multi_temporal_crop"),
    "prithvi_v2_eo_300_tl_unet_burnscars": (
        lambda root: _burn_scars_layout(root, tutorial=True),
        "geotiff_segmentation",
    ),
}


def _run_peer(cli: Any, name: str, root: Path, runs: Path, *extra: str) -> dict[str, Any]:
    result = cli("run", "--config", str(PEER / f"{name}.yaml"), "--data-root", str(root), "--fast-dev-run",
                 "--out", str(runs), "--json", *TINY, *extra)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "migration report for" in result.stderr and "the same experiment" in result.stderr
    return json.loads(result.stdout)


@needs_shared
@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIGS)
def test_peer_config_runs_on_generated_chips(cli, tmp_path: Path, name: str) -> None:
    make, dataset = LAYOUTS[name]
    root = make(tmp_path / "data")
    summary = _run_peer(cli, name, root, tmp_path / "runs")
    assert summary["dataset"] == dataset and summary["bands"] == HLS
    assert summary["backbone"] == "prithvi_eo_v2_300" and summary["pretrained"] is False
    recorded = yaml.safe_load((Path(summary["run_dir"]) / "config.yaml").read_text())
    peer = _peer(name)["data"]["init_args"]
    assert recorded["dataset"]["mean"] == peer["means"] and recorded["dataset"]["std"] == peer["stds"]
    assert recorded["task"]["num_outputs"] == peer["num_classes"]
    assert {"miou", "accuracy"} <= set(summary["test"])


@needs_shared
@pytest.mark.slow
@pytest.mark.skipif(not REAL_S1F11.is_dir(), reason=f"{REAL_S1F11} is absent")
def test_sen1floods11_config_runs_on_the_real_chip_in_the_publishers_layout(cli, tmp_path: Path) -> None:
    chip = "Spain_7370579"
    for folder, source in (("S2Hand", "S2"), ("S1Hand", "S1"), ("LabelHand", "Labels")):
        (tmp_path / HAND / folder).mkdir(parents=True)
        (tmp_path / HAND / folder / f"{chip}_{folder}.tif").symlink_to(REAL_S1F11 / source / f"{chip}_{folder}.tif")
    _sen1floods11_lists(tmp_path, {s: [chip] for s in ("train", "valid", "test")})
    summary = _run_peer(cli, "sen1floods11_vit", tmp_path, tmp_path / "runs", "--set", "dataset.crop_size=128")
    assert summary["dataset"] == "sen1floods11" and summary["bands"] == HLS
    assert 0.0 <= summary["test"]["miou"] <= 1.0


@needs_shared
def test_split_lists_that_differ_from_the_publishers_keep_the_generic_dataset(tmp_path: Path) -> None:
    root = _sen1floods11_layout(tmp_path)
    same = {"train": ["Ghana_1", "Ghana_2"], "valid": ["India_3"], "test": ["Spain_4"]}
    _sen1floods11_lists(root, same, suffix=".txt")  # what the peer's conversion script writes
    named = translate(PEER / "sen1floods11_vit.yaml", data_root=root)
    assert named.config["dataset"]["name"] == "sen1floods11"
    _sen1floods11_lists(root, {**same, "train": ["Ghana_1"]}, suffix=".txt")  # a train list of its own
    generic = translate(PEER / "sen1floods11_vit.yaml", data_root=root)
    dataset = generic.config["dataset"]
    assert dataset["name"] == "geotiff_segmentation" and generic.same_experiment
    assert dataset["split_files"]["train"].endswith("flood_train_data.txt")
    assert dataset["image_suffix"] == "_S2Hand" and dataset["label_suffix"] == "_LabelHand"
    assert dataset["file_bands"][8] == "NIR_NARROW" and dataset["bands"] == HLS
    assert dataset["scale"] == 0.0001 and dataset["ignore_index"] == -1


@pytest.mark.parametrize(
    ("peer_name", "geofm_name"),
    [
        ("prithvi_eo_v2_300_tl", "prithvi_eo_v2_300_tl"),
        ("terratorch_prithvi_eo_v2_600", "prithvi_eo_v2_600"),
        ("prithvi_eo_v1_100", "prithvi_eo_v1_100"),
        ("clay_v1", "clay_v1_base"),
        ("clay_v1.5", "clay_v1_5_large"),
        ("timm_resnet50", "timm_resnet50"),
        ("resnet18", "timm_resnet18"),
        ("smp_resnet50", "timm_resnet50"),
        ("efficientnet-b0", "timm_efficientnet_b0"),
        ("timm_convnext_tiny", "timm_convnext_tiny"),
        ("satlas_swin_b", None),
    ],
)
def test_backbone_names(peer_name: str, geofm_name: str | None) -> None:
    from geofm.migrate.model_map import geofm_backbone_name

    assert geofm_backbone_name(peer_name) == geofm_name


def _smp_peer(root: str) -> dict[str, Any]:
    return {
        "seed_everything": 1,
        "model": {
            "class_path": "terratorch.tasks.SemanticSegmentationTask",
            "init_args": {
                "model_factory": "SMPModelFactory",
                "model_args": {"backbone": "resnet50", "model": "Unet", "pretrained": True, "bands": HLS,
                               "in_channels": 6, "num_classes": 2},
                "loss": "focal",
                "ignore_index": 255,
                "lr": 0.01,
            },
        },
        "data": {
            "class_path": "GenericNonGeoSegmentationDataModule",
            "init_args": {"batch_size": 2, "num_workers": 0, "train_data_root": f"{root}/images",
                          "val_data_root": f"{root}/images", "test_data_root": f"{root}/images",
                          "train_split": f"{root}/train.txt", "val_split": f"{root}/val.txt",
                          "test_split": f"{root}/test.txt", "img_grep": "*.tif", "means": [0.0] * 6,
                          "stds": [1.0] * 6, "num_classes": 2, "dataset_bands": HLS},
        },
    }  # fmt: skip


def test_smp_model_factory_and_the_task_optimiser_defaults() -> None:
    migration = translate(_smp_peer("<root>"), data_root="/data/x", name="smp.yaml")
    config, report = migration.config, migration.report
    assert migration.same_experiment, [e.key for e in report.blocking]
    assert config["backbone"] == {"name": "timm_resnet50", "weights": "none", "pretrained": True}
    assert config["decoder"]["name"] == "smp_unet" and config["task"]["loss"] == "focal"
    assert config["task"]["lr"] == 0.01 and config["task"]["weight_decay"] == 0.0  # the task's Adam, no decay
    assert report.entry("(peer default) optimizer").status == "defaulted"
    assert config["dataset"]["images"] == "/data/x/images/*.tif" and config["dataset"]["ignore_index"] == 255
    assert config["dataset"]["split_files"] == {s: f"/data/x/{s}.txt" for s in ("train", "val", "test")}
    assert "/data/x/images" in report.missing_paths


def test_interpolated_pyramid_keeps_the_peers_scales() -> None:
    peer = _smp_peer("/data")
    peer["model"]["init_args"]["model_factory"] = "EncoderDecoderFactory"
    peer["model"]["init_args"]["model_args"] = {
        "backbone": "prithvi_eo_v2_100_tl",
        "backbone_coords_encoding": ["time", "location"],
        "necks": [{"name": "SelectIndices", "indices": [2, 5, 8, 11]}, {"name": "ReshapeTokensToImage"},
                  {"name": "InterpolateToPyramidal"}],
        "decoder": "UperNetDecoder",
        "decoder_channels": 128,
        "num_classes": 2,
    }  # fmt: skip
    migration = translate(peer, name="vit.yaml")
    assert migration.same_experiment, [e.key for e in migration.report.blocking]
    assert migration.config["necks"][2] == {"name": "interpolate_pyramid", "scales": [16.0, 8.0, 4.0, 2.0]}
    assert migration.config["decoder"] == {"name": "upernet", "channels": 128}
    assert migration.report.entry("model.model_args.backbone_coords_encoding").status == "defaulted"
