"""The imports draw the data path (DESIGN §1): sources → filters → queueing →
pipeline → synth → sinks, the control plane beside it talking to one
Controls façade, config (and the core types) below everything, no import
cycles, torch only in synth/ (and the bench that measures it). Read from the
source with ``ast``: every runtime import counts, lazy ones included; imports
under ``if TYPE_CHECKING:`` are annotations, not dependencies."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests import kit

PACKAGE = kit.ROOT / "ishowtts_live"
# below every stage: configuration, the core types, and plumbing every stage may use
FOUNDATION = {"config", "errors", "events", "users", "bus", "metrics", "logs", "lifecycle", "compat", "paths"}
STAGES = {"sources", "filters", "queueing", "synth", "sinks"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(), "bus": set(), "metrics": set(), "logs": set(), "lifecycle": set(), "events": set(),
    "compat": set(), "paths": set(),
    "users": {"events"},
    "config": {"errors", "compat", "paths"},
    # a stage knows the foundation, never another stage
    **{stage: FOUNDATION for stage in STAGES},
    # the pipeline connects the stages between the queue and the sink
    "pipeline": FOUNDATION | {"filters", "queueing", "synth"},
    # the façade reaches the pipeline so that the control plane does not
    "controls": FOUNDATION | {"pipeline", "filters", "queueing", "synth", "control"},
    "control": FOUNDATION | {"controls"},
}
# within synth, what the rest of the daemon may import: the protocol, never an engine
SYNTH_FOR_OTHERS = {"ishowtts_live.synth.protocol"}
TORCH = ("torch", "torchaudio", "f5_tts", "vocos")


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(kit.ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


MODULES = modules()


def runtime_imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports at run time (absolute names)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = name.split(".")
                    if path.name != "__init__.py":
                        package = package[:-1]
                    base = ".".join(package[: len(package) - child.level + 1] + ([base] if base else []))
                for alias in child.names:  # a submodule by name, else a name from the module
                    sub = f"{base}.{alias.name}"
                    found.add(sub if sub in MODULES else base)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


GRAPH = {name: {m for m in runtime_imports(name, path) if m in MODULES} for name, path in MODULES.items()}


@pytest.mark.parametrize("name", sorted(m for m in GRAPH if layer(m) in ALLOWED))
def test_each_layer_imports_only_what_is_below_it(name):
    """A module imports its own layer and the layers the data path puts below
    it; the pipeline, the façade and the control plane reach synthesis only
    through its protocol."""
    own = layer(name)
    wrong = sorted(m for m in GRAPH[name] if layer(m) not in ALLOWED[own] | {own, "__init__"})
    assert not wrong, f"{name} imports {wrong}"
    if own != "synth":
        engine_side = sorted(m for m in GRAPH[name] if layer(m) == "synth" and m not in SYNTH_FOR_OTHERS)
        assert not engine_side, f"{name} imports {engine_side}: only the Synthesizer protocol"


def test_no_import_cycles():
    """No module reaches itself through its runtime imports."""
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def dfs(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            dfs(node)
    assert not cycles, cycles


def test_torch_is_imported_only_where_synthesis_runs():
    """torch, torchaudio, f5-tts and vocos appear only in synth/ and in the bench that measures it."""
    offenders = sorted(name for name, path in MODULES.items() if layer(name) not in ("synth", "bench")
                       and any(m.split(".")[0] in TORCH for m in runtime_imports(name, path)))
    assert not offenders, offenders


def test_modules_stay_small_or_say_why():
    """Modules stay under about 400 lines unless their docstring says why they are longer."""
    long = [name for name, path in MODULES.items()
            if len(path.read_text(encoding="utf-8").splitlines()) > 420
            and "longer than" not in (ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "").lower()]
    assert not long, long
