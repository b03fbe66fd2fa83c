import types
from pathlib import Path

import pytest

from geofm.errors import WeightsError
from geofm.hookspecs import hookimpl
from geofm.specs import BackboneSpec, WeightsSpec
from geofm.testing import isolated_plugins
from geofm.weights import cached_weights, import_weights, load_state_dict, resolve_weights

SPEC = BackboneSpec(
    name="fake_backbone",
    summary="",
    factory="a:b",
    weights={
        "default": WeightsSpec(
            tag="default",
            bands=("BLUE", "GREEN"),
            mean=(1.0, 2.0),
            std=(3.0, 4.0),
            hf_repo="nobody/fake-model",
            hf_file="fake.pt",
        )
    },
    default_weights="default",
)


TINY = {"embed_dim": 12, "depth": 1, "num_heads": 2}
"""A tiny_vit small enough to build in milliseconds."""


@pytest.fixture
def tagged_tiny_vit():
    """A tiny_vit with a weights tag (the real one has none), registered in an isolated registry."""
    spec = BackboneSpec(
        name="tagged_tiny_vit",
        summary="tiny_vit with released weights, for tests",
        factory="geofm.builtin.tiny_vit:build_tiny_vit",
        weights={
            "default": WeightsSpec(
                tag="default",
                bands=("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"),
                mean=(0.0,) * 6,
                std=(1.0,) * 6,
                hf_repo="nobody/tagged-tiny-vit",
                hf_file="tagged_tiny_vit.pt",
            )
        },
        default_weights="default",
        extra=TINY,
    )

    @hookimpl
    def geofm_backbones():
        return [spec]

    plugin = types.SimpleNamespace(__name__="tagged", geofm_backbones=geofm_backbones)
    with isolated_plugins(plugin, include_installed=False):
        yield spec


