from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import kit


def pytest_addoption(parser):
    parser.addoption("--long", action="store_true",
                     help="run the full reliability suite (tests/reliability) instead of its short version")


def pytest_configure(config):
    # read at import time by tests/reliability (scale()), so set before collection
    if config.getoption("--long"):
        os.environ["ISHOWTTS_LONG"] = "1"


@pytest.fixture(autouse=True)
def _logging_as_it_was():
    """A test that runs a command in-process configures logging for the whole
    process, bound to that test's captured output, which is closed after it:
    every later log line would fail. Put structlog's configuration and the
    root logger's handlers back after each test."""
    import logging

    import structlog

    config, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> tuple[Path, Path]:
    return kit.build_tiny_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="session")
def voices_dir(tmp_path_factory) -> Path:
    return kit.make_voices_dir(tmp_path_factory.mktemp("voices") / "voices")


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory, tiny_weights, voices_dir) -> Path:
    """A config file that points at the tiny model."""
    path = tmp_path_factory.mktemp("config") / "ishowtts.toml"
    path.write_text(kit.tiny_config_text(*tiny_weights, voices_dir), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_loaded(tiny_config):
    from ishowtts_live.app import load_checked

    return load_checked(str(tiny_config))


@pytest.fixture(scope="session")
def engine(tiny_loaded):
    """One loaded tiny engine for the whole session (loading takes seconds)."""
    from ishowtts_live.synth.engine import load_engine

    return load_engine(tiny_loaded)


@pytest.fixture
def fake_synth(tiny_loaded):
    """A FakeSynthesizer with the test voices (tones, no model)."""
    from ishowtts_live.synth import voices

    return kit.FakeSynthesizer(voices=voices.discover(tiny_loaded.config.voices.dir))


@pytest.fixture(scope="session")
def pulse(tmp_path_factory):
    """A private PulseAudio server with the `ishowtts` null sink (skips where
    PulseAudio is not installed; CI installs it)."""
    from tests.pulse import PulseServer

    if not PulseServer.available():
        pytest.skip("PulseAudio is not installed (apt-get install pulseaudio pulseaudio-utils)")
    server = PulseServer(tmp_path_factory.mktemp("pulse")).start()
    yield server
    server.stop()
