"""The fast path fails soft, on the tiny model on the CPU: a compiler that
cannot build, a graph capture that fails (injected: there is no CUDA here),
GPU memory running out in a batch and alone; the set of captured shapes is
bounded to what warm-up covered; and key-padding attention for models that
put rotary on some heads only (pe_attn_head=1) builds no B×H×N×N mask."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from structlog.testing import capture_logs

from ishowtts_live.errors import SynthesisError
from ishowtts_live.synth import fastpath
from ishowtts_live.synth.fastpath import FastSampler
from ishowtts_live.synth.masking import KeyMaskedAttention

TEXTS = ["666", "你好。", "大家好，欢迎来到直播间！"]
BUCKET_FRAMES = [752, 944]  # 8 and 10 s
NFE = 2  # few steps: this is about shapes, not sound


def _fast(engine, compile_mode="off") -> FastSampler:
    return FastSampler(engine.dit, engine.device, engine.dtype, buckets=BUCKET_FRAMES, max_batch=2,
                       compile_mode=compile_mode, cuda_graphs=False)


def _requests(engine, texts, nfe=NFE, seed=5):
    voice = engine.prepared_voice(None)
    params = engine.params(voice, nfe_step=nfe, cfg_strength=2.0, seed=seed)
    with torch.inference_mode():
        return [engine.request(voice, t, params) for t in texts], params


def _run(fast, engine, texts, nfe=NFE, seed=5):
    reqs, params = _requests(engine, texts, nfe, seed)
    with torch.inference_mode():
        return fast.sample(reqs, steps=nfe, cfg_strength=2.0, sway=params.sway_sampling_coef)


def _warnings(logs):
    return [e for e in logs if e["log_level"] == "warning"]


class _FakeGraph:
    """Stands in for a captured CUDA graph on the CPU: 'replay' runs the
    captured loop on the batch's tensors."""

    def __init__(self, run, like, pool, device):
        self.run = run

    def replay(self, batch):
        return self.run(batch.x0, batch.const, batch.mask)


def _with_graphs(fast, monkeypatch, graph_class=_FakeGraph) -> FastSampler:
    monkeypatch.setattr(fastpath, "LoopGraph", graph_class)
    fast.cuda_graphs = True  # what the constructor sets on CUDA
    return fast


@pytest.fixture
def no_cxx(monkeypatch, tmp_path):
    """Inductor's CPU backend with no working C++ compiler (CXX names a missing
    one). Through the config's own ``patch``, which restores the options:
    ``monkeypatch.setattr`` on a config proxy deletes the option on undo and
    breaks every later compile in the session."""
    import torch._inductor.config as inductor

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    # no cached kernel either: a cached one would not need the compiler
    with inductor.patch({"cpp.cxx": (None, str(tmp_path / "no-such-c++")), "fx_graph_cache": False}):
        yield


def test_compile_without_a_cpp_compiler_steps_down_to_eager(engine, no_cxx):
    """No working C++ compiler (CXX names a missing one, as inductor's CPU
    backend reads it): the message is served, uncompiled, with the same mel;
    one warning line names the cause and what runs instead; later messages
    do not try again."""
    torch._dynamo.reset()
    try:
        fast = _fast(engine, compile_mode="default")
        with capture_logs() as logs:
            out = _run(fast, engine, TEXTS[:1])
            again = _run(fast, engine, TEXTS[1:2])
    finally:
        torch._dynamo.reset()
    eager = _run(_fast(engine), engine, TEXTS[:1])
    assert (out[0] - eager[0]).abs().max().item() < 1e-4 and again[0].numel() > 0
    [warning] = _warnings(logs)
    assert warning["event"].startswith("torch.compile (default) failed; running fast path, eager")
    assert warning["cause"] and "\n" not in warning["cause"]
    assert fast.compile_mode == "off" and fast.stepdowns["no-compile"] == 1


def test_a_failed_capture_steps_down_to_no_graphs(engine, monkeypatch):
    """A capture that fails (injected) serves the batch anyway, turns graphs
    off with one warning line, and is not tried again."""
    class Failing:
        def __init__(self, *args):
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing\nmore detail")

    fast = _with_graphs(_fast(engine), monkeypatch, Failing)
    with capture_logs() as logs:
        out = _run(fast, engine, TEXTS[:2])
        _run(fast, engine, TEXTS[2:])
    plain = _run(_fast(engine), engine, TEXTS[:2])
    assert all((a - b).abs().max().item() < 1e-4 for a, b in zip(out, plain))
    [warning] = _warnings(logs)
    assert warning["event"] == "CUDA graph capture failed; running fast path, eager (no compile, no CUDA graphs) instead"
    assert warning["cause"] == "RuntimeError: CUDA error: operation not permitted when stream is capturing"
    assert not fast.cuda_graphs and fast.stepdowns["no-graphs"] == 1 and fast.graph_captures == 0


