"""Warm-up at start, so the first chat message in any voice is not the slow
one: every voice prepared, every shape a message can take compiled and
captured (fast path), and one short phrase spoken end to end.

Shapes: every bucket longer than the shortest reference, for each distinct
(NFE, cfg) the voices ask for and the backlog's NFE floor — exactly the set
the fast path gives graphs to (:func:`live_schedules`), so warm-up and live
traffic agree and the set of graphs is bounded. A voice that cannot be
prepared is reported and left out: the messages routed to it fail one by
one, with that error."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

import structlog
import torch

from ishowtts_live.errors import VoiceError
from ishowtts_live.synth import loading, sampler, voices

if TYPE_CHECKING:
    from ishowtts_live.synth.engine import F5Engine
    from ishowtts_live.synth.prepared import PreparedVoice

log = structlog.get_logger(__name__)

WARMUP_PHRASE = "你好，欢迎来到直播间。"


def warm_up(engine: F5Engine, voice_id: str | None = None,
            progress: Callable[[int, int, str], None] | None = None) -> float:
    """Returns the seconds it took. ``progress(step, steps, what)`` is called
    (on the engine thread) as each step begins: every shape the fast path
    compiles and captures, for each (NFE, cfg) warmed, then the phrase."""
    with loading.device_scope(engine.device):
        return _warm_up(engine, voice_id, progress)


def _warm_up(engine: F5Engine, voice_id: str | None, progress: Callable[[int, int, str], None] | None) -> float:
    t0 = time.perf_counter()
    voice = engine.prepared_voice(voice_id)
    params = engine.params(voice, seed=0)
    ready = [voice, *prepare_others(engine, voice.id)]
    schedules: list[tuple[int, float]] = []
    if engine.fast is not None:
        shortest = min(ready, key=lambda v: v.mel.shape[1])
        with torch.inference_mode():
            ref = engine.request(shortest, "你好。", params)
        schedules = warm_schedules(engine, ready)
        shapes = len(engine.fast.warmup_plan(ref))
    steps_total = (len(schedules) * shapes if schedules else 0) + 1
    done = 0

    def report(what: str) -> None:
        nonlocal done
        done += 1
        log.info("warm-up", step=f"{done}/{steps_total}", shape=what, seconds=round(time.perf_counter() - t0, 1))
        if progress is not None:
            progress(done, steps_total, what)

    for steps, cfg_strength in schedules:
        label = f"NFE {steps}, cfg {cfg_strength:g}: " if len(schedules) > 1 else ""
        with torch.inference_mode():
            engine.fast.warmup(ref, steps=steps, cfg_strength=cfg_strength, sway=params.sway_sampling_coef,
                               progress=lambda i, n, what, label=label: report(label + what))
    report("a phrase spoken end to end")
    cached, engine.cache.max_bytes = engine.cache.max_bytes, 0  # the warm-up phrase is not chat
    try:
        for _ in engine.stream(voice.id, WARMUP_PHRASE, params):
            pass
    finally:
        engine.cache.max_bytes = cached
    return time.perf_counter() - t0


def prepare_others(engine: F5Engine, but: str) -> list[PreparedVoice]:
    """Every other voice in voices.dir, prepared from the one scan; a broken one logged and left out."""
    ready = []
    for other, toml_path in voices.discover(engine.loaded.config.voices.dir).items():
        if other == but:
            continue
        try:
            ready.append(engine.voices.get(other) or engine.prepare_voice(voices.load_voice(other, toml_path)))
        except VoiceError as exc:
            log.warning("voice not ready; messages in it will fail", voice=other, error=str(exc))
    return ready


def warm_schedules(engine: F5Engine, ready: list[PreparedVoice]) -> list[tuple[int, float]]:
    """The (NFE, cfg) pairs to warm up for these voices. CUDA graphs are
    captured per step count and guidance, so each voice's pair and the
    backlog's NFE floor; compiled kernels do not depend on the step count,
    so without graphs one pair with guidance and one without."""
    graphs = engine.fast is not None and engine.fast.cuda_graphs
    pairs: dict[tuple, tuple[int, float]] = {}
    for steps, cfg_strength in _pairs(engine, [v.voice.spec for v in ready]):
        key = (steps, cfg_strength) if graphs else (cfg_strength >= sampler.CFG_OFF,)
        pairs.setdefault(key, (steps, cfg_strength))
    return list(pairs.values())


def live_schedules(engine: F5Engine) -> list[tuple[int, float, float]]:
    """(NFE, cfg, sway) of every voice in voices.dir (read from voice.toml,
    nothing prepared) and the backlog's floor: the schedules that get CUDA
    graphs. Another NFE at run time (``ctl nfe``, an /api/tts request) runs
    compiled without a graph instead of capturing one mid-stream."""
    specs = [voices.VoiceSpec(audio="", text="")]  # the engine's own settings, whatever the voices say
    for voice_id, toml_path in voices.discover(engine.loaded.config.voices.dir).items():
        try:
            specs.append(voices.load_voice(voice_id, toml_path).spec)
        except VoiceError:
            continue  # reported when it is prepared
    sway = engine.cfg.sway_sampling_coef
    return [(steps, cfg_strength, sway) for steps, cfg_strength in _pairs(engine, specs)]


def _pairs(engine: F5Engine, specs: list[voices.VoiceSpec]) -> list[tuple[int, float]]:
    """Each voice's (NFE, cfg) and, where the backlog lowers NFE, its floor."""
    cfg, backlog = engine.cfg, engine.loaded.config.backlog
    out: list[tuple[int, float]] = []
    for spec in specs:
        nfe = spec.nfe_step if spec.nfe_step is not None else cfg.nfe_step
        cfg_strength = spec.cfg_strength if spec.cfg_strength is not None else cfg.cfg_strength
        steps = [nfe] + ([backlog.nfe_floor] if backlog.enabled and backlog.nfe_floor < nfe else [])
        out += [(n, cfg_strength) for n in steps if (n, cfg_strength) not in out]
    return out
