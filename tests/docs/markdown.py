"""Reading the docs: their fenced blocks with the directives written above
them, the paths and links their prose names, and their headings' anchors.

markdown-it-py parses the Markdown (CommonMark, with GitHub's tables), so a
fence inside a list or a ``~~~`` fence is found exactly where a renderer
finds it, with its line number.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[2]

# What the docs tests read: the README and every page in docs/.
DOCS = ("README.md", "docs/*.md")
# What the link check reads besides them (the shipped config's comments).
LINKED_TEXT = ("config/ishowtts.toml",)

DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(?P<verb>[\w-]+)[ \t]*(?P<args>[^\n]*?)\s*(?:\n(?P<body>.*?))?\s*-->",
                       re.DOTALL)
VERBS = ("not-run", "run", "file", "setup", "fresh-daemon", "figures", "quoted-from")


class DocsError(Exception):
    """A directive the harness cannot read (names the file and line)."""


@dataclass
class Directive:
    verb: str
    args: str
    body: str
    line: int  # 1-based, in the Markdown file


@dataclass
class Block:
    """One fenced block and the directives written right above it."""

    path: Path  # relative to ROOT
    line: int  # 1-based line of the opening fence
    info: str
    text: str
    directives: list[Directive] = field(default_factory=list)

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info.strip() else ""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def directive(self, verb: str) -> Directive | None:
        return next((d for d in self.directives if d.verb == verb), None)

    def all(self, verb: str) -> list[Directive]:
        return [d for d in self.directives if d.verb == verb]


@dataclass
class Region:
    """A table or paragraph with a ``figures`` directive above it."""

    path: Path
    line: int
    lines: list[tuple[int, str]]  # (line in the file, text)
    directive: Directive

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def doc_files() -> list[Path]:
    """The Markdown files under test, relative to ROOT, README first."""
    found: list[Path] = []
    for pattern in DOCS:
        found.extend(sorted(p.relative_to(ROOT) for p in ROOT.glob(pattern)))
    return found


@lru_cache(maxsize=None)
def _tokens(path: Path) -> tuple:
    md = MarkdownIt("commonmark").enable("table")
    return tuple(md.parse((ROOT / path).read_text(encoding="utf-8")))


def _directives(token, path: Path) -> list[Directive]:
    found = []
    for match in DIRECTIVE.finditer(token.content):
        verb = match.group("verb")
        line = token.map[0] + 1 + token.content.count("\n", 0, match.start())
        if verb not in VERBS:
            raise DocsError(f"{path}:{line}: unknown docs-test directive {verb!r} (known: {', '.join(VERBS)})")
        found.append(Directive(verb, match.group("args").strip(), match.group("body") or "", line))
    if "docs-test" in token.content and not found:
        raise DocsError(f"{path}:{token.map[0] + 1}: a docs-test comment that does not parse "
                        f"(write <!-- docs-test: VERB ARGS -->)")
    return found


def blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path`` with the directives directly above it
    (only other directive comments may stand between)."""
    found: list[Block] = []
    pending: list[Directive] = []
    for token in _tokens(path):
        if token.type == "html_block":
            here = _directives(token, path)
            if here:
                pending.extend(d for d in here if d.verb != "figures")
                continue
        if token.type == "fence":
            found.append(Block(path, token.map[0] + 1, token.info.strip(), token.content, pending))
            pending = []
        elif token.map is not None and token.nesting >= 0 and pending:
            raise DocsError(f"{path}:{pending[0].line}: docs-test {pending[0].verb!r} is not followed by a "
                            "fenced block")
    if pending:
        raise DocsError(f"{path}:{pending[0].line}: docs-test {pending[0].verb!r} is not followed by a fenced block")
    return found


