"""Shared fixtures: the local fake of Google's APIs (``fake_google``/``fake``, ``gsheets_store_factory``/
``factory``) and a machine whose clock runs in UTC (``utc_machine``)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

pytest_plugins = ["fakes.google_api"]


@pytest.fixture
def utc_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The server's zone is UTC (TZ=UTC): what the desk's clock must not depend on."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
