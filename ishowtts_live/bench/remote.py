"""``bench --backend triton --url …``: N clients at once, each a daemon's
Triton client (its own connection) speaking one message, against the local
backend doing the same N messages in the same run. For each N: seconds of
audio per wall second, and each message's time to first audio (mean, worst)."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, Callable

from ishowtts_live.bench import report


async def _one(synth: Any, text: str, voice: str | None, nfe: int, seed: int) -> tuple[float, float]:
    """(first audio s, audio s) of one message as its consumer sees them."""
    from ishowtts_live.synth.protocol import SynthRequest

    t0 = time.perf_counter()
    first, samples = None, 0
    async for chunk in synth.stream(SynthRequest(text=text, voice=voice, nfe_step=nfe, seed=seed)):
        if first is None:
            first = time.perf_counter() - t0
        samples += len(chunk.pcm)
    return (first if first is not None else time.perf_counter() - t0), samples / synth.sample_rate


async def _round(synths: list[Any], texts: list[str], voice: str | None, nfe: int, seed: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    outs = await asyncio.gather(*(_one(s, t, voice, nfe, seed + i) for i, (s, t) in enumerate(zip(synths, texts))))
    wall = time.perf_counter() - t0
    audio = sum(o[1] for o in outs)
    return {"audio_s": audio, "wall_s": wall, "audio_s_per_s": audio / wall if wall else float("nan"),
            "ttfa_s": report.summarize([o[0] for o in outs])}


async def compare_backends(loaded: Any, url: str, local: Any, texts: list[str], voice: str | None, nfe: int,
                           concurrency: list[int], seed: int, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """One row per backend and N: the local synthesizer ``local`` (already
    started) with N messages at once, then N Triton clients at ``url``."""
    import dataclasses

    import msgspec

    from ishowtts_live.errors import UsageError
    from ishowtts_live.synth.triton import TritonSynthesizer
    from ishowtts_live.synth.wire import parse_url

    try:
        parse_url(url)
    except ValueError as exc:
        raise UsageError(f"--url: {exc}") from None
    cfg = loaded.config
    engine = msgspec.structs.replace(cfg.engine, backend="triton",
                                     triton=msgspec.structs.replace(cfg.engine.triton, url=url))
    remote_loaded = dataclasses.replace(loaded, config=msgspec.structs.replace(cfg, engine=engine))
    salt = seed + random.SystemRandom().randrange(1, 2**31) * 1_000_000
    rows = []
    for k, n in enumerate(concurrency):
        batch = [texts[i % len(texts)] for i in range(n)]
        # seeds no earlier request used, in this run or an earlier one against
        # the same server: its audio cache (serve keeps one) must not answer
        seed_k = salt + 100_000 * (k + 1)
        row = await _round([local] * n, batch, voice, nfe, seed_k)
        rows.append({"backend": "local", "clients": n, "nfe": nfe, **row})
        say(f"local  × {n:>2}: {row['audio_s_per_s']:.2f} s of audio per s, "
            f"first audio {row['ttfa_s']['mean'] * 1000:.0f} ms (worst {row['ttfa_s']['worst'] * 1000:.0f})")
        clients = [TritonSynthesizer(remote_loaded) for _ in range(n)]
        try:
            for client in clients:
                await client.start(warmup=False)
                await client.wait_ready(10.0)
            await _round(clients[:1], batch[:1], voice, nfe, seed_k + 50_000)  # the server prepares the voice once
            row = await _round(clients, batch, voice, nfe, seed_k)
        finally:
            for client in clients:
                await client.stop()
        rows.append({"backend": "triton", "clients": n, "nfe": nfe, "url": url, **row})
        say(f"triton × {n:>2}: {row['audio_s_per_s']:.2f} s of audio per s, "
            f"first audio {row['ttfa_s']['mean'] * 1000:.0f} ms (worst {row['ttfa_s']['worst'] * 1000:.0f})")
    return rows

