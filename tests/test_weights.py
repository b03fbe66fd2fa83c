import pytest

from geofm.errors import WeightsError
from geofm.specs import BackboneSpec, WeightsSpec
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


def test_imported_file_is_found_by_auto_and_by_tag(tmp_path):
    import torch

    source = tmp_path / "download.pt"
    torch.save({"w": torch.ones(2)}, source)
    target = import_weights(SPEC, source)
    assert cached_weights(SPEC)["default"] == target
    for choice in ("auto", "default"):
        resolved = resolve_weights(SPEC, choice)
        assert resolved.pretrained and resolved.path == target
    assert torch.equal(load_state_dict(target)["w"], torch.ones(2))


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
