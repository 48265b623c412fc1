"""WBI request signing, which getDanmuInfo requires since 2025-05-26.

The two keys are the file-name stems of ``wbi_img.img_url`` / ``sub_url`` in
the nav API's answer (they rotate daily). The mixin key is 32 characters of
``img_key + sub_key`` picked in a fixed order; a request is signed by adding
``wts`` (Unix seconds), sorting the parameters, percent-encoding them like
JavaScript's encodeURIComponent (``!'()*`` are stripped from values first),
appending the mixin key and taking the MD5 hex digest as ``w_rid``.
"""

from __future__ import annotations

import hashlib
import time
from urllib.parse import quote

# The order in which the mixin key takes characters from img_key + sub_key.
MIXIN_ORDER = (
    46, 47, 18, 2, 53, 8, 23, 32, 15, 50, 10, 31, 58, 3, 45, 35,
    27, 43, 5, 49, 33, 9, 42, 19, 29, 28, 14, 39, 12, 38, 41, 13,
    37, 48, 7, 16, 24, 55, 40, 61, 26, 17, 0, 1, 60, 51, 30, 4,
    22, 25, 54, 21, 56, 59, 6, 63, 57, 62, 11, 36, 20, 34, 44, 52,
)  # fmt: skip
_STRIPPED = str.maketrans("", "", "!'()*")


def key_from_url(url: str) -> str:
    """``https://i0.hdslb.com/bfs/wbi/7cd0…077c.png`` → ``7cd0…077c``."""
    name = url.rsplit("/", 1)[-1]
    return name.split(".", 1)[0]


def mixin_key(img_key: str, sub_key: str) -> str:
    raw = img_key + sub_key
    if len(raw) < 64:
        raise ValueError(f"WBI keys too short ({len(raw)} characters, need 64)")
    return "".join(raw[i] for i in MIXIN_ORDER)[:32]


def encode_query(params: dict[str, object]) -> str:
    """Sorted, with values stripped of ``!'()*`` and encoded the way
    encodeURIComponent does (upper-case hex, ``%20`` for spaces)."""
    return "&".join(
        f"{quote(str(k), safe='')}={quote(str(v).translate(_STRIPPED), safe='')}" for k, v in sorted(params.items())
    )


def sign(params: dict[str, object], mixin: str, *, now: float | None = None) -> dict[str, str]:
    """``params`` plus ``wts`` and ``w_rid``, all as strings."""
    signed = {k: str(v) for k, v in params.items()}
    signed["wts"] = str(int(time.time() if now is None else now))
    digest = hashlib.md5((encode_query(signed) + mixin).encode("utf-8")).hexdigest()
    signed["w_rid"] = digest
    return signed
