"""What the engine decides before it samples, on facts a CPU can fake: the
precision for each compute capability, the device ``engine.device`` names
(``cuda:1`` included), the loud failure when the GPU is missing, doctor's
prediction of the path, the first block's hand-off and /metrics' synthesis
counters. No model is loaded here."""

from __future__ import annotations

import pytest
import torch
from structlog.testing import capture_logs

from ishowtts_live.config.schema import EngineConfig
from ishowtts_live.errors import EXIT_CONFIG, ConfigError
from ishowtts_live.synth import loading, plan
from tests import kit

# (requested, capability, torch says bf16 is native) -> dtype, stepped down
PRECISION_TABLE = [
    ("auto", (9, 0), True, "fp16", False),  # H100
    ("auto", (8, 7), True, "fp16", False),  # Jetson Orin
    ("auto", (7, 5), False, "fp16", False),  # T4
    ("auto", (7, 2), False, "fp16", False),  # Jetson Xavier
    ("auto", (6, 2), False, "fp16", False),  # Jetson TX2: full-rate fp16
    ("auto", (6, 1), False, "fp32", False),  # GTX 1080: fp16 at 1/64 rate
    ("auto", (5, 3), False, "fp16", False),  # Jetson Nano
    ("auto", (5, 2), False, "fp32", False),  # Maxwell desktop
    ("bf16", (9, 0), True, "bf16", False),
    ("bf16", (8, 0), False, "fp16", True),  # torch says no: believe it
    ("bf16", (7, 5), True, "fp16", True),  # a torch that counts emulation: not native below 8.0
    ("bf16", (6, 1), False, "fp32", True),
    ("fp16", (6, 1), False, "fp16", False),  # asked for: honoured (slow, said so)
    ("fp16", (5, 2), False, "fp32", True),  # no fp16 arithmetic at all
    ("fp32", (9, 0), True, "fp32", False),
]


@pytest.mark.parametrize(("requested", "cc", "native", "dtype", "stepped"), PRECISION_TABLE)
def test_precision_per_compute_capability(requested, cc, native, dtype, stepped):
    """fp16 where it is fast, bf16 only where native, fp32 otherwise; a
    configured dtype that cannot run steps down (a warning) instead of failing."""
    choice = plan.choose_precision(requested, "cuda", cc, native)
    assert (choice.dtype, choice.stepped_down) == (dtype, stepped)
    assert choice.reason and "\n" not in choice.reason


def test_precision_on_the_cpu_is_fp32():
    """auto on the CPU is fp32, whatever torch says of bf16."""
    assert plan.choose_precision("auto", "cpu", None, True).dtype == "fp32"


@pytest.fixture
def two_gpus(monkeypatch):
    """torch reports two CUDA devices (the selection code only asks torch)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


def test_the_configured_gpu_is_the_one_selected(two_gpus):
    """cuda:1 is cuda:1 (not the current device 0); cuda is the current one;
    a GPU that does not exist is a config error naming those that do."""
    assert loading.resolve_device("cuda:1") == torch.device("cuda", 1)
    assert loading.resolve_device("cuda") == torch.device("cuda", 0)
    assert loading.resolve_device("auto") == torch.device("cuda", 0)
    with pytest.raises(ConfigError, match=r"'cuda:2', but torch sees 2 GPU\(s\) \(cuda:0, cuda:1\)"):
        loading.resolve_device("cuda:2")


def test_device_scope_makes_the_configured_gpu_current():
    """Warm-up, capture, replay and vocoding run inside this scope: on cuda:1
    it is torch's device context for index 1; on the CPU it does nothing."""
    scope = loading.device_scope(torch.device("cuda", 1))
    assert isinstance(scope, torch.cuda.device) and scope.idx == 1
    with loading.device_scope(torch.device("cpu")):
        pass


def test_cuda_without_a_gpu_is_a_config_error():
    """engine.device = cuda with no GPU: exit 78, one line that says what to set."""
    with pytest.raises(ConfigError) as caught:
        loading.resolve_device("cuda")
    assert caught.value.exit_code == EXIT_CONFIG
    [line] = caught.value.problems
    assert "torch sees no CUDA GPU" in line and 'engine.device = "auto"' in line


def test_a_device_name_torch_does_not_know_is_a_config_error():
    """A typo is one config line, not a RuntimeError from torch."""
    with pytest.raises(ConfigError, match="expected 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'"):
        loading.resolve_device("gpu")


def test_auto_warns_once_when_a_driver_is_loaded_but_torch_sees_no_gpu(tmp_path):
    """A loaded NVIDIA driver (a fake /proc/driver/nvidia/version here) and no
    torch GPU: the CPU runs, with one warning line; no driver: no warning."""
    marker = tmp_path / "version"
    marker.write_text("NVRM version: 550\n")
    with capture_logs() as logs:
        assert loading.resolve_device("auto", [str(marker)]) == torch.device("cpu")
        assert loading.resolve_device("auto", [str(tmp_path / "absent")]) == torch.device("cpu")
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert len(warnings) == 1
    assert "driver is loaded but torch sees no GPU" in warnings[0]["event"]
    assert warnings[0]["driver"] == str(marker)


