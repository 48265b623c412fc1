"""The shipped sample chat log through the shipped filter config (what `listen replay` shows)."""

from __future__ import annotations

import json

import pytest

from ishowtts_live import paths
from ishowtts_live.config import load_config
from ishowtts_live.events import ChatEvent, UserFlags
from ishowtts_live.filters import FilterChain
from ishowtts_live.filters.moderation import ModerationState
from tests import kit

SAMPLE = paths.SAMPLE_CHAT


def _rows() -> list[dict]:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def outcome() -> dict[str, tuple[str, str]]:
    """msg_id → (reason or "", spoken text), with moderator commands carried out as listen does."""
    cfg = load_config(str(kit.ROOT / "config" / "ishowtts.toml")).config
    moderation = ModerationState(cfg.filters.muted_users, cfg.filters.blocked_words)
    chain = FilterChain(cfg.filters, cfg.speech, moderation)
    out = {}
    for row in _rows():
        if row.get("kind") == "moderation":
            continue
        event = ChatEvent(platform=row["platform"], msg_id=row["msg_id"], text=row["text"],
                          user_name=row["user_name"], user_id=row["user_id"], kind=row.get("kind", "chat"),
                          amount=row.get("amount", 0.0), flags=UserFlags(moderator=row.get("moderator", False)),
                          clock=row["t"])
        d = chain.check(event)
        if d.command is not None and d.command.name != "skip":
            getattr(moderation, d.command.name)(d.command.arg)
        out[row["msg_id"]] = (d.verdict.reason if not d.verdict.kept else "", d.speak)
    return out


def test_the_sample_is_a_realistic_mix():
    """60–100 lines with chat, superchats, gifts, members, a moderator command, links, emotes and a flood."""
    rows = _rows()
    assert 60 <= len(rows) <= 100
    kinds = {r.get("kind", "chat") for r in rows}
    assert {"chat", "superchat", "gift", "member", "moderation"} <= kinds
    assert any(r.get("moderator") for r in rows)
    assert any("http" in r.get("text", "") for r in rows) and any("[doge]" in r.get("text", "") for r in rows)
    assert all(r["t"] >= 0 for r in rows) and [r["t"] for r in rows] == sorted(r["t"] for r in rows)


@pytest.mark.parametrize("msg_id, reason, speak", [
    ("bili-1", "", "阿明说：主播晚上好！"),
    ("bili-5", "", "土豪哥的醒目留言：主播加油，今天也要开开心心的"),
    ("bili-6", "", "阿明说：哈哈哈"),
    ("bili-7", "empty", ""),
    ("bili-8", "", "广告哥说：加群领福利链接免费领皮肤"),
    ("bili-9", "", "路过的猫说：二零二四年最期待的游戏就是这个"),
    ("bili-11", "", "感谢小红今天也要加油投喂了十个辣条"),
    ("bili-12", "", "老粉丝说：G P U好快，渲染一下就出来了"),
    ("bili-14", "", "观众A说：六六六"),
    ("bili-16", "flood", ""),
    ("bili-21", "duplicate", ""),
    ("bili-22", "command", ""),
    ("bili-23", "muted_user", ""),
    ("bili-24", "command", ""),
    ("bili-27", "", "星星说：主播永远的神"),
    ("bili-28", "", "欢迎舰长大人开通了舰长"),
    ("bili-29", "", "路过的猫说：皮肤三十元买的，打折百分之五十，还挺值"),
    ("bili-33", "rate_limited", ""),
    ("bili-37", "", "Kevin says: what game is this? check link for the trailer"),
    ("bili-42", "", "路人甲说：主播好帅"),
    ("bili-43", "", "Tom says: hello everyone"),
    ("bili-46", "", "可爱的人说：今天好开心"),
    ("bili-54", "blocked_word", ""),
    ("bili-57", "", "老粉丝说：R T X四零九零太贵了"),
])
def test_interesting_lines(outcome, msg_id, reason, speak):
    """Flood, duplicates, mutes by a moderator, emotes, numbers and acronyms come out as intended."""
    assert outcome[msg_id] == (reason, speak)
