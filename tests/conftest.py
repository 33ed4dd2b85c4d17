"""Shared fixtures: a fresh runtime home and warehouse per test."""

from __future__ import annotations

import pytest

from mianshen_pipeline.paths import Home
from mianshen_pipeline.warehouse import connect


@pytest.fixture
def home(tmp_path, monkeypatch) -> Home:
    root = tmp_path / "home"
    monkeypatch.setenv("MIANSHEN_HOME", str(root))
    monkeypatch.setenv("MIANSHEN_DROP_STABLE_SECONDS", "0")
    (tmp_path / "dagster").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    return Home(root).ensure()


@pytest.fixture
def con(home):
    with connect(home.warehouse) as connection:
        yield connection
