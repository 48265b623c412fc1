"""Benchmark results: summary statistics, the JSON and Markdown files, and
``--compare`` against an earlier JSON. Torch-free, so a comparison runs in
milliseconds anywhere."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = 1


def summarize(values: list[float]) -> dict[str, float]:
    """mean / best / worst / stdev (0 for one value) of a list of figures."""
    if not values:
        return {"mean": math.nan, "best": math.nan, "worst": math.nan, "stdev": math.nan, "n": 0}
    return {
        "mean": statistics.fmean(values),
        "best": min(values),
        "worst": max(values),
        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """upstream mean synthesis time / ours, per case and NFE (the headline):
    > 1 means this engine is faster. Compared on RTF so that a difference in
    generated length (upstream's own chunking) does not count as speed."""
    by_key = {(r["impl"], r["case"], r["nfe"]): r for r in results}
    out = []
    for (impl, case, nfe), ours in by_key.items():
        theirs = by_key.get(("upstream", case, nfe))
        if impl != "ours" or theirs is None:
            continue
        out.append({
            "case": case, "nfe": nfe,
            "rtf_ours": ours["rtf"]["mean"], "rtf_upstream": theirs["rtf"]["mean"],
            "upstream_over_ours": theirs["rtf"]["mean"] / ours["rtf"]["mean"] if ours["rtf"]["mean"] else math.nan,
            "ttfa_ratio": (theirs["ttfa_s"]["mean"] / ours["ttfa_s"]["mean"]) if ours["ttfa_s"]["mean"] else math.nan,
        })
    return out


UPSTREAM_DEFAULT_NFE = 32  # F5TTS.infer's default nfe_step


def default_ratios(results: list[dict[str, Any]], ours_nfe: int,
                   upstream_nfe: int = UPSTREAM_DEFAULT_NFE) -> list[dict[str, Any]]:
    """Upstream at its default NFE ÷ ours at our default NFE, per case: what a
    user switching from ``F5TTS.infer`` as shipped gains."""
    ours = {r["case"]: r for r in results if r["impl"] == "ours" and r["nfe"] == ours_nfe}
    theirs = {r["case"]: r for r in results if r["impl"] == "upstream" and r["nfe"] == upstream_nfe}
    return [{"case": c, "ours_nfe": ours_nfe, "upstream_nfe": upstream_nfe,
             "upstream_over_ours": theirs[c]["rtf"]["mean"] / ours[c]["rtf"]["mean"]}
            for c in ours if c in theirs and ours[c]["rtf"]["mean"]]


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False, allow_nan=True) + "\n", encoding="utf-8")


