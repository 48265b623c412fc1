"""Console transcripts in the docs: ``$ command`` lines, each followed by the
output it prints, compared after a small normalisation.

The rules (also in tests/docs/README.md):

* ``$ `` starts a command; a line ending in ``\\`` continues it on the next.
  The lines after it, up to the next ``$ ``, are its output: standard output
  and standard error together, as a terminal shows them.
* A command is expected to exit 0; ``[exit N]`` as its last output line says
  it exits N.
* ``…`` inside a line matches any text; a line that is only ``…`` matches any
  number of lines (for a long output shown in part).
* Before comparing, both sides are normalised: trailing spaces dropped and
  runs of spaces made one (tables may realign), durations (``10s``, ``0.9 s``,
  ``37 ms``, ``2 min``) become ``<time>``, clock times ``<clock>``, ports after
  a loopback address ``<port>``. In the output only, the sandbox's home
  becomes ``~`` and the sandbox folder (the working directory) is dropped from
  paths, as they would read on the reader's machine.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

EXIT = re.compile(r"^\[exit (\d+)\]$")
ELLIPSIS = "…"


@dataclass
class Step:
    command: str
    line: int  # 1-based line of the ``$`` in the Markdown file
    expected: list[tuple[int, str]] = field(default_factory=list)  # (line, text)
    exit_code: int = 0


def is_transcript(text: str) -> bool:
    return any(line.startswith("$ ") or line == "$" for line in text.splitlines())


def parse(text: str, first_line: int) -> list[Step]:
    """The steps of a transcript whose first line is line ``first_line`` of its file."""
    steps: list[Step] = []
    continued = False
    for number, raw in enumerate(text.splitlines(), first_line):
        line = raw.rstrip()
        if continued:
            steps[-1].command = steps[-1].command[:-1].rstrip() + " " + line.strip()
        elif line.startswith("$ "):
            steps.append(Step(line[2:], number))
        elif steps:
            found = EXIT.match(line)
            if found:
                steps[-1].exit_code = int(found.group(1))
            else:
                steps[-1].expected.append((number, line))
        elif line:
            raise ValueError(f"line {number}: output before the first `$ ` command")
        continued = (continued or line.startswith("$ ")) and line.endswith("\\")
    for step in steps:
        while step.expected and not step.expected[-1][1]:
            step.expected.pop()  # a blank line between two commands is layout
    return steps


# --------------------------------------------------------------------------- normalisation

_TIME = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ms|s|min|h)(?![\w])")
_CLOCK = re.compile(r"(?<![\d:])\d{1,2}:\d{2}:\d{2}(?:\.\d+)?(?![\d:])")
_PORT = re.compile(r"(127\.0\.0\.1|localhost|0\.0\.0\.0|\[::1\]):\d{2,5}\b")
_SPACES = re.compile(r"[ \t]{2,}")


def normalise(line: str) -> str:
    line = _CLOCK.sub("<clock>", line)
    line = _TIME.sub("<time>", line)
    line = _PORT.sub(r"\1:<port>", line)
    return _SPACES.sub(" ", line.rstrip())


def _pattern(expected: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in normalise(expected).split(ELLIPSIS)]
    return re.compile(".*".join(parts) + r"\Z", re.DOTALL)


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` (normalised output lines) is what ``expected`` shows."""
    patterns = [None if line.strip() == ELLIPSIS else _pattern(line) for line in expected]
    actual = [normalise(line) for line in actual]
    # reachable[j]: the expected lines so far can account for actual[:j]
    reachable = [True] + [False] * len(actual)
    for pattern in patterns:
        step = [False] * (len(actual) + 1)
        for j, ok in enumerate(reachable):
            if not ok:
                continue
            if pattern is None:
                for k in range(j, len(actual) + 1):
                    step[k] = True
                break
            if j < len(actual) and pattern.match(actual[j]):
                step[j + 1] = True
        reachable = step
    return reachable[-1]


def explain(step: Step, actual: list[str], where: str) -> str:
    """What differs, as a diff of the docs (-) against the output (+), led by
    the file and line of the first line that differs."""
    expected = [text for _, text in step.expected]
    shown = [normalise(line) for line in expected]
    got = [normalise(line) for line in actual]
    first = step.line
    for tag, i1, _i2, _j1, _j2 in difflib.SequenceMatcher(a=shown, b=got, autojunk=False).get_opcodes():
        if tag != "equal":
            first = step.expected[i1][0] if i1 < len(step.expected) else (
                step.expected[-1][0] + 1 if step.expected else step.line + 1)
            break
    diff = "\n".join(difflib.unified_diff(shown, got, "docs", "output", lineterm="", n=2))
    # the raw output too, to paste into the docs (the diff's lines are normalised)
    printed = "\n".join(f"  {line}" for line in actual[:60]) + ("\n  …" if len(actual) > 60 else "")
    return (f"{where.split(':')[0]}:{first}: `{step.command}` printed something else than the docs show "
            f"(compared after normalisation, see tests/docs/README.md)\n{diff}\nwhat it printed:\n{printed}")
