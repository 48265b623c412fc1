"""The fast path keeps the eager sampler's output (and so upstream's): with
bucket padding, in a batch next to longer messages, and through the worker.
fp32 on the CPU, same seed, no compilation (one compiled test at the end)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import torch

from ishowtts_live.synth import buckets as bk
from ishowtts_live.synth.audiocache import AudioCache, CacheKey
from ishowtts_live.synth.fastpath import FastSampler
from ishowtts_live.synth.masking import KeyMaskedAttention
from tests.kit import wait

TOLERANCE = 1e-4
TEXTS = ["666", "你好。", "大家好，欢迎来到直播间！Thanks for the follow."]
BUCKETS_S = [8.0, 10.0, 12.0, 16.0]


def _fast(engine, max_batch=4, compile_mode="off", buckets_s=BUCKETS_S) -> FastSampler:
    return FastSampler(engine.dit, engine.device, engine.dtype,
                       buckets=bk.bucket_frames(buckets_s, engine.sample_rate, engine.hop),
                       max_batch=max_batch, compile_mode=compile_mode, cuda_graphs=False)


def _sample(fast, engine, voice, texts, nfe=7, cfg=2.0, seed=1234):
    params = engine.params(voice, nfe_step=nfe, cfg_strength=cfg, seed=seed)
    with torch.inference_mode():
        reqs = [engine.request(voice, t, params) for t in texts]
        return fast.sample(reqs, steps=nfe, cfg_strength=cfg, sway=params.sway_sampling_coef), params


# ------------------------------------------------------------------ buckets


def test_bucket_choice():
    """The smallest bucket that holds the sequence; none past the largest;
    every bucket a multiple of 8 frames (8 s = 750 frames rounds to 752)."""
    frames = bk.bucket_frames([10.0, 8.0, 8.0], 24000, 256)
    assert frames == [752, 944]
    assert all(f % bk.ALIGN == 0 for f in frames)
    assert bk.choose_bucket(1, frames) == 752
    assert bk.choose_bucket(752, frames) == 752
    assert bk.choose_bucket(753, frames) == 944
    assert bk.choose_bucket(945, frames) is None
    assert [bk.aligned(n) for n in (1, 8, 9, 945)] == [8, 8, 16, 952]


def test_batch_sizes():
    """Batches pad to a power of two, capped by (and including) max_batch."""
    assert bk.batch_sizes(1) == [1]
    assert bk.batch_sizes(4) == [1, 2, 4]
    assert bk.batch_sizes(6) == [1, 2, 4, 6]
    assert [bk.choose_batch(n, 6) for n in range(1, 7)] == [1, 2, 4, 4, 6, 6]
    with pytest.raises(ValueError):
        bk.choose_batch(7, 6)


def test_padding_and_trimming(engine):
    """A request is padded to its bucket (noise and reference zero beyond its
    own frames, mask False there) and its mel trimmed back to its own length."""
    fast = _fast(engine)
    voice = engine.prepared_voice(None)
    params = engine.params(voice, seed=3)
    with torch.inference_mode():
        req = engine.request(voice, "你好。", params)
        batch = fast.prepare([req], guided=True)
    length = fast.length_for(req.total)
    assert length in fast.buckets and length >= req.total
    assert batch.x0.shape == (1, length, 100) and batch.const.shape[0] == 2
    assert batch.mask[0, : req.total].all() and not batch.mask[0, req.total:].any()
    assert (batch.x0[0, req.total:] == 0).all() and (batch.cond[0, voice.mel.shape[1]:] == 0).all()
    mels, _ = _sample(fast, engine, voice, ["你好。"], seed=3)
    assert mels[0].shape[1] == req.total - voice.ref_frames


# ------------------------------------------------------------------ equivalence


@pytest.mark.parametrize(("nfe", "cfg"), [(7, 2.0), (16, 2.0), (6, 0.0)])
def test_fast_path_equals_eager(engine, nfe, cfg):
    """Same seed, fp32, CPU: each message's mel through the fast path (padded
    to its bucket) equals the eager sampler's within 1e-4."""
    fast = _fast(engine)
    voice = engine.prepared_voice("zh16")
    for text in TEXTS:
        (ours,), params = _sample(fast, engine, voice, [text], nfe=nfe, cfg=cfg)
        eager = engine.generate_mel(voice, text, params)
        assert ours.shape == eager.shape
        assert (ours - eager).abs().max().item() < TOLERANCE


