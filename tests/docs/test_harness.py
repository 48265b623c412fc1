"""The docs harness itself: that a drifted block, figure, option, key or link
is caught, and that the failure names the Markdown file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.docs import checks, console
from tests.docs.markdown import Block, Directive, DocsError, Reference, Region, blocks, resolve

TRANSCRIPT = """\
$ ishowtts-live ctl status
ishowtts-live 0.1.0 · up 10s · ready
…
queue     3 messages waiting
$ ishowtts-live ctl nfe 99
ishowtts-live: error: nfe: N must be between 1 and 64
[exit 2]
"""


def test_transcript_steps_carry_their_lines_and_exit_status() -> None:
    """A transcript parses into commands with the Markdown line of each and
    of each output line, and `[exit N]` as the expected status."""
    first, second = console.parse(TRANSCRIPT, 41)
    assert (first.command, first.line, first.exit_code) == ("ishowtts-live ctl status", 41, 0)
    assert [line for line, _ in first.expected] == [42, 43, 44]
    assert (second.line, second.exit_code) == (45, 2)


def test_normalisation_hides_times_ports_and_spacing_only() -> None:
    """Durations, clock times, loopback ports and column padding compare
    equal; a different word does not."""
    expected = ["ishowtts-live 0.1.0 · up 10s · ready at http://127.0.0.1:8765 since 12:00:00"]
    assert console.matches(expected, ["ishowtts-live 0.1.0 ·  up 2 min ·  ready at http://127.0.0.1:40123 since 21:03:59"])
    assert not console.matches(expected, ["ishowtts-live 0.1.0 · up 10s · paused at http://127.0.0.1:8765 since 12:00:00"])


def test_ellipsis_matches_text_and_lines() -> None:
    """`…` in a line matches any text; a line of `…` matches any number of
    lines, none included; everything else must be there, in order."""
    expected = ["first …", "…", "last"]
    assert console.matches(expected, ["first line", "last"])
    assert console.matches(expected, ["first line", "a", "b", "last"])
    assert not console.matches(expected, ["first line", "a"])
    assert not console.matches(expected, ["last", "first line"])


def test_a_drifted_output_names_the_line_that_differs() -> None:
    """The failure starts with the file and the line of the first output line
    that differs, shows the docs against the output, then the output as
    printed (to paste into the docs)."""
    step = console.parse(TRANSCRIPT, 41)[0]
    actual = ["ishowtts-live 0.1.0 · up 3s · ready", "speaking  x", "queue     2 messages waiting"]
    assert not console.matches([text for _, text in step.expected], actual)
    message = console.explain(step, actual, "docs/control.md:40")
    assert message.startswith("docs/control.md:43: `ishowtts-live ctl status` printed something else")
    assert "-queue 3 messages waiting" in message and "+queue 2 messages waiting" in message
    assert message.endswith("what it printed:\n  ishowtts-live 0.1.0 · up 3s · ready\n  speaking  x\n"
                            "  queue     2 messages waiting")


def test_unknown_options_commands_and_actions_are_named(tmp_path) -> None:
    """A synopsis or shell line naming an option, a command or an action the
    parser lacks fails on that line."""
    block = Block(Path("README.md"), 10, "sh", "ishowtts-live run --nosuch\nishowtts-live ctl frobnicate\n"
                                                "ishowtts-live teleport\nishowtts-live doctor --config x.toml\n")
    problems = checks.check_command_lines(block)
    assert any(p.startswith("README.md:11: `--nosuch` is not an option") for p in problems), problems
    assert any(p.startswith("README.md:12: `ishowtts-live ctl frobnicate`: no such action") for p in problems)
    assert any(p.startswith("README.md:13: `ishowtts-live teleport`: no such command") for p in problems)
    assert not any(p.startswith("README.md:14") for p in problems)


def test_toml_blocks_are_checked_by_the_loader() -> None:
    """A config piece with a key the config lacks or a value of the wrong
    type fails, naming the key."""
    good = Block(Path("docs/x.md"), 5, "toml", "[engine]\nnfe_step = 7\n")
    bad = Block(Path("docs/x.md"), 5, "toml", "[engine]\nnfe_step = \"seven\"\nnosuch = 1\n")
    assert checks.check_toml(good) == []
    problems = checks.check_toml(bad)
    assert any("engine.nfe_step" in p for p in problems) and any("engine.nosuch" in p for p in problems), problems
    assert all(p.startswith("docs/x.md:5: ") for p in problems)


def test_figures_must_be_in_their_json(tmp_path) -> None:
    """A number shown under `figures` must be a number of the JSON, as
    rounded (ms shown as s counts) or derived (a difference, a total); one
    that is not is named with its line;
    `except` exempts a number that is not a measurement."""
    data = tmp_path / "bench.json"
    data.write_text(json.dumps({"p50_ms": 0.4512, "wall_ms": 1157, "runs": 10}))
    directive = Directive("figures", f"{data} except 2026", "", 3)
    lines = [(5, "| 0.45 ms | 1.157 s | 10 runs | on 2026 |"), (6, "| 0.46 ms |"), (7, "+1147 (wall − runs)")]
    problems = checks.check_figures(Region(Path("docs/x.md"), 4, lines, directive))
    assert problems == [f"docs/x.md:6: 0.46 is not in {data} (rounded to 2 decimals); list it after `except` "
                        "if it is not a measurement"]


def test_directive_errors_name_file_and_line(tmp_path) -> None:
    """An unknown directive, or one followed by no fenced block, fails with
    its file and line."""
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n<!-- docs-test: nope -->\n```sh\nls\n```\n")
    with pytest.raises(DocsError, match=rf"{page}:3: unknown docs-test directive 'nope'"):
        blocks(page)
    page = tmp_path / "other.md"  # the parse is cached per path
    page.write_text("# Page\n\n<!-- docs-test: run -->\n\nText.\n")
    with pytest.raises(DocsError, match=rf"{page}:3: docs-test 'run' is not followed by a fenced block"):
        blocks(page)


def test_broken_links_and_anchors_are_reported() -> None:
    """A relative link to a missing file, or to a heading a page lacks,
    resolves to the reason; a good one to nothing."""
    assert resolve(Reference(Path("README.md"), 3, "docs/control.md#figures", "link")) == ""
    assert "no such file" in resolve(Reference(Path("README.md"), 3, "docs/nosuch.md", "link"))
    assert "has no heading with the anchor #nosuch" in resolve(Reference(Path("README.md"), 3,
                                                                          "docs/control.md#nosuch", "link"))
