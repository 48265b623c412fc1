"""Run by .ci/py310 inside the venv it built: lists every direct dependency
of the project (and of its test extra) as installed next to the lowest
version pyproject.toml allows. torch and torchaudio must sit exactly at their
lower bound (the low end of the supported range is what this stage tests);
any other dependency the resolver lifted above its bound is named, because
that bound is then not what was tested.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib


EXACT = ("torch", "torchaudio")


def main() -> int:
    project = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    problems, rows = [], []
    for line in wanted:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate():
            continue
        lows = [Version(s.version) for s in req.specifier if s.operator in (">=", "==", "~=")]
        try:
            have = Version(version(req.name))
        except PackageNotFoundError:
            problems.append(f"{req.name}: not installed")
            continue
        low = max(lows) if lows else None
        rows.append(f"  {req.name:<20} {str(have):<12} (lower bound {low or 'none'})")
        if low is not None and have != low:
            rows[-1] += "  above the bound (lifted by another package's requirement)"
            if req.name in EXACT:
                problems.append(f"{req.name}: installed {have}, but the stage must test the lower bound {low}")
    print(".ci/py310: direct dependencies as installed")
    print("\n".join(rows))
    for problem in problems:
        print(f".ci/py310: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
