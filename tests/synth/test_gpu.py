"""GPU checks of the fast path (skipped without CUDA; no GPU was available
when they were written, so they have not run yet).

* the whole-loop CUDA graph replays what the same sampler computes without
  it (fp32, same seed);
* after the warm-up no shape is captured or compiled again;
* FP16 fast path against FP32 eager on the same seed: the relative error is
  printed (``-s``) and must stay small;
* with two GPUs, an engine on ``cuda:1`` compiles, captures and replays there
  and matches the same engine on ``cuda:0``.

With ``ISHOWTTS_GPU_FIGURES=F.json`` (tests/gpu/run) the figures are also
written there as JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from ishowtts_live.synth import buckets as bk
from ishowtts_live.synth.fastpath import FastSampler

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

def _figure(name: str, value) -> None:
    """Add one figure to the JSON file tests/gpu/run collects."""
    target = os.environ.get("ISHOWTTS_GPU_FIGURES")
    if not target:
        return
    path = Path(target)
    figures = json.loads(path.read_text()) if path.is_file() else {}
    figures[name] = value
    path.write_text(json.dumps(figures, indent=1, ensure_ascii=False))


TEXTS = ["666", "谢谢老板的火箭！", "大家好，欢迎来到直播间！Thanks for the follow."]


@pytest.fixture(scope="module")
def gpu_engine(tiny_config):
    from ishowtts_live.config import load_config
    from ishowtts_live.synth.engine import load_engine

    loaded = load_config(str(tiny_config), ["engine.device=cuda", "engine.dtype=fp32", "engine.fast_path=off",
                                            "engine.compile=off"])
    return load_engine(loaded)


def _sampler(engine, *, graphs: bool, compile_mode: str = "off", dtype=None) -> FastSampler:
    return FastSampler(engine.dit, engine.device, dtype or engine.dtype,
                       buckets=bk.bucket_frames([8.0, 10.0, 12.0, 16.0], engine.sample_rate, engine.hop),
                       max_batch=4, compile_mode=compile_mode, cuda_graphs=graphs)


def _mels(engine, fast, texts, seed=7):
    voice = engine.prepared_voice(None)
    params = engine.params(voice, seed=seed)
    with torch.inference_mode():
        reqs = [engine.request(voice, t, params) for t in texts]
        return fast.sample(reqs, steps=params.nfe_step, cfg_strength=params.cfg_strength,
                           sway=params.sway_sampling_coef), params


def test_graph_replay_equals_the_same_loop_without_graphs(gpu_engine):
    """fp32: graph replay, batched, equals the un-captured loop within 1e-4."""
    plain, _ = _mels(gpu_engine, _sampler(gpu_engine, graphs=False), TEXTS)
    replayed, _ = _mels(gpu_engine, _sampler(gpu_engine, graphs=True), TEXTS)
    for a, b in zip(plain, replayed):
        assert a.shape == b.shape and (a - b).abs().max().item() < 1e-4


def test_no_capture_or_compile_after_warmup(gpu_engine):
    """Compiled + graphs: the warm-up covers every bucket and batch size;
    messages afterwards capture and compile nothing."""
    from torch._dynamo.utils import counters

    fast = _sampler(gpu_engine, graphs=True, compile_mode="default")
    voice = gpu_engine.prepared_voice(None)
    params = gpu_engine.params(voice, seed=0)
    with torch.inference_mode():
        ref = gpu_engine.request(voice, "你好。", params)
        fast.warmup(ref, steps=params.nfe_step, cfg_strength=params.cfg_strength, sway=params.sway_sampling_coef)
    captures, frames = fast.graph_captures, counters["frames"]["total"]
    for n in (1, 2, 3):
        _mels(gpu_engine, fast, TEXTS[:n])
    assert (fast.graph_captures, counters["frames"]["total"]) == (captures, frames)


def test_fp16_fast_path_against_fp32_eager(tiny_config):
    """The daemon's GPU setting (fp16, fast path, graphs) against fp32 eager on
    the same seed: prints the relative error of each mel."""
    from ishowtts_live.config import load_config
    from ishowtts_live.synth.engine import load_engine

    base = ["engine.device=cuda", "engine.compile=off"]
    fp32 = load_engine(load_config(str(tiny_config), [*base, "engine.dtype=fp32", "engine.fast_path=off"]))
    fp16 = load_engine(load_config(str(tiny_config), [*base, "engine.dtype=fp16", "engine.fast_path=on"]))
    for text in TEXTS:
        v32, v16 = fp32.prepared_voice(None), fp16.prepared_voice(None)
        p = fp32.params(v32, seed=3)
        ref = fp32.generate_mel(v32, text, p).float()
        with torch.inference_mode():
            (ours,) = fp16.generate_mels([(v16, text, fp16.params(v16, seed=3))])
        rel = ((ours.float() - ref).norm() / ref.norm()).item()
        print(f"fp16 fast vs fp32 eager, {text!r}: relative error {rel:.2e}")
        _figure(f"fp16_fast_vs_fp32_eager_rel_error {text}", rel)
        assert ours.shape == ref.shape and torch.isfinite(ours).all() and rel < 5e-2


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_second_gpu_is_honoured(tiny_config):
    """engine.device = cuda:1 with compile and graphs: the warm-up captures on
    cuda:1, nothing lands on cuda:0, and the mels equal the cuda:0 engine's."""
    from ishowtts_live.config import load_config
    from ishowtts_live.synth.engine import load_engine

    def mels(device):
        engine = load_engine(load_config(str(tiny_config), [
            f"engine.device={device}", "engine.dtype=fp32", "engine.fast_path=on", "engine.compile=default",
            "engine.cuda_graphs=true", "engine.warmup=true", "engine.max_batch=2"]))
        engine.warmup()
        voice = engine.prepared_voice(None)
        with torch.inference_mode():
            out = engine.generate_mels([(voice, t, engine.params(voice, seed=5)) for t in TEXTS[:2]])
        assert engine.fast.graph_captures > 0 and engine.fast.stepdowns["no-graphs"] == 0
        return out

    torch.cuda.synchronize(0)
    before = torch.cuda.memory_allocated(0)
    on_one = mels("cuda:1")
    assert all(m.device == torch.device("cuda", 1) for m in on_one)
    assert torch.cuda.memory_allocated(0) == before
    on_zero = mels("cuda:0")
    worst = max((a.cpu() - b.cpu()).abs().max().item() for a, b in zip(on_one, on_zero))
    _figure("cuda1_vs_cuda0_max_abs_diff", worst)
    assert worst < 1e-3


