"""Listing commands and --help must never import torch (nor numpy), and must be quick."""

import subprocess
import sys

import pytest

PROBE = """
import sys, time
sys.argv = ["geofm", *{args!r}]
from geofm_cli.app import main
try:
    main()
except SystemExit as exit:
    code = exit.code
HEAVY = ("torch", "lightning", "numpy", "rasterio", "timm", "segmentation_models_pytorch")
heavy = [m for m in HEAVY if m in sys.modules]
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["plugins"],
        ["backbones", "list"],
        ["decoders", "list"],
        ["datasets", "list", "--json"],
        ["necks", "show", "tokens_to_map"],
        ["backbones", "show", "tiny_vit"],
        ["run", "--help"],
        ["weights", "list"],
    ],
)
def test_listing_commands_do_not_import_heavy_libraries(args):
    result = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True)
    heavy_line = [line for line in result.stderr.splitlines() if line.startswith("HEAVY=")]
    assert heavy_line, result.stderr
    assert heavy_line[0] == "HEAVY=", f"{args} imported {heavy_line[0][6:]}"
    assert result.stdout.strip(), "the command printed nothing"


def test_unknown_backbone_exits_1_with_close_matches(cli, tmp_path):
    result = cli("run", "--backbone", "tiny_vt", "--out", str(tmp_path / "runs"))
    assert result.returncode == 1
    assert "tiny_vit" in result.stderr and "geofm backbones list" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists(), "a run that fails validation must write nothing"


def test_show_unknown_component_exits_1(cli):
    result = cli("decoders", "show", "upernt")
    assert result.returncode == 1 and "upernet" in result.stderr


def test_config_with_unknown_key_or_wrong_type_exits_1_naming_the_key(cli, tmp_path):
    bad_key = tmp_path / "bad_key.yaml"
    bad_key.write_text("trainer:\n  max_epocs: 3\n")
    result = cli("run", "--config", str(bad_key), "--out", str(tmp_path / "runs"))
    assert result.returncode == 1
    assert "trainer.max_epocs" in result.stderr and "trainer.max_epochs" in result.stderr

    bad_type = tmp_path / "bad_type.yaml"
    bad_type.write_text("dataset:\n  batch_size: many\n")
    result = cli("run", "--config", str(bad_type), "--out", str(tmp_path / "runs"))
    assert result.returncode == 1 and "dataset.batch_size" in result.stderr

    result = cli("run", "--set", "decoder.chanels=3", "--out", str(tmp_path / "runs"))
    assert result.returncode == 1 and "decoder.chanels" in result.stderr
    assert not (tmp_path / "runs").exists()
