"""The README and docs/ as tests: every fenced block is run or checked
(tests/docs/README.md says how), every relative link and named path
resolves, and every figure under a ``figures`` directive is in its JSON.
A failure starts with the file and line that drifted."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.docs import checks, console
from tests.docs.markdown import (
    LINKED_TEXT, Block, DocsError, blocks, doc_files, figure_regions, references, resolve,
)
from tests.docs.sandbox import Sandbox


def _collect(read) -> tuple[list, list[str]]:
    """What ``read`` finds in every page, and the pages whose directives do
    not parse (reported by one test, so the other pages are still tested)."""
    found, errors = [], []
    for path in doc_files():
        try:
            found.extend(read(path))
        except DocsError as exc:
            errors.append(str(exc))
    return found, errors


BLOCKS, BLOCK_ERRORS = _collect(blocks)
REGIONS, REGION_ERRORS = _collect(figure_regions)
SHELLS = ("sh", "bash", "shell")


def _commands(block: Block) -> str:
    """What the block and its setup run (a synopsis runs nothing)."""
    texts = [d.body for d in block.all("setup")]
    if console.is_transcript(block.text):
        texts.append(block.text)
    return "\n".join(step.command for text in texts for step in console.parse(text, 1))


def _fail(problems: list[str]) -> None:
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def _run_transcript(sandbox: Sandbox, text: str, first_line: int, where: str, *, compare: bool = True) -> None:
    for step in console.parse(text, first_line):
        code, output = sandbox.run(step.command)
        actual = output.splitlines()
        path = where.split(":")[0]
        if compare and not console.matches([line for _, line in step.expected], actual):
            pytest.fail(console.explain(step, actual, where), pytrace=False)
        if code != step.exit_code:
            shown = f"[exit {step.exit_code}]" if step.exit_code else "nothing (exit 0)"
            pytest.fail(f"{path}:{step.line}: `{step.command}` exited {code}; the docs show {shown}"
                        + (f"\n{output}" if not compare or code else ""), pytrace=False)


def test_directives_parse() -> None:
    """Every docs-test directive of every page is one the harness knows and
    stands where it belongs (above a fenced block; figures above a table or
    paragraph)."""
    _fail(BLOCK_ERRORS + REGION_ERRORS)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.where)
def test_block(block: Block, sandbox: Sandbox) -> None:
    """A docs block shows what the product does: its commands print what it
    shows, its config keys exist, its synopsis names real options; one that is
    not run says why."""
    try:
        _check_block(block, sandbox)
    except (AssertionError, ValueError) as exc:
        # the sandbox's own failures (a daemon that will not start, a command that hangs) and a
        # transcript that does not parse, named after the block
        pytest.fail(f"{block.where}: {exc}", pytrace=False)


def _check_block(block: Block, sandbox: Sandbox) -> None:
    _fail(checks.check_command_lines(block))  # run or not, the options it names exist
    not_run = block.directive("not-run")
    if not_run is not None:
        if not not_run.args:
            pytest.fail(f"{block.path}:{not_run.line}: not-run needs a reason", pytrace=False)
        pytest.skip(f"{block.where}: not run: {not_run.args}")
    shown_file = block.directive("file")
    if shown_file is not None:
        # the sandbox fixture wrote it; here: a later command of the same page uses it
        later = [b for b in BLOCKS if b.path == block.path and b.line > block.line and shown_file.args in _commands(b)]
        if not later:
            pytest.fail(f"{block.where}: the file {shown_file.args} shown here is used by no later command of the page",
                        pytrace=False)
        return
    quoted = block.directive("quoted-from")
    if quoted is not None:
        _fail(checks.check_quoted(block, quoted.args))
        return
    if "ishowtts-live ctl" in _commands(block):
        fresh = block.directive("fresh-daemon")
        sandbox.ensure_daemon(fresh=fresh is not None, extra=tuple(shlex.split(fresh.args)) if fresh else ())
    for setup in block.all("setup"):
        _run_transcript(sandbox, setup.body, setup.line + 1, f"{block.path}:{setup.line}", compare=False)
    if console.is_transcript(block.text):
        _run_transcript(sandbox, block.text, block.line + 1, block.where)
    elif block.language == "toml":
        _fail(checks.check_toml(block))
    elif checks.is_synopsis(block.text):
        pass  # checked above: a synopsis has nothing to run
    elif block.language in SHELLS and block.directive("run") is not None:
        # commands without output are run only when the page asks for it: an
        # unmarked one might install packages or need root
        code, output = sandbox.run("set -e\n" + block.text)
        if code != 0:
            pytest.fail(f"{block.where}: the commands exited {code}:\n{output}", pytrace=False)
    else:
        pytest.fail(f"{block.where}: a ```{block.language or '(no language)'} block the docs tests do not know how "
                    "to check: make it a console transcript (`$ command` and its output), toml or a synopsis, mark "
                    "commands to run <!-- docs-test: run -->, or mark it <!-- docs-test: not-run REASON --> "
                    "(tests/docs/README.md)", pytrace=False)


@pytest.mark.parametrize("path", [*doc_files(), *map(Path, LINKED_TEXT)], ids=str)
def test_links_resolve(path) -> None:
    """Every relative link of a docs page (and of the shipped config's
    comments), with its #anchor, and every repository path their prose names,
    exists."""
    _fail([f"{ref.path}:{ref.line}: {why}" for ref in references(path) if (why := resolve(ref))])


@pytest.mark.parametrize("region", REGIONS, ids=lambda region: region.where)
def test_figures_come_from_their_json(region) -> None:
    """Each number of a table or paragraph marked with its figures file is a
    number in that file, rounded as shown."""
    _fail(checks.check_figures(region))
