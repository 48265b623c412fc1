from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from ishowtts_live import paths
from ishowtts_live.app import load_checked
from ishowtts_live.compat import tomllib
from ishowtts_live.config import load_config, show_config
from ishowtts_live.config.loading import MASK, _walk_marked, parse_override, validate_table
from ishowtts_live.config.schema import Config, SecretStr, Section
from ishowtts_live.errors import EXIT_CONFIG, ConfigError, UsageError
from tests import kit

SHIPPED = kit.ROOT / "config" / "ishowtts.toml"


def _flatten(data: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_shipped_config_sets_every_key_to_its_default():
    """config/ishowtts.toml lists every schema key, each at the schema default."""
    shipped = _flatten(tomllib.loads(SHIPPED.read_text(encoding="utf-8")))
    defaults = _flatten(msgspec.to_builtins(Config()))
    assert shipped == defaults


def test_shipped_config_passes_every_check():
    """The shipped file is valid as it is and passes every check `run` makes; its
    voice and demo chat come from the package and its writable paths from the
    state directory."""
    loaded = load_checked(str(SHIPPED))
    assert loaded.config.engine.nfe_step == 7
    assert loaded.config.voices.dir == ""
    assert Path(loaded.config.sources.replay.path) == paths.SAMPLE_CHAT and paths.SAMPLE_CHAT.is_file()
    assert Path(loaded.config.audio.wav_path) == paths.state_dir() / "ishowtts.wav"


def test_empty_paths_never_point_next_to_the_config(tmp_path, monkeypatch):
    """A config copied alone (as into /etc) writes its WAV under $STATE_DIRECTORY
    and reads the built-in demo chat; a path it sets is still its own."""
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "ishowtts.toml").write_text(SHIPPED.read_text(encoding="utf-8"), encoding="utf-8")
    loaded = load_config(str(etc / "ishowtts.toml"))
    assert loaded.config.audio.wav_path == str(tmp_path / "state" / "ishowtts.wav")
    assert loaded.config.sources.replay.path == str(paths.SAMPLE_CHAT)
    own = load_config(str(etc / "ishowtts.toml"), ["audio.wav_path=out.wav", "state.dir=/srv/s"])
    assert own.config.audio.wav_path == str(etc / "out.wav")
    assert load_config(str(etc / "ishowtts.toml"), ["state.dir=/srv/s"]).config.audio.wav_path == "/srv/s/ishowtts.wav"


def test_every_problem_is_listed_at_once(tmp_path):
    """A file with several mistakes reports each as `section.key: why`."""
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "[engine]\nnfe_stpe = 7\nnfe_step = 0\ndtype = 'fp8'\nspeed = 'fast'\n"
        "[engine.arch]\ndepth = -1\n[voices]\ndefault = 3\n[logs]\nlevel = 'info'\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(str(bad))
    problems = [p.removeprefix(f"{bad}: ") for p in info.value.problems]
    assert sorted(problems) == sorted([
        "logs: unknown key (did you mean 'log'?)",
        "engine.nfe_stpe: unknown key (did you mean 'nfe_step'?)",
        "engine.dtype: must be one of 'auto', 'fp16', 'bf16', 'fp32', got 'fp8'",
        "engine.nfe_step: expected int >= 1, got 0",
        "engine.speed: expected float, got str",
        "engine.arch.depth: expected int >= 1, got -1",
        "voices.default: expected str, got int",
    ])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[engine]\nmodel = 'F5TTS_v9'\n", "engine.model: unknown model 'F5TTS_v9'"),
        ("[engine]\ndevice = 'gpu'\n", "engine.device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'"),
        ("[engine]\ncheckpoint = 'nope.safetensors'\n", "engine.checkpoint: file not found:"),
        ("[engine]\nvocoder = 'novocos'\n", "engine.vocoder:"),
        (f"[voices]\ndir = '{kit.ROOT / 'voices'}'\ndefault = 'nobody'\n", "voices.default: no voice 'nobody'"),
        ("[voices]\ndir = 'missing-dir'\n", "voices.dir: folder not found"),
        ("[engine]\nfirst_chunk_s = 9.0\nchunk_s = 4.0\n", "engine.first_chunk_s: must not exceed engine.chunk_s"),
        ("engine = 3\n", "engine: expected a table, got int"),
    ],
)
def test_semantic_problems(tmp_path, text, expected):
    """Values of the right type that still cannot work are reported too."""
    path = tmp_path / "c.toml"
    path.write_text(text if "[voices]" in text else text + f"\n[voices]\ndir = '{kit.ROOT / 'voices'}'\n")
    with pytest.raises(ConfigError) as info:
        load_checked(str(path))
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_invalid_toml_is_one_line_with_its_position(tmp_path):
    """A syntax error names the file, line and column."""
    path = tmp_path / "c.toml"
    path.write_text("[engine]\nnfe_step = \n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    (line,) = info.value.problems
    assert str(path) in line and "line 2" in line


def test_missing_file_is_a_config_error(tmp_path):
    """--config naming a file that is not there exits 78, not 1."""
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "none.toml"))
    assert info.value.exit_code == EXIT_CONFIG


