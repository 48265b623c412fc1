from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from ishowtts_live.config import load_config
from ishowtts_live.errors import EngineError, SynthesisError
from ishowtts_live.synth import loading
from ishowtts_live.synth.engine import pinyin_tokens, reference_transcript


def _loaded(tiny_config, *overrides):
    return load_config(str(tiny_config), list(overrides))


def _engine_config(tiny_config, *overrides):
    return _loaded(tiny_config, *overrides).config.engine


def test_engine_loads_through_the_upstream_format(engine):
    """The tiny checkpoint (ema_model.-prefixed safetensors) and Vocos folder load."""
    assert engine.dtype == torch.float32 and engine.device.type == "cpu"
    assert sum(p.numel() for p in engine.model.parameters()) > 4_000_000
    assert engine.prepared_voice(None).id == "default"


def test_missing_checkpoint_is_one_line(tiny_config, tmp_path):
    """A checkpoint path that does not exist names the key and the path."""
    cfg = _engine_config(tiny_config, f"engine.checkpoint={tmp_path / 'nope.safetensors'}")
    with pytest.raises(EngineError, match=r"^engine.checkpoint: file not found: .*nope.safetensors$"):
        loading.load_f5(cfg, torch.device("cpu"), torch.float32)


def test_corrupt_checkpoint_is_one_line(tiny_config, tmp_path):
    """A damaged .safetensors file is reported as such, not as a traceback."""
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all" + b"\0" * 64)
    cfg = _engine_config(tiny_config, f"engine.checkpoint={bad}")
    with pytest.raises(EngineError, match="is not a valid .safetensors file") as info:
        loading.load_f5(cfg, torch.device("cpu"), torch.float32)
    assert "\n" not in str(info.value)


def test_damaged_pt_checkpoint_is_one_line(tiny_config, tmp_path):
    """A .pt file that is not a torch archive is reported as unloadable."""
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"definitely not a zip file")
    cfg = _engine_config(tiny_config, f"engine.checkpoint={bad}")
    with pytest.raises(EngineError, match="engine.checkpoint: cannot load"):
        loading.load_f5(cfg, torch.device("cpu"), torch.float32)


def test_architecture_mismatch_says_what_to_change(tiny_config, tiny_weights):
    """A tiny checkpoint loaded as the full-size model: shapes differ, and the
    message says to set engine.model / [engine.arch]."""
    cfg = _engine_config(tiny_config, "engine.arch.dim=512")
    with pytest.raises(EngineError) as info:
        loading.load_f5(cfg, torch.device("cpu"), torch.float32)
    msg = str(info.value)
    assert "does not match the F5TTS_v1_Base architecture" in msg and "differ in shape" in msg
    assert "[engine.arch]" in msg and "\n" not in msg


def test_vocoder_folder_without_weights(tiny_config, tmp_path):
    """A Vocos folder missing pytorch_model.bin is named."""
    (tmp_path / "voc").mkdir()
    (tmp_path / "voc" / "config.yaml").write_text("x: 1\n")
    cfg = _engine_config(tiny_config, f"engine.vocoder={tmp_path / 'voc'}")
    with pytest.raises(EngineError, match="has no pytorch_model.bin"):
        loading.load_vocos(cfg, torch.device("cpu"))


def test_vocoder_weights_that_do_not_fit_the_config(tiny_config, tiny_weights, tmp_path):
    """Vocos weights saved for another size are a one-line mismatch."""
    voc = tmp_path / "voc"
    shutil.copytree(tiny_weights[1], voc)
    (voc / "config.yaml").write_text((voc / "config.yaml").read_text().replace("dim: 64", "dim: 96"))
    cfg = _engine_config(tiny_config, f"engine.vocoder={voc}")
    with pytest.raises(EngineError, match="engine.vocoder: weights do not match config.yaml"):
        loading.load_vocos(cfg, torch.device("cpu"))


def test_fp16_on_cpu_is_refused():
    """fp16 needs a GPU; asking for it on the CPU says what to use instead."""
    with pytest.raises(EngineError, match="use 'fp32'"):
        loading.resolve_dtype("fp16", torch.device("cpu"))


def test_reference_transcript_matches_upstream_rules():
    """Transcripts end in '. ' or '。', plus a space after one-byte endings."""
    assert reference_transcript("你好。") == "你好。"
    assert reference_transcript("hello") == "hello.  "
    assert reference_transcript("hello.") == "hello.  "
    assert reference_transcript("你好") == "你好.  "


