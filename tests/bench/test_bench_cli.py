"""``ishowtts-live bench`` end to end on the tiny model: it measures ours and
upstream, writes JSON, Markdown, a plot and samples, and --compare works on
what it wrote. No timing is asserted: figures on a shared CPU say nothing."""

from __future__ import annotations

import json

import soundfile as sf

from tests import kit


def test_bench_runs_end_to_end_with_random_tiny_weights(tiny_config, tmp_path):
    """Random weights of the configured (tiny) architecture, ours vs upstream,
    every output file written, and the output says the weights are random."""
    out = tmp_path / "r.json"
    r = kit.run_cli(
        "bench", "--config", str(tiny_config), "--weights", "random", "--weights-dir", str(tmp_path / "w"),
        "--nfe", "2,3", "--runs", "1", "--warmup-runs", "0", "--cases", "short-zh", "--concurrency", "1,2",
        "--baseline", "upstream", "--json", str(out), "--plot", str(tmp_path / "p.png"),
        "--samples", str(tmp_path / "wav"), "-o", "engine.fast_path=on", "-o", "engine.buckets_s=[8.0,10.0]",
        env={"HF_HUB_OFFLINE": "1"}, timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "RANDOM WEIGHTS" in r.stderr and "Traceback" not in r.stderr
    data = json.loads(out.read_text())
    assert data["engine"]["random_weights"] and data["engine"]["fast_path"] == "on"
    assert [round(b) for b in data["engine"]["buckets"]] == [8, 10]
    rows = {(x["impl"], x["nfe"]) for x in data["results"]}
    assert rows == {("ours", 2), ("ours", 3), ("upstream", 2), ("upstream", 3)}
    for x in data["results"]:
        assert x["audio_s"] > 0.5 and x["rtf"]["mean"] > 0 and x["ttfa_s"]["mean"] <= x["synth_s"]["mean"] + 1e-6
    assert len(data["ratios"]) == 2 and all(q["upstream_over_ours"] > 0 for q in data["ratios"])
    assert [t["concurrency"] for t in data["throughput"]] == [1, 2]
    assert data["compile"]["frames_compiled_during_runs"] == 0
    assert data["environment"]["device"] == "cpu" and data["environment"]["torch"]
    md = (tmp_path / "r.md").read_text()
    assert "Random weights" in md and "| ours | short-zh | 2 |" in md
    assert (tmp_path / "p.png").stat().st_size > 1000
    wavs = sorted(p.name for p in (tmp_path / "wav").iterdir())
    assert wavs == ["short-zh-nfe2-ours.wav", "short-zh-nfe2-upstream.wav",
                    "short-zh-nfe3-ours.wav", "short-zh-nfe3-upstream.wav"]
    assert sf.info(tmp_path / "wav" / wavs[0]).samplerate == 24000

    # the run just written compared with itself: no regression, exit 0
    same = kit.run_cli("bench", "--compare", str(out), "--compare-only", str(out))
    assert same.returncode == 0 and "ours/short-zh/nfe2/rtf_mean" in same.stdout
