"""The IRC line parser and the Twitch line → event conversion (no sockets)."""

from __future__ import annotations

import pytest

from ishowtts_live.events import ChatEvent, ModerationEvent
from ishowtts_live.sources.money import bits_to_cny_cents
from ishowtts_live.sources.twitch.convert import TwitchConverter, strip_cheers
from ishowtts_live.sources.twitch.irc import (IrcParseError, escape_tag_value, parse_line, parse_tags,
                                              split_frame, unescape_tag_value)
from tests.sources.twitch import lines


@pytest.mark.parametrize(("raw", "value"), [
    ("a\\:b", "a;b"), ("a\\sb", "a b"), ("a\\\\b", "a\\b"), ("a\\rb", "a\rb"), ("a\\nb", "a\nb"),
    ("a\\qb", "aqb"), ("trailing\\", "trailing"), ("\\\\s", "\\s"), ("", ""), ("plain", "plain"),
    (lines.SYSTEM_MSG_ESCAPED, "PilotChup subscribed with Twitch Prime."),
])
def test_tag_values_are_unescaped_by_the_ircv3_rules(raw, value):
    """Each IRCv3 escape maps as the spec says; unknown escapes keep the character; a lone trailing backslash goes."""
    assert unescape_tag_value(raw) == value


@pytest.mark.parametrize("value", ["", "a b;c\\d\r\n", "\\", "; ;", "日本語 テスト"])
def test_escaping_round_trips(value):
    """escape then unescape gives the value back (the fake server relies on it)."""
    assert unescape_tag_value(escape_tag_value(value)) == value


def test_tags_without_value_invalid_keys_and_repeats():
    """`key` alone is an empty value; invalid keys are skipped; the last repeat wins."""
    assert parse_tags("a;b=;c=1;c=2;bad key=x;=novalue;+vendor.tv/x=y") == {
        "a": "", "b": "", "c": "2", "+vendor.tv/x": "y"}


def test_documentation_privmsg_parses_completely():
    """The PRIVMSG example of Twitch's tag documentation gives every field."""
    msg = parse_line(lines.DOC_PRIVMSG)
    assert msg.command == "PRIVMSG"
    assert msg.params == ["#xyz", "HeyGuys"]
    assert msg.prefix == "abc!abc@abc.tmi.twitch.tv" and msg.nick == "abc" and msg.channel == "xyz"
    assert msg.tags["flags"] == "0-6:S.7" and msg.tags["user-type"] == "" and msg.tags["badges"] == "broadcaster/1"


@pytest.mark.parametrize(("line", "command", "params"), [
    ("PING :tmi.twitch.tv", "PING", ["tmi.twitch.tv"]),
    (":tmi.twitch.tv RECONNECT", "RECONNECT", []),
    (":tmi.twitch.tv 001 justinfan1 :Welcome, GLHF!", "001", ["justinfan1", "Welcome, GLHF!"]),
    (":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands", "CAP",
     ["*", "ACK", "twitch.tv/tags twitch.tv/commands"]),
    (lines.CLEARCHAT_ALL, "CLEARCHAT", ["#pajlada"]),
    (":a!a@a PRIVMSG #c :text with : colon ", "PRIVMSG", ["#c", "text with : colon "]),
    (":a!a@a PRIVMSG #c :", "PRIVMSG", ["#c", ""]),
    ("privmsg  #c   :x", "PRIVMSG", ["#c", "x"]),
])
def test_lines_split_into_command_and_params(line, command, params):
    """Prefix, command, middle params and the trailing param come apart as IRC defines."""
    msg = parse_line(line)
    assert (msg.command, msg.params) == (command, params)


@pytest.mark.parametrize("line", ["", "@a=b", "@a=b :prefix", ":prefix", ":only :trailing", "12 x", "PRIV-MSG #c",
                                  "@a=b  :p  :x", "x" * (64 * 1024 + 1)])
def test_malformed_lines_raise_a_parse_error(line):
    """A line that is not IRC is reported as IrcParseError, never another exception."""
    with pytest.raises(IrcParseError):
        parse_line(line)


