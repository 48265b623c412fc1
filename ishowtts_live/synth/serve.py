"""``ishowtts-live serve``: this project's engine (fast path, batching,
warm-up) as the Triton model ``f5_tts`` in a real Triton Inference Server,
run by PyTriton (``nvidia-pytriton``, whose wheel bundles ``tritonserver``).

The model speaks upstream F5-TTS's Triton contract plus this project's
optional extras (:mod:`.wire`), so a daemon with ``engine.backend = "triton"``
and upstream's own clients both use it. Triton's dynamic batcher groups
concurrent requests (from several daemons) into one execution, which
:class:`~.servemodel.ServedModel` synthesizes as one engine batch. Readiness:
``GET /v2/models/f5_tts/ready`` on the HTTP port; Prometheus metrics on the
metrics port.

What the platform needs is checked first, each as one line: Linux with glibc
2.35 or newer (PyTriton's wheels are manylinux_2_35, x86_64 and aarch64) and
PyTriton installed (``pip install "ishowtts-live[serve]"``). Under a Python
whose ``libpython`` is not on the linker's path (pyenv builds), Triton's
Python-backend stub fails to load the model, so ``LIBDIR`` is added to
``LD_LIBRARY_PATH`` of the server this starts.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import signal
import sysconfig
import threading
import time
from typing import Any

import msgspec
import structlog

from ishowtts_live.config.loading import LoadedConfig
from ishowtts_live.errors import IshowttsError
from ishowtts_live.synth.wire import EXTRAS, OUTPUT

log = structlog.get_logger(__name__)

GLIBC_MIN = (2, 35)
INSTALL_HINT = 'pip install "ishowtts-live[serve]"'


def check_platform() -> None:
    """One-line IshowttsError when PyTriton cannot run here."""
    if platform.system() != "Linux":
        raise IshowttsError(f"serve needs Linux (PyTriton runs Triton there only); this is {platform.system()}")
    libc, version = platform.libc_ver()
    if libc != "glibc":
        raise IshowttsError("serve needs glibc 2.35 or newer (PyTriton's wheels are manylinux_2_35); "
                            f"this system's C library is {libc or 'unknown'}")
    found = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if found < GLIBC_MIN:
        raise IshowttsError(f"serve needs glibc 2.35 or newer (Debian 12, Ubuntu 22.04, JetPack 6); "
                            f"this system has glibc {version}")
    try:
        import pytriton.triton  # noqa: F401
    except ImportError as exc:
        raise IshowttsError(f"serve needs PyTriton, which is not installed ({exc}); {INSTALL_HINT}") from None


def library_path_env() -> str:
    """LD_LIBRARY_PATH with this Python's LIBDIR in front (the backend stub links libpython)."""
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    current = os.environ.get("LD_LIBRARY_PATH", "")
    if not libdir or libdir in current.split(":"):
        return current
    return f"{libdir}:{current}" if current else libdir


def serving_config(loaded: LoadedConfig) -> LoadedConfig:
    """The engine as serve runs it: the fast path on (batching is the point;
    "auto" would leave it off on a CPU), batches as large as Triton's."""
    cfg = loaded.config
    engine = cfg.engine
    fast = "on" if engine.fast_path == "auto" else engine.fast_path
    engine = msgspec.structs.replace(engine, backend="local", fast_path=fast, max_batch=cfg.serve.max_batch)
    return dataclasses.replace(loaded, config=msgspec.structs.replace(cfg, engine=engine))


def bind_model(triton: Any, loaded: LoadedConfig, model: Any) -> None:
    """Register ``model`` under serve.model with the contract and the dynamic batcher."""
    import numpy as np
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor

    serve = loaded.config.serve
    inputs = [
        Tensor(name="reference_wav", dtype=np.float32, shape=(-1,), optional=True),
        Tensor(name="reference_wav_len", dtype=np.int32, shape=(1,), optional=True),
        Tensor(name="reference_text", dtype=bytes, shape=(1,)),
        Tensor(name="target_text", dtype=bytes, shape=(1,)),
        *[Tensor(name=name, dtype=dtype, shape=(1,), optional=True) for name, (_t, dtype) in EXTRAS.items()],
    ]
    batcher = DynamicBatcher(max_queue_delay_microseconds=int(serve.queue_delay_ms * 1000))
    triton.bind(model_name=serve.model, infer_func=model, inputs=inputs,
                outputs=[Tensor(name=OUTPUT, dtype=np.float32, shape=(-1,))],
                config=ModelConfig(max_batch_size=serve.max_batch, batcher=batcher), strict=False)


def triton_config(loaded: LoadedConfig) -> Any:
    from pytriton.triton import TritonConfig

    serve = loaded.config.serve
    return TritonConfig(grpc_port=serve.grpc_port, http_port=serve.http_port, metrics_port=serve.metrics_port,
                        grpc_address=serve.address, http_address=serve.address, metrics_address=serve.address,
                        log_verbose=0, exit_timeout_secs=5)


def run_server(loaded: LoadedConfig, stop: threading.Event | None = None) -> int:
    """Load and warm up the engine, serve until SIGTERM/SIGINT (or ``stop``)."""
    check_platform()
    os.environ["LD_LIBRARY_PATH"] = library_path_env()
    from pytriton.triton import Triton

    from ishowtts_live.synth.engine import load_engine
    from ishowtts_live.synth.servemodel import ServedModel

    loaded = serving_config(loaded)
    serve = loaded.config.serve
    t0 = time.perf_counter()
    engine = load_engine(loaded)
    warm = engine.warmup() if loaded.config.engine.warmup else 0.0
    model = ServedModel(engine, serve.voice_cache)
    stop = stop or threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with Triton(config=triton_config(loaded)) as triton:
        bind_model(triton, loaded, model)
        triton.run()
        log.info("serving", model=serve.model, grpc=f"{serve.address}:{serve.grpc_port}",
                 http=f"{serve.address}:{serve.http_port}", metrics=f"{serve.address}:{serve.metrics_port}",
                 max_batch=serve.max_batch, queue_delay_ms=serve.queue_delay_ms,
                 fast_path=engine.describe()["fast_path"], warmup_s=round(warm, 2),
                 start_s=round(time.perf_counter() - t0, 2))
        while not stop.wait(0.5):
            if not triton.is_alive():
                raise IshowttsError("the Triton server stopped unexpectedly (its log is above)")
        log.info("stopping", executions=model.executions, requests=model.requests)
    return 0


__all__ = ["bind_model", "check_platform", "library_path_env", "run_server", "serving_config"]
