"""What each warm-up bucket costs on the full-size model: time and memory of
one sampling step at every bucket length, for the Jetson profile's reasoning
(config/jetson-orin-nano.toml, docs/speed.md "Slow devices").

    python -m tests.measure_buckets [--out F.json] [--batch2 6,12] [-o section.key=value …]

Loads F5TTS_v1_Base with random weights (written once, like the bench's) and
a random full-size Vocos through the product's own loading path, on the CPU,
eager (``engine.compile = "off"``, fast path on), and runs for each bucket of
``engine.buckets_s``, shortest first, one step (NFE 1) of the fast path's
sampler: the model evaluated once with classifier-free guidance (a batch of
two rows per message), as each of a warm-up's NFE steps does. For each it
reports the seconds and the peak resident memory above what the loaded model
already used (sampled every 5 ms from /proc/self/statm). ``--batch2`` adds
batch-2 runs at those bucket lengths (seconds of audio). The script runs
itself with glibc's ``MALLOC_MMAP_THRESHOLD_`` fixed at 128 KiB, so every
tensor is its own mapping, given back when freed: the resident size then
follows what is alive instead of what malloc kept from an earlier bucket."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests import kit
from tests.measure_warmup import emit

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakRss:
    """The highest resident size seen while the block runs."""

    def __enter__(self) -> PeakRss:
        self.before = self.peak = rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def build_engine(folder: Path, overrides: list[str]):
    from ishowtts_live.app import load_checked
    from ishowtts_live.synth import randinit
    from ishowtts_live.synth.engine import F5Engine

    weights = Path(os.environ.get("ISHOWTTS_BENCH_WEIGHTS", "~/.cache/ishowtts-live/bench-weights")).expanduser()
    ckpt = weights / "F5TTS_v1_Base" / "model.safetensors"  # the bench's own place for them
    if not ckpt.is_file():
        randinit.write_f5_checkpoint(ckpt, "F5TTS_v1_Base", seed=0)
    vocos = weights / "vocos-mel-24khz-random"
    if not (vocos / "pytorch_model.bin").is_file():
        randinit.write_vocos(vocos, seed=0)
    voices = kit.make_voices_dir(folder / "voices")
    config = folder / "full.toml"
    config.write_text(f'[engine]\ncheckpoint = "{ckpt}"\nvocoder = "{vocos}"\nwarmup = false\n'
                      f'compile = "off"\nfast_path = "on"\ndevice = "cpu"\n\n'
                      f'[voices]\ndir = "{voices}"\ndefault = "default"\n', encoding="utf-8")
    loaded = load_checked(str(config), overrides)
    return loaded, F5Engine.load(loaded)


def main() -> None:
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
        os.execve(sys.executable, [sys.executable, "-m", "tests.measure_buckets", *sys.argv[1:]], env)
    parser = argparse.ArgumentParser(prog="python -m tests.measure_buckets")
    parser.add_argument("--out", type=Path, help="write the JSON here too")
    parser.add_argument("--batch2", default="6,12", help="bucket lengths (s) also measured at batch 2")
    parser.add_argument("-o", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()
    import torch

    folder = Path(tempfile.mkdtemp(prefix="measure-buckets-"))
    t0 = time.perf_counter()
    loaded, engine = build_engine(folder, args.overrides)
    load_s = time.perf_counter() - t0
    model_rss = rss_bytes()
    voice = engine.prepared_voice(None)
    params = engine.params(voice, seed=0)
    fast = engine.fast
    with torch.inference_mode():
        ref = engine.request(voice, "你好。", params)
    hop_s = 256 / 24000
    batch2 = {round(float(s) / hop_s) for s in args.batch2.split(",") if s}
    rows = []
    lengths = [b for b in fast.buckets if b > ref.mel.shape[1]]
    plan = [(1, L) for L in lengths] + [(2, L) for L in lengths if any(abs(L - b) <= 2 for b in batch2)]
    for n, length in plan:
        req = type(ref)(mel=ref.mel, ids=ref.ids, ref_frames=ref.ref_frames, total=length, seed=0)
        with torch.inference_mode(), PeakRss() as mem:
            t = time.perf_counter()
            fast.sample([req] * n, steps=1, cfg_strength=params.cfg_strength, sway=params.sway_sampling_coef)
            seconds = time.perf_counter() - t
        rows.append({"batch": n, "frames": length, "audio_s": round(length * hop_s, 1),
                     "seconds_per_step": round(seconds, 2),
                     "peak_mb_above_model": round((mem.peak - mem.before) / 2**20)})
        print(json.dumps(rows[-1]), flush=True)
    emit("tests.measure_buckets", args.overrides, args.out, {
        "model": "F5TTS_v1_Base (random weights) + Vocos mel-24khz (random), float32, eager, fast path, NFE 1",
        "load_s": round(load_s, 1), "model_rss_mb": round(model_rss / 2**20),
        "reference_frames": int(ref.mel.shape[1]), "buckets": rows,
    }, machine=f", torch threads {torch.get_num_threads()}")

if __name__ == "__main__":
    main()
