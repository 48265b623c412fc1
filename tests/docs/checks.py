"""The checks for blocks that are not transcripts, and for figures.

* ``toml``: a piece of the config file; every key must exist and every value
  have the right type (the loader's own validation, not the checks that need
  files).
* every ``ishowtts-live …`` line of any block (a synopsis, a shell line, a
  transcript): every command, action and ``--option`` it names must be one
  the parser knows.
* ``quoted-from FILE``: output quoted from a test; every line must stand in
  that test, so the test holds it.
* ``figures FILE.json …``: every number in the table or paragraph below must
  be a number in one of the JSON files, rounded as shown (or that number in
  thousandths or thousands: ms shown as s), or one derived from them: the
  difference of two numbers of one file (``+52.8 MiB`` = peak − idle) or the
  sum of one object's or list's numbers (a total of drops), unless listed
  after ``except``.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any, Iterator

from ishowtts_live.compat import tomllib
from tests.docs.markdown import ROOT, Block, Region


def check_toml(block: Block) -> list[str]:
    from ishowtts_live.config.loading import validate_table
    from ishowtts_live.config.schema import Config

    try:
        data = tomllib.loads(block.text)
    except tomllib.TOMLDecodeError as exc:
        return [f"{block.where}: not valid TOML: {exc}"]
    return [f"{block.where}: {problem}" for problem in validate_table(data, Config)]


# --------------------------------------------------------------------------- synopses

SYNOPSIS_LINE = re.compile(r"^\s*ishowtts-live\s+(?P<rest>.*)$")
# `ishowtts-live SUB …` anywhere in a line: after `sudo`, an environment variable, `$ `
COMMAND = re.compile(r"(?:^|&&|;|\||\$ )\s*(?:sudo(?:\s+-u\s+\S+)?\s+)?(?:\w+=\S*\s+)*(?:\S*/)?"
                     r"ishowtts-live\s+(?P<rest>[^#]*)")
OPTION = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def is_synopsis(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and SYNOPSIS_LINE.match(lines[0]) is not None


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps no public list of sub-commands
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    found = set(parser._option_string_actions)
    for sub in _subparsers(parser).values():
        found |= _options(sub)
    return found


def check_command_lines(block: Block) -> list[str]:
    """Every ``ishowtts-live COMMAND …`` a block names (a synopsis, a shell
    line, a transcript's command; with the indented lines that continue it):
    the command, its actions (``ctl status | queue``, ``config check|show``)
    and each ``--option`` must be ones the real parser has."""
    from ishowtts_live.cli import build_parser

    top = build_parser()
    commands = _subparsers(top)
    problems = []
    transcript = any(line.startswith("$ ") for line in block.text.splitlines())
    current: argparse.ArgumentParser | None = None
    previous = ""
    for number, line in enumerate(block.text.splitlines(), block.line + 1):
        continues = previous.endswith("\\") or (not transcript and line[:1].isspace())
        previous = line
        found = None if transcript and not line.startswith("$ ") else COMMAND.search(line)
        if found:
            rest = found.group("rest")
            words = rest.split()
            name = words[0] if words else ""
            if name.startswith("-"):
                current = top
            elif name not in commands:
                problems.append(f"{block.path}:{number}: `ishowtts-live {name}`: no such command "
                                f"(the parser has {', '.join(sorted(commands))})")
                current = None
                continue
            else:
                current = commands[name]
                actions = _subparsers(current)
                if actions and len(words) > 1:
                    # the first word of each alternative (`status | queue`, `check|show`) before the
                    # description (two spaces) is an action; upper case is a placeholder
                    usage = re.split(r"\s{2,}", rest.strip())[0].split(None, 1)[1]
                    named = [alt.split()[0] for alt in usage.split("|") if alt.split()]
                    named = [w for w in named if re.fullmatch(r"[a-z][a-z-]*", w)]
                    problems.extend(f"{block.path}:{number}: `ishowtts-live {name} {w}`: no such action"
                                    for w in named if w not in actions)
            checked = rest
        elif current is not None and continues:
            checked = line.partition(" #")[0]
        else:
            current = None
            continue
        known = _options(current)
        problems.extend(f"{block.path}:{number}: `{option}` is not an option of `{current.prog}`"
                        for option in OPTION.findall(checked) if option not in known)
    return problems


# --------------------------------------------------------------------------- quotations


def check_quoted(block: Block, source: str) -> list[str]:
    path = ROOT / source
    if not path.is_file():
        return [f"{block.where}: quoted-from {source}: no such file"]
    text = re.sub(r"\s+", " ", path.read_text(encoding="utf-8"))
    return [f"{block.path}:{number}: this line is not in {source} (the test that should hold it): {line.strip()!r}"
            for number, line in enumerate(block.text.splitlines(), block.line + 1)
            if line.strip() and re.sub(r"\s+", " ", line.strip()) not in text]


# --------------------------------------------------------------------------- figures

NUMBER = re.compile(r"(?<![\w.])[-−+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])[-−+]?\d+(?:\.\d+)?")


def _leaves(data: Any) -> Iterator[float]:
    if isinstance(data, bool):
        return
    if isinstance(data, (int, float)):
        yield float(data)
    elif isinstance(data, dict):
        for value in data.values():
            yield from _leaves(value)
    elif isinstance(data, list):
        for value in data:
            yield from _leaves(value)
    elif isinstance(data, str):
        yield from (float(m) for m in re.findall(r"\d+(?:\.\d+)?", data))


def _sums(data: Any) -> Iterator[float]:
    """The total of each object's or list's own numbers, at every depth."""
    if isinstance(data, dict):
        data = list(data.values())
    if isinstance(data, list):
        numbers = [v for v in data if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(numbers) > 1:
            yield float(sum(numbers))
        for value in data:
            yield from _sums(value)


def _shown(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def check_figures(region: Region) -> list[str]:
    args = region.directive.args.split()
    files, exempt = (args[: args.index("except")], args[args.index("except") + 1:]) if "except" in args else (args, [])
    if not files:
        return [f"{region.path}:{region.directive.line}: docs-test figures names no JSON file"]
    values: list[float] = []
    for name in files:
        path = ROOT / name
        if not path.is_file():
            return [f"{region.path}:{region.directive.line}: figures file not found: {name}"]
        data = json.loads(path.read_text(encoding="utf-8"))
        own = list(_leaves(data))
        values.extend(own)
        values.extend(a - b for a in own for b in own if a > b)
        values.extend(_sums(data))
    scaled = [v * k for v in values for k in (1.0, 1000.0, 0.001)] + [abs(v) for v in values]
    problems = []
    for number, line in region.lines:
        for token in NUMBER.findall(line):
            shown = token.replace(",", "").replace("−", "-").lstrip("+")
            if shown in exempt or token in exempt:
                continue
            decimals = len(shown.partition(".")[2])
            if not any(_shown(v, decimals) == shown or _shown(v, decimals) == shown.lstrip("-") for v in scaled):
                problems.append(f"{region.path}:{number}: {token} is not in {', '.join(files)} "
                                f"(rounded to {decimals} decimals); list it after `except` if it is not a measurement")
    return problems
