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
    import torch

    armed = tmp_path / "armed.pt"
    torch.save({"cls_token": _TouchOnUnpickle(tmp_path / "proof")}, armed)
    torch.load(armed, weights_only=False)  # the payload is live: a full unpickle runs it
    assert (tmp_path / "proof").exists()

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
