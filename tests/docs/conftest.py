from __future__ import annotations

import pytest

from tests.docs.markdown import DocsError, blocks, doc_files
from tests.docs.sandbox import Sandbox


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """One sandbox for every docs block (tests/docs/sandbox.py), with every
    file the docs show under a ``file`` directive already written, and the
    daemon started by the first block that needs it."""
    box = Sandbox(tmp_path_factory.mktemp("docs") / "checkout")
    for path in doc_files():
        try:
            found = blocks(path)
        except DocsError:
            continue  # test_directives_parse reports it
        for block in found:
            for directive in block.all("file"):
                box.write(directive.args, block.text)
    yield box
    box.stop_daemon()
