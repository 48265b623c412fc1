"""Which device, precision and fast path the engine takes, decided from facts
about the machine (torch-free, pure functions).

The engine calls these with what torch reports at load; ``doctor`` calls them
with what its torch probe found, so that it can say which path will run and
why before the daemon starts. What only trying can tell (a compiler that
fails on this model, a capture that fails) is found at run time: the fast
path then steps down (:mod:`.fastpath`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

# Where a loaded NVIDIA driver shows itself without torch: the desktop
# driver's proc file and first device node, the Tegra (Jetson) GPU module.
DRIVER_MARKERS = ("/proc/driver/nvidia/version", "/dev/nvidia0", "/sys/module/nvgpu")

# Compute capabilities with full-rate (or better) fp16 arithmetic: Tegra X1
# (5.3), P100 (6.0), Tegra X2 (6.2), and every GPU from Volta (7.0) on. The
# consumer Pascal cards (6.1) run fp16 at 1/64 of their fp32 rate.
FAST_FP16_PASCAL = {(5, 3), (6, 0), (6, 2)}
MIN_HALF = (5, 3)  # no fp16 arithmetic below this
MIN_BF16 = (8, 0)  # Ampere: the first native bf16
MIN_TRITON = (7, 0)  # Triton (torch.compile's GPU backend) builds for Volta and newer


@dataclass(frozen=True)
class Precision:
    dtype: str  # fp16 | bf16 | fp32
    reason: str  # one line: why this one
    stepped_down: bool = False  # the configured dtype could not be honoured (warn, do not fail)


def fast_fp16(capability: tuple[int, int]) -> bool:
    return tuple(capability) >= (7, 0) or tuple(capability) in FAST_FP16_PASCAL


def choose_precision(requested: str, device_type: str, capability: tuple[int, int] | None = None,
                     bf16_native: bool = False) -> Precision:
    """``engine.dtype`` on this device. ``bf16_native`` is torch's own answer
    (``torch.cuda.is_bf16_supported(including_emulation=False)``); the
    capability check beside it guards a torch that counts emulation.

    On the CPU ``fp16`` is refused by the caller (it needs a GPU); here it
    never gets that far."""
    cc = ".".join(map(str, capability)) if capability else "?"
    if device_type != "cuda":
        if requested in ("auto", "fp32"):
            return Precision("fp32", "the CPU runs fp32")
        return Precision(requested, f"engine.dtype = {requested!r} on the CPU")
    native_bf16 = bool(bf16_native) and capability is not None and tuple(capability) >= MIN_BF16
    fast = capability is not None and fast_fp16(capability)
    if requested == "fp32":
        return Precision("fp32", "engine.dtype = 'fp32'")
    if requested == "bf16":
        if native_bf16:
            return Precision("bf16", f"engine.dtype = 'bf16', native on compute capability {cc}")
        fallback = "fp16" if fast else "fp32"
        return Precision(fallback, f"engine.dtype = 'bf16' is not native on compute capability {cc} "
                                   f"(needs {MIN_BF16[0]}.{MIN_BF16[1]}); running {fallback}", stepped_down=True)
    if requested == "fp16":
        if capability is not None and tuple(capability) < MIN_HALF:
            return Precision("fp32", f"engine.dtype = 'fp16' has no arithmetic on compute capability {cc} "
                                     f"(needs {MIN_HALF[0]}.{MIN_HALF[1]}); running fp32", stepped_down=True)
        return Precision("fp16", "engine.dtype = 'fp16'" + ("" if fast else f" (slow on compute capability {cc})"))
    # auto
    if fast:
        return Precision("fp16", f"compute capability {cc} has fast fp16")
    return Precision("fp32", f"compute capability {cc} has no fast fp16")


def loaded_driver(markers: Iterable[str] = DRIVER_MARKERS) -> str | None:
    """The first sign of a loaded NVIDIA driver on this machine, or None."""
    return next((m for m in markers if os.path.exists(m)), None)


def compile_blocker(capability: tuple[int, int] | None, *, triton_error: str | None = None,
                    c_compiler: str = "", python_h: bool = True, device_type: str = "cuda") -> str | None:
    """Why torch.compile cannot build here (None: nothing known against it).
    On CUDA, inductor writes Triton kernels (Volta or newer, and Triton
    compiles a small C launcher: a C compiler and Python.h); on the CPU it
    writes C++ (a C++ compiler and Python.h)."""
    if device_type == "cuda":
        if triton_error is not None:
            return f"triton does not import ({triton_error})"
        if capability is not None and tuple(capability) < MIN_TRITON:
            cc = ".".join(map(str, capability))
            return f"compute capability {cc} is below triton's {MIN_TRITON[0]}.{MIN_TRITON[1]}"
    missing = [what for what, there in (("a C compiler" if device_type == "cuda" else "a C++ compiler", c_compiler),
                                        ("Python.h", python_h)) if not there]
    if missing:
        return f"no {' and no '.join(missing)}"
    return None


@dataclass(frozen=True)
class PathPlan:
    """What the engine will run, predicted before it starts (for doctor)."""

    device: str
    precision: Precision
    path: str  # one line: the arrangement that will run
    why: str  # one line: why that one


def plan_synthesis(engine, probe: dict) -> PathPlan:
    """The device, precision and fast path ``engine`` (an EngineConfig) gets on
    the machine ``probe`` describes (doctor's torch probe: cuda, capability
    of GPU 0 and capabilities of all, bf16, triton / triton_error, cc, cxx,
    python_h)."""
    cuda = bool(probe.get("cuda"))
    device = engine.device
    if device == "auto":
        device = "cuda:0" if cuda else "cpu"
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    capability = None
    if cuda and device_type == "cuda":
        index = int(device.partition(":")[2] or 0)
        every = probe.get("capabilities") or [probe.get("capability")]
        capability = tuple(every[index]) if index < len(every) and every[index] else None
    precision = choose_precision(engine.dtype, device_type, capability, bool(probe.get("bf16")))
    fast = engine.fast_path == "on" or (engine.fast_path == "auto" and device_type == "cuda")
    mode = engine.compile if engine.compile != "auto" else ("default" if device_type == "cuda" else "off")
    graphs = fast and device_type == "cuda" and engine.cuda_graphs and mode != "reduce-overhead"
    blocker = None
    if mode != "off":
        blocker = compile_blocker(capability, triton_error=probe.get("triton_error"),
                                  c_compiler=probe.get("cc" if device_type == "cuda" else "cxx", ""),
                                  python_h=bool(probe.get("python_h", True)), device_type=device_type)
    if not fast:
        why = ("engine.fast_path = 'auto' is off on the CPU" if engine.fast_path == "auto"
               else "engine.fast_path = 'off'")
        path = "eager sampler" + (f", blocks compiled ({mode})" if mode != "off" and not blocker else "")
        if blocker:
            why += f"; engine.compile = {mode!r} will step down to eager: {blocker}"
        return PathPlan(device, precision, path, why)
    parts = [precision.dtype]
    if mode != "off" and not blocker:
        parts.append(f"torch.compile ({mode})")
    if graphs:
        parts.append("CUDA graphs")
    if device_type == "cuda":
        parts.append("vocoder stream")
    path = "fast path: " + " + ".join(parts)
    why = [("engine.fast_path = 'auto' is on with CUDA" if engine.fast_path == "auto" else "engine.fast_path = 'on'")]
    if blocker:
        why.append(f"engine.compile = {mode!r} will step down to no compile: {blocker}")
    elif mode == "off":
        why.append("engine.compile = 'off'" if engine.compile == "off" else "the CPU does not compile by default")
    if device_type == "cuda" and not graphs:
        why.append("CUDA graphs off (" + ("engine.cuda_graphs = false" if not engine.cuda_graphs
                                          else "torch makes its own in 'reduce-overhead'") + ")")
    return PathPlan(device, precision, path, "; ".join(why))


__all__ = ["DRIVER_MARKERS", "PathPlan", "Precision", "choose_precision", "compile_blocker", "fast_fp16",
           "loaded_driver", "plan_synthesis"]
