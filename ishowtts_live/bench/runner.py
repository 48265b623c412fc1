"""Run the benchmark: load the engine (real or random weights) behind the
same engine thread the daemon uses, warm it up, then measure every case and
NFE for this engine and, side by side, for upstream ``F5TTS.infer``."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ishowtts_live.bench import report
from ishowtts_live.bench.cases import Case

RANDOM_NOTE = "RANDOM WEIGHTS: the named architecture, randomly initialised — timings are valid, the audio is noise."


@dataclass
class BenchOptions:
    config: str | None
    overrides: list[str]
    nfes: list[int]
    runs: int
    warmup_runs: int
    cases: list[Case]
    baseline: str  # "" | "upstream"
    concurrency: list[int]
    weights: str  # auto | random
    weights_dir: Path
    voice: str | None
    samples: Path | None
    seed: int = 0
    say: Callable[[str], None] = field(default=lambda line: None)
    backend: str = "local"  # "triton": also N Triton clients at `url` against the local backend
    url: str = ""


# ------------------------------------------------------------------ weights


def _hub_cached(ref: str, cache_dir: str) -> Path | None:
    from ishowtts_live.synth.hub import cached

    return cached(ref, cache_dir)


def resolve_weights(loaded, opts: BenchOptions) -> tuple[list[str], bool, str]:
    """Config overrides that point the engine at usable weights; whether the
    F5 weights are random; a description for the report. With ``auto``, real
    weights are used when the config names a local file or the hub default is
    already in the cache; otherwise the named architecture is initialised
    randomly (written once under ``weights_dir`` and reused)."""
    from ishowtts_live.synth import randinit
    from ishowtts_live.synth.hub import HUB_CHECKPOINTS, VOCOS_HUB
    from ishowtts_live.synth.loading import _arch_overrides

    cfg = loaded.config.engine
    overrides: list[str] = []
    ckpt: Path | None = None
    if opts.weights == "auto":
        if cfg.checkpoint and not cfg.checkpoint.startswith("hf://"):
            ckpt = Path(cfg.checkpoint)
        else:
            ckpt = _hub_cached(cfg.checkpoint or HUB_CHECKPOINTS.get(cfg.model, "hf://none/none/none"), cfg.cache_dir)
    random_f5 = ckpt is None
    arch = _arch_overrides(cfg)
    folder = opts.weights_dir / (cfg.model + ("-" + "-".join(f"{k}{v}" for k, v in sorted(arch.items())) if arch else ""))
    if random_f5:
        ckpt = folder / "model.safetensors"
        if not ckpt.is_file():
            opts.say(f"writing randomly initialised {cfg.model} weights to {ckpt} (once) …")
            randinit.write_f5_checkpoint(ckpt, cfg.model, arch, seed=0)
    overrides.append(f"engine.checkpoint={ckpt}")

    vocoder: Path | None = None
    if opts.weights == "auto":
        if cfg.vocoder and not cfg.vocoder.startswith("hf://"):
            vocoder = Path(cfg.vocoder)
        else:
            conf = _hub_cached(VOCOS_HUB + "/config.yaml", cfg.cache_dir)
            bin_ = _hub_cached(VOCOS_HUB + "/pytorch_model.bin", cfg.cache_dir)
            vocoder = conf.parent if conf and bin_ and conf.parent == bin_.parent else None
    random_vocoder = vocoder is None
    if random_vocoder:
        vocoder = opts.weights_dir / "vocos-mel-24khz-random"
        if not (vocoder / "pytorch_model.bin").is_file():
            opts.say(f"writing a randomly initialised Vocos to {vocoder} (once) …")
            randinit.write_vocos(vocoder, seed=0)
    overrides.append(f"engine.vocoder={vocoder}")
    described = f"{'random ' + cfg.model if random_f5 else ckpt}; vocoder {'random Vocos' if random_vocoder else vocoder}"
    return overrides, random_f5 or random_vocoder, described


# ------------------------------------------------------------------ measurement


def _environment(engine) -> dict[str, Any]:
    import torch

    try:
        from importlib.metadata import version

        f5 = version("f5-tts")
    except Exception:  # noqa: BLE001 - only a label
        f5 = "?"
    dev = engine.device
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else (platform.processor() or platform.machine())
    if dev.type == "cpu":
        name = f"CPU {name}, {os.cpu_count()} threads available, torch threads {torch.get_num_threads()}"
    return {
        "device": str(dev), "device_name": name, "torch": torch.__version__,
        "cuda": torch.version.cuda if dev.type == "cuda" else None,
        "f5_tts": f5, "python": platform.python_version(), "platform": platform.platform(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
    }


def _compile_frames() -> int:
    """Frames dynamo has converted so far (each is a compile or a recompile)."""
    try:
        from torch._dynamo.utils import counters
    except ImportError:  # pragma: no cover
        return 0
    return int(counters["frames"]["total"])


class _Peak:
    """Peak GPU memory over a block, in MB; None off CUDA."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"
        self.mb: float | None = None

    def __enter__(self):
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            self.mb = torch.cuda.max_memory_allocated() / 2**20


