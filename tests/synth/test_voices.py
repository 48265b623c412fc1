from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from ishowtts_live.errors import VoiceError
from ishowtts_live.synth import voices
from tests import kit


def _voice(tmp_path, toml: str, audio: np.ndarray | None = None, sr: int = 24000, name: str = "v"):
    folder = tmp_path / name
    folder.mkdir()
    if audio is not None:
        sf.write(folder / "ref.wav", audio, sr)
    (folder / "voice.toml").write_text(toml, encoding="utf-8")
    return voices.load_voice(name, folder / "voice.toml")


def _speechlike(seconds: float, sr: int = 24000) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (0.2 * rng.standard_normal(int(seconds * sr))).astype(np.float32)


def test_shipped_default_voice_reads_from_the_f5_package():
    """The default voice is built into the package (no voices.dir needed), points
    into the installed f5-tts package and is valid."""
    found = voices.discover("")
    voice = voices.load_voice("default", found["default"])
    assert "f5_tts" in str(voice.audio_path) and voice.text == kit.REF_TEXT
    ref = voices.read_reference(voice)
    assert 3.0 < ref.seconds < 12.0 and ref.sample_rate == 24000


def test_a_voice_of_the_users_replaces_the_built_in_one(tmp_path):
    """voices.dir adds the user's voices; one with a built-in id wins over it."""
    kit.write_ref_voice(tmp_path, "default")
    kit.write_ref_voice(tmp_path, "mine")
    found = voices.discover(tmp_path)
    assert found == {"default": tmp_path / "default" / "voice.toml", "mine": tmp_path / "mine" / "voice.toml"}
    assert voices.discover(tmp_path / "missing") == voices.discover("")


def test_trimming_removes_only_silent_edges():
    """Leading and trailing silence go; the speech between stays whole."""
    sr = 24000
    speech = _speechlike(1.0)
    audio = np.concatenate([np.zeros(sr // 2, np.float32), speech, np.zeros(sr, np.float32)])
    trimmed = voices.trim_edges(audio, sr)
    assert abs(len(trimmed) - len(speech)) <= sr // 100


@pytest.mark.parametrize(
    ("toml", "audio", "message"),
    [
        ('audio = "missing.wav"\ntext = "hi"\n', None, "voice 'v': audio file not found:"),
        ('audio = "ref.wav"\ntext = "  "\n', _speechlike(3), "voice 'v': the transcript ('text') is empty"),
        ('audio = "ref.wav"\ntext = "hi"\n', _speechlike(13), "is 13.0 s after trimming silence; the limit is 12 s"),
        ('audio = "ref.wav"\ntext = "hi"\n', np.zeros(48000, np.float32), "is silent"),
        ('audio = "ref.wav"\ntext = "hi"\n', _speechlike(0.3), "only 0.30 s"),
        ('audio = "ref.wav"\n', _speechlike(3), "voice 'v':"),
        ('audio = "ref.wav"\ntext = "hi"\nspeeed = 1\n', _speechlike(3), "voice 'v':"),
        ('audio = "ref.wav"\ntext = "hi"\nnfe_step = 0\n', _speechlike(3), "voice 'v':"),
        ('audio = "ref.wav\ntext = "hi"\n', None, "is not valid TOML"),
        ('audio = "pkg:no_such_pkg/x.wav"\ntext = "hi"\n', None, "package 'no_such_pkg' is not installed"),
    ],
)
def test_unusable_voices_are_one_line_naming_the_voice(tmp_path, toml, audio, message):
    """Each way a voice can be broken is a single VoiceError line that names it."""
    with pytest.raises(VoiceError) as info:
        voice = _voice(tmp_path, toml, audio)
        voices.read_reference(voice)
    (line,) = info.value.problems
    assert line.startswith("voice 'v': ") and message in line and "\n" not in line


def test_undecodable_audio_is_reported(tmp_path):
    """A file that is not audio at all is a clear error, not a crash."""
    folder = tmp_path / "v"
    folder.mkdir()
    (folder / "ref.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
    (folder / "voice.toml").write_text('audio = "ref.wav"\ntext = "hi"\n')
    with pytest.raises(VoiceError, match="voice 'v': cannot decode"):
        voices.read_reference(voices.load_voice("v", folder / "voice.toml"))


def test_stereo_references_mix_to_mono(tmp_path):
    """Stereo input is averaged to one channel."""
    stereo = np.stack([_speechlike(2), _speechlike(2)], axis=1)
    voice = _voice(tmp_path, 'audio = "ref.wav"\ntext = "hi"\n', stereo)
    assert voices.read_reference(voice).samples.ndim == 1


def test_load_all_keeps_good_voices_and_lists_bad_ones(tmp_path):
    """One broken voice does not hide the others."""
    _voice(tmp_path, 'audio = "ref.wav"\ntext = "hi"\n', _speechlike(2), name="good")
    _voice(tmp_path, 'audio = "gone.wav"\ntext = "hi"\n', name="bad")
    found, problems = voices.load_all(tmp_path)
    assert list(found) == ["default", "good"] and len(problems) == 1 and problems[0].startswith("voice 'bad'")
