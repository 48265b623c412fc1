"""The filter chain as the daemon uses it: verdicts, reasons, counters, commands, recheck."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from ishowtts_live.config.schema import FiltersConfig, SpeechConfig
from ishowtts_live.errors import ConfigError
from ishowtts_live.events import ChatEvent, UserFlags
from ishowtts_live.filters import REASONS, FilterChain
from ishowtts_live.filters.moderation import ModerationState

_ids = itertools.count()


def ev(text: str, user: str = "阿明", t: float = 0.0, **kw) -> ChatEvent:
    n = next(_ids)
    return ChatEvent(platform="replay", msg_id=f"m{n}", text=text, user_name=user, user_id=kw.pop("user_id", user),
                     clock=t, **kw)


def chain(**filters) -> FilterChain:
    cfg = FiltersConfig(**filters)
    return FilterChain(cfg, SpeechConfig(), ModerationState(cfg.muted_users, cfg.blocked_words))


MOD = UserFlags(moderator=True)

# (filters config, event, expected reason or "" for kept)
TABLE = [
    ({}, ev("主播好"), ""),
    ({"muted_users": ["阿明"]}, ev("主播好"), "muted_user"),
    ({"muted_users": ["ＵＳＥＲ"]}, ev("hi", user="user"), "muted_user"),
    ({"muted_users": ["12345"]}, ev("hi", user="x", user_id="12345"), "muted_user"),
    ({"muted_users": ["replay:12345"]}, ev("hi", user="x", user_id="12345"), "muted_user"),
    ({}, ev("!skip"), "command"),
    ({}, ev("！skip"), "command"),
    ({}, ev("!!!好耶"), ""),
    ({}, ev("！好耶"), ""),
    ({"paid_only": True}, ev("主播好"), "not_paid"),
    ({"paid_only": True}, ev("加油", kind="superchat", amount=30), ""),
    ({"paid_only": True}, ev("投喂了1个小心心", kind="gift", amount=0), "not_paid"),
    ({"min_amount": 10}, ev("加油", kind="superchat", amount=5), "below_min_amount"),
    ({"min_amount": 10}, ev("加油", kind="superchat", amount=5, amount_cents=1000), ""),
    ({"min_amount": 10}, ev("主播好"), ""),  # chat is not a paid kind
    ({"blocked_words": ["傻逼"]}, ev("傻 逼主播"), "blocked_word"),
    ({"blocked_words": ["傻逼"]}, ev("你好", user="傻逼一号"), "blocked_word"),  # the name is spoken too
    ({"blocked_patterns": [r"加.?群"]}, ev("快来加Q群"), "blocked_pattern"),
    ({}, ev("😂😂😂"), "empty"),
    ({}, ev("[doge][doge]"), "empty"),
    ({}, ev("\u200b\u200b\u200b"), "empty"),
    ({"max_chars": 5, "too_long": "drop"}, ev("这是一条很长很长的弹幕"), "too_long"),
    ({"max_chars": 5}, ev("这是一条很长很长的弹幕"), ""),
    ({"blocked_words": ["fuck"], "paid_only": True}, ev("f u c k", kind="superchat", amount=100), "blocked_word"),
]


@pytest.mark.parametrize("filters, event, reason", TABLE)
def test_reasons(filters, event, reason):
    """Each rule drops with its own machine-readable reason, or keeps."""
    d = chain(**filters).check(event)
    assert (d.verdict.reason if not d.verdict.kept else "") == reason
    assert d.event is event
    assert (d.speak != "") == d.verdict.kept


def test_every_drop_is_counted_by_reason():
    """chain.drops counts each drop under its reason; kept messages are not counted."""
    c = chain(muted_users=["bad"])
    for e in [ev("hi", user="bad"), ev("hi", user="bad"), ev("😂"), ev("主播好"), ev("!mute x")]:
        c.check(e)
    assert c.drops == {"muted_user": 2, "empty": 1, "command": 1}
    assert set(c.drops) <= set(REASONS)


def test_truncation_cuts_at_a_pause_near_the_limit():
    """too_long = truncate keeps the start, cut after the last pause in the final third."""
    text = "今天天气很好，我们去公园玩吧，然后去吃饭"
    assert chain(max_chars=16).check(ev(text)).speak == "阿明说：今天天气很好，我们去公园玩吧"
    # no pause in the final third: a hard cut at the limit
    assert chain(max_chars=12).check(ev(text)).speak == "阿明说：今天天气很好，我们去公园"


def test_compact_uses_short_templates_and_the_backlog_limit():
    """compact=True: no user-name prefix and filters.backlog_max_chars applies."""
    c = chain(max_chars=80, backlog_max_chars=4)
    d = c.check(ev("主播好主播好主播坏"), compact=True)
    assert d.verdict.kept and d.speak == "主播好主"


@pytest.mark.parametrize("text, name, arg", [
    ("!skip", "skip", ""), ("!skip now", "skip", ""), ("!mute 小明", "mute", "小明"), ("!mute @小明", "mute", "小明"),
    ("!MUTE bob", "mute", "bob"), ("!unmute bob", "unmute", "bob"), ("!block 某个 词", "block", "某个 词"),
    ("!unblock 词", "unblock", "词"), ("！skip", "skip", ""),
])
def test_moderator_commands(text, name, arg):
    """A moderator's command is recognised, carried in the decision, and never spoken."""
    d = chain().check(ev(text, flags=MOD))
    assert not d.verdict.kept and d.verdict.reason == "command" and d.speak == ""
    assert (d.command.name, d.command.arg) == (name, arg)


