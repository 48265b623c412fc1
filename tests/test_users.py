"""The one rule for who wrote a message, in a table: the same answers for
the queue (purge), the message being spoken (cut), the filters (mute) and
the journal (mutes restored after a restart)."""

from __future__ import annotations

import pytest

from ishowtts_live.events import ChatEvent, Utterance
from ishowtts_live.filters.moderation import ModerationState
from ishowtts_live.users import Selector, user_key, user_keys

COOL = ChatEvent(platform="twitch", msg_id="m-1", text="hi", user_id="123", user_name="CoolGuy")
ANON = ChatEvent(platform="bilibili", msg_id="m-2", text="hi", user_name="路人甲")


def utt(event: ChatEvent | None, id: str = "u-1") -> Utterance:
    return Utterance(id=id, text="hi", event=event)


def test_user_keys_name_the_author_every_way():
    """Id, platform:id and name, NFKC-normalised and case-folded; nothing empty."""
    assert user_keys(COOL) == {"123", "twitch:123", "coolguy"}
    assert user_keys(ANON) == {"路人甲"}
    assert user_key(" ＣｏｏｌＧｕｙ ") == "coolguy"


@pytest.mark.parametrize(("named", "platform", "matches"), [
    (["123"], "", True),
    (["twitch:123"], "", True),
    (["TWITCH:123"], "", True),
    (["CoolGuy"], "", True),
    (["COOLGUY"], "", True),
    (["ｃｏｏｌｇｕｙ"], "", True),
    (["999", "coolguy"], "twitch", True),  # a platform ban naming an old id and the login
    (["123"], "bilibili", False),  # another platform's user 123
    (["bilibili:123"], "", False),
    (["12"], "", False),
    (["cool"], "", False),
])
def test_selector_for_a_user(named, platform, matches):
    """A moderator's or a platform's way of naming a user picks out their messages, and only theirs."""
    assert Selector.user(*named, platform=platform).matches(utt(COOL)) is matches


@pytest.mark.parametrize(("selector", "matches"), [
    (Selector(msg_id="m-1"), True),
    (Selector(msg_id="u-1"), True),  # the utterance id works too
    (Selector(msg_id="m-2"), False),
    (Selector(platform="twitch"), True),
    (Selector(platform="youtube"), False),
    (Selector(users=frozenset({"coolguy"}), platform="twitch"), True),
    (Selector(users=frozenset({"coolguy"}), msg_id="m-9"), False),  # every criterion must hold
])
def test_selector_criteria(selector, matches):
    """Message id (the platform's or the utterance's), platform and user combine with 'and'."""
    assert selector.matches(utt(COOL)) is matches


def test_an_empty_selector_is_refused():
    """A selector naming nothing would match everything: a purge of the whole queue by mistake."""
    with pytest.raises(ValueError):
        Selector()
    with pytest.raises(ValueError):
        Selector.user("  ")


def test_announcements_are_nobody_s():
    """An utterance without a chat event (a moderator's say) matches no user and no platform."""
    assert not Selector.user("moderator").matches(utt(None))
    assert not Selector(platform="control").matches(utt(None))


@pytest.mark.parametrize("named", ["123", "twitch:123", "CoolGuy", "COOLGUY"])
def test_the_mute_check_uses_the_same_rule(named):
    """A mute by any name of the user drops their messages, as the queue and playback would remove them."""
    state = ModerationState()
    state.mute(named)
    assert state.is_muted(COOL) is Selector.user(named).matches(utt(COOL)) is True
    assert not state.is_muted(ANON)


def test_moderation_entries_know_where_they_come_from():
    """Config entries are refused as run-time changes (naming the key); run-time entries change once each."""
    from ishowtts_live.errors import ModerationConflict

    state = ModerationState(["Troll"], ["广告"])
    assert (state.user_origin("TROLL"), state.word_origin("广 告")) == ("config", "config")
    for change, target in ((state.mute, "troll"), (state.unmute, "Troll"), (state.block, "广告"),
                           (state.unblock, "广　告")):
        with pytest.raises(ModerationConflict, match="in the config file"):
            change(target)
    assert state.block("香菜") and not state.block(" 香菜 ") and state.word_origin("香菜") == "run time"
    assert state.blocked_words() == ["广告", "香菜"]
    assert state.unblock("香菜") and not state.unblock("香菜") and state.word_origin("香菜") is None
    assert state.mute("Spammer") and not state.mute("spammer") and state.muted_users() == ["spammer", "troll"]
    with pytest.raises(ValueError):
        state.block("...")  # nothing left to match once normalised
