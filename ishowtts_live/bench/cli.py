"""``ishowtts-live bench`` arguments. Every bad value is a one-line usage
error (exit 2) raised before torch is imported."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ishowtts_live.errors import EXIT_FAILURE, EXIT_OK, UsageError

DEFAULT_WEIGHTS_DIR = Path("~/.cache/ishowtts-live/bench-weights").expanduser()


def add_parser(sub, parent: argparse.ArgumentParser) -> None:
    bench = sub.add_parser(
        "bench", parents=[parent],
        help="measure RTF, first-audio time and throughput, side by side with upstream F5TTS.infer",
        description="Measure this engine (and with --baseline upstream, f5-tts's F5TTS.infer on the same "
                    "weights, reference, texts, NFE, cfg and sway) in one process. Without real weights the "
                    "named architecture is initialised randomly: timings are valid, the audio is noise.",
    )
    bench.add_argument("--nfe", default="6,7,8,16,32", help="comma list of flow step counts (default 6,7,8,16,32)")
    bench.add_argument("--runs", type=int, default=10, help="measured runs per case and NFE, after warm-up (default 10)")
    bench.add_argument("--warmup-runs", type=int, default=1, help="unmeasured runs per case and NFE first (default 1)")
    bench.add_argument("--cases", default="all",
                       help="comma list of cases (short-zh, medium-mix, …), lengths (short, medium, long) "
                            "or languages (zh, mix); default all")
    bench.add_argument("--baseline", choices=["none", "upstream"], default="none",
                       help="also run upstream F5TTS.infer on the same inputs")
    bench.add_argument("--concurrency", default="1,4,16",
                       help="throughput: messages submitted at once, comma list (default 1,4,16; '' = skip)")
    bench.add_argument("--backend", choices=["local", "triton"], default="local",
                       help="triton: also run the --concurrency clients against a Triton server (--url) "
                            "and the local backend, side by side")
    bench.add_argument("--url", help="with --backend triton: the server (grpc://host:8001 or http://host:8000; "
                                     "default engine.triton.url)")
    bench.add_argument("--weights", choices=["auto", "random"], default="auto",
                       help="auto: the configured/cached weights if present, else random; random: always random")
    bench.add_argument("--weights-dir", type=Path, default=DEFAULT_WEIGHTS_DIR,
                       help=f"where random weights are written once and reused (default {DEFAULT_WEIGHTS_DIR})")
    bench.add_argument("--voice", help="voice id (default: voices.default)")
    bench.add_argument("--seed", type=int, default=0, help="base noise seed (default 0)")
    bench.add_argument("--json", dest="json_out", type=Path, metavar="F.json",
                       help="write the results as JSON (default bench-results.json)")
    bench.add_argument("--md", dest="md_out", type=Path, metavar="F.md",
                       help="write the Markdown table (default: the JSON path with .md)")
    bench.add_argument("--plot", type=Path, metavar="F.png", help="draw RTF against NFE, ours and upstream")
    bench.add_argument("--samples", type=Path, metavar="DIR", help="write one WAV per case and NFE")
    bench.add_argument("--compare", type=Path, metavar="OLD.json",
                       help="print each figure's change against an earlier run; exit 1 on a regression")
    bench.add_argument("--threshold", type=float, default=0.10,
                       help="regression threshold for --compare, as a fraction (default 0.10 = 10%% worse)")
    bench.add_argument("--compare-only", metavar="NEW.json", type=Path,
                       help="with --compare: compare two existing files, measure nothing")
    bench.set_defaults(func=cmd_bench)


def _int_list(text: str, what: str, lo: int, hi: int, allow_empty: bool = False) -> list[int]:
    words = [w.strip() for w in text.split(",") if w.strip()]
    if not words:
        if allow_empty:
            return []
        raise UsageError(f"{what}: give at least one number")
    out = []
    for w in words:
        try:
            n = int(w)
        except ValueError:
            raise UsageError(f"{what}: {w!r} is not a whole number") from None
        if not lo <= n <= hi:
            raise UsageError(f"{what}: {n} is outside {lo}–{hi}")
        if n not in out:
            out.append(n)
    return out


def _say(line: str) -> None:
    print(f"bench: {line}", file=sys.stderr, flush=True)


def _compare(old_path: Path, new: dict, threshold: float) -> int:
    from ishowtts_live.bench import report

    try:
        old = report.load_json(old_path)
    except ValueError as exc:
        raise UsageError(f"--compare: {exc}") from None
    lines, bad = report.compare_lines(report.compare(old, new), threshold)
    for line in lines:
        print(line)
    if not lines:
        print(f"nothing to compare: {old_path} shares no figure with this run")
    print(f"{bad} regression(s) beyond {threshold:.0%}" if bad else f"no regression beyond {threshold:.0%}")
    return EXIT_FAILURE if bad else EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from ishowtts_live.bench import cases as bench_cases
    from ishowtts_live.bench import report

    if not 0 <= args.threshold <= 10:
        raise UsageError("--threshold must be between 0 and 10 (a fraction: 0.1 = 10 %)")
    if args.compare_only is not None:
        if args.compare is None:
            raise UsageError("--compare-only needs --compare OLD.json")
        try:
            new = report.load_json(args.compare_only)
        except ValueError as exc:
            raise UsageError(f"--compare-only: {exc}") from None
        return _compare(args.compare, new, args.threshold)
    if args.compare is not None and not args.compare.is_file():
        raise UsageError(f"--compare: file not found: {args.compare}")
    nfes = _int_list(args.nfe, "--nfe", 1, 64)
    concurrency = _int_list(args.concurrency, "--concurrency", 1, 256, allow_empty=True)
    if args.runs < 1 or args.runs > 10000:
        raise UsageError("--runs must be between 1 and 10000")
    if args.warmup_runs < 0 or args.warmup_runs > 100:
        raise UsageError("--warmup-runs must be between 0 and 100")
    try:
        chosen = bench_cases.select(args.cases)
    except ValueError as exc:
        raise UsageError(f"--cases: {exc}") from None
    if args.plot is not None and args.plot.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UsageError("--plot: give a .png, .svg or .pdf file name")
    url = ""
    if args.backend == "triton":
        from ishowtts_live.synth.wire import parse_url

        url = args.url or ""
        if not url:
            from ishowtts_live.config import load_config

            url = load_config(args.config, args.overrides).config.engine.triton.url
        try:
            parse_url(url)
        except ValueError as exc:
            raise UsageError(f"--url: {exc}") from None
    elif args.url:
        raise UsageError("--url needs --backend triton")
    json_out = args.json_out or Path("bench-results.json")
    md_out = args.md_out or json_out.with_suffix(".md")

    from ishowtts_live import logs
    from ishowtts_live.bench.runner import BenchOptions, run

    logs.configure("warning", "console")
    opts = BenchOptions(
        config=args.config, overrides=list(args.overrides), nfes=nfes, runs=args.runs, warmup_runs=args.warmup_runs,
        cases=chosen, baseline="" if args.baseline == "none" else args.baseline, concurrency=concurrency,
        weights=args.weights, weights_dir=args.weights_dir.expanduser(), voice=args.voice,
        samples=args.samples, seed=args.seed, say=_say, backend=args.backend, url=url,
    )
    result = asyncio.run(run(opts))
    report.write_json(result, json_out)
    md = report.markdown(result)
    md_out.parent.mkdir(parents=True, exist_ok=True)
    md_out.write_text(md, encoding="utf-8")
    print(md, end="")
    _say(f"wrote {json_out} and {md_out}")
    if args.plot is not None:
        from ishowtts_live.bench.plot import plot_rtf

        plot_rtf(result, args.plot)
        _say(f"wrote {args.plot}")
    if args.compare is not None:
        return _compare(args.compare, result, args.threshold)
    return EXIT_OK