def figure_regions(path: Path) -> list[Region]:
    """Tables and paragraphs under a ``figures`` directive, as plain text."""
    tokens = _tokens(path)
    regions = []
    for i, token in enumerate(tokens):
        if token.type != "html_block":
            continue
        for directive in (d for d in _directives(token, path) if d.verb == "figures"):
            start = tokens[i + 1] if i + 1 < len(tokens) else None
            if start is None or start.type not in ("table_open", "paragraph_open"):
                raise DocsError(f"{path}:{directive.line}: docs-test figures must stand right above a table "
                                "or a paragraph")
            close = start.type.replace("_open", "_close")
            depth, lines = 0, []
            for inner in tokens[i + 1:]:
                depth += inner.nesting
                if inner.type == "inline":
                    lines.extend((inner.map[0] + 1 + n, text) for n, text in enumerate(inner.content.splitlines()))
                if inner.type == close and depth == 0:
                    break
            regions.append(Region(path, start.map[0] + 1, lines, directive))
    return regions


# --------------------------------------------------------------------------- links and paths

# A path named in prose or in a code span: two or more components, a file
# extension, nothing that makes it a placeholder, a URL or an absolute path.
PATH_LIKE = re.compile(r"(?<![\w/.~$:-])((?:\.\.?/)?[A-Za-z_.][\w.-]*(?:/[\w.-]+)+\.(?:md|py|toml|json|jsonl|png|"
                       r"service|txt|sh|in|wav|yaml))(?![\w/])")


@dataclass
class Reference:
    path: Path  # the file that names it
    line: int
    target: str  # as written
    kind: str  # "link" (a Markdown link) or "path" (a path in prose or a comment)


def references(path: Path) -> list[Reference]:
    """Every relative link of a Markdown file and every path its prose names."""
    if path.suffix != ".md":
        return _comment_paths(path)
    found = []
    for token in _tokens(path):
        if token.type != "inline":
            continue
        line = token.map[0] + 1
        for child in token.children or ():
            if child.type == "link_open":
                href = child.attrs.get("href", "")
                if not re.match(r"^[a-z][a-z0-9+.-]*:", href):  # http:, https:, mailto: are not checked
                    found.append(Reference(path, line, href, "link"))
            elif child.type in ("text", "code_inline"):
                found.extend(Reference(path, line, m.group(1), "path") for m in PATH_LIKE.finditer(child.content))
    return found


def _comment_paths(path: Path) -> list[Reference]:
    found = []
    for number, text in enumerate((ROOT / path).read_text(encoding="utf-8").splitlines(), 1):
        comment = text.partition("#")[2]
        found.extend(Reference(path, number, m.group(1), "path") for m in PATH_LIKE.finditer(comment))
    return found


def resolve(ref: Reference) -> str:
    """"" when ``ref`` resolves, else why not."""
    target, _, anchor = ref.target.partition("#")
    if not target:
        file = ref.path
    else:
        bases = [ROOT / ref.path.parent] if ref.kind == "link" else [ROOT / ref.path.parent, ROOT, ROOT / "ishowtts_live"]
        hits = [base / target for base in bases if (base / target).exists()]
        if not hits:
            where = "relative to its file" if ref.kind == "link" else "relative to its file, the repository or the package"
            return f"{ref.target}: no such file ({where})"
        file = hits[0].resolve().relative_to(ROOT.resolve())
    if anchor and file.suffix == ".md" and anchor not in anchors(file):
        return f"{ref.target}: {file} has no heading with the anchor #{anchor}"
    return ""


@lru_cache(maxsize=None)
def anchors(path: Path) -> frozenset[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as
    hyphens, a repeated one suffixed -1, -2, …"""
    seen: dict[str, int] = {}
    found = set()
    tokens = _tokens(path)
    for i, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        text = "".join(c.content for c in tokens[i + 1].children or () if c.type in ("text", "code_inline"))
        slug = "".join(ch for ch in text.strip().lower()
                       if ch in " -_" or unicodedata.category(ch)[0] in "LN").replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(found)