@pytest.mark.parametrize(
    ("item", "parts", "value"),
    [
        ("engine.nfe_step=8", ["engine", "nfe_step"], 8),
        ("engine.speed=1.25", ["engine", "speed"], 1.25),
        ("engine.warmup=false", ["engine", "warmup"], False),
        ("audio.device=USB Audio", ["audio", "device"], "USB Audio"),
        ("audio.device='a=b'", ["audio", "device"], "a=b"),
        ("engine.arch.depth = 4", ["engine", "arch", "depth"], 4),
    ],
)
def test_override_values_parse_as_toml_or_text(item, parts, value):
    """-o values are TOML literals when they parse as one, else plain strings."""
    assert parse_override(item) == (parts, value)


def test_overrides_apply_and_are_validated():
    """-o changes a key; a bad -o value is reported like a bad file value."""
    loaded = load_config(str(SHIPPED), ["engine.nfe_step=16", "engine.arch.depth=4"])
    assert loaded.config.engine.nfe_step == 16 and loaded.config.engine.arch.depth == 4
    with pytest.raises(ConfigError) as info:
        load_config(str(SHIPPED), ["engine.nfe_step=many", "engine.arch.depth=4"])
    assert info.value.problems == ["-o engine.nfe_step=many: expected int, got str"]


def test_a_bad_override_is_named_as_typed_not_against_the_file(tmp_path):
    """A problem in a value set by -o names that -o, not the config file that
    does not set it; the file's own problems still name the file."""
    path = tmp_path / "ishowtts.toml"
    path.write_text("[engine]\nnfe_stepp = 7\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(str(path), ["engine.nfe_step=abc", "voices=3"])
    assert info.value.problems == [f"{path}: engine.nfe_stepp: unknown key (did you mean 'nfe_step'?)",
                                   "-o engine.nfe_step=abc: expected int, got str",
                                   "-o voices=3: expected a table, got int"]


def test_a_malformed_override_is_a_usage_error():
    """`-o nosuch` (no key=value) is a usage error (exit 2), not a config error (78)."""
    with pytest.raises(UsageError, match="--set 'nosuch': expected section.key=value"):
        load_config(None, ["nosuch"])


def test_show_prints_effective_toml():
    """config show round-trips: its output is TOML that decodes to the same config."""
    loaded = load_config(str(SHIPPED), ["engine.nfe_step=9"])
    text = show_config(loaded)
    assert "with --set engine.nfe_step=9" in text
    assert msgspec.convert(tomllib.loads(text), Config) == loaded.config


class Auth(Section):
    token: SecretStr = ""
    user: str = ""


class Outer(Section):
    auth: Auth = msgspec.field(default_factory=Auth)
    empty: Auth = msgspec.field(default_factory=Auth)


class Needs(Section):
    name: str


def test_secret_fields_are_masked():
    """Fields typed SecretStr are replaced by a mask wherever they are set."""

    outer = Outer(auth=Auth(token="hunter2", user="me"))
    _walk_marked(outer, "secret", lambda v: MASK if v else v)
    assert outer.auth.token == MASK and outer.auth.user == "me" and outer.empty.token == ""


def test_validate_table_reports_required_fields():
    """A required key that is absent is named."""

    assert validate_table({}, Needs) == ["name: missing (required)"]
