"""What differs between the Python versions this project runs on: 3.10 (the
interpreter JetPack 6 ships on a Jetson) and 3.11 or newer.

``.ci/py310`` runs the tests on 3.10 and ``vermin --target=3.10-`` checks
the whole package, so a 3.11-only call elsewhere fails CI.
"""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
    from asyncio import timeout  # novm (3.11+)
else:  # pragma: no cover - exercised by the Python 3.10 CI stage
    import tomli as tomllib
    # asyncio.timeout's backport. Not asyncio.wait_for: on 3.10 it loses a
    # cancellation that lands while the awaited call completes (CPython
    # gh-86296), and a chat source cancelled that way runs on.
    from async_timeout import timeout

__all__ = ["timeout", "tomllib"]
