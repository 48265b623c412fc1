"""Model files from the Hugging Face hub: the cache first, the network once.

Torch-free, so ``run`` and ``say`` check the files before they import torch:
without a network the start ends with one line, within seconds, instead of
huggingface_hub's retries (about 30 warnings over 30 s). Rules:

* a file already in the cache is used as it is, without asking the hub;
* ``HF_HUB_OFFLINE=1`` never asks the hub: a file not cached is an error;
* otherwise the hub's address is tried once per process (a TCP connection,
  3 s at most) before anything is downloaded, and a failure is one line that
  says how to use local files instead.
"""

from __future__ import annotations

import logging
import socket
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from ishowtts_live.errors import EngineError

HUB_PREFIX = "hf://"
# The released checkpoints f5-tts's own API downloads by default.
HUB_CHECKPOINTS = {
    "F5TTS_v1_Base": "hf://SWivid/F5-TTS/F5TTS_v1_Base/model_1250000.safetensors",
    "F5TTS_Base": "hf://SWivid/F5-TTS/F5TTS_Base/model_1200000.safetensors",
}
VOCOS_HUB = "hf://charactr/vocos-mel-24khz"
VOCOS_FILES = ("config.yaml", "pytorch_model.bin")
PROBE_TIMEOUT_S = 3.0
LOCAL_FILES = ("set engine.checkpoint to a local .safetensors file and engine.vocoder to a local Vocos "
               "folder (config.yaml + pytorch_model.bin)")
LOCAL_FILES_HINT = f"{LOCAL_FILES}, or copy a filled Hugging Face cache here and set HF_HUB_OFFLINE=1"

_reachable: dict[str, str] = {}  # endpoint → "" (reachable) or why not; asked once per process


def split_ref(ref: str) -> tuple[str, str]:
    """``hf://owner/repo/path/in/repo`` → (``owner/repo``, ``path/in/repo``)."""
    parts = ref[len(HUB_PREFIX):].split("/")
    if not ref.startswith(HUB_PREFIX) or len(parts) < 3 or not all(parts):
        raise EngineError(f"expected hf://owner/repo/file, got {ref!r}")
    return "/".join(parts[:2]), "/".join(parts[2:])


def cached(ref: str, cache_dir: str = "") -> Path | None:
    """The file in the local hub cache, or None; never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    repo, filename = split_ref(ref)
    found = try_to_load_from_cache(repo, filename, cache_dir=cache_dir or None)
    return Path(found) if isinstance(found, str) else None


def hub_refs(engine) -> list[tuple[str, str]]:
    """(config key, hf:// reference) for every hub file ``[engine]`` needs."""
    refs = []
    checkpoint = engine.checkpoint or HUB_CHECKPOINTS.get(engine.model, "")
    if checkpoint.startswith(HUB_PREFIX):
        refs.append(("engine.checkpoint", checkpoint))
    if not engine.vocoder or engine.vocoder.rstrip("/") == VOCOS_HUB:
        refs.extend(("engine.vocoder", f"{VOCOS_HUB}/{name}") for name in VOCOS_FILES)
    return refs


def offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _quiet_hub() -> None:
    # The hub logs every retry as a warning (and prints it a second time through
    # its own handler); the one line raised here says everything they would.
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)


def unreachable(endpoint: str | None = None) -> str:
    """"" when a TCP connection to the hub opens, else why not. Asked once per
    process; name resolution runs in a thread so a resolver that hangs costs
    at most PROBE_TIMEOUT_S."""
    if endpoint is None:
        from huggingface_hub import constants

        endpoint = constants.ENDPOINT
    if endpoint in _reachable:
        return _reachable[endpoint]
    url = urlsplit(endpoint)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    if urllib.request.getproxies().get(url.scheme):
        _reachable[endpoint] = ""  # through a proxy only the hub client itself can tell
        return ""
    outcome: list[str] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
            outcome.append("")
        except OSError as exc:
            outcome.append(exc.strerror or str(exc) or type(exc).__name__)

    probe = threading.Thread(target=connect, name="hub-probe", daemon=True)
    probe.start()
    probe.join(PROBE_TIMEOUT_S + 0.5)
    why = outcome[0] if outcome else f"no answer within {PROBE_TIMEOUT_S:.0f} s"
    _reachable[endpoint] = f"{host}:{port}: {why}" if why else ""
    return _reachable[endpoint]


def fetch(ref: str, what: str, cache_dir: str = "") -> Path:
    """A local file, or ``hf://owner/repo/path`` from the cache or, when it is
    not there, downloaded (tqdm shows progress). One-line EngineError."""
    if not ref.startswith(HUB_PREFIX):
        path = Path(ref)
        if not path.is_file():
            raise EngineError(f"{what}: file not found: {path}")
        return path
    try:
        repo, filename = split_ref(ref)
    except EngineError as exc:
        raise EngineError(f"{what}: {exc}") from None
    hit = cached(ref, cache_dir)
    if hit is not None:
        return hit
    _quiet_hub()
    if offline():
        raise EngineError(f"{what}: {ref} is not in the Hugging Face cache ({describe_cache(cache_dir)}) "
                          f"and HF_HUB_OFFLINE is set; {LOCAL_FILES}, or copy a filled cache there")
    why = unreachable()
    if why:
        raise EngineError(f"{what}: {ref} is not cached and the Hugging Face hub cannot be reached ({why}); "
                          f"{LOCAL_FILES_HINT}")
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id=repo, filename=filename, cache_dir=cache_dir or None))
    except Exception as exc:  # the hub raises many types; all mean "could not get it"
        raise EngineError(f"{what}: could not download {ref} from the Hugging Face hub "
                          f"({type(exc).__name__}: {first_line(exc)}); {LOCAL_FILES_HINT}") from None


def fetch_all(engine) -> None:
    """Every hub file ``[engine]`` needs, cached or downloaded now (before torch
    is imported, so a missing network is reported at once)."""
    for what, ref in hub_refs(engine):
        fetch(ref, what, engine.cache_dir)


def first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else repr(exc)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def describe_cache(cache_dir: str = "") -> str:
    """Where hub downloads go (for doctor)."""
    if cache_dir:
        return cache_dir
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)