def _f(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    """The human-readable table: device and settings first, then one row per
    implementation, case and NFE, then the ratios, throughput and compile lines."""
    env, eng, st = report["environment"], report["engine"], report["settings"]
    lines = [f"# ishowtts-live bench — {env['device_name']} ({env['device']})", ""]
    if eng["random_weights"]:
        lines += ["**Random weights** (the named architecture, randomly initialised): "
                  "timings are valid, the audio is noise.", ""]
    lines += [
        f"- model: {eng['model']} ({eng['parameters_m']:.1f} M parameters), weights: {eng['weights']}",
        f"- dtype {eng['dtype']}, compile {eng['compile']}, fast path {eng['fast_path']}, "
        f"CUDA graphs {eng['cuda_graphs']}, buckets {eng['buckets']}",
        f"- torch {env['torch']}, CUDA {env['cuda'] or '–'}, f5-tts {env['f5_tts']}, Python {env['python']}",
        f"- reference {st['reference_s']:.2f} s, cfg {st['cfg_strength']}, sway {st['sway_sampling_coef']}, "
        f"speed {st['speed']}, {st['runs']} runs after {st['warmup_runs']} warm-up run(s) per case",
        f"- engine warm-up {_f(report['compile']['warmup_s'], 1)} s; compilations during measured runs: "
        f"{report['compile']['frames_compiled_during_runs']}, graph captures during measured runs: "
        f"{report['compile']['graph_captures_during_runs']}",
        "",
        "| impl | case | NFE | audio s | synth s (mean) | RTF mean | RTF best | RTF worst | RTF stdev "
        "| first audio ms | peak GPU MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['impl']} | {r['case']} | {r['nfe']} | {_f(r['audio_s'], 2)} | {_f(r['synth_s']['mean'])} "
            f"| {_f(r['rtf']['mean'], 4)} | {_f(r['rtf']['best'], 4)} | {_f(r['rtf']['worst'], 4)} "
            f"| {_f(r['rtf']['stdev'], 4)} | {_f(r['ttfa_s']['mean'] * 1000, 0)} | {_f(r.get('peak_mem_mb'), 0)} |"
        )
    if report["ratios"]:
        lines += ["", "Upstream ÷ ours (RTF; > 1 means this engine is faster). Upstream returns a whole "
                  "message at once, so its first audio is its whole synthesis time.", "",
                  "| case | NFE | RTF ours | RTF upstream | speed-up | first-audio speed-up |",
                  "|---|---:|---:|---:|---:|---:|"]
        for q in report["ratios"]:
            lines.append(f"| {q['case']} | {q['nfe']} | {_f(q['rtf_ours'], 4)} | {_f(q['rtf_upstream'], 4)} "
                         f"| {_f(q['upstream_over_ours'], 2)}× | {_f(q['ttfa_ratio'], 2)}× |")
    if report.get("default_ratios"):
        lines += ["", "Upstream at its default NFE ÷ ours at our default NFE (RTF):", "",
                  "| case | ours NFE | upstream NFE | speed-up |", "|---|---:|---:|---:|"]
        for q in report["default_ratios"]:
            lines.append(f"| {q['case']} | {q['ours_nfe']} | {q['upstream_nfe']} | {_f(q['upstream_over_ours'], 2)}× |")
    if report["throughput"]:
        lines += ["", "Throughput (this engine; N messages submitted at once):", "",
                  "| concurrency | NFE | audio s | wall s | audio s per wall s |", "|---:|---:|---:|---:|---:|"]
        for t in report["throughput"]:
            lines.append(f"| {t['concurrency']} | {t['nfe']} | {_f(t['audio_s'], 2)} | {_f(t['wall_s'], 2)} "
                         f"| {_f(t['audio_s_per_s'], 2)} |")
    if report.get("backends"):
        lines += backends_markdown(report["backends"])
    if report.get("notes"):
        lines += [""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ --compare

@dataclass(frozen=True)
class Change:
    key: str
    old: float
    new: float
    higher_is_better: bool

    @property
    def relative(self) -> float:
        if self.old == 0:
            return 0.0 if self.new == 0 else math.inf
        return (self.new - self.old) / abs(self.old)

    def regressed(self, threshold: float) -> bool:
        worse = -self.relative if self.higher_is_better else self.relative
        return worse > threshold


def figures(report: dict[str, Any]) -> dict[str, tuple[float, bool]]:
    """Every comparable figure: key → (value, higher is better)."""
    out: dict[str, tuple[float, bool]] = {}
    for r in report.get("results", []):
        base = f"{r['impl']}/{r['case']}/nfe{r['nfe']}"
        out[f"{base}/rtf_mean"] = (r["rtf"]["mean"], False)
        out[f"{base}/rtf_best"] = (r["rtf"]["best"], False)
        out[f"{base}/synth_s_mean"] = (r["synth_s"]["mean"], False)
        out[f"{base}/ttfa_s_mean"] = (r["ttfa_s"]["mean"], False)
        if r.get("peak_mem_mb") is not None:
            out[f"{base}/peak_mem_mb"] = (r["peak_mem_mb"], False)
    for q in report.get("ratios", []):
        out[f"ratio/{q['case']}/nfe{q['nfe']}"] = (q["upstream_over_ours"], True)
    for q in report.get("default_ratios", []):
        out[f"default_ratio/{q['case']}"] = (q["upstream_over_ours"], True)
    for t in report.get("throughput", []):
        out[f"throughput/c{t['concurrency']}/nfe{t['nfe']}"] = (t["audio_s_per_s"], True)
    return {k: v for k, v in out.items() if isinstance(v[0], (int, float)) and not math.isnan(v[0])}


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    before, after = figures(old), figures(new)
    return [Change(k, before[k][0], v, hib) for k, (v, hib) in after.items() if k in before]


def compare_lines(changes: list[Change], threshold: float) -> tuple[list[str], int]:
    """One line per figure and the number of regressions beyond ``threshold``
    (a fraction: 0.1 = 10 % worse)."""
    lines, bad = [], 0
    for c in changes:
        flag = ""
        if c.regressed(threshold):
            flag, bad = "  REGRESSION", bad + 1
        lines.append(f"{c.key}: {c.old:.4g} → {c.new:.4g} ({c.relative:+.1%}){flag}")
    return lines, bad


def load_json(path: Path) -> dict[str, Any]:
    """A bench JSON file; ValueError (one line) when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or "results" not in data:
        raise ValueError(f"{path} is not an ishowtts-live bench result (schema {SCHEMA})")
    return data


def backends_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """bench --backend triton: one row per backend and number of clients."""
    if not rows:
        return []
    lines = ["", f"Backends (N clients at once, one message each; triton: {rows[-1].get('url', '')}):", "",
             "| backend | clients | NFE | audio s | wall s | audio s per wall s | first audio ms (mean) "
             "| first audio ms (worst) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['backend']} | {r['clients']} | {r['nfe']} | {r['audio_s']:.2f} | {r['wall_s']:.2f} "
                     f"| {r['audio_s_per_s']:.2f} | {r['ttfa_s']['mean'] * 1000:.0f} "
                     f"| {r['ttfa_s']['worst'] * 1000:.0f} |")
    return lines