def test_short_message_batched_with_long_one_equals_alone(engine):
    """A short message batched with a long one (and a padded third row) gives
    the same mel as alone: the length and text masks keep the rows apart."""
    fast = _fast(engine)
    voice = engine.prepared_voice(None)
    batched, params = _sample(fast, engine, voice, TEXTS)
    assert len(batched) == 3
    for text, mel in zip(TEXTS, batched):
        alone = engine.generate_mel(voice, text, params)
        assert mel.shape == alone.shape
        assert (mel - alone).abs().max().item() < TOLERANCE


def test_without_key_masking_padding_would_change_the_output(engine):
    """The comparison above can fail: with upstream's processor (which ignores
    the mask unless attn_mask_enabled), padded frames leak into attention and
    move the mel well beyond the tolerance."""
    fast = _fast(engine, buckets_s=[30.0])  # a short message in a long bucket: mostly padding
    voice = engine.prepared_voice(None)
    (masked,), params = _sample(fast, engine, voice, ["你好。"])
    saved = [b.attn.processor for b in engine.dit.transformer_blocks]
    try:
        for block in engine.dit.transformer_blocks:
            assert isinstance(block.attn.processor, KeyMaskedAttention)
            block.attn.processor = block.attn.processor.original
        (leaky,), _ = _sample(fast, engine, voice, ["你好。"])
    finally:
        for block, proc in zip(engine.dit.transformer_blocks, saved):
            block.attn.processor = proc
    assert (masked - leaky)[:, 1:].abs().max().item() > 10 * TOLERANCE


async def test_worker_batches_waiting_messages_without_changing_them(tiny_config):
    """Messages submitted together through a fast-path worker are one batch
    and each sounds exactly as it does alone."""
    from ishowtts_live.config import load_config
    from ishowtts_live.synth.local import LocalSynthesizer
    from ishowtts_live.synth.protocol import SynthRequest, synthesize

    loaded = load_config(str(tiny_config), ["engine.fast_path=on", f"engine.buckets_s={BUCKETS_S}",
                                            "engine.cache_mb=0"])
    worker = LocalSynthesizer(loaded)
    await wait(worker.start(warmup=False))
    try:
        calls = []
        original = worker.engine.fast.sample
        worker.engine.fast.sample = lambda reqs, **kw: (calls.append(len(reqs)), original(reqs, **kw))[1]
        alone = [(await wait(synthesize(worker, SynthRequest(t, seed=5))))[0] for t in TEXTS]
        calls.clear()
        together = await wait(asyncio.gather(*(synthesize(worker, SynthRequest(t, seed=5)) for t in TEXTS)), 120)
        assert max(calls) > 1  # at least one round was batched
        # asked ahead (the daemon's playback), they reach the engine as one group: always one batch
        calls.clear()
        streams = worker.stream_ahead([SynthRequest(t, seed=5) for t in TEXTS])

        async def pcm(stream):
            return np.concatenate([b.pcm async for b in stream])

        ahead = await wait(asyncio.gather(*map(pcm, streams)), 120)
        assert calls[0] == len(TEXTS)
    finally:
        await wait(worker.stop())
    for a, (b, stats), c in zip(alone, together, ahead):
        assert len(a) == len(b) and np.abs(a - b).max() < 1e-4 and stats.audio_seconds > 0
        assert len(a) == len(c) and np.abs(a - c).max() < 1e-4


# ------------------------------------------------------------------ cache


def _key(text="666", nfe=7, seed=-1, voice="default"):
    return CacheKey(voice=voice, reference=("ref.wav", "t", 1), text=text, nfe_step=nfe, cfg_strength=2.0,
                    sway_sampling_coef=-1.0, speed=1.0, seed=seed, model=("m", "", "float32"))


