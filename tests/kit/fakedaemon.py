"""``python -m tests.kit.fakedaemon run --config F [-o key=value …]``: the
product's own command line in a real process, with the kit's
FakeSynthesizer in place of the engine.

For the process-level tests that are about the queue, the journal, signals,
the log or the control API and not about synthesis: they keep real
processes, real signals and ``kill -9``, and start in a second instead of
loading torch and the model. ``$ISHOWTTS_FAKE_SYNTH`` sets the fake's pace,
e.g. ``rtf=0.5,seconds_per_char=0.1`` (synthesis at half real time, a tenth
of a second of audio per character). Nothing here is reachable from the
product."""

from __future__ import annotations

import os
import sys

from ishowtts_live import app, cli
from tests.kit.daemon import fake_for

ENV = "ISHOWTTS_FAKE_SYNTH"


def fake_synthesizer(loaded, backend: str = "local"):
    pace = dict(item.split("=", 1) for item in os.environ.get(ENV, "").split(",") if "=" in item)
    return fake_for(loaded, **{key.strip(): float(value) for key, value in pace.items()})


if __name__ == "__main__":
    app.make_synthesizer = fake_synthesizer  # what Daemon builds when given no synthesizer
    cli._model_files = lambda loaded: None  # the fake needs no checkpoint or vocoder from the hub
    sys.exit(cli.main(sys.argv[1:]))