def test_broadcaster_commands_count_too():
    """The broadcaster is a moderator of their own chat."""
    assert chain().check(ev("!skip", flags=UserFlags(broadcaster=True))).command.name == "skip"


@pytest.mark.parametrize("text", ["!mute", "!dance", "!block  "])
def test_unusable_moderator_commands_are_dropped_without_acting(text):
    """Unknown commands or missing arguments: dropped as command, nothing to do."""
    d = chain().check(ev(text, flags=MOD))
    assert d.verdict.reason == "command" and d.command is None and d.verdict.detail


def test_commands_from_viewers_or_when_off_are_dropped_without_acting():
    """A viewer's !mute is not obeyed; with moderator_commands off nobody's is; neither is spoken."""
    d = chain().check(ev("!mute 主播", flags=UserFlags(subscriber=True)))
    assert d.verdict.reason == "command" and d.command is None
    d = chain(moderator_commands=False).check(ev("!skip", flags=MOD))
    assert d.verdict.reason == "command" and d.command is None


def test_custom_command_prefix():
    """filters.command_prefix changes what starts a command."""
    c = chain(command_prefix="/")
    assert c.check(ev("/skip", flags=MOD)).command.name == "skip"
    assert c.check(ev("!skip", flags=MOD)).verdict.kept


def test_a_mute_at_run_time_applies_to_the_next_message_and_to_recheck():
    """moderation.mute() takes effect at once, in check and in recheck of queued messages."""
    c = chain()
    queued = ev("你好", user="小明")
    d = c.check(queued)
    assert d.verdict.kept
    c.moderation.mute("小明")
    assert c.recheck(queued, d.speak).reason == "muted_user"
    assert c.check(ev("再说一句", user="小明", t=1)).verdict.reason == "muted_user"
    c.moderation.unmute("小明")
    assert c.recheck(queued, d.speak).kept


def test_a_word_blocked_at_run_time_applies_to_recheck():
    """moderation.block() rebuilds the matcher; recheck finds the word in the queued text."""
    c = chain()
    queued = ev("主播真菜")
    d = c.check(queued)
    c.moderation.block("菜")
    v = c.recheck(queued, d.speak)
    assert v.reason == "blocked_word" and v.detail == "菜"
    c.moderation.unblock("菜")
    assert c.recheck(queued, d.speak).kept


def test_recheck_does_not_apply_memory_rules():
    """Rechecking a kept message is not a duplicate and takes no rate-limit token."""
    c = chain(user_rate_per_min=1, user_burst=1)
    e = ev("主播好")
    d = c.check(e)
    for _ in range(5):
        assert c.recheck(e, d.speak).kept
    assert c.drops == {}