@pytest.mark.parametrize("after", ["。", " "])
@pytest.mark.parametrize("text", ["大家好", "hello world", "666你好abc", "Thanks，谢谢！", "  spaced  out ", "“引号”;x"])
def test_message_tokens_equal_the_joined_conversion(after, text):
    """Tokens of the message alone (cached) equal its part of the joined
    reference + message conversion that upstream does."""
    from f5_tts.model.utils import convert_char_to_pinyin

    ref = "对，这就是我，万人敬仰的太乙真人" + after
    joined = convert_char_to_pinyin([ref + text])[0]
    assert list(pinyin_tokens(ref)) + list(pinyin_tokens(text, ref[-1])) == joined


def test_synthesis_streams_plausible_audio(engine):
    """Each chunk's waveform is finite, not silent, and about as long as estimated."""
    voice = engine.prepared_voice(None)
    params = engine.params(voice, seed=7)
    text = "大家好，欢迎来到我的直播间！今天我们来玩一个新游戏。"
    out = list(engine.stream(None, text, params))
    assert [c for c, _ in out] == engine.plan(voice, text, params)
    for chunk, wave in out:
        expected = engine.seconds_for(voice, chunk, 1.0)
        assert wave.dtype == np.float32 and np.isfinite(wave).all() and np.abs(wave).max() > 1e-3
        assert 0.5 * expected < len(wave) / engine.sample_rate < 1.5 * expected + 0.3


def test_same_seed_same_audio(engine):
    """A fixed seed makes synthesis repeatable."""
    voice = engine.prepared_voice(None)
    a = engine.synthesize_chunk(voice, "你好世界。", engine.params(voice, seed=3))
    b = engine.synthesize_chunk(voice, "你好世界。", engine.params(voice, seed=3))
    c = engine.synthesize_chunk(voice, "你好世界。", engine.params(voice, seed=4))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def _patched_engine(tiny_loaded, f5_patch=None, vocos_patch=None):
    from ishowtts_live.synth.engine import load_engine

    engine = load_engine(tiny_loaded)
    with torch.no_grad():
        if f5_patch:
            f5_patch(engine.model)
        if vocos_patch:
            vocos_patch(engine.vocoder)
    return engine


def test_nan_output_is_an_error_for_that_message(tiny_loaded):
    """A model that produces NaN raises SynthesisError naming the text, with a hint."""
    engine = _patched_engine(tiny_loaded, f5_patch=lambda m: m.transformer.proj_out.bias.fill_(float("nan")))
    voice = engine.prepared_voice(None)
    with pytest.raises(SynthesisError, match="produced NaN .*try engine.dtype"):
        engine.synthesize_chunk(voice, "你好。", engine.params(voice, seed=1))


def test_silent_output_is_an_error_for_that_message(tiny_loaded):
    """A vocoder that outputs (near) silence raises SynthesisError."""
    def mute(vocos):
        vocos.head.out.weight.zero_()
        vocos.head.out.bias.fill_(-40.0)

    engine = _patched_engine(tiny_loaded, vocos_patch=mute)
    voice = engine.prepared_voice(None)
    with pytest.raises(SynthesisError, match="is silent"):
        engine.synthesize_chunk(voice, "你好。", engine.params(voice, seed=1))


def test_voice_overrides_apply_below_message_values(engine, tiny_config, voices_dir, tmp_path):
    """Per-voice nfe/speed/cfg apply unless the message sets its own."""
    from ishowtts_live.synth import voices

    folder = voices_dir / "fast"
    if not folder.exists():
        shutil.copytree(voices_dir / "zh16", folder)
        with open(folder / "voice.toml", "a", encoding="utf-8") as f:
            f.write("speed = 1.5\nnfe_step = 12\ncfg_strength = 1.0\n")
    prepared = engine.prepare_voice(voices.load_voice("fast", folder / "voice.toml"))
    p = engine.params(prepared)
    assert (p.speed, p.nfe_step, p.cfg_strength) == (1.5, 12, 1.0)
    assert engine.params(prepared, nfe_step=5).nfe_step == 5
    assert engine.params(engine.prepared_voice(None)).nfe_step == 7



@pytest.mark.parametrize(("configured", "cores", "expected"), [(0, {0, 1}, 1), (0, {0}, 1), (0, set(range(8)), 7),
                                                              (3, {0, 1}, 3)])
def test_cpu_threads_leave_a_core_for_the_event_loop(monkeypatch, configured, cores, expected):
    """engine.cpu_threads = 0: every core the process may use but one, never fewer than one."""
    from ishowtts_live.synth import loading

    monkeypatch.setattr(loading.os, "sched_getaffinity", lambda _pid: cores)
    assert loading.cpu_threads(configured) == expected
