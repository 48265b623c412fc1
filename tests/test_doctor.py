"""`doctor`'s judgement of the interpreter, torch, torchaudio, the GPU and
compile prerequisites, and where it says files go."""

from __future__ import annotations

import re

import pytest

from ishowtts_live import doctor
from ishowtts_live.compat import tomllib
from tests import kit

CPU = {"cuda_build": None, "cuda": False, "cxx": "/usr/bin/g++", "python_h": True}
GPU = {"cuda_build": "12.6", "cuda": True, "gpu": "Orin", "capability": [8, 7], "memory_gb": 7.4, "bf16": True,
       "triton": "3.1.0", "cxx": "", "python_h": False}


def test_supported_minimums_match_pyproject():
    """doctor's minimum Python and torch are the ones pyproject.toml declares."""
    project = tomllib.loads((kit.ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=" + ".".join(map(str, doctor.MIN_PYTHON))
    torch_req = next(d for d in project["dependencies"] if re.match(r"torch\b(?!audio)", d))
    assert torch_req == "torch>=" + ".".join(map(str, doctor.MIN_TORCH))


@pytest.mark.parametrize(("version", "expected"), [
    ("2.5.0a0+872d972e41.nv24.08", (2, 5)), ("2.11.0+cu130", (2, 11)), ("2.8.0", (2, 8)), ("junk", (0, 0)),
])
def test_version_tuple_reads_nvidia_and_pypi_versions(version, expected):
    """Release numbers are read from NVIDIA's Jetson builds and PyPI's alike."""
    assert doctor.version_tuple(version) == expected


@pytest.mark.parametrize(("info", "verdicts"), [
    ({**CPU, "torch": "2.5.0", "torchaudio": "2.5.0"},
     {"torch": "ok", "torchaudio": "ok", "gpu": "note", "compile": "note"}),
    ({**CPU, "torch": "2.4.1", "torchaudio": "2.4.1"}, {"torch": "FAIL", "torchaudio": "ok"}),
    ({**CPU, "torch": "2.5.0a0+872d972e41.nv24.08", "torchaudio": "2.11.0"}, {"torch": "ok", "torchaudio": "FAIL"}),
    ({**CPU, "torch": "2.5.0", "torchaudio_error": "undefined symbol: _ZN3c10...aoti"}, {"torchaudio": "FAIL"}),
    ({**GPU, "torch": "2.8.0", "torchaudio": "2.8.0"}, {"gpu": "ok", "compile": "ok"}),
    ({**{k: v for k, v in GPU.items() if k != "triton"}, "triton_error": "No module named 'triton'",
      "torch": "2.8.0", "torchaudio": "2.8.0"}, {"gpu": "ok", "compile": "note"}),
    ({**GPU, "capability": [6, 1], "torch": "2.8.0", "torchaudio": "2.8.0"}, {"compile": "note"}),
])
def test_torch_lines_judge_versions_pairs_and_compile(info, verdicts, capsys):
    """Too old a torch and a torchaudio for another torch fail; a GPU without
    triton or below compute capability 7.0 gets a compile note."""
    report = doctor.Report()
    doctor.torch_lines(report, info)
    lines = capsys.readouterr().out.splitlines()
    seen = {m.group(2): m.group(1).strip() for m in (re.match(r"\[(.{4})\] (\S+)", line) for line in lines)}
    assert {k: seen[k] for k in verdicts} == verdicts, lines
    assert report.problems == sum(v == "FAIL" for v in seen.values())


def test_doctor_says_where_state_voices_and_caches_go(tiny_config, tmp_path):
    """The real command names the state directory systemd gives it, the built-in
    voices, the hub cache and the kernel cache."""
    env = {"STATE_DIRECTORY": str(tmp_path / "state"), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor"),
           "HF_HUB_CACHE": str(tmp_path / "hub")}
    r = kit.run_cli("doctor", "--config", str(tiny_config), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(rf"\[note\] state +{re.escape(str(tmp_path / 'state'))} ", r.stdout)
    assert f"{tmp_path / 'state' / 'ishowtts.wav'}" in r.stdout
    assert "ishowtts_live/voices (built in)" in r.stdout
    assert f"[note] hub cache    {tmp_path / 'hub'}" in r.stdout
    assert f"[note] kernels      {tmp_path / 'inductor'}" in r.stdout
    assert re.search(r"\[ok  \] python +3\.\d+", r.stdout) and "[ok  ] torchaudio" in r.stdout


def test_one_config_problem_is_counted_once(tiny_config, tmp_path, monkeypatch, capsys):
    """A config with one problem: one FAIL line for it, and the summary says
    "1 problem" (the line that introduces the problems is a note)."""
    monkeypatch.setattr(doctor, "probe_torch", lambda: {**CPU, "torch": "2.11.0", "torchaudio": "2.11.0"})
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    code = doctor.run_doctor(str(tiny_config), ["voices.default=nosuchvoice", "control.port=9"])
    out = capsys.readouterr().out
    fails = [line for line in out.splitlines() if line.startswith("[FAIL]")]
    assert [line.split()[1] for line in fails] == ["config"], out
    assert "[note] config" in out and ": 1 problem, see below" in out
    assert out.splitlines()[-1] == "1 problem" and code == 1