def test_frames_split_on_crlf_and_bare_lf():
    """Several lines in one frame come apart; empty lines vanish."""
    assert split_frame("A\r\nB\r\n\r\nC\nD") == ["A", "B", "C", "D"]


def _convert(line: str, **kw):
    return TwitchConverter("pajlada", **kw).convert(parse_line(line), 5.0, 1700000000.0)


def test_privmsg_becomes_a_chat_event_with_flags():
    """Display name, ids, badges (broadcaster, moderator, subscriber) and first-msg are mapped."""
    line = lines.privmsg("pajlada", "randers", "hello", display_name="Randers\\s", msg_id="m-1", user_id="40286300",
                         badges="moderator/1,subscriber/12", first_msg="1")
    event = _convert(line)
    assert isinstance(event, ChatEvent)
    assert (event.platform, event.channel, event.msg_id, event.user_id, event.text) == (
        "twitch", "pajlada", "m-1", "40286300", "hello")
    assert event.user_name == "Randers\\s"  # escape_tag_value kept the literal backslash-s
    assert event.flags.moderator and event.flags.subscriber and event.flags.first_message
    assert not event.flags.broadcaster
    assert event.kind == "chat" and event.amount == 0 and event.clock == 5.0 and event.received_wall == 1700000000.0


def test_doc_example_broadcaster_flag_and_display_name():
    """The documentation's PRIVMSG: badges=broadcaster/1 marks the broadcaster."""
    event = TwitchConverter("xyz").convert(parse_line(lines.DOC_PRIVMSG))
    assert event.flags.broadcaster and not event.flags.moderator and event.user_name == "abc"
    assert event.msg_id == "eb24e920-8065-492a-8aea-266a00fc5126" and event.text == "HeyGuys"


def test_cheer_becomes_paid_with_bits_and_cny_cents():
    """bits=N is a paid message: amount N bits, 1 bit = 1 US cent in CNY cents, cheermotes removed."""
    event = _convert(lines.privmsg("pajlada", "cheerer", "Cheer100 great stream Kappa50", bits="150"))
    assert event.kind == "superchat" and event.amount == 150 and event.currency == "BITS"
    assert event.amount_cents == bits_to_cny_cents(150) == 1080
    assert event.text == "great stream"


def test_strip_cheers_keeps_words_when_numbers_do_not_add_up():
    """Only cheer-prefixed tokens go when the token numbers do not sum to the bits."""
    assert strip_cheers("Cheer10 I have 2 cats and route66", 10) == "I have 2 cats and route66"
    assert strip_cheers("route66 cheer1", 5) == "route66"


def test_action_messages_lose_the_ctcp_wrapper():
    """/me text arrives as \\x01ACTION …\\x01 and is read without the wrapper."""
    event = _convert(lines.privmsg("pajlada", "a", "\x01ACTION waves\x01"))
    assert event.text == "waves" and event.extra["action"] is True


def test_shared_chat_from_another_room_is_skipped_unless_configured():
    """source-room-id ≠ room-id is another channel's message in a Shared Chat session."""
    line = lines.privmsg("pajlada", "guest", "hi from next door", source_room_id="999", source_id="s-1")
    converter = TwitchConverter("pajlada")
    assert converter.convert(parse_line(line)) is None and converter.skipped_shared == 1
    own = lines.privmsg("pajlada", "local", "hi", source_room_id="11148817")
    assert converter.convert(parse_line(own)).text == "hi"
    assert _convert(line, include_shared_chat=True).extra["source_room_id"] == "999"


def test_hype_chat_amount_uses_the_exponent():
    """pinned-chat-paid-amount/exponent/currency become a paid amount."""
    event = _convert(lines.privmsg("pajlada", "a", "hype", pinned_chat_paid_amount="500",
                                   pinned_chat_paid_exponent="2", pinned_chat_paid_currency="EUR",
                                   pinned_chat_paid_level="ONE"))
    assert (event.kind, event.amount, event.currency) == ("superchat", 5.0, "EUR") and event.amount_cents > 0


