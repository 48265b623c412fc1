"""A Triton model that implements only upstream F5-TTS's contract (the four
inputs of ``model_repo_f5_tts/f5_tts/config.pbtxt``, output ``waveform``, no
extras), in a real Triton Inference Server started by PyTriton, without a
model: each request gets a tone whose pitch comes from its text and whose
length from its UTF-8 bytes. It stands in for upstream's TensorRT-LLM
deployment, which needs an NVIDIA GPU.

Every request is recorded as one JSON line (input names, shapes and dtypes,
the texts) in the log file. A target text containing ``[nan]`` is answered
with NaN samples, ``[empty]`` with no samples. ``--delay`` holds each
execution back (a slow server, so a test can cut it mid-message).

    python -m tests.synth.upstream_triton GRPC_PORT HTTP_PORT METRICS_PORT LOG [--delay S]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import sysconfig
import threading
import time
import zlib

import numpy as np

RATE = 24000
SECONDS_PER_BYTE = 0.02


def tone(text: str) -> np.ndarray:
    n = max(1, int(len(text.encode("utf-8")) * SECONDS_PER_BYTE * RATE))
    pitch = 200.0 + zlib.crc32(text.encode("utf-8")) % 300
    return (0.3 * np.sin(2 * np.pi * pitch * np.arange(n) / RATE)).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("grpc_port", type=int)
    parser.add_argument("http_port", type=int)
    parser.add_argument("metrics_port", type=int)
    parser.add_argument("log")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    os.environ["LD_LIBRARY_PATH"] = ":".join(p for p in (libdir, os.environ.get("LD_LIBRARY_PATH", "")) if p)
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    lock = threading.Lock()

    def infer(requests):
        if args.delay:
            time.sleep(args.delay)
        out = []
        for request in requests:
            target = request["target_text"].reshape(-1)[0].decode("utf-8")
            with lock, open(args.log, "a", encoding="utf-8") as f:
                f.write(json.dumps({
                    "inputs": {k: [list(v.shape), str(v.dtype)] for k, v in request.data.items()},
                    "target_text": target,
                    "reference_text": request["reference_text"].reshape(-1)[0].decode("utf-8"),
                    "batch": len(requests),
                }, ensure_ascii=False) + "\n")
            wave = tone(target)
            if "[nan]" in target:
                wave[len(wave) // 2] = np.nan
            if "[empty]" in target:
                wave = wave[:0]
            out.append({"waveform": wave[None, :]})
        return out

    config = TritonConfig(grpc_port=args.grpc_port, http_port=args.http_port, metrics_port=args.metrics_port,
                          grpc_address="127.0.0.1", http_address="127.0.0.1", metrics_address="127.0.0.1",
                          log_verbose=0, exit_timeout_secs=2)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with Triton(config=config) as triton:
        triton.bind(
            model_name="f5_tts", infer_func=infer,
            inputs=[Tensor(name="reference_wav", dtype=np.float32, shape=(-1,), optional=True),
                    Tensor(name="reference_wav_len", dtype=np.int32, shape=(1,), optional=True),
                    Tensor(name="reference_text", dtype=bytes, shape=(1,)),
                    Tensor(name="target_text", dtype=bytes, shape=(1,))],
            outputs=[Tensor(name="waveform", dtype=np.float32, shape=(-1,))],
            config=ModelConfig(max_batch_size=4, batcher=DynamicBatcher(max_queue_delay_microseconds=1000)),
            strict=False,
        )
        triton.run()
        print("upstream_triton: ready", flush=True)
        while not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
