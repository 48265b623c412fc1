"""``ishowtts-live doctor``: what this machine has, and what would stop the daemon.

Torch is probed in a child process, so a broken CUDA install shows up as a
line in the report instead of taking the command down. The chat sources'
last minute (read / dropped / unknown / unparsable) lives in the running
daemon, so doctor asks its control API for it, and says so when none runs.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
from pathlib import Path

from ishowtts_live.errors import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, ConfigError

# The oldest interpreter and torch this project supports (JetPack 6: Python
# 3.10, NVIDIA's torch 2.5 for JetPack 6.1); pyproject.toml states the same
# (tests/test_doctor.py holds them together), .ci/py310 tests exactly these.
MIN_PYTHON = (3, 10)
MIN_TORCH = (2, 5)

_TORCH_PROBE = r"""
import json, os, shutil, sysconfig
import torch
info = {"torch": torch.__version__, "cuda_build": torch.version.cuda, "cuda": torch.cuda.is_available()}
try:
    import torchaudio
    info["torchaudio"] = torchaudio.__version__
except Exception as exc:  # a torchaudio built for another torch fails here, on missing symbols
    info["torchaudio_error"] = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
if info["cuda"]:
    p = torch.cuda.get_device_properties(0)
    try:
        bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:
        bf16 = torch.cuda.is_bf16_supported()
    info.update(gpu=p.name, capability=[p.major, p.minor], memory_gb=round(p.total_memory / 2**30, 1),
                bf16=bf16, gpu_count=torch.cuda.device_count(),
                capabilities=[list(torch.cuda.get_device_capability(i)) for i in range(torch.cuda.device_count())])
    try:
        import triton
        info["triton"] = triton.__version__
    except Exception as exc:
        info["triton_error"] = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
info["cxx"] = cxx or ""
info["cc"] = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang") or ""
info["python_h"] = os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h"))
print(json.dumps(info))
"""


def version_tuple(version: str) -> tuple[int, int]:
    """``2.5.0a0+872d972e41.nv24.08`` → (2, 5): major and minor only."""
    found = re.match(r"(\d+)\.(\d+)", version)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


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


def torch_lines(report: Report, info: dict) -> None:
    """torch against the supported range, torchaudio against torch, the GPU,
    and whether torch.compile has what it needs."""
    version = info["torch"]
    ok = version_tuple(version) >= MIN_TORCH
    report.line(ok, "torch", f"{version} (CUDA build {info['cuda_build'] or 'none'}; supported: "
                             f"{'.'.join(map(str, MIN_TORCH))} or newer)")
    if "torchaudio_error" in info:
        report.line(False, "torchaudio", f"does not import with torch {version}: {info['torchaudio_error']} — "
                                         "install the torchaudio released with this torch (README, Jetson)")
    elif version_tuple(info["torchaudio"]) != version_tuple(version):
        report.line(False, "torchaudio", f"{info['torchaudio']} was built for another torch than {version}; "
                                         "install the matching pair")
    else:
        report.line(True, "torchaudio", info["torchaudio"])
    if info["cuda"]:
        major, minor = info["capability"]
        report.line(True, "gpu", f"{info['gpu']}, compute capability {major}.{minor}, {info['memory_gb']} GiB, "
                                 f"bf16 {'yes' if info['bf16'] else 'no'}")
        if "triton_error" in info:
            report.line(None, "compile", f"triton does not import ({info['triton_error']}): torch.compile cannot "
                                         "build GPU kernels; set engine.compile = \"off\"")
        elif major < 7:
            report.line(None, "compile", f"compute capability {major}.{minor} is below triton's 7.0: "
                                         "set engine.compile = \"off\"")
        else:
            report.line(True, "compile", f"triton {info['triton']} for compute capability {major}.{minor}")
    else:
        report.line(None, "gpu", "none visible to torch: synthesis runs on the CPU (slow)")
        missing = [what for what, there in (("a C++ compiler", info["cxx"]), ("Python.h", info["python_h"]))
                   if not there]
        report.line(None, "compile", "on the CPU engine.compile \"auto\" does not compile"
                    + (f"; forcing it would fail without {' and '.join(missing)}" if missing
                       else f"; forcing it would use {info['cxx']}"))


def synthesis_lines(report: Report, engine, info: dict) -> None:
    """Which device, precision and path the engine will take with this
    config on this machine, and why (what only running can show — a
    compile or capture that fails anyway — the engine steps down from, with
    a warning line in its log)."""
    from ishowtts_live.synth.plan import loaded_driver, plan_synthesis

    device = engine.device
    if device.startswith("cuda") and not info["cuda"]:
        report.line(False, "device", f"engine.device is {device!r} but torch sees no GPU: the daemon refuses "
                                     "to start (exit 78); set engine.device = \"auto\" to run on the CPU")
        return
    index = int(device.partition(":")[2] or 0) if device.startswith("cuda") else 0
    if device.startswith("cuda") and index >= info.get("gpu_count", 1):
        report.line(False, "device", f"engine.device is {device!r} but torch sees {info.get('gpu_count', 1)} GPU(s)")
        return
    if device == "auto" and not info["cuda"] and loaded_driver():
        report.line(None, "device", f"an NVIDIA driver is loaded ({loaded_driver()}) but torch sees no GPU: "
                                    "the daemon would run on the CPU (a CPU-only torch, or a service started "
                                    "before /dev/nvidia* existed)")
    plan = plan_synthesis(engine, info)
    report.line(None if plan.precision.stepped_down else True, "precision",
                f"{plan.precision.dtype} on {plan.device}: {plan.precision.reason}; vocoder fp32")
    report.line(True, "path", f"{plan.path} — {plan.why}")


def where_lines(report: Report, loaded) -> None:
    """Where voices, state, output and caches resolve for this config and environment."""
    from ishowtts_live import paths
    from ishowtts_live.control.security import token_path
    from ishowtts_live.synth import voices
    from ishowtts_live.synth.hub import describe_cache

    cfg = loaded.config
    user = f"{cfg.voices.dir} (yours) + " if cfg.voices.dir else ""
    report.line(None, "voices", f"{user}{voices.BUILTIN_DIR} (built in)")
    report.line(None, "state", f"{paths.state_dir(cfg.state.dir)} (journal, token "
                               f"{token_path(cfg.control.token_file, cfg.state.dir)})")
    report.line(None, "wav", cfg.audio.wav_path)
    report.line(None, "hub cache", describe_cache(cfg.engine.cache_dir))
    caches = paths.kernel_caches()
    report.line(None, "kernels", f"{caches['TORCHINDUCTOR_CACHE_DIR']} (torch.compile), "
                                 f"{caches['TRITON_CACHE_DIR']} (Triton): kept across starts")


def _hub_state(ref: str, cache_dir: str) -> str:
    from ishowtts_live.synth.hub import cached

    found = cached(ref, cache_dir)
    return f"cached at {found}" if found else "not cached yet: downloaded on first start"


def sources_report(report: Report, loaded) -> None:
    """One line per chat source of the daemon running with this config: its last minute's counts."""
    import argparse
    import asyncio

    from ishowtts_live.control.cli import _token, default_url, format_minute
    from ishowtts_live.control.client import ControlClient
    from ishowtts_live.errors import IshowttsError

    url = default_url(loaded.config.control)

    async def ask():
        args = argparse.Namespace(token_file=None, timeout=5.0)
        token, where = await _token(args, loaded, url)
        async with ControlClient(url, token, timeout=5.0, token_source=where) as client:
            return await client.status()

    try:
        status = asyncio.run(ask())
    except IshowttsError as exc:
        report.line(None, "sources", f"no running daemon to ask at {url} ({exc}); the per-source counts of the "
                                     "last minute come from a running daemon")
        return
    if not status.sources:
        report.line(None, "sources", f"the daemon at {url} reads no chat source")
    for src in status.sources:
        minute = src.last_minute
        if minute is None:
            report.line(True, "source", f"{src.name}: received {src.received}")
            continue
        # unparsable = messages of a known type lost (gifts not thanked); unknown = a type with no rule yet
        ok = False if minute.unparsable else (None if minute.unknown else True)
        report.line(ok, "source", f"{src.name} last minute: {format_minute(minute)}")