def test_run_with_cuda_and_no_gpu_exits_78_with_one_line(tiny_config):
    """The command line: `say` with engine.device=cuda on this GPU-less machine
    stops with exit 78 and one error line, no traceback. (In a child process:
    the CLI configures logging for its process, here the test's.)"""
    result = kit.run_cli("say", "你好", "--config", str(tiny_config), "-o", "engine.device=cuda",
                         "-o", "audio.output=null")
    err = result.stderr
    assert result.returncode == EXIT_CONFIG
    lines = [ln for ln in err.splitlines() if "engine.device" in ln]
    assert len(lines) == 1 and "Traceback" not in err


PROBE_H100 = {"cuda": True, "capability": [9, 0], "capabilities": [[9, 0]], "bf16": True, "triton": "3.1",
              "cc": "/usr/bin/cc", "cxx": "/usr/bin/g++", "python_h": True}


def test_doctor_predicts_the_default_gpu_path():
    """auto on an H100 with Triton and a compiler: fp16 + compile + graphs + vocoder stream."""
    p = plan.plan_synthesis(EngineConfig(), PROBE_H100)
    assert p.device == "cuda:0" and p.precision.dtype == "fp16"
    assert p.path == "fast path: fp16 + torch.compile (default) + CUDA graphs + vocoder stream"


@pytest.mark.parametrize(("probe", "cause"), [
    ({"triton_error": "No module named 'triton'"}, "triton does not import"),
    ({"capability": [6, 1], "capabilities": [[6, 1]]}, "below triton's 7.0"),
    ({"cc": ""}, "no a C compiler"),
    ({"python_h": False}, "Python.h"),
])
def test_doctor_says_why_compilation_will_step_down(probe, cause):
    """Without what inductor needs, doctor says compile steps down and why;
    graphs and the vocoder stream still run."""
    p = plan.plan_synthesis(EngineConfig(), {**PROBE_H100, **probe})
    assert "torch.compile" not in p.path and "CUDA graphs" in p.path
    assert "step down to no compile" in p.why and cause in p.why


def test_doctor_uses_the_capability_of_the_configured_gpu():
    """cuda:1 is planned with GPU 1's capability, not GPU 0's."""
    probe = {**PROBE_H100, "capabilities": [[9, 0], [6, 1]]}
    assert plan.plan_synthesis(EngineConfig(device="cuda:1"), probe).precision.dtype == "fp32"


def test_synth_counters_reach_metrics():
    """Graph captures (warm-up, live), unwarmed batches and step-downs from the
    synthesizer's counters() are exported at scrape time."""
    from prometheus_client import generate_latest

    from ishowtts_live.metrics import Metrics

    class Synth:
        def counters(self):
            return {"graph_captures": {"warmup": 12, "live": 1}, "unwarmed_batches": {"eager": 3},
                    "stepdowns": {"no-graphs": 1}}

    m = Metrics()
    m.watch_synth(Synth())
    text = generate_latest(m.registry).decode()
    assert 'ishowtts_synth_graph_captures_total{phase="warmup"} 12.0' in text
    assert 'ishowtts_synth_graph_captures_total{phase="live"} 1.0' in text
    assert 'ishowtts_synth_unwarmed_batches_total{ran="eager"} 3.0' in text
    assert 'ishowtts_synth_stepdowns_total{to="no-graphs"} 1.0' in text


class _Instrumented:
    """Just enough of F5Engine for stream_chunks, recording the order of
    starts, hand-offs and fetches; a vocoder stream as on CUDA."""

    vocoder_stream = object()

    def __init__(self, events):
        self.events = events

    def prepared_voice(self, voice_id):
        return "voice"

    def params(self, voice):
        return "params"

    def plan(self, voice, text, params):
        return ["one", "two", "three"]

    def start_chunks(self, items, cancel=None):
        [(_voice, chunk, _params)] = items
        self.events.append(f"start {chunk}")
        events = self.events

        class Pending:
            def result(self):
                events.append(f"fetch {chunk}")
                return chunk

        return [Pending()]


def test_first_block_is_handed_over_before_the_next_chunk_starts():
    """With the vocoder on its own stream: chunk 1's audio is yielded before
    chunk 2 is started; later chunks overlap (k+1 started before k is fetched)."""
    from ishowtts_live.synth.streaming import stream_chunks

    events: list[str] = []
    for chunk, _wave in stream_chunks(_Instrumented(events), None, "text"):
        events.append(f"yield {chunk}")
    assert events == ["start one", "fetch one", "yield one",
                      "start two", "start three", "fetch two", "yield two", "fetch three", "yield three"]