@pytest.mark.parametrize(("msg_id", "params", "text", "kind", "amount"), [
    ("sub", {"msg_param_sub_plan": "1000"}, "", "member", 4.99),
    ("resub", {"msg_param_sub_plan": "2000", "msg_param_cumulative_months": "6"}, "six months!", "member", 9.99),
    ("sub", {"msg_param_sub_plan": "Prime"}, "", "member", 0.0),
    ("subgift", {"msg_param_sub_plan": "1000", "msg_param_recipient_display_name": "Kim"}, "", "gift", 4.99),
    ("submysterygift", {"msg_param_sub_plan": "1000", "msg_param_mass_gift_count": "20",
                        "msg_param_community_gift_id": "123"}, "", "gift", 99.8),
    ("raid", {"msg_param_displayName": "Raider", "msg_param_login": "raider", "msg_param_viewerCount": "430"},
     "", "system", 0.0),
    ("announcement", {"msg_param_color": "PRIMARY"}, "Be nice", "chat", 0.0),
    ("bitsbadgetier", {"msg_param_threshold": "1000"}, "", "system", 0.0),
])
def test_usernotices_map_to_kinds_and_amounts(msg_id, params, text, kind, amount):
    """Subs, gifts, raids and others get a kind, a nominal amount and readable text."""
    event = _convert(lines.usernotice("pajlada", "giver", msg_id, "giver did a thing.", text, **params))
    assert event.kind == kind and event.amount == pytest.approx(amount)
    assert event.text == (text or "giver did a thing.")
    assert event.extra["notice"] == msg_id and event.extra["system_msg"] == "giver did a thing."
    if msg_id == "raid":
        assert event.user_name == "Raider" and event.extra["viewers"] == 430


def test_gift_subs_of_a_mystery_gift_are_not_repeated():
    """The N subgift notices that follow a submysterygift (same community-gift id) are dropped."""
    line = lines.usernotice("pajlada", "giver", "subgift", "giver gifted a sub to Kim.",
                            msg_param_sub_plan="1000", msg_param_community_gift_id="123")
    assert _convert(line) is None


def test_clearmsg_deletes_one_message():
    """CLEARMSG → delete_message with the target message id and the author's login."""
    event = _convert(lines.CLEARMSG)
    assert isinstance(event, ModerationEvent)
    assert (event.action, event.target_msg_id, event.target_user_name, event.channel) == (
        "delete_message", "3c92014f-340a-4dc3-a9c9-e5cf182f4a84", "alazymeme", "pajlada")
    assert _convert(lines.CLEARMSG_NEGATIVE_TS.replace("#randers", "#pajlada")).action == "delete_message"


def test_clearchat_with_duration_is_a_timeout():
    """CLEARCHAT with ban-duration → timeout_user for that many seconds."""
    event = _convert(lines.CLEARCHAT_TIMEOUT)
    assert (event.action, event.target_user_id, event.target_user_name, event.duration_s) == (
        "timeout_user", "148973258", "fabzeef", 1.0)


def test_clearchat_without_duration_is_a_ban():
    """CLEARCHAT naming a user without ban-duration → ban_user."""
    event = _convert(lines.CLEARCHAT_BAN)
    assert (event.action, event.target_user_id, event.target_user_name, event.duration_s) == (
        "ban_user", "70948394", "weeb123", 0.0)


def test_clearchat_without_user_clears_the_channel():
    """CLEARCHAT with no user → clear_chat for the channel."""
    event = _convert(lines.CLEARCHAT_ALL)
    assert (event.action, event.channel, event.target_user_id) == ("clear_chat", "pajlada", "")


def test_lines_without_events_give_none():
    """ROOMSTATE, numerics and a PRIVMSG without params give no event."""
    converter = TwitchConverter("pajlada")
    for line in ["@room-id=1 :tmi.twitch.tv ROOMSTATE #pajlada", ":tmi.twitch.tv 376 justinfan1 :>", "PRIVMSG"]:
        assert converter.convert(parse_line(line)) is None