@pytest.fixture(autouse=True)
def _isolated_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("GEOFM_CACHE", str(tmp_path / "geofm-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_none_means_random_initialisation():
    resolved = resolve_weights(SPEC, "none")
    assert resolved.path is None and not resolved.pretrained


def test_auto_offline_without_cache_falls_back_loudly():
    with pytest.warns(UserWarning, match="RANDOM INITIALISATION.*nobody/fake-model.*geofm weights import"):
        resolved = resolve_weights(SPEC, "auto")
    assert not resolved.pretrained


def test_explicit_tag_offline_names_repo_file_and_import_command():
    with pytest.raises(WeightsError) as info:
        resolve_weights(SPEC, "default")
    message = str(info.value)
    assert "nobody/fake-model" in message and "fake.pt" in message
    assert "geofm weights import fake_backbone" in message


def test_imported_file_is_found_by_auto_and_by_tag(tmp_path, tagged_tiny_vit):
    import torch

    from geofm.builtin.tiny_vit import build_tiny_vit

    source = tmp_path / "download.pt"
    state = build_tiny_vit(**TINY).state_dict()
    torch.save(state, source)
    target = import_weights(tagged_tiny_vit, source)
    assert cached_weights(tagged_tiny_vit)["default"] == target
    for choice in ("auto", "default"):
        resolved = resolve_weights(tagged_tiny_vit, choice)
        assert resolved.pretrained and resolved.path == target
    assert torch.equal(load_state_dict(target)["cls_token"], state["cls_token"])


class _TouchOnUnpickle:
    """Unpickling this object creates ``marker``: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_import_never_unpickles_code(tmp_path, tagged_tiny_vit):
    import pickletools
    import zipfile

    import torch

    armed = tmp_path / "armed.pt"
    torch.save({"cls_token": _TouchOnUnpickle(tmp_path / "proof")}, armed)
    with zipfile.ZipFile(armed) as archive:  # the payload is armed: its pickle calls Path.touch (read, never run)
        data = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    assert any(arg == "touch" for _, arg, _ in pickletools.genops(data))

    marker = tmp_path / "MARKER"
    source = tmp_path / "evil.pt"
    torch.save({"cls_token": _TouchOnUnpickle(marker)}, source)
    with pytest.raises(WeightsError) as info:
        import_weights(tagged_tiny_vit, source)
    message = str(info.value)
    assert "\n" not in message and "evil.pt" in message and "Nothing was imported" in message
    assert not marker.exists()
    assert cached_weights(tagged_tiny_vit)["default"] is None


def test_import_refuses_a_state_dict_with_other_keys(tmp_path, tagged_tiny_vit):
    import torch

    source = tmp_path / "other_model.pt"
    torch.save({"encoder.weight": torch.randn(4, 4), "encoder.bias": torch.randn(4)}, source)
    with pytest.raises(WeightsError) as info:
        import_weights(tagged_tiny_vit, source)
    message = str(info.value)
    assert "\n" not in message
    assert "other_model.pt does not fit backbone tagged_tiny_vit" in message
    assert "missing keys" in message and "nothing was imported" in message
    assert cached_weights(tagged_tiny_vit)["default"] is None
    assert not any((tmp_path / "geofm-cache").rglob("*.pt*"))


def test_import_refuses_a_state_dict_of_another_size(tmp_path, tagged_tiny_vit):
    import torch

    from geofm.builtin.tiny_vit import build_tiny_vit

    source = tmp_path / "wider.pt"
    torch.save(build_tiny_vit(**{**TINY, "embed_dim": 24}).state_dict(), source)
    with pytest.raises(
        WeightsError, match=r"does not fit backbone tagged_tiny_vit.*shape mismatch.*nothing was imported"
    ):
        import_weights(tagged_tiny_vit, source)
    assert cached_weights(tagged_tiny_vit)["default"] is None


def test_explicit_path_and_bad_value(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(b"")
    assert resolve_weights(SPEC, str(path)).path == path
    with pytest.raises(WeightsError, match="neither a file"):
        resolve_weights(SPEC, str(tmp_path / "missing.pt"))


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match=r"broken\.pt.*corrupt"):
        load_state_dict(path)


def test_pickled_objects_are_refused(tmp_path):
    import torch

    path = tmp_path / "pickle.pt"
    torch.save({"callable": print}, path)
    with pytest.raises(WeightsError, match=r"refuses to unpickle|corrupt"):
        load_state_dict(path)


def _hub_spec(sha256: str | None) -> BackboneSpec:
    weights = WeightsSpec(
        tag="default",
        bands=("BLUE",),
        mean=(0.0,),
        std=(1.0,),
        hf_repo="nobody/pinned",
        hf_file="pinned.pt",
        sha256=sha256,
        revision="0123456789abcdef0123456789abcdef01234567",
    )
    return BackboneSpec(
        name="pinned", summary="", factory="a:b", weights={"default": weights}, default_weights="default"
    )


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """``hf_hub_download`` answering from a folder, with the hub reachable; records each request."""
    import huggingface_hub

    import geofm.hub

    requests = []

    def download(repo_id, filename, revision=None, **_):
        requests.append((repo_id, filename, revision))
        return str(tmp_path / "hub" / filename)

    (tmp_path / "hub").mkdir()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("GEOFM_OFFLINE", raising=False)
    monkeypatch.setattr(geofm.hub, "hub_reachable", lambda: True)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    return tmp_path / "hub", requests


def test_a_download_whose_sha256_differs_from_the_spec_is_rejected(fake_hub):
    import hashlib

    folder, requests = fake_hub
    (folder / "pinned.pt").write_bytes(b"the file as published")
    good = hashlib.sha256(b"the file as published").hexdigest()
    assert resolve_weights(_hub_spec(good), "default").pretrained
    assert requests[-1] == ("nobody/pinned", "pinned.pt", "0123456789abcdef0123456789abcdef01234567")

    (folder / "pinned.pt").write_bytes(b"a file changed on the hub")
    with pytest.raises(WeightsError, match="sha256 .* expected " + good):
        resolve_weights(_hub_spec(good), "default")


@pytest.mark.parametrize("variable", ["GEOFM_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_variables_stop_every_hub_request(fake_hub, monkeypatch, variable):
    _, requests = fake_hub
    monkeypatch.setenv(variable, "1")
    with pytest.raises(WeightsError, match=f"{variable} is set"):
        resolve_weights(_hub_spec(None), "default")
    assert requests == []


def test_an_unreachable_hub_is_one_message_and_no_request(fake_hub, monkeypatch):
    import geofm.hub

    _, requests = fake_hub
    monkeypatch.setattr(geofm.hub, "hub_reachable", lambda: False)
    with pytest.warns(UserWarning) as caught:
        resolved = resolve_weights(_hub_spec(None), "auto")
    assert not resolved.pretrained and requests == []
    (message,) = [str(w.message) for w in caught]
    assert "cannot be reached" in message and "geofm weights import pinned" in message and "\n" not in message


def test_the_hub_check_is_quick_and_made_once(monkeypatch):
    import socket
    import time

    import geofm.hub

    calls = []

    def refuse(address, timeout):
        calls.append(timeout)
        raise OSError("no route")

    geofm.hub.hub_reachable.cache_clear()
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("GEOFM_OFFLINE", raising=False)
    started = time.perf_counter()
    assert "cannot be reached" in (geofm.hub.offline_reason() or "")
    assert "cannot be reached" in (geofm.hub.offline_reason() or "")
    geofm.hub.hub_reachable.cache_clear()
    assert calls == [geofm.hub.HUB_CHECK_TIMEOUT_S] and time.perf_counter() - started < 1
