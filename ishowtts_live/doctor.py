"""``ishowtts-live doctor``: what this machine has, and what would stop the daemon.

Torch is probed in a child process, so a broken CUDA install shows up as a
line in the report instead of taking the command down.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

from ishowtts_live.errors import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, ConfigError

_TORCH_PROBE = r"""
import json, torch
info = {"torch": torch.__version__, "cuda_build": torch.version.cuda, "cuda": torch.cuda.is_available()}
if info["cuda"]:
    p = torch.cuda.get_device_properties(0)
    info.update(gpu=p.name, capability=f"{p.major}.{p.minor}", memory_gb=round(p.total_memory / 2**30, 1),
                bf16=torch.cuda.is_bf16_supported())
print(json.dumps(info))
"""


class Report:
    def __init__(self) -> None:
        self.problems = 0

    def line(self, ok: bool | None, what: str, detail: str) -> None:
        mark = {True: "ok  ", False: "FAIL", None: "note"}[ok]
        if ok is False:
            self.problems += 1
        print(f"[{mark}] {what:<12} {detail}")


def probe_torch(timeout: float = 120.0) -> dict:
    try:
        out = subprocess.run([sys.executable, "-c", _TORCH_PROBE], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"importing torch took over {timeout:.0f} s"}
    if out.returncode != 0:
        lines = out.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit status {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _hub_state(ref: str, cache_dir: str) -> str:
    from huggingface_hub import try_to_load_from_cache

    repo_file = ref.removeprefix("hf://").split("/")
    cached = try_to_load_from_cache("/".join(repo_file[:2]), "/".join(repo_file[2:]), cache_dir=cache_dir or None)
    return f"cached at {cached}" if isinstance(cached, str) else "not cached yet: downloaded on first start"


def run_doctor(config_path: str | None, overrides: list[str]) -> int:
    from ishowtts_live.config import load_config
    from ishowtts_live.synth import voices
    from ishowtts_live.synth.resources import package_dir

    report = Report()
    print(f"ishowtts-live doctor — Python {platform.python_version()} on {platform.machine()} {platform.system()}")

    torch_info = probe_torch()
    if "error" in torch_info:
        report.line(False, "torch", torch_info["error"])
    else:
        report.line(True, "torch", f"{torch_info['torch']} (CUDA build {torch_info['cuda_build'] or 'none'})")
        if torch_info["cuda"]:
            report.line(True, "gpu", f"{torch_info['gpu']}, compute {torch_info['capability']}, "
                                     f"{torch_info['memory_gb']} GiB, bf16 {'yes' if torch_info['bf16'] else 'no'}")
        else:
            report.line(None, "gpu", "none visible to torch: synthesis runs on the CPU (slow)")
    f5 = package_dir()
    report.line(f5 is not None, "f5-tts", str(f5) if f5 else "not installed (pip install f5-tts)")

    try:
        loaded = load_config(config_path, overrides)
    except ConfigError as exc:
        for problem in exc.problems:
            report.line(False, "config", problem)
        return EXIT_CONFIG
    from ishowtts_live.app import config_checks

    problems = [problem for check in config_checks() for problem in check(loaded)]
    report.line(not problems, "config", f"{loaded.path or 'built-in defaults'}"
                + ("" if not problems else f": {len(problems)} problem(s), see below"))
    for problem in problems:
        report.line(False, "config", problem)

    engine = loaded.config.engine
    from ishowtts_live.synth.loading import HUB_CHECKPOINTS, VOCOS_HUB

    ckpt = engine.checkpoint or HUB_CHECKPOINTS.get(engine.model, "")
    if ckpt.startswith("hf://"):
        report.line(None, "weights", f"{ckpt}: {_hub_state(ckpt, engine.cache_dir)}")
    else:
        report.line(Path(ckpt).is_file(), "weights", ckpt or "no checkpoint configured")
    if engine.vocoder and not engine.vocoder.startswith("hf://"):
        report.line((Path(engine.vocoder) / "pytorch_model.bin").is_file(), "vocoder", engine.vocoder)
    else:
        report.line(None, "vocoder", f"{VOCOS_HUB}: {_hub_state(VOCOS_HUB + '/pytorch_model.bin', engine.cache_dir)}")

    for voice_id, toml_path in voices.discover(loaded.config.voices.dir).items():
        try:
            voice = voices.load_voice(voice_id, toml_path)
            ref = voices.read_reference(voice)
        except ConfigError:
            continue  # already listed under config
        default = " (default)" if voice_id == loaded.config.voices.default else ""
        report.line(True, "voice", f"{voice_id}{default}: {ref.seconds:.1f} s at {ref.sample_rate} Hz, "
                                   f"“{voice.text[:40]}”")

    try:
        from ishowtts_live.sinks.device import find_device, output_devices

        names = output_devices()
        report.line(True if names else None, "audio",
                    ", ".join(names) if names else "no output devices: sound can only go to a WAV file")
        if loaded.config.audio.device:
            find_device(loaded.config.audio.device)
            report.line(True, "audio", f"audio.device {loaded.config.audio.device!r} found")
    except Exception as exc:  # noqa: BLE001 - PortAudio missing or device gone: a line, not a crash
        report.line(False, "audio", str(exc))

    print(f"{report.problems} problem(s)" if report.problems else "all good")
    return EXIT_OK if not report.problems else EXIT_FAILURE