def test_cache_hits_misses_and_keying():
    """A stored phrase is a hit; another text, NFE, seed or voice is a miss."""
    cache = AudioCache(1 << 20)
    wave = np.ones(100, np.float32)
    assert cache.get(_key()) is None
    cache.put(_key(), wave)
    hit = cache.get(_key())
    assert np.array_equal(hit, wave) and not hit.flags.writeable
    for other in (_key(text="777"), _key(nfe=8), _key(seed=3), _key(voice="zh16")):
        assert cache.get(other) is None
    assert (cache.hits, cache.misses) == (1, 5)


def test_cache_is_bounded_and_drops_the_least_recently_used():
    """Past max_bytes the least recently used entry goes; an entry larger than
    the cache is not stored; size 0 disables it."""
    cache = AudioCache(3 * 400)  # three 100-sample float32 waves
    for t in "abc":
        cache.put(_key(t), np.zeros(100, np.float32))
    cache.get(_key("a"))  # a is now the most recent
    cache.put(_key("d"), np.zeros(100, np.float32))
    assert cache.get(_key("b")) is None and cache.get(_key("a")) is not None and len(cache) == 3
    assert cache.size_bytes <= cache.max_bytes
    cache.put(_key("huge"), np.zeros(1000, np.float32))
    assert cache.get(_key("huge")) is None
    off = AudioCache(0)
    off.put(_key(), np.zeros(10, np.float32))
    assert off.get(_key()) is None and not off.enabled


def test_engine_answers_a_repeated_phrase_from_the_cache(engine, monkeypatch):
    """The second time a chunk is asked for with the same voice and
    parameters the model is not run; other parameters run it again."""
    voice = engine.prepared_voice(None)
    engine.cache.clear()
    params = engine.params(voice, seed=11)
    first = engine.synthesize_chunk(voice, "感谢老板的火箭！", params)
    ran = []
    original = engine.generate_mels
    monkeypatch.setattr(engine, "generate_mels", lambda items, cancel=None: (ran.append(1), original(items, cancel))[1])
    again = engine.synthesize_chunk(voice, "感谢老板的火箭！", params)
    assert ran == [] and np.array_equal(first, again)
    engine.synthesize_chunk(voice, "感谢老板的火箭！", engine.params(voice, seed=11, nfe_step=5))
    assert ran == [1]


# ------------------------------------------------------------------ compiled


def test_compiled_fast_path_never_recompiles_within_its_buckets(engine):
    """torch.compile (CPU backend): after the warm-up over every bucket,
    messages of other lengths in those buckets, batched or not, compile
    nothing new; and the compiled mel still matches the eager one."""
    from torch._dynamo.utils import counters

    voice = engine.prepared_voice(None)
    params = engine.params(voice, seed=9)
    texts = ["谢谢老板", "谢谢老板！", "今天的游戏真好玩。", "今天的游戏真好玩！!"]
    with torch.inference_mode():
        totals = [engine.request(voice, t, params).total for t in texts]
    assert totals == sorted(totals) and totals[1] + 5 < totals[2]
    torch._dynamo.reset()
    fast = FastSampler(engine.dit, engine.device, engine.dtype, buckets=[totals[1] + 5, totals[3] + 5],
                       max_batch=2, compile_mode="default", cuda_graphs=False)
    with torch.inference_mode():
        ref = engine.request(voice, "你好。", params)
        shapes = fast.warmup(ref, steps=params.nfe_step, cfg_strength=params.cfg_strength,
                             sway=params.sway_sampling_coef)
    assert shapes == 3  # two buckets at batch 1, one batched shape
    before = counters["frames"]["total"]
    outs = [_sample(fast, engine, voice, [t], seed=9)[0][0] for t in texts]
    _sample(fast, engine, voice, texts[1:3], seed=9)
    assert counters["frames"]["total"] == before
    eager = engine.generate_mel(voice, texts[3], params)
    assert outs[3].shape == eager.shape and (outs[3] - eager).abs().max().item() < 1e-3


