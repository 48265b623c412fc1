"""Load ``ishowtts.toml``: find it, apply ``--set`` overrides, list every error.

A bad file never stops at its first problem: every key is checked on its own,
and the user gets one ``section.key: what is wrong`` line per problem (with a
"did you mean" for unknown keys), then exit status 78.

Checks that need more than a key's type belong to the stages (each owns its
section's: ``synth/checks.py``, ``sources/checks.py``, …); the composition
root names them (``ishowtts_live.app.CONFIG_CHECKS``) and hands them to
:func:`load_config`, so this package imports no stage.
"""

from __future__ import annotations

import difflib
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import msgspec
import tomli_w

from ishowtts_live import paths
from ishowtts_live.compat import tomllib
from ishowtts_live.config.schema import Config, Section
from ishowtts_live.errors import ConfigError, UsageError

ENV_CONFIG = "ISHOWTTS_LIVE_CONFIG"
MASK = "********"


def default_config_paths() -> list[Path]:
    """Where the daemon looks when ``--config`` is not given, in order."""
    paths = [Path("config/ishowtts.toml")]
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    paths.append(Path(xdg) / "ishowtts-live" / "ishowtts.toml")
    paths.append(Path("/etc/ishowtts-live/ishowtts.toml"))
    return paths


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    path: Path | None  # None: built-in defaults, no file found
    base_dir: Path  # relative paths in the file are relative to this
    overrides: tuple[str, ...] = field(default=())

    def resolve(self, value: str) -> str:
        """A path from the config made absolute (hub and package refs kept)."""
        return resolve_path(value, self.base_dir)


def resolve_path(value: str, base_dir: Path) -> str:
    if not value or "://" in value or value.startswith("pkg:"):
        return value
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else (base_dir / p).resolve())


# A check of the decoded config: one ``section.key: what is wrong`` line per problem.
Check = Callable[[LoadedConfig], "list[str]"]


# --------------------------------------------------------------------------- finding


def find_config(explicit: str | None) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path
    env = os.environ.get(ENV_CONFIG)
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (from ${ENV_CONFIG})")
        return path
    for path in default_config_paths():
        if path.is_file():
            return path
    return None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


# --------------------------------------------------------------------------- overrides


def parse_override(item: str) -> tuple[list[str], Any]:
    """``engine.nfe_step=8`` → (["engine", "nfe_step"], 8). Values are TOML
    literals when they parse as one, plain strings otherwise."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not sep or not key or any(not p for p in parts):
        # how it was typed, not what it says: a usage error (exit 2), like any other bad argument
        raise UsageError(f"--set {item!r}: expected section.key=value")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: typing.Iterable[str]) -> None:
    problems = []
    for item in overrides:
        parts, value = parse_override(item)
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                problems.append(f"--set {item!r}: {'.'.join(parts[: i + 1])} is not a table")
                break
            node = child
        else:
            node[parts[-1]] = value
    if problems:
        raise ConfigError(problems)


# --------------------------------------------------------------------------- validation


def _struct_type(tp: Any) -> type[Section] | None:
    """The Struct class inside ``tp`` (``X``, ``X | None``), else None."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    for arg in typing.get_args(tp):
        if isinstance(arg, type) and issubclass(arg, msgspec.Struct):
            return arg
    return None


def _literal_values(tp: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) is typing.Literal:
        return typing.get_args(tp)
    return None


def _describe(exc: msgspec.ValidationError, value: Any) -> str:
    msg = str(exc).split(" - at ")[0].replace("`", "")
    msg = msg[:1].lower() + msg[1:]
    if "got" not in msg:
        msg += f", got {value!r}"
    return msg


