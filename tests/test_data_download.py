"""``geofm data download``: hub snapshot into the dataset folder, archives unpacked safely, clear errors.

No network: ``huggingface_hub.snapshot_download`` is replaced by a function that writes files.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from geofm.data.download import dataset_dir, download_dataset, extract_archives
from geofm.errors import DataError
from geofm.hookspecs import hookimpl
from geofm.specs import DatasetSpec
from geofm.testing.isolation import isolated_plugins
from geofm_cli import data as cli_data

HUB_SPEC = DatasetSpec(
    name="fake_hub",
    summary="a dataset on a (fake) Hugging Face dataset repository",
    factory="builtins:dict",
    hub_repo="someone/fake-dataset",
    hub_patterns=("data/*", "splits/*"),
    layout="data/ and splits/",
)
MANUAL_SPEC = DatasetSpec(
    name="fake_manual",
    summary="a dataset only its publisher's site offers",
    factory="builtins:dict",
    homepage="https://example.org/fake",
    download="request access at https://example.org/fake/form and unpack it",
)


class FakePlugin:
    __name__ = "fake_download_plugin"

    @hookimpl
    def geofm_datasets(self) -> list[DatasetSpec]:
        return [HUB_SPEC, MANUAL_SPEC]


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as handle:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            handle.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as handle:
        for name, content in members.items():
            handle.writestr(name, content)
    return buffer.getvalue()


class FakeSnapshot:
    """Stands in for ``huggingface_hub.snapshot_download``: records its arguments and writes the repo's files."""

    def __init__(self, files: dict[str, bytes] | None = None, error: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.error = error
        self.files = files or {
            "data/chips.tar.gz": _tar_gz({"chips/a.tif": b"A", "chips/b.tif": b"B"}),
            "data/labels.zip": _zip({"labels/a.tif": b"LA"}),
            "splits/train.txt": b"a\n",
        }

    def __call__(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        root = Path(kwargs["local_dir"])
        for name, content in self.files.items():  # like the hub client: unchanged files are left alone
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_file() or path.read_bytes() != content:
                path.write_bytes(content)
        return str(root)


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> FakeSnapshot:
    import huggingface_hub

    fake = FakeSnapshot()
    import geofm.hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("GEOFM_OFFLINE", raising=False)
    monkeypatch.setattr(geofm.hub, "hub_reachable", lambda: True)  # the fake hub answers
    return fake


def _invoke(*args: str) -> Any:
    with isolated_plugins(FakePlugin()):
        return CliRunner().invoke(cli_data.app, ["download", *args])


def test_download_fetches_the_repo_and_unpacks_archives(tmp_path: Path, fake_hub: FakeSnapshot) -> None:
    result = _invoke("fake_hub", "--data-root", str(tmp_path / "ds"))
    assert result.exit_code == 0, result.output
    assert fake_hub.calls == [
        {
            "repo_id": "someone/fake-dataset",
            "repo_type": "dataset",
            "allow_patterns": ["data/*", "splits/*"],
            "local_dir": str(tmp_path / "ds"),
        }
    ]
    root = tmp_path / "ds"
    assert (root / "data" / "chips" / "a.tif").read_bytes() == b"A"
    assert (root / "data" / "labels" / "a.tif").read_bytes() == b"LA"
    assert (root / "splits" / "train.txt").is_file()
    assert f"--data-root {root}" in result.output
    (root / "data" / "chips" / "a.tif").write_bytes(b"edited")
    assert _invoke("fake_hub", "--data-root", str(root)).exit_code == 0
    assert (root / "data" / "chips" / "a.tif").read_bytes() == b"edited", "archives are unpacked once"


def test_download_defaults_to_the_geofm_cache(tmp_path: Path, fake_hub: FakeSnapshot, monkeypatch) -> None:
    monkeypatch.setenv("GEOFM_CACHE", str(tmp_path / "cache"))
    result = _invoke("fake_hub", "--no-extract")
    assert result.exit_code == 0, result.output
    root = tmp_path / "cache" / "datasets" / "fake_hub"
    assert dataset_dir(HUB_SPEC) == root and fake_hub.calls[0]["local_dir"] == str(root)
    assert (root / "data" / "chips.tar.gz").is_file() and not (root / "data" / "chips").exists()


def test_offline_names_the_repository_and_does_not_call_the_hub(
    tmp_path: Path, fake_hub: FakeSnapshot, monkeypatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = _invoke("fake_hub", "--data-root", str(tmp_path))
    assert isinstance(result.exception, DataError)
    assert "HF_HUB_OFFLINE is set" in str(result.exception) and "someone/fake-dataset" in str(result.exception)
    assert fake_hub.calls == []


def test_a_failed_download_names_the_repository(tmp_path: Path, fake_hub: FakeSnapshot) -> None:
    fake = FakeSnapshot(error=ConnectionError("no route to host"))
    with pytest.raises(DataError, match=r"someone/fake-dataset \(ConnectionError: no route to host\)") as info:
        download_dataset(HUB_SPEC, tmp_path, snapshot_download=fake)
    assert isinstance(info.value.__cause__, ConnectionError)


def test_a_dataset_without_a_hub_source_says_where_to_get_it(tmp_path: Path, fake_hub: FakeSnapshot) -> None:
    result = _invoke("fake_manual", "--data-root", str(tmp_path))
    assert isinstance(result.exception, DataError)
    message = str(result.exception)
    assert "no source geofm can download" in message
    assert "https://example.org/fake/form" in message and "https://example.org/fake" in message
    assert fake_hub.calls == []


def test_unknown_name_gets_close_matches(fake_hub: FakeSnapshot) -> None:
    result = _invoke("fake_hbu")
    assert "fake_hub" in str(result.exception) and "geofm datasets list" in str(result.exception)


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_unsafe_archive_members_are_refused(tmp_path: Path, kind: str) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    members = {"../../escaped.txt": b"x"}
    name = "bad.tar.gz" if kind == "tar" else "bad.zip"
    (root / "sub" / name).write_bytes(_tar_gz(members) if kind == "tar" else _zip(members))
    with pytest.raises(DataError, match="unsafe member"):
        extract_archives(root)
    assert not (tmp_path / "escaped.txt").exists()


def test_a_corrupt_archive_says_to_download_again(tmp_path: Path) -> None:
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="incomplete or corrupt"):
        extract_archives(tmp_path)


def test_generated_datasets_are_not_downloaded(cli) -> None:
    result = cli("data", "download", "demo")
    assert result.returncode == 1
    assert "generated" in result.stderr and "geofm run --dataset demo" in result.stderr
    assert "Traceback" not in result.stderr


def test_data_help_does_not_import_heavy_libraries() -> None:
    probe = (
        "import sys\n"
        "sys.argv = ['geofm', 'data', 'download', '--help']\n"
        "from geofm_cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('HEAVY=' + ','.join(m for m in ('torch', 'rasterio', 'lightning', 'huggingface_hub') "
        "if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert "HEAVY=\n" in result.stderr + "\n" and "--data-root" in result.stdout, result.stderr
