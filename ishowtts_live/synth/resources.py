"""Find files shipped inside the installed f5-tts package without importing it
(``import f5_tts.model`` takes seconds and pulls in torch)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

F5_PACKAGE = "f5_tts"
PKG_PREFIX = "pkg:"


def package_dir(name: str = F5_PACKAGE) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(spec.origin).parent if spec.origin else None


def resolve_pkg_path(ref: str) -> Path:
    """``pkg:f5_tts/infer/examples/vocab.txt`` → the file inside the installed
    package. Raises FileNotFoundError naming what is missing."""
    rest = ref[len(PKG_PREFIX):].lstrip("/")
    name, _, inner = rest.partition("/")
    root = package_dir(name)
    if root is None:
        raise FileNotFoundError(f"package {name!r} is not installed (needed for {ref})")
    return root / inner


def upstream_model_names() -> list[str]:
    """Config names f5-tts ships (``F5TTS_v1_Base``, …)."""
    root = package_dir()
    if root is None:
        return []
    return sorted(p.stem for p in (root / "configs").glob("*.yaml"))


def default_vocab_path() -> Path:
    return resolve_pkg_path("pkg:f5_tts/infer/examples/vocab.txt")
