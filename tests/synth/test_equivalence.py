"""The engine's sampler keeps upstream's math.

With a fixed seed, fp32, on the CPU and without compilation, the mel the
engine generates for a reference and a text equals what upstream's
``CFM.sample`` returns when called the way ``infer_batch_process`` calls it:
same reference audio tensor, ``convert_char_to_pinyin([ref_text + gen_text])``,
the same duration, NFE, cfg strength and sway coefficient. Later speed work
must keep this test green.
"""

from __future__ import annotations

import pytest
import torch

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def upstream_model(tiny_weights):
    """The same checkpoint loaded independently by upstream's own load_model."""
    import contextlib
    import io

    from f5_tts.infer.utils_infer import load_model
    from f5_tts.model import DiT

    from tests import kit

    arch = dict(kit.TINY_ARCH, text_mask_padding=True, qk_norm=None, pe_attn_head=None,
                attn_backend="torch", attn_mask_enabled=False, checkpoint_activations=False)
    with contextlib.redirect_stdout(io.StringIO()):
        return load_model(DiT, arch, str(tiny_weights[0]), device="cpu")


def upstream_mel(model, voice, gen_text, nfe, cfg, sway, seed, speed=1.0):
    from f5_tts.model.utils import convert_char_to_pinyin

    ref_audio_len = voice.audio.shape[-1] // 256
    ref_text_len = len(voice.text.encode("utf-8"))
    gen_text_len = len(gen_text.encode("utf-8"))
    local_speed = 0.3 if gen_text_len < 10 else speed
    duration = ref_audio_len + int(ref_audio_len / ref_text_len * gen_text_len / local_speed)
    with torch.inference_mode():
        generated, _ = model.sample(
            cond=voice.audio, text=convert_char_to_pinyin([voice.text + gen_text]), duration=duration,
            steps=nfe, cfg_strength=cfg, sway_sampling_coef=sway, seed=seed,
        )
    return generated.to(torch.float32)[:, ref_audio_len:, :]


CASES = [
    ("大家好，欢迎来到直播间！Thanks for the follow.", 7, 2.0, -1.0),
    ("666", 7, 2.0, -1.0),
    ("hello world 你好 2333", 16, 2.0, -1.0),
    ("今天的游戏真好玩。", 32, 2.0, -1.0),
    ("今天的游戏真好玩。", 6, 0.0, -1.0),
    ("今天的游戏真好玩。", 8, 1.5, 0.5),
]


@pytest.mark.parametrize(("text", "nfe", "cfg", "sway"), CASES)
@pytest.mark.parametrize("voice_id", ["zh16", "default"])
def test_engine_mel_equals_upstream_cfm_sample(engine, upstream_model, voice_id, text, nfe, cfg, sway):
    """Same seed, fp32, CPU, compile off: the mels agree within 1e-4."""
    voice = engine.prepared_voice(voice_id)
    params = engine.params(voice, nfe_step=nfe, cfg_strength=cfg, seed=1234)
    params = type(params)(**{**params.__dict__, "sway_sampling_coef": sway})
    ours = engine.generate_mel(voice, text, params).float()
    theirs = upstream_mel(upstream_model, voice, text, nfe, cfg, sway, seed=1234)
    assert ours.shape == theirs.shape
    assert (ours - theirs).abs().max().item() < TOLERANCE


def test_the_comparison_can_fail(engine, upstream_model):
    """A different NFE, seed, guidance or sway moves the mel far beyond the
    tolerance, so agreement above is evidence, not a coincidence of a flat
    model. (Text reaches the generated frames only through attention, weakly
    in a random model; tokenization is held equal by its own test.)"""
    voice = engine.prepared_voice("zh16")
    text = "大家好，欢迎来到直播间！"
    base = upstream_mel(upstream_model, voice, text, 7, 2.0, -1.0, seed=1234)
    for other in (
        upstream_mel(upstream_model, voice, text, 8, 2.0, -1.0, seed=1234),
        upstream_mel(upstream_model, voice, text, 7, 2.0, -1.0, seed=99),
        upstream_mel(upstream_model, voice, text, 7, 0.0, -1.0, seed=1234),
        upstream_mel(upstream_model, voice, text, 7, 2.0, 0.0, seed=1234),
    ):
        assert (other[:, 1:] - base[:, 1:]).abs().max().item() > 100 * TOLERANCE


def test_reference_preparation_matches_upstream(engine):
    """Loudness normalization and resampling of the reference equal upstream's
    (torchaudio Resample of the RMS-scaled audio) on a 16 kHz reference."""
    import numpy as np
    import torchaudio

    from ishowtts_live.synth import voices

    voice = engine.prepared_voice("zh16")
    ref = voices.read_reference(voice.voice)
    audio = torch.from_numpy(np.concatenate([ref.samples, np.zeros(800, np.float32)]))[None]
    rms = torch.sqrt(torch.mean(torch.square(audio)))
    if rms < 0.1:
        audio = audio * 0.1 / rms
    audio = torchaudio.transforms.Resample(ref.sample_rate, 24000)(audio)
    assert voice.audio.shape == audio.shape
    assert (voice.audio - audio).abs().max().item() < 1e-6
    mel = engine.model.mel_spec(audio).permute(0, 2, 1)
    # compared as magnitudes: the log amplifies float noise in near-silent bins
    assert (voice.mel.exp() - mel.exp()).abs().max().item() < 1e-4
