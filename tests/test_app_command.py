"""The dashboard's command (app/command.py): its options and its process handling."""
from __future__ import annotations

import argparse

import pytest

from app.command import add_arguments
from app.settings import AppSettings
from engine.backends import base
from engine.config import ConfigError


def test_backend_choices_come_from_the_registry(monkeypatch):
    monkeypatch.setitem(base._REGISTRY, "numpyref", "somewhere:NumpyBackend")
    p = argparse.ArgumentParser()
    add_arguments(p)
    assert p.parse_args(["--backend", "numpyref"]).backend == "numpyref"
    assert AppSettings(backend="numpyref").backend == "numpyref"


def test_settings_refuse_an_unknown_backend():
    with pytest.raises(ConfigError, match="unknown backend 'nope'"):
        AppSettings(backend="nope")
    assert AppSettings().backend is None
