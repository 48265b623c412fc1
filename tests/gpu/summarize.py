"""Gather what tests/gpu/run wrote into OUT/summary.json: the machine, each
step's outcome and time, the GPU tests' results and figures, the end-to-end
run's figures (warm-up, per-message RTF, step-down warnings, WAV length) and
the bench's headline figures (bench.json keeps the rest).

    python tests/gpu/summarize.py OUT BUDGET_S ELAPSED_S REHEARSE
"""

from __future__ import annotations

import json
import statistics
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def _json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def gpu_tests(out: Path) -> dict:
    try:
        root = ET.parse(out / "gpu-tests.xml").getroot()
    except (OSError, ET.ParseError):
        return {"ran": False}
    cases = {}
    for case in root.iter("testcase"):
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                outcome = tag
        cases[case.get("name")] = outcome
    return {"ran": True, "cases": cases, "figures": _json(out / "gpu-tests-figures.json") or {}}


def run_figures(out: Path) -> dict:
    events = []
    try:
        lines = (out / "run.log").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {"ran": False}
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    rtf = [e["rtf"] for e in events if e.get("event") == "spoken" and e.get("rtf") is not None]
    ready = [e for e in events if e.get("event") == "engine ready"]
    figures = {
        "ran": True,
        "warmup_s": ready[0].get("warmup_s") if ready else None,
        "messages_spoken": len(rtf),
        "rtf_median": statistics.median(rtf) if rtf else None,
        "rtf_max": max(rtf) if rtf else None,
        "failed": sum(1 for e in events if e.get("event", "").startswith("synthesis failed")),
        # step-downs, OOM retries, a GPU that is not there: every warning line, verbatim
        "warnings": [e.get("event") for e in events if e.get("level") == "warning"],
        "engine": next(({k: e.get(k) for k in ("device", "dtype", "seconds")}
                        for e in events if e.get("event") == "engine loaded"), None),
    }
    try:
        import soundfile

        info = soundfile.info(str(out / "run.wav"))
        figures["wav_seconds"] = round(info.frames / info.samplerate, 2)
    except Exception:  # noqa: BLE001 - no WAV is a figure too
        figures["wav_seconds"] = None
    return figures


def main(argv: list[str]) -> int:
    out, budget, elapsed, rehearse = Path(argv[0]), int(argv[1]), int(argv[2]), argv[3] == "1"
    steps = {p.name.removesuffix(".step.json"): _json(p) for p in sorted(out.glob("*.step.json"))}
    summary = {
        "rehearsal": rehearse,
        "budget_s": budget,
        "elapsed_s": elapsed,
        "within_budget": elapsed <= budget,
        "machine": _json(out / "machine.json"),
        "steps": steps,
        "gpu_tests": gpu_tests(out),
        "run": run_figures(out),
        "bench": "bench.json" if (out / "bench.json").is_file() else None,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    failed = [name for name, s in steps.items() if not s or s.get("rc") != 0]
    print(f"summary: {out / 'summary.json'}; steps failed: {', '.join(failed) or 'none'}")
    return 1 if failed or not summary["within_budget"] else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