async def _ours_once(synth, text: str, voice: str | None, nfe: int, seed: int) -> tuple[float, float, float, np.ndarray]:
    """(synthesis s, first audio s, audio s, waveform) for one message, timed
    in the consumer, as the daemon's playback would see it."""
    from ishowtts_live.synth.protocol import SynthRequest

    t0 = time.perf_counter()
    stream = synth.stream(SynthRequest(text=text, voice=voice, nfe_step=nfe, seed=seed))
    first = None
    parts = []
    async for chunk in stream:
        if first is None:
            first = time.perf_counter() - t0
        parts.append(chunk.pcm)
    total = time.perf_counter() - t0
    pcm = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return total, first if first is not None else total, len(pcm) / synth.sample_rate, pcm


def _row(impl: str, case: Case, nfe: int, synth: list[float], ttfa: list[float], audio: list[float],
         peak: float | None) -> dict[str, Any]:
    return {
        "impl": impl, "case": case.name, "lang": case.lang, "length": case.length, "text": case.text, "nfe": nfe,
        "audio_s": float(np.mean(audio)) if audio else float("nan"),
        "synth_s": report.summarize(synth),
        "rtf": report.summarize([s / a for s, a in zip(synth, audio) if a > 0]),
        "ttfa_s": report.summarize(ttfa),
        "peak_mem_mb": peak,
    }


def _write_sample(folder: Path, name: str, pcm: np.ndarray, sample_rate: int) -> None:
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    sf.write(folder / name, pcm.astype(np.float32), sample_rate, subtype="PCM_16")


async def run(opts: BenchOptions) -> dict[str, Any]:
    from ishowtts_live.app import load_checked
    from ishowtts_live.synth.local import LocalSynthesizer

    base = load_checked(opts.config, opts.overrides)
    weight_overrides, random_weights, described = resolve_weights(base, opts)
    # the bench measures synthesis: the audio cache would answer repeats from memory
    loaded = load_checked(opts.config, [*opts.overrides, *weight_overrides, "engine.cache_mb=0"])
    cfg = loaded.config.engine
    if random_weights:
        opts.say(RANDOM_NOTE)

    synth = LocalSynthesizer(loaded)  # the engine's own figures (describe, graphs) are read from it
    frames0 = _compile_frames()
    opts.say(f"loading {cfg.model} and warming up (buckets, compile) …")
    t0 = time.perf_counter()
    warm_s = await synth.start(warmup=True)
    load_s = time.perf_counter() - t0
    engine = synth.engine
    try:
        voice = engine.prepared_voice(opts.voice)
        out = await _measure(opts, synth, engine, voice, cfg, load_s, warm_s, frames0, random_weights, described)
        if opts.backend == "triton":
            from ishowtts_live.bench.remote import compare_backends

            opts.say(f"backends: local and Triton at {opts.url}, {opts.concurrency or [1]} clients at once …")
            out["backends"] = await compare_backends(
                loaded, opts.url, synth, [c.text for c in opts.cases], voice.id, engine.params(voice).nfe_step,
                opts.concurrency or [1], opts.seed + 3000, opts.say)
        return out
    finally:
        await synth.stop()


