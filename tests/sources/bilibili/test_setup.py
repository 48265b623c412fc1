"""WBI signing against the published example, the login cookie (inline,
file, environment; masked by config show) and the section's checks."""

from __future__ import annotations

import pytest

from ishowtts_live.config import load_config, show_config
from ishowtts_live.config.schema import BilibiliConfig
from ishowtts_live.errors import ConfigError
from ishowtts_live.sources.bilibili import build, wbi
from ishowtts_live.sources.bilibili.cookies import load_cookies, parse_cookie_text
from ishowtts_live.sources.bilibili.settings import check

# The worked example in bilibili-API-collect docs/misc/sign/wbi.md.
IMG, SUB = "7cd084941338484aae1ad9425b84077c", "4932caff0ff746eab6f01bf08b70ac45"


def test_wbi_mixin_and_signature_match_the_published_example():
    """The documented keys give the documented mixin key and w_rid."""
    mixin = wbi.mixin_key(IMG, SUB)
    assert mixin == "ea1db124af3c7062474693fa704f4ff8"
    signed = wbi.sign({"foo": "114", "bar": "514", "zab": 1919810}, mixin, now=1702204169)
    assert signed["wts"] == "1702204169" and signed["w_rid"] == "8f6f2b5b3d485fe1886cec6a0be8c5d4"


def test_wbi_query_encoding_is_like_encode_uri_component():
    """Upper-case hex, %20 for spaces, !'()* stripped from values (the documented example)."""
    assert wbi.encode_query({"foo": "one one four", "bar": "五一四", "baz": 1919810}) == (
        "bar=%E4%BA%94%E4%B8%80%E5%9B%9B&baz=1919810&foo=one%20one%20four")
    assert wbi.encode_query({"a": "x(!)*'y"}) == "a=xy"
    assert wbi.key_from_url("https://i0.hdslb.com/bfs/wbi/" + IMG + ".png") == IMG
    with pytest.raises(ValueError):
        wbi.mixin_key("short", "keys")


def test_cookie_header_line_and_cookies_txt_are_read():
    """A 'Cookie:' header line and a Netscape cookies.txt export give the same cookies (other sites ignored)."""
    header = parse_cookie_text("Cookie: SESSDATA=abc%2C123; bili_jct=tok; buvid3=B-1infoc\n")
    assert header == {"SESSDATA": "abc%2C123", "bili_jct": "tok", "buvid3": "B-1infoc"}
    txt = ("# Netscape HTTP Cookie File\n"
           "#HttpOnly_.bilibili.com\tTRUE\t/\tTRUE\t1999999999\tSESSDATA\tabc%2C123\n"
           ".bilibili.com\tTRUE\t/\tFALSE\t1999999999\tbili_jct\ttok\n"
           ".example.com\tTRUE\t/\tFALSE\t1999999999\tother\tno\n")  # fmt: skip
    assert parse_cookie_text(txt) == {"SESSDATA": "abc%2C123", "bili_jct": "tok"}


def test_cookie_sources_in_order_inline_file_environment(tmp_path, monkeypatch):
    """Inline wins over the file, the file over the environment; an empty file is a named config error."""
    path = tmp_path / "cookie.txt"
    path.write_text("SESSDATA=from-file", encoding="utf-8")
    monkeypatch.setenv("MY_BILI_COOKIE", "SESSDATA=from-env")
    assert load_cookies("SESSDATA=inline", str(path), "MY_BILI_COOKIE") == {"SESSDATA": "inline"}
    assert load_cookies("", str(path), "MY_BILI_COOKIE") == {"SESSDATA": "from-file"}
    assert load_cookies("", "", "MY_BILI_COOKIE") == {"SESSDATA": "from-env"}
    assert load_cookies("", "", "UNSET_VARIABLE_X") == {}
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^sources\.bilibili\.cookie_file: no cookies found"):
        load_cookies("", str(path), "")


def test_config_show_masks_the_cookie_and_open_platform_secrets(tmp_path):
    """config show never prints the cookie, access keys or identity code written in the file."""
    path = tmp_path / "ishowtts.toml"
    path.write_text('[sources.bilibili]\ncookie = "SESSDATA=topsecret1"\n[sources.bilibili.open]\n'
                    'access_key_id = "topsecret2"\naccess_key_secret = "topsecret3"\ncode = "topsecret4"\n',
                    encoding="utf-8")  # fmt: skip
    loaded = load_config(str(path))
    text = show_config(loaded)
    assert "topsecret" not in text and text.count("********") >= 4
    assert loaded.config.sources.bilibili.cookie == "SESSDATA=topsecret1"


def test_checks_name_the_key_and_say_what_is_wrong(tmp_path):
    """Bad URLs, timeouts, a missing cookie file, a missing room and missing open keys are each one line."""
    cfg = BilibiliConfig(enabled=True, live_api="ftp://x", heartbeat_s=30.0, read_timeout_s=20.0,
                         cookie_file=str(tmp_path / "missing.txt"))  # fmt: skip
    problems = check(cfg)
    assert "sources.bilibili.live_api: expected a http:// or https:// URL, got 'ftp://x'" in problems
    assert any(p.startswith("sources.bilibili.read_timeout_s: must exceed heartbeat_s") for p in problems)
    assert any(p.startswith("sources.bilibili.cookie_file: file not found") for p in problems)
    assert any(p.startswith("sources.bilibili.room: no room id") for p in problems)
    open_problems = check(BilibiliConfig(enabled=True, mode="open"))
    assert [p.split(":")[0] for p in open_problems] == [
        "sources.bilibili.open.app_id", "sources.bilibili.open.access_key_id",
        "sources.bilibili.open.access_key_secret", "sources.bilibili.open.code"]
    assert check(BilibiliConfig()) == []  # a disabled section with defaults is fine


def test_build_refuses_a_bad_url_with_a_config_error():
    """listen's --url must be ws:// or wss://; the error names --url."""
    with pytest.raises(ConfigError, match=r"--url: expected a ws:// or wss:// URL"):
        build(BilibiliConfig(), url="http://127.0.0.1:1/sub", room=1)


def test_room_may_be_a_number_or_the_room_address():
    """parse_room takes 732, '732' or a live.bilibili.com address, and refuses anything else in one line."""
    from ishowtts_live.sources.bilibili import parse_room

    assert parse_room(732) == parse_room("732") == parse_room("https://live.bilibili.com/732?spm_id_from=x") == 732
    assert parse_room("live.bilibili.com/h5/22608112") == 22608112
    for bad in ("abc", "https://example.com/732", "-5", "0", "١٢"):
        with pytest.raises(ConfigError, match=r"^ROOM: expected"):
            parse_room(bad)
    assert build(BilibiliConfig(), room="https://live.bilibili.com/732").room == 732