# ------------------------------------------------------------------ warm-up


def test_warmup_covers_every_voice(tiny_config, voices_dir, tmp_path, monkeypatch):
    """Every voice is prepared at start; the buckets warmed start from the
    shortest reference; each voice's (NFE, cfg) is warmed (with CUDA graphs,
    the backlog floor too); a broken voice is a warning, not a failed start."""
    import shutil

    import soundfile as sf

    from ishowtts_live.config import load_config
    from ishowtts_live.synth.engine import load_engine

    folder = tmp_path / "voices"
    shutil.copytree(voices_dir, folder)
    audio, rate = sf.read(folder / "zh16" / "ref.wav", dtype="float32")
    (folder / "brief").mkdir()
    sf.write(folder / "brief" / "ref.wav", audio[: int(2.5 * rate)], rate)
    (folder / "brief" / "voice.toml").write_text('audio = "ref.wav"\ntext = "对，这就是我。"\nnfe_step = 5\n'
                                                 'cfg_strength = 0.0\n', encoding="utf-8")
    (folder / "broken").mkdir()
    (folder / "broken" / "voice.toml").write_text('audio = "missing.wav"\ntext = "不在。"\n', encoding="utf-8")
    loaded = load_config(str(tiny_config), ["engine.fast_path=on", f"engine.buckets_s={BUCKETS_S}",
                                            f"voices.dir={folder}", "backlog.nfe_floor=4"])
    engine = load_engine(loaded)
    warmed = []
    monkeypatch.setattr(engine.fast, "warmup", lambda ref, **kw: warmed.append(
        (ref.mel.shape[1], kw["steps"], kw["cfg_strength"])) or 0)
    warnings = []
    monkeypatch.setattr("ishowtts_live.synth.warmup.log.warning", lambda msg, **kw: warnings.append((msg, kw)))
    assert engine.warmup() > 0
    assert {"zh16", "brief"} <= set(engine.voices) and "broken" not in engine.voices
    assert [kw["voice"] for _msg, kw in warnings] == ["broken"]
    shortest = engine.voices["brief"].mel.shape[1]
    assert shortest < engine.prepared_voice(None).mel.shape[1]
    assert warmed == [(shortest, 7, 2.0), (shortest, 5, 0.0)]  # with and without guidance
    engine.fast.cuda_graphs = True  # graphs are per step count: every pair, and the backlog floor
    ready = [engine.prepared_voice(None), engine.voices["brief"]]
    assert engine.warm_schedules(ready) == [(7, 2.0), (4, 2.0), (5, 0.0), (4, 0.0)]


def test_warmup_reports_every_step_it_takes(tiny_config):
    """The real engine's warm-up calls progress once per step as it begins:
    every shape of every (NFE, cfg) warmed, counted 1..n against the same n,
    then the phrase spoken end to end — what systemd and /healthz show."""
    from ishowtts_live.config import load_config
    from ishowtts_live.synth.engine import load_engine

    loaded = load_config(str(tiny_config), ["engine.fast_path=on", "engine.compile=off",
                                            "engine.buckets_s=[8.0, 10.0]", "engine.max_batch=2"])
    engine = load_engine(loaded)
    seen = []
    assert engine.warmup(progress=lambda *step: seen.append(step)) > 0
    with torch.inference_mode():
        ref = engine.request(engine.prepared_voice(None), "你好。", engine.params(engine.prepared_voice(None)))
    plan = engine.fast.warmup_plan(ref)
    schedules = engine.warm_schedules([engine.prepared_voice(None), *(engine.voices[v] for v in engine.voices
                                                                     if v != engine.prepared_voice(None).id)])
    n = len(schedules) * len(plan) + 1
    assert len(plan) >= 2 and [(i, total) for i, total, _ in seen] == [(i, n) for i in range(1, n + 1)]
    assert [what for _, _, what in seen][: len(plan)] == [f"batch {b}, {f} frames" for b, f in plan]
    assert seen[-1][2] == "a phrase spoken end to end"
