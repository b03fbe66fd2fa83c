"""LoRA fine-tuning: peft adapters on any backbone's attention layers, rebuilt from config.yaml, merged on export."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from geofm.config import validate_config  # noqa: E402
from geofm.errors import ConfigError  # noqa: E402

HLS = ["BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"]
SIZE = 64


def _model_config(backbone: dict[str, Any], **task: Any) -> Any:
    """A resolved-looking run configuration: what build_run_model needs, no data."""
    return validate_config(
        {
            "backbone": {"weights": "none", **backbone},
            "decoder": {"name": "upernet"},
            "dataset": {"bands": HLS},
            "task": {"name": "segmentation", "num_outputs": 3, **task},
        }
    )


def _adapted(module: Any) -> list[str]:
    return sorted(name for name, m in module.named_modules() if hasattr(m, "lora_A"))


def test_lora_is_a_backbone_section_not_a_factory_option() -> None:
    from geofm.config import apply_overrides, parse_override

    data = apply_overrides({}, [parse_override("backbone.lora.rank=8"), parse_override("backbone.lora.mlp=true")])
    config = validate_config(data)
    assert config.backbone.lora is not None and config.backbone.lora.rank == 8 and config.backbone.lora.mlp
    assert config.backbone.lora.alpha is None and config.backbone.lora.dropout == 0.0
    assert "lora" not in config.backbone.options()
    with pytest.raises(ConfigError, match=r"backbone\.lora\.rank'\?"):
        validate_config({"backbone": {"lora": {"rank": 2, "rnk": 3}}})
    with pytest.raises(ConfigError, match=r"backbone\.lora\.rank"):
        validate_config({"backbone": {"lora": {"rank": 0}}})


def test_tiny_vit_upernet_trains_only_adapters_decoder_and_head() -> None:
    from geofm.run_model import build_run_model

    model = build_run_model(_model_config({"name": "tiny_vit", "lora": {"rank": 4}}))
    backbone = dict(model.backbone.named_parameters())
    assert {n for n, p in backbone.items() if p.requires_grad} == {n for n in backbone if "lora_" in n}
    assert _adapted(model.backbone) == sorted(f"blocks.{i}.attn.{p}" for i in range(4) for p in ("qkv", "proj"))
    assert all(p.requires_grad for p in model.decoder.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    output = model(torch.randn(2, 6, 32, 32))
    output.sum().backward()
    assert all(p.grad is None for n, p in backbone.items() if "lora_" not in n)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in backbone.items() if "lora_B" in n)


def test_freeze_backbone_with_lora_is_refused() -> None:
    from geofm.run_model import build_run_model

    with pytest.raises(ConfigError, match="freeze_backbone"):
        build_run_model(_model_config({"name": "tiny_vit", "lora": {"rank": 4}}, freeze_backbone=True))


def test_a_backbone_without_linear_layers_is_one_line_naming_the_targets() -> None:
    from geofm.run_model import build_run_model

    with pytest.raises(ConfigError) as caught:
        build_run_model(_model_config({"name": "timm_resnet18", "lora": {"rank": 4}}))
    message = str(caught.value)
    assert "\n" not in message and "timm_resnet18" in message
    assert "attn.qkv" in message and "attn.proj" in message and "backbone.lora" in message


def test_unmatched_targets_list_the_backbone_linear_layers() -> None:
    from geofm.compose import build_backbone
    from geofm.lora import apply_lora

    backbone = build_backbone("tiny_vit", weights="none", bands=HLS)
    with pytest.raises(ConfigError) as caught:
        apply_lora(backbone, {"rank": 4, "targets": ["attention"]}, name="tiny_vit")
    message = str(caught.value)
    assert "\n" not in message and "backbone.lora.targets" in message and "blocks.0.attn.qkv" in message


def test_targets_replace_the_attention_defaults_and_mlp_adds_to_them() -> None:
    from geofm.compose import build_backbone
    from geofm.lora import lora_targets

    backbone = build_backbone("tiny_vit", weights="none", bands=HLS)
    first = lora_targets(backbone, {"rank": 2, "targets": ["blocks.0.attn.*"]})
    assert first == ["blocks.0.attn.qkv", "blocks.0.attn.proj"]
    both = lora_targets(backbone, {"rank": 2, "targets": ["qkv"], "mlp": True})
    assert both == [f"blocks.{i}.{n}" for i in range(4) for n in ("attn.qkv", "mlp.fc1", "mlp.fc2")]
    with pytest.raises(ConfigError, match=r"backbone\.lora\.dropout"):
        lora_targets(backbone, {"rank": 2, "dropout": 1.5})


def test_without_peft_lora_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from geofm.compose import build_backbone
    from geofm.lora import apply_lora

    backbone = build_backbone("tiny_vit", weights="none", bands=HLS)
    monkeypatch.setitem(sys.modules, "peft", None)
    with pytest.raises(ConfigError, match=r"LoRA needs peft: pip install 'geofm\[lora\]'"):
        apply_lora(backbone, {"rank": 4})


@pytest.mark.parametrize(
    ("name", "options", "attention", "mlp"),
    [
        ("prithvi_eo_v2_tiny_tl", {"img_size": 32}, ("attn.qkv", "attn.proj"), ("mlp.fc1", "mlp.fc2")),
        ("clay_v1_base", {"dim": 64, "depth": 4, "heads": 2, "dim_head": 32}, ("to_qkv", "to_out"), ("net.1", "net.3")),
    ],
)
def test_plugin_backbones_get_adapters_on_their_attention(
    name: str, options: dict[str, Any], attention: tuple[str, ...], mlp: tuple[str, ...]
) -> None:
    from geofm.compose import build_backbone
    from geofm.lora import apply_lora, merge_lora

    backbone = build_backbone(name, weights="none", bands=HLS, **options).eval()
    blocks = sum(1 for n, _ in backbone.named_modules() if n.endswith(attention[0]))
    apply_lora(backbone, {"rank": 4, "mlp": True}, name=name)
    adapted = _adapted(backbone)
    assert blocks >= 4 and len(adapted) == 4 * blocks
    assert sorted({next(s for s in (*attention, *mlp) if n.endswith(s)) for n in adapted}) == sorted((*attention, *mlp))
    for module in backbone.modules():  # move the adapters away from zero: the merge must carry them
        if hasattr(module, "lora_B"):
            torch.nn.init.normal_(module.lora_B["default"].weight, std=0.05)
    image = torch.randn(1, 6, 32, 32)
    with torch.no_grad():
        adapted_features = backbone.forward_features(image)
        merge_lora(backbone)
        merged_features = backbone.forward_features(image)
    assert not _adapted(backbone) and not any("lora_" in k or "base_layer" in k for k in backbone.state_dict())
    for a, b in zip(adapted_features, merged_features, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_cli_lora_flag_on_prithvi_300_trains_under_two_percent(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import geofm.runner
    from geofm.run_model import build_run_model
    from geofm_cli.app import app

    given: dict[str, Any] = {}
    monkeypatch.setattr(geofm.runner, "run", lambda config, **_: given.update(config) or {"run_dir": "x"})
    result = CliRunner().invoke(app, ["run", "--backbone", "prithvi_eo_v2_300", "--weights", "none", "--lora", "8"])
    assert given["backbone"] == {"name": "prithvi_eo_v2_300", "weights": "none", "lora": {"rank": 8}}, result.output
    started = time.perf_counter()
    model = build_run_model(_model_config({**given["backbone"], "img_size": 224}))
    total = sum(p.numel() for p in model.backbone.parameters())
    trainable = sum(p.numel() for p in model.backbone.parameters() if p.requires_grad)
    assert total > 250e6 and 0 < trainable < 0.02 * total
    assert len(_adapted(model.backbone)) == 2 * 24
    assert time.perf_counter() - started < 120


def test_resume_refuses_a_lora_flag() -> None:
    from typer.testing import CliRunner

    from geofm_cli.app import app

    result = CliRunner().invoke(app, ["run", "--resume", "somewhere", "--lora", "4"])
    assert isinstance(result.exception, ConfigError) and "--lora" in str(result.exception)


def test_export_help_imports_neither_torch_nor_peft() -> None:
    import subprocess

    probe = (
        "import sys\nsys.argv = ['geofm', 'export', '--help']\nfrom geofm_cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('HEAVY=' + ','.join(m for m in ('torch', 'peft') if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert "--merge-lora" in result.stdout
    assert [line for line in result.stderr.splitlines() if line.startswith("HEAVY=")] == ["HEAVY="], result.stderr


def test_export_needs_merge_lora() -> None:
    from typer.testing import CliRunner

    from geofm_cli.app import app

    result = CliRunner().invoke(app, ["export", "somewhere", "--out", "elsewhere"])
    assert isinstance(result.exception, ConfigError) and "--merge-lora" in str(result.exception)


@pytest.mark.slow
def test_lora_run_evaluates_resumes_predicts_and_exports_merged(tmp_path: Path) -> None:
    import rasterio
    import yaml
    from typer.testing import CliRunner

    import geofm
    from geofm.checkpoints import load_checkpoint
    from geofm.lora import merge_run
    from geofm.runner import evaluate
    from geofm_cli.app import app
    from geofm_datasets.demo import generate_demo

    root = generate_demo(tmp_path / "demo", num_scenes=12, size=SIZE)
    config = {
        "backbone": {"name": "tiny_vit", "lora": {"rank": 4}},
        "dataset": {"name": "demo", "data_root": str(root), "num_scenes": 12, "size": SIZE},
        "task": {"lr": 1e-2},  # adapters far from their zero start, so that merging them is tested
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "progress_bar": False, "accelerator": "cpu"},
        "out": str(tmp_path / "runs"),
    }
    config["dataset"].update(num_workers=0, batch_size=4)
    summary = geofm.run(config)
    run_dir = Path(summary["run_dir"])
    assert summary["status"] == "finished"

    state = load_checkpoint(run_dir / "checkpoints" / "best.ckpt")["state_dict"]
    lora_b = [v for k, v in state.items() if "lora_B" in k]
    assert len(lora_b) == 8 and any(v.abs().max() > 1e-3 for v in lora_b)
    assert any("lora_A" in k for k in state) and "model.backbone.blocks.0.attn.qkv.base_layer.weight" in state

    assert evaluate(run_dir, plots=False)["val"] == pytest.approx(summary["val"], rel=1e-5, abs=1e-6)

    resumed = geofm.run({"trainer": {"max_epochs": 2}}, resume=str(run_dir))
    assert resumed["status"] == "finished" and resumed["run_dir"] == str(run_dir)
    last = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert last["epoch"] == 1 and any("lora_A" in k for k in last["state_dict"])

    merged_dir = tmp_path / "merged"
    result = CliRunner().invoke(app, ["export", str(run_dir), "--merge-lora", "--out", str(merged_dir)])
    assert result.exit_code == 0, result.output
    merged_config = yaml.safe_load((merged_dir / "config.yaml").read_text())
    assert "lora" not in merged_config["backbone"] and merged_config["backbone"]["name"] == "tiny_vit"
    merged_state = load_checkpoint(merged_dir / "checkpoints" / "best.ckpt")["state_dict"]
    assert not any("lora_" in k or "base_layer" in k for k in merged_state)
    base = load_checkpoint(run_dir / "checkpoints" / "best.ckpt")["state_dict"]
    merged_qkv = merged_state["model.backbone.blocks.0.attn.qkv.weight"]
    assert not torch.allclose(merged_qkv, base["model.backbone.blocks.0.attn.qkv.base_layer.weight"])
    with pytest.raises(ConfigError, match="not trained with LoRA"):
        merge_run(merged_dir, tmp_path / "again")

    scenes = sorted((root / "images").glob("*.tif"))[:2]
    options = {"tile_size": SIZE, "overlap": 0, "output": "probabilities", "dtype": "float32"}
    lora_maps = geofm.predict(run_dir, scenes, tmp_path / "lora_maps", **options)
    merged_maps = geofm.predict(merged_dir, scenes, tmp_path / "merged_maps", **options)
    for lora_map, merged_map in zip(lora_maps, merged_maps, strict=True):
        with rasterio.open(lora_map) as a, rasterio.open(merged_map) as b:
            expected, got = a.read(), b.read()
        valid = np.isfinite(expected)
        assert valid.mean() > 0.5
        np.testing.assert_allclose(got[valid], expected[valid], atol=1e-4)
    assert evaluate(merged_dir, plots=False)["val"] == pytest.approx(evaluate(run_dir, plots=False)["val"], abs=1e-4)
