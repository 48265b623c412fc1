"""Bench statistics, the Markdown table and --compare (torch-free, fast)."""

from __future__ import annotations

import copy
import json
import math

import pytest

from ishowtts_live.bench import cases, report
from tests import kit


def _row(impl, case, nfe, rtf, ttfa=0.5, synth=1.0):
    return {"impl": impl, "case": case, "nfe": nfe, "audio_s": 2.0, "synth_s": report.summarize([synth]),
            "rtf": report.summarize([rtf]), "ttfa_s": report.summarize([ttfa]), "peak_mem_mb": None}


def _report(rtf_ours=0.1, rtf_up=0.5, throughput=20.0):
    results = [_row("ours", "short-zh", 7, rtf_ours), _row("upstream", "short-zh", 7, rtf_up, ttfa=1.0)]
    return {
        "schema": report.SCHEMA,
        "environment": {"device": "cpu", "device_name": "CPU test", "torch": "x", "cuda": None, "f5_tts": "x",
                        "python": "3"},
        "engine": {"model": "F5TTS_v1_Base", "parameters_m": 1.0, "weights": "w", "random_weights": True,
                   "dtype": "float32", "compile": "off", "fast_path": "off", "cuda_graphs": False, "buckets": []},
        "settings": {"reference_s": 6.0, "cfg_strength": 2.0, "sway_sampling_coef": -1.0, "speed": 1.0,
                     "runs": 1, "warmup_runs": 1},
        "compile": {"warmup_s": 1.0, "frames_compiled_during_runs": 0, "graph_captures_during_runs": 0},
        "results": results, "ratios": report.ratios(results),
        "throughput": [{"concurrency": 4, "nfe": 7, "audio_s": 8.0, "wall_s": 8.0 / throughput,
                        "audio_s_per_s": throughput}],
        "notes": ["note"],
    }


def test_summary_statistics():
    """mean/best/worst/stdev of runs; a single run has stdev 0."""
    s = report.summarize([1.0, 2.0, 3.0])
    assert (s["mean"], s["best"], s["worst"], s["n"]) == (2.0, 1.0, 3.0, 3)
    assert s["stdev"] == pytest.approx(1.0)
    assert report.summarize([4.0])["stdev"] == 0.0
    assert math.isnan(report.summarize([])["mean"])


def test_ratio_is_upstream_over_ours():
    """The headline figure: upstream RTF ÷ our RTF per case and NFE."""
    q = _report(0.1, 0.5)["ratios"]
    assert len(q) == 1 and q[0]["upstream_over_ours"] == pytest.approx(5.0) and q[0]["ttfa_ratio"] == 2.0


def test_markdown_says_random_weights_and_shows_every_row():
    """The table names the device, flags random weights and lists ours, upstream and the ratio."""
    md = report.markdown(_report())
    assert "CPU test" in md and "Random weights" in md
    assert "| ours | short-zh | 7 |" in md and "| upstream | short-zh | 7 |" in md and "5.00×" in md


def test_compare_flags_only_regressions_beyond_the_threshold():
    """Slower RTF or lower throughput beyond the threshold is a regression; faster is not."""
    old = _report(0.10, 0.5, 20.0)
    lines, bad = report.compare_lines(report.compare(old, _report(0.105, 0.5, 19.5)), 0.10)
    assert bad == 0 and any("ours/short-zh/nfe7/rtf_mean" in line for line in lines)
    _, bad = report.compare_lines(report.compare(old, _report(0.2, 0.5, 20.0)), 0.10)
    assert bad >= 2  # our RTF and the ratio both got worse
    _, bad = report.compare_lines(report.compare(old, _report(0.1, 0.5, 10.0)), 0.10)
    assert bad == 1  # throughput halved
    _, bad = report.compare_lines(report.compare(old, _report(0.05, 0.5, 40.0)), 0.10)
    assert bad == 0


def test_compare_exit_codes_through_the_cli(tmp_path):
    """--compare exits 0 without regression, 1 with one, 2 on a file that is not a bench result."""
    old, same, worse, junk = (tmp_path / n for n in ("old.json", "same.json", "worse.json", "junk.json"))
    report.write_json(_report(), old)
    report.write_json(copy.deepcopy(_report()), same)
    report.write_json(_report(0.5, 0.5), worse)
    junk.write_text(json.dumps({"hello": 1}))
    r = kit.run_cli("bench", "--compare", str(old), "--compare-only", str(same))
    assert r.returncode == 0, r.stderr
    assert "no regression" in r.stdout
    r = kit.run_cli("bench", "--compare", str(old), "--compare-only", str(worse), "--threshold", "0.2")
    assert r.returncode == 1 and "REGRESSION" in r.stdout
    r = kit.run_cli("bench", "--compare", str(junk), "--compare-only", str(same))
    assert r.returncode == 2 and "not an ishowtts-live bench result" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--nfe", "7,x"], "--nfe: 'x' is not a whole number"),
    (["--nfe", "0"], "--nfe: 0 is outside 1–64"),
    (["--runs", "0"], "--runs must be between"),
    (["--cases", "huge"], "--cases: unknown case 'huge'"),
    (["--concurrency", "4,-1"], "--concurrency: -1 is outside"),
    (["--plot", "x.txt"], "--plot: give a .png"),
    (["--compare", "/nonexistent.json"], "--compare: file not found"),
])
def test_bad_arguments_are_one_line_usage_errors(args, message):
    """Each bad value: exit 2, one line naming the option, no traceback, no model loaded."""
    r = kit.run_cli("bench", *args, timeout=60)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_case_selection():
    """Cases are picked by name, length or language; two lengths × two languages by default."""
    assert len(cases.select("all")) == 6
    assert [c.name for c in cases.select("short")] == ["short-zh", "short-mix"]
    assert {c.lang for c in cases.select("mix")} == {"mix"}
    with pytest.raises(ValueError, match="unknown case"):
        cases.select("nope")


def test_default_ratio_compares_upstream_nfe32_with_our_default():
    """Upstream as shipped (NFE 32) ÷ ours at NFE 7, per case."""
    results = [_row("ours", "short-zh", 7, 0.1), _row("upstream", "short-zh", 32, 0.8),
               _row("upstream", "short-zh", 7, 0.3)]
    (q,) = report.default_ratios(results, 7)
    assert (q["ours_nfe"], q["upstream_nfe"]) == (7, 32) and q["upstream_over_ours"] == pytest.approx(8.0)