def run_doctor(config_path: str | None, overrides: list[str]) -> int:
    from ishowtts_live.config import load_config
    from ishowtts_live.synth import voices
    from ishowtts_live.synth.resources import package_dir

    report = Report()
    print(f"ishowtts-live doctor — Python {platform.python_version()} on {platform.machine()} {platform.system()}")

    report.line(sys.version_info[:2] >= MIN_PYTHON, "python",
                f"{platform.python_version()} (supported: {'.'.join(map(str, MIN_PYTHON))} or newer)")
    torch_info = probe_torch()
    if "error" in torch_info:
        report.line(False, "torch", torch_info["error"])
    else:
        torch_lines(report, torch_info)
    f5 = package_dir()
    report.line(f5 is not None, "f5-tts", str(f5) if f5 else "not installed (pip install f5-tts)")

    try:
        loaded = load_config(config_path, overrides)
    except ConfigError as exc:
        for problem in exc.problems:
            report.line(False, "config", problem)
        return EXIT_CONFIG
    from ishowtts_live.app import config_checks
    from ishowtts_live.control.cli import plural

    problems = [problem for check in config_checks() for problem in check(loaded)]
    # the heading line is a note when there are problems: each is counted on its own line below
    report.line(None if problems else True, "config", f"{loaded.path or 'built-in defaults'}"
                + ("" if not problems else f": {plural(len(problems), 'problem')}, see below"))
    for problem in problems:
        report.line(False, "config", problem)

    if "error" not in torch_info:
        synthesis_lines(report, loaded.config.engine, torch_info)
    where_lines(report, loaded)
    sources_report(report, loaded)
    engine = loaded.config.engine
    from ishowtts_live.synth.hub import HUB_CHECKPOINTS, VOCOS_HUB

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

    print(plural(report.problems, "problem") if report.problems else "all good")
    return EXIT_OK if not report.problems else EXIT_FAILURE