def test_graphs_only_for_warmed_shapes(engine, monkeypatch):
    """Warm-up captures every bucket × batch size for the voice's schedule;
    afterwards, an NFE no voice uses and a length past the largest bucket run
    without a capture (counted as unwarmed), so the set stays bounded."""
    fast = _with_graphs(_fast(engine), monkeypatch)
    reqs, params = _requests(engine, ["你好。"])
    with torch.inference_mode():
        shapes = fast.warmup(reqs[0], steps=NFE, cfg_strength=2.0, sway=params.sway_sampling_coef)
    lengths = [b for b in BUCKET_FRAMES if b > reqs[0].mel.shape[1]]
    assert shapes == 2 * len(lengths) and fast.captures == {"warmup": shapes, "live": 0}
    _run(fast, engine, TEXTS[:2])  # a warmed shape: replayed
    _run(fast, engine, TEXTS[:1], nfe=NFE + 1)  # `ctl nfe`: an NFE no voice uses
    long = "这是一条很长的弹幕，" * 5
    assert fast.length_for(_requests(engine, [long])[0][0].total) > BUCKET_FRAMES[-1]
    _run(fast, engine, [long])
    assert fast.captures == {"warmup": shapes, "live": 0} and len(fast._graphs) == shapes
    assert fast.unwarmed == {"compiled": 0, "eager": 2}


def test_out_of_memory_retries_one_by_one_then_fails_only_that_chunk(engine, monkeypatch):
    """torch.cuda.OutOfMemoryError (what exists on every supported torch) on a
    batch: each chunk is tried alone; the one that does not fit alone fails
    with a one-line reason, the others are spoken; the same at batch 1."""
    original = engine.generate_mels
    calls: list[int] = []

    def tight(items, cancel=None):
        calls.append(len(items))
        if len(items) > 1 or items[0][1].startswith("OOM"):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(items, cancel)

    monkeypatch.setattr(engine, "generate_mels", tight)
    voice = engine.prepared_voice(None)
    params = engine.params(voice, seed=11)
    texts = ["内存测试一", "OOM 内存测试二", "内存测试三"]
    with capture_logs() as logs:
        pending = engine.start_chunks([(voice, t, params) for t in texts])
    assert calls == [3, 1, 1, 1]
    assert pending[0].result().size > 0 and pending[2].result().size > 0
    with pytest.raises(SynthesisError, match=r"^out of GPU memory on a \d+-character chunk \(alone, after a batch of 3\)"):
        pending[1].result()
    assert [e["event"] for e in _warnings(logs)] == ["out of GPU memory on a batch; trying its chunks one at a time"]
    [alone] = engine.start_chunks([(voice, "OOM 单独", params)])
    with pytest.raises(SynthesisError, match=r"\(alone\); skipped it$"):
        alone.result()


def _pe_one_head_dit():
    """A small DiT laid out like F5TTS_Base / E2TTS: rotary on one head,
    upstream's torch attention with its mask on."""
    from f5_tts.model import DiT

    torch.manual_seed(0)
    return DiT(dim=64, depth=1, heads=4, dim_head=16, ff_mult=2, mel_dim=16, text_num_embeds=10, text_dim=32,
               conv_layers=1, pe_attn_head=1, attn_mask_enabled=True).eval()


def test_key_masking_builds_no_dense_mask_and_matches_upstream(monkeypatch):
    """pe_attn_head=1: upstream's processor hands SDPA a B×H×N×N mask; ours a
    B×1×1×N one, and the valid frames come out the same."""
    dit = _pe_one_head_dit()
    attn = dit.transformer_blocks[0].attn
    b, n = 2, 24
    x = torch.randn(b, n, 64)
    mask = torch.arange(n)[None, :] < torch.tensor([[24], [13]])
    rope = dit.rotary_embed.forward_from_seq_len(n)
    shapes: list[tuple] = []
    sdpa = F.scaled_dot_product_attention

    def recording(q, k, v, attn_mask=None, **kw):
        shapes.append(tuple(attn_mask.shape))
        return sdpa(q, k, v, attn_mask=attn_mask, **kw)

    monkeypatch.setattr(F, "scaled_dot_product_attention", recording)
    with torch.inference_mode():
        upstream = attn.processor(attn, x, mask=mask, rope=rope)
        ours = KeyMaskedAttention(attn.processor)(attn, x, mask=mask, rope=rope)
    assert shapes == [(b, 4, n, n), (b, 1, 1, n)]
    assert (upstream[mask] - ours[mask]).abs().max().item() < 1e-5
    assert not ours[~mask].any()


def test_eager_sampler_compile_failure_steps_down(engine, no_cxx):
    """Fast path off, compile on (blocks compiled one by one): without a C++
    compiler the message is still synthesized, uncompiled, the same mel as
    never compiled, with one warning line; the blocks are plain again."""
    assert engine.fast is None  # the session's CPU engine
    voice = engine.prepared_voice(None)
    params = engine.params(voice, nfe_step=NFE, seed=3)
    plain = engine.generate_mel(voice, TEXTS[1], params)
    torch._dynamo.reset()
    try:
        engine.compile("default")
        with capture_logs() as logs:
            out = engine.generate_mel(voice, TEXTS[1], params)
    finally:
        engine._set_compiled([None] * len(engine.dit.transformer_blocks))
        engine._compile_mode = "off"
        torch._dynamo.reset()
    assert (out - plain).abs().max().item() < 1e-4
    [warning] = _warnings(logs)
    assert warning["event"] == "torch.compile (default) failed; running the eager sampler uncompiled instead"
    assert engine.counters()["stepdowns"]["no-compile"] >= 1