def _suggest(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def validate_table(data: Any, struct: type[Section], prefix: str = "") -> list[str]:
    """Every problem in ``data`` against ``struct``, as ``section.key: message``."""
    where = prefix.rstrip(".") or "the file"
    if not isinstance(data, dict):
        return [f"{where}: expected a table, got {type(data).__name__}"]
    problems: list[str] = []
    fields = {f.encode_name: f for f in msgspec.structs.fields(struct)}
    for key in data:
        if key not in fields:
            problems.append(f"{prefix}{key}: unknown key{_suggest(key, fields)}")
    for name, info in fields.items():
        if name not in data:
            if info.required:
                problems.append(f"{prefix}{name}: missing (required)")
            continue
        value = data[name]
        sub = _struct_type(info.type)
        if sub is not None and (isinstance(value, dict) or value is not None):
            problems.extend(validate_table(value, sub, f"{prefix}{name}."))
            continue
        choices = _literal_values(info.type)
        if choices is not None and value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            hint = _suggest(value, [str(c) for c in choices]) if isinstance(value, str) else ""
            problems.append(f"{prefix}{name}: must be one of {allowed}, got {value!r}{hint}")
            continue
        try:
            msgspec.convert(value, info.type)
        except msgspec.ValidationError as exc:
            problems.append(f"{prefix}{name}: {_describe(exc, value)}")
    return problems


def _walk_marked(struct: msgspec.Struct, marker: str, fn: Callable[[Any], Any]) -> None:
    """Apply ``fn`` to every string field of ``struct`` (recursively) whose
    annotation carries ``Meta(extra={marker: True})``."""
    for info in msgspec.structs.fields(struct):
        value = getattr(struct, info.name)
        if isinstance(value, msgspec.Struct):
            _walk_marked(value, marker, fn)
        elif isinstance(value, list) and value and isinstance(value[0], msgspec.Struct):
            for item in value:
                _walk_marked(item, marker, fn)
        elif _has_marker(info.type, marker):
            setattr(struct, info.name, fn(value))


def _has_marker(tp: Any, marker: str) -> bool:
    if typing.get_origin(tp) is typing.Annotated:
        return any(isinstance(m, msgspec.Meta) and (m.extra or {}).get(marker) for m in tp.__metadata__)
    return any(_has_marker(arg, marker) for arg in typing.get_args(tp))


def load_config(
    path: str | None = None,
    overrides: typing.Iterable[str] = (),
    *,
    checks: typing.Iterable[Check] = (),
) -> LoadedConfig:
    """Find, read, override, validate and decode the configuration, then run
    ``checks`` (the stages' own, as the composition root names them:
    ``ishowtts_live.app.load_checked``).

    Raises :class:`ConfigError` listing every problem. With no file found the
    built-in defaults apply as if the file were ``./config/ishowtts.toml``.
    """
    found = find_config(path)
    data = read_toml(found) if found else {}
    overrides = tuple(overrides)
    apply_overrides(data, overrides)
    problems = validate_table(data, Config)
    if problems:
        raise ConfigError(_prefixed(found, problems, overrides))
    config = msgspec.convert(data, Config)
    base_dir = (found.parent if found else Path("config")).resolve()
    _walk_marked(config, "path", lambda v: resolve_path(v, base_dir))
    _default_paths(config)
    loaded = LoadedConfig(config=config, path=found, base_dir=base_dir, overrides=overrides)
    problems = [problem for check in checks for problem in check(loaded)]
    if problems:
        raise ConfigError(_prefixed(found, problems, overrides))
    return loaded


def _default_paths(config: Config) -> None:
    """Paths left empty: what the daemon writes goes to the state directory and
    what it reads ships in the package, never next to the config file (which
    may be read-only, in /etc)."""
    if not config.audio.wav_path:
        config.audio.wav_path = str(paths.state_dir(config.state.dir) / paths.WAV_FILE_NAME)
    if not config.sources.replay.path:
        config.sources.replay.path = str(paths.SAMPLE_CHAT)


def _prefixed(found: Path | None, problems: list[str], overrides: tuple[str, ...] = ()) -> list[str]:
    """Each problem named after where its value came from: the ``-o`` that set
    it (``-o engine.nfe_step=abc: expected int, got str``), else the file."""
    set_by = {item.partition("=")[0].strip(): item for item in overrides}
    named = []
    for problem in problems:
        key, sep, message = problem.partition(": ")
        item = next((o for k, o in set_by.items() if key == k or key.startswith(k + ".")), None) if sep else None
        if item is not None:
            named.append(f"-o {item}: {message}" if key == item.partition("=")[0].strip() else f"-o {item}: {problem}")
        else:
            named.append(problem if found is None else f"{found}: {problem}")
    return named


def show_config(loaded: LoadedConfig) -> str:
    """The effective configuration as TOML, secrets masked."""
    # A deep copy through builtins, so masking never touches the live config.
    config = msgspec.convert(msgspec.to_builtins(loaded.config), Config)
    _walk_marked(config, "secret", lambda v: MASK if v else v)
    source = str(loaded.path) if loaded.path else "built-in defaults"
    header = f"# effective configuration (from {source}"
    if loaded.overrides:
        header += ", with --set " + " ".join(_masked_override(o) for o in loaded.overrides)
    header += ")\n"
    return header + tomli_w.dumps(msgspec.to_builtins(config))


def _masked_override(item: str) -> str:
    """An ``-o key=value`` as ``config show`` prints it: a secret's value masked."""
    key = item.partition("=")[0].strip()
    struct: Any = Config
    hints: dict[str, Any] = {}
    for part in key.split("."):
        if struct is None:
            return item
        hints = typing.get_type_hints(struct, include_extras=True)
        if part not in hints:
            return item
        tp = hints[part]
        struct = _struct_type(tp)
    return f"{key}={MASK}" if _has_marker(tp, "secret") else item
