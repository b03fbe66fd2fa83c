"""geofm.predict.allocator: glibc's thresholds are fixed unless the user tuned them; geofm predict sets them."""

from __future__ import annotations

import platform

import pytest

from geofm.predict import allocator

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_thresholds_are_applied_on_glibc(monkeypatch) -> None:
    for name in allocator.USER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert allocator.keep_freed_memory() is True


@pytest.mark.parametrize("name", ["MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"])
def test_the_users_own_allocator_settings_rule(monkeypatch, name: str) -> None:
    monkeypatch.setenv(name, "glibc.malloc.trim_threshold=1000000" if name == "GLIBC_TUNABLES" else "1000000")
    assert allocator.keep_freed_memory() is False


def test_off_glibc_nothing_is_touched(monkeypatch) -> None:
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    assert allocator.keep_freed_memory() is False


def test_geofm_predict_keeps_freed_memory(monkeypatch, tmp_path) -> None:
    import importlib

    from typer.testing import CliRunner

    from geofm_cli.app import app

    package = importlib.import_module("geofm.predict")  # the package; the attribute geofm.predict is the function
    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: calls.append("allocator") or True)
    monkeypatch.setattr(package, "predict", lambda *args, **kwargs: calls.append("predict") or [])
    result = CliRunner().invoke(app, ["predict", str(tmp_path), "scene.tif", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert calls == ["allocator", "predict"]
