"""Shared fixtures: the local fake of Google's APIs (``fake_google``, ``gsheets_store_factory``)."""

pytest_plugins = ["fakes.google_api"]