def test_vocos_in_fp16_is_measured_before_it_is_offered(tmp_path):
    """Full-size Vocos (random weights) on a 10 s mel: fp32, as the engine runs
    it, against the backbone in fp16 (head in fp32). Only figures, written for
    tests/gpu/run; the one assertion is that fp32 gives finite audio."""
    import copy

    from vocos import Vocos

    from ishowtts_live.synth import randinit

    folder = randinit.write_vocos(tmp_path / "vocos", seed=0)
    fp32 = Vocos.from_hparams(str(folder / "config.yaml")).cuda().eval()
    fp32.load_state_dict(torch.load(folder / "pytorch_model.bin", map_location="cuda"))
    half = copy.deepcopy(fp32)
    half.backbone.half()
    mel = torch.randn(1, 100, 938, device="cuda")

    def median_ms(run) -> float:
        with torch.inference_mode():
            for _ in range(3):
                run()
            times = []
            for _ in range(20):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                run()
                end.record()
                torch.cuda.synchronize()
                times.append(start.elapsed_time(end))
        return sorted(times)[len(times) // 2]

    with torch.inference_mode():
        wave = fp32.decode(mel)
        wave16 = half.head(half.backbone(mel.half()).float())
    assert torch.isfinite(wave).all()
    ms32 = median_ms(lambda: fp32.decode(mel))
    ms16 = median_ms(lambda: half.head(half.backbone(mel.half()).float()))
    rel = ((wave16 - wave).norm() / wave.norm()).item()
    print(f"Vocos 10 s: fp32 {ms32:.2f} ms, fp16 backbone {ms16:.2f} ms, relative difference {rel:.2e}")
    _figure("vocos_10s_fp32_ms", ms32)
    _figure("vocos_10s_fp16_backbone_ms", ms16)
    _figure("vocos_fp16_vs_fp32_rel_diff", rel)
