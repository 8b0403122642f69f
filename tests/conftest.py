"""Shared fixtures: the local fake of Google's APIs (``fake_google``/``fake``, ``gsheets_store_factory``/
``factory``) and a machine whose clock runs in UTC (``utc_machine``)."""

from __future__ import annotations

import os
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


# CI runs hypothesis with a fixed seed, so a submission's result does not depend on the draw; a
# developer's run explores new examples every time (and what it finds is a bug to fix, not to skip).
if os.environ.get("CI"):
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True)
    settings.load_profile("ci")