def test_paid_messages_skip_duplicate_flood_and_rate_limit():
    """Someone who paid is read even when repeating themselves or in a flood."""
    c = chain(user_rate_per_min=1, user_burst=1, flood_max=1)
    kept = [c.check(ev("666", user=f"u{i % 2}", t=i * 0.1, kind="superchat", amount=30)).verdict.kept
            for i in range(6)]
    assert all(kept)


def test_duplicate_flood_and_rate_limit_in_one_stream():
    """The memory rules give their own reasons in a realistic burst."""
    c = chain(duplicate_window_s=60, flood_window_s=10, flood_max=2, user_rate_per_min=6, user_burst=2)
    stream = [
        ev("主播好", user="a", t=0.0),
        ev("主播好！", user="a", t=1.0),  # same user, same line → duplicate
        ev("666", user="b", t=2.0),
        ev("6666", user="c", t=2.1),
        ev("66666", user="d", t=2.2),  # third 666 in 10 s → flood
        ev("第一", user="e", t=3.0),
        ev("第二", user="e", t=3.1),
        ev("第三", user="e", t=3.2),  # third message in a burst of 2 → rate limited
    ]
    reasons = [c.check(e).verdict.reason for e in stream]
    assert reasons == ["", "duplicate", "", "", "flood", "", "", "rate_limited"]


def test_verdicts_depend_on_the_event_clock_only():
    """The same log gives the same verdicts whatever the wall-clock receive times (replay speed)."""
    def run(spacing: float) -> list[str]:
        c = chain(flood_max=1, user_rate_per_min=6, user_burst=1)
        out = []
        for i in range(30):
            e = ev(["666", "主播好", "hello"][i % 3], user=f"u{i % 4}", t=i * 2.0)
            e = msgspec.structs.replace(e, received_mono=1000.0 + i * spacing, received_wall=1.7e9 + i * spacing)
            out.append(c.check(e).verdict.reason)
        return out

    assert run(0.0) == run(10.0) == run(0.001)


def test_system_messages_skip_user_rules_but_not_blocked_words():
    """The streamer's own `say` is not muted, deduplicated or paid-gated, but blocked words still hold."""
    c = chain(paid_only=True, muted_users=["moderator"], blocked_words=["坏词"])
    say = lambda text, t: ev(text, user="moderator", t=t, kind="system")  # noqa: E731
    assert c.check(say("马上回来", 0)).speak == "马上回来"
    assert c.check(say("马上回来", 1)).verdict.kept
    assert c.check(say("坏 词", 2)).verdict.reason == "blocked_word"


def test_a_bad_pattern_is_a_config_error():
    """Building a chain with a bad regular expression fails with filters.blocked_patterns: …"""
    with pytest.raises(ConfigError, match=r"^filters\.blocked_patterns: bad regular expression '\('"):
        chain(blocked_patterns=["("])


def test_config_mutes_and_blocks_are_not_undone_from_chat():
    """!unmute / !unblock of what the config file sets gives no command to carry out."""
    c = chain(muted_users=["bad"], blocked_words=["坏词"])
    for text in ("!unmute bad", "!unblock 坏词"):
        d = c.check(ev(text, flags=MOD))
        assert d.verdict.reason == "command" and d.command is None and "config file" in d.verdict.detail
    c.moderation.mute("other")
    assert c.check(ev("!unmute other", flags=MOD)).command.name == "unmute"


def test_every_reason_is_produced_by_some_rule():
    """Each documented reason is reachable (the table above plus the memory rules)."""
    seen = {reason for _, _, reason in TABLE if reason} | {"duplicate", "flood", "rate_limited"}
    assert seen == set(REASONS)


def test_a_wall_of_text_is_cut_before_any_work():
    """Only the first MAX_INPUT_CHARS characters are examined; the rest is never read."""
    from ishowtts_live.filters.chain import MAX_INPUT_CHARS

    c = chain(max_chars=2000, blocked_words=["坏词"])
    d = c.check(ev("a." * 50_000 + "坏词"))
    assert d.verdict.kept and len(d.speak) <= MAX_INPUT_CHARS + 20
