"""The device profiles shipped next to the default config."""

from __future__ import annotations

import msgspec

from ishowtts_live.app import load_checked
from ishowtts_live.compat import tomllib
from ishowtts_live.config.schema import Config
from ishowtts_live.synth.buckets import batch_sizes
from tests import kit
from tests.config.test_loading import _flatten

JETSON = kit.ROOT / "config" / "jetson-orin-nano.toml"


def test_jetson_profile_passes_config_check_and_only_overrides():
    """config/jetson-orin-nano.toml passes `config check` as the config file
    itself; every key it sets but the NFE it pins differs from the default (nothing
    stale), and
    what it promises holds: NFE 7 with no second NFE for the backlog, four
    buckets up to 18 s, batches of 1 or 2 — 8 warmed shapes instead of the
    default's 48 — and a longer systemd allowance per warm-up step."""
    r = kit.run_cli("config", "check", "--config", str(JETSON))
    assert (r.returncode, r.stdout.strip()) == (0, f"{JETSON}: ok"), r.stderr

    profile = _flatten(tomllib.loads(JETSON.read_text(encoding="utf-8")))
    defaults = _flatten(msgspec.to_builtins(Config()))
    assert set(profile) <= set(defaults)
    # NFE 7 is the default too: pinned, because the profile's reasoning depends on it
    assert {k for k, v in profile.items() if v == defaults[k]} == {"engine.nfe_step"}

    def warmed_shapes(cfg: Config) -> int:  # CUDA graphs: each (NFE, bucket, batch size) above the default voice
        nfes = {cfg.engine.nfe_step, min(cfg.engine.nfe_step, cfg.backlog.nfe_floor)}
        buckets = [b for b in cfg.engine.buckets_s if b > 6.8]
        return len(nfes) * len(buckets) * len(batch_sizes(cfg.engine.max_batch))

    cfg = load_checked(str(JETSON)).config
    assert (cfg.engine.nfe_step, cfg.backlog.nfe_floor, cfg.engine.max_batch) == (7, 7, 2)
    assert cfg.engine.buckets_s == [9.0, 12.0, 15.0, 18.0] and cfg.engine.dtype == "fp16"
    assert (warmed_shapes(cfg), warmed_shapes(Config())) == (8, 48)
    assert cfg.daemon.warmup_step_timeout_s == 1800.0
    # a later chunk of the default voice (6.8 s reference) fits the 15 s bucket, with room for a misestimate
    assert 6.8 + cfg.engine.chunk_s <= 15.0