async def _measure(opts: BenchOptions, synth, engine, voice, cfg, load_s: float, warm_s: float, frames0: int,
                   random_weights: bool, described: str) -> dict[str, Any]:
    params = engine.params(voice)
    warm_frames = _compile_frames() - frames0
    opts.say(f"ready: load + warm-up {load_s:.1f} s (warm-up {warm_s:.1f} s, {warm_frames} compiled frames)")

    upstream = None
    if opts.baseline == "upstream":
        from ishowtts_live.bench.upstream import UpstreamBaseline

        opts.say("loading upstream F5TTS with the same weights …")
        upstream = UpstreamBaseline(
            Path(cfg.checkpoint), Path(cfg.vocoder), dict(engine.spec.arch), str(engine.device), cfg.vocab,
        )

    results: list[dict[str, Any]] = []
    frames_measured = 0
    captures_measured = 0
    captures = lambda: int(getattr(engine, "graph_captures", 0))  # noqa: E731
    for nfe in opts.nfes:
        for case in opts.cases:
            # warm-up runs: first use of this NFE / length may capture a graph
            for i in range(opts.warmup_runs):
                await _ours_once(synth, case.text, voice.id, nfe, opts.seed + i)
                if upstream is not None:
                    _upstream_once(upstream, voice, case, nfe, params, opts.seed + i)
            ours: dict[str, list[float]] = {"synth": [], "ttfa": [], "audio": []}
            theirs: dict[str, list[float]] = {"synth": [], "ttfa": [], "audio": []}
            peak_ours = peak_theirs = None
            for run_i in range(opts.runs):
                seed = opts.seed + 1000 + run_i
                f0, c0 = _compile_frames(), captures()
                with _Peak(engine.device) as peak:
                    synth_s, ttfa, audio_s, pcm = await _ours_once(synth, case.text, voice.id, nfe, seed)
                frames_measured += _compile_frames() - f0
                captures_measured += captures() - c0
                peak_ours = max(peak_ours or 0.0, peak.mb) if peak.mb is not None else None
                for k, v in (("synth", synth_s), ("ttfa", ttfa), ("audio", audio_s)):
                    ours[k].append(v)
                if run_i == 0 and opts.samples is not None:
                    _write_sample(opts.samples, f"{case.name}-nfe{nfe}-ours.wav", pcm, synth.sample_rate)
                if upstream is not None:
                    with _Peak(engine.device) as peak:
                        res = _upstream_once(upstream, voice, case, nfe, params, seed)
                    peak_theirs = max(peak_theirs or 0.0, peak.mb) if peak.mb is not None else None
                    for k, v in (("synth", res.seconds), ("ttfa", res.seconds),
                                 ("audio", len(res.wave) / res.sample_rate)):
                        theirs[k].append(v)
                    if run_i == 0 and opts.samples is not None:
                        _write_sample(opts.samples, f"{case.name}-nfe{nfe}-upstream.wav", res.wave, res.sample_rate)
            row = _row("ours", case, nfe, ours["synth"], ours["ttfa"], ours["audio"], peak_ours)
            results.append(row)
            line = (f"{case.name:<11} NFE {nfe:>2}  ours RTF {row['rtf']['mean']:.4f} "
                    f"(first audio {row['ttfa_s']['mean'] * 1000:.0f} ms)")
            if upstream is not None:
                up = _row("upstream", case, nfe, theirs["synth"], theirs["ttfa"], theirs["audio"], peak_theirs)
                results.append(up)
                line += f"  upstream RTF {up['rtf']['mean']:.4f}  ×{up['rtf']['mean'] / row['rtf']['mean']:.2f}"
            opts.say(line)

    throughput = []
    tp_nfe = params.nfe_step
    for n in opts.concurrency:
        texts = [opts.cases[i % len(opts.cases)].text for i in range(n)]
        f0, c0 = _compile_frames(), captures()
        t0 = time.perf_counter()
        outs = await asyncio.gather(*(_ours_once(synth, t, voice.id, tp_nfe, opts.seed + 2000 + i)
                                      for i, t in enumerate(texts)))
        wall = time.perf_counter() - t0
        frames_measured += _compile_frames() - f0
        captures_measured += captures() - c0
        audio = sum(o[2] for o in outs)
        throughput.append({"concurrency": n, "nfe": tp_nfe, "audio_s": audio, "wall_s": wall,
                           "audio_s_per_s": audio / wall if wall else float("nan")})
        opts.say(f"concurrency {n:>2}: {audio:.1f} s of audio in {wall:.2f} s = {audio / wall:.2f} s/s")

    describe = getattr(engine, "describe", lambda: {})()
    out = {
        "schema": report.SCHEMA,
        "environment": _environment(engine),
        "engine": {
            "model": cfg.model, "weights": described, "random_weights": random_weights,
            "parameters_m": sum(p.numel() for p in engine.model.parameters()) / 1e6,
            "dtype": str(engine.dtype).removeprefix("torch."),
            "upstream_dtype": str(upstream.dtype).removeprefix("torch.") if upstream else None,
            "compile": describe.get("compile", cfg.compile),
            "fast_path": describe.get("fast_path", "off"),
            "cuda_graphs": describe.get("cuda_graphs", False),
            "buckets": describe.get("buckets", []),
        },
        "settings": {
            "nfe": opts.nfes, "runs": opts.runs, "warmup_runs": opts.warmup_runs,
            "cases": [c.name for c in opts.cases], "voice": voice.id,
            "reference_s": voice.audio.shape[-1] / engine.sample_rate,
            "cfg_strength": params.cfg_strength, "sway_sampling_coef": params.sway_sampling_coef,
            "speed": params.speed, "baseline": opts.baseline or None, "concurrency": opts.concurrency,
        },
        "compile": {
            "load_and_warmup_s": load_s, "warmup_s": warm_s, "frames_compiled_in_warmup": warm_frames,
            "frames_compiled_during_runs": frames_measured, "graph_captures_during_runs": captures_measured,
        },
        "results": results,
        "ratios": report.ratios(results),
        "default_ratios": report.default_ratios(results, params.nfe_step),
        "throughput": throughput,
        "notes": ([RANDOM_NOTE] if random_weights else []) + [
            "RTF = synthesis wall time / seconds of audio produced; first audio = time from submitting the "
            "message to its first audio block (ours) or to the returned waveform (upstream, which is not streaming).",
        ],
    }
    if engine.device.type == "cpu":
        out["notes"].append("Measured on the CPU: these figures say nothing about GPU speed.")
    return out


def _upstream_once(upstream, voice, case: Case, nfe: int, params, seed: int):
    return upstream.infer(
        voice.voice.audio_path, voice.voice.text, case.text, nfe=nfe, cfg=params.cfg_strength,
        sway=params.sway_sampling_coef, speed=params.speed, seed=seed,
    )
