"""Twitch IRC messages → :class:`ChatEvent` / :class:`ModerationEvent`.

Pure functions over parsed lines: no I/O, never raise on odd tag values (a
malformed number reads as 0), so the source can feed them anything.
"""

from __future__ import annotations

import re

from ishowtts_live.events import ChatEvent, ModerationEvent, SourceItem, UserFlags
from ishowtts_live.sources.money import bits_to_cny_cents, cny_cents
from ishowtts_live.sources.twitch.irc import IrcMessage

PLATFORM = "twitch"

# Nominal US prices of a month of each subscription tier (Prime costs the
# viewer nothing extra, so it counts as unpaid).
TIER_USD = {"1000": 4.99, "2000": 9.99, "3000": 24.99}

_ACTION = re.compile(r"^\x01ACTION (.*?)\x01?$", re.DOTALL)
_CHEER = re.compile(r"^([A-Za-z][A-Za-z_-]*?)(\d+)$")
_SPACES = re.compile(r"\s+")

# USERNOTICE msg-id → event kind. Anything else becomes "system".
NOTICE_KINDS = {
    "sub": "member", "resub": "member", "giftpaidupgrade": "member",
    "anongiftpaidupgrade": "member", "primepaidupgrade": "member",
    "subgift": "gift", "anonsubgift": "gift", "submysterygift": "gift", "anonsubmysterygift": "gift",
    "communitypayforward": "gift", "standardpayforward": "gift",
    "raid": "system", "unraid": "system", "bitsbadgetier": "system", "announcement": "chat",
    "viewermilestone": "system",
}


_INT_LIMIT = 2**53  # beyond this a tag value is nonsense, not money


def _int(value: str | None) -> int:
    try:
        number = int(value or 0)
    except ValueError:
        return 0
    return max(min(number, _INT_LIMIT), -_INT_LIMIT)


def _badges(raw: str) -> set[str]:
    """``moderator/1,subscriber/12`` → {'moderator', 'subscriber'}."""
    return {item.partition("/")[0] for item in raw.split(",") if item}


def flags_from_tags(tags: dict[str, str]) -> UserFlags:
    badges = _badges(tags.get("badges", ""))
    return UserFlags(
        moderator=tags.get("mod") == "1" or "moderator" in badges,
        broadcaster="broadcaster" in badges,
        subscriber=tags.get("subscriber") == "1" or bool(badges & {"subscriber", "founder"}),
        first_message=tags.get("first-msg") == "1",
    )


def strip_cheers(text: str, bits: int) -> str:
    """Drop the cheermotes ('Cheer100', 'Kappa50') from a message with bits,
    so the voice does not read them. Only tokens whose numbers add up to the
    bits are removed; if they do not, only 'cheerN' tokens go."""
    words = text.split(" ")
    cheers = [i for i, w in enumerate(words) if _CHEER.match(w)]
    if sum(_int(_CHEER.match(words[i]).group(2)) for i in cheers) != bits:
        cheers = [i for i in cheers if words[i].lower().startswith("cheer")]
    drop = set(cheers)
    return _SPACES.sub(" ", " ".join(w for i, w in enumerate(words) if i not in drop)).strip()


class TwitchConverter:
    """Turns the lines of one joined channel into source items."""

    def __init__(self, channel: str, *, include_shared_chat: bool = False):
        self.channel = channel
        self.include_shared_chat = include_shared_chat
        self.skipped_shared = 0

    def convert(self, msg: IrcMessage, mono: float = 0.0, wall: float = 0.0) -> SourceItem | None:
        """The event for one line, or None for lines that carry none."""
        handler = {
            "PRIVMSG": self._privmsg, "USERNOTICE": self._usernotice,
            "CLEARMSG": self._clearmsg, "CLEARCHAT": self._clearchat,
        }.get(msg.command)
        if handler is None or not msg.params:
            return None
        return handler(msg, mono, wall)

    def _shared_from_elsewhere(self, tags: dict[str, str]) -> bool:
        source_room = tags.get("source-room-id", "")
        return bool(source_room) and source_room != tags.get("room-id", "")

    def _base(self, msg: IrcMessage, mono: float, wall: float) -> dict:
        tags = msg.tags
        login = tags.get("login") or msg.nick
        extra = {"login": login} if login else {}
        if tags.get("room-id"):
            extra["room_id"] = tags["room-id"]
        if self._shared_from_elsewhere(tags):
            extra["source_room_id"] = tags["source-room-id"]
        return dict(
            platform=PLATFORM, channel=msg.channel or self.channel, msg_id=tags.get("id", ""),
            user_id=tags.get("user-id", ""), user_name=tags.get("display-name", "").strip() or login,
            flags=flags_from_tags(tags), received_mono=mono, received_wall=wall, clock=mono, extra=extra,
        )

    def _privmsg(self, msg: IrcMessage, mono: float, wall: float) -> ChatEvent | None:
        tags = msg.tags
        if self._shared_from_elsewhere(tags) and not self.include_shared_chat:
            self.skipped_shared += 1
            return None
        base = self._base(msg, mono, wall)
        text = msg.trailing
        action = _ACTION.match(text)
        if action:
            text = action.group(1)
            base["extra"]["action"] = True
        if tags.get("reply-parent-user-login"):
            base["extra"]["reply_to"] = tags["reply-parent-user-login"]
        bits = max(_int(tags.get("bits")), 0)
        if bits:
            return ChatEvent(**base, text=strip_cheers(text, bits), kind="superchat", amount=float(bits),
                             currency="BITS", amount_cents=bits_to_cny_cents(bits))
        paid = _int(tags.get("pinned-chat-paid-amount"))
        if paid > 0:  # Hype Chat: amount in minor units, `exponent` decimals
            exponent = min(max(_int(tags.get("pinned-chat-paid-exponent")), 0), 6)
            currency = tags.get("pinned-chat-paid-currency", "").upper()
            amount = paid / 10**exponent
            return ChatEvent(**base, text=text, kind="superchat", amount=amount, currency=currency,
                             amount_cents=cny_cents(amount, currency))
        return ChatEvent(**base, text=text)

    def _usernotice(self, msg: IrcMessage, mono: float, wall: float) -> ChatEvent | None:
        tags = msg.tags
        notice = tags.get("msg-id", "")
        if self._shared_from_elsewhere(tags) and not self.include_shared_chat:
            self.skipped_shared += 1
            return None
        # A mystery gift of N subs is followed by N single `subgift` notices
        # carrying the same community-gift id: the first one says it all.
        if notice in ("subgift", "anonsubgift") and tags.get("msg-param-community-gift-id"):
            return None
        base = self._base(msg, mono, wall)
        base["extra"]["notice"] = notice
        system = tags.get("system-msg", "").strip()
        if system:
            base["extra"]["system_msg"] = system
        text = msg.trailing.strip() or system
        kind = NOTICE_KINDS.get(notice, "system")
        amount, currency = 0.0, ""
        plan = tags.get("msg-param-sub-plan", "")
        if notice in ("sub", "resub", "subgift", "anonsubgift") and plan in TIER_USD:
            amount, currency = TIER_USD[plan], "USD"
        elif notice in ("submysterygift", "anonsubmysterygift") and plan in TIER_USD:
            count = min(max(_int(tags.get("msg-param-mass-gift-count")), 1), 10_000)
            amount, currency = round(TIER_USD[plan] * count, 2), "USD"
        if notice == "raid":
            base["user_name"] = tags.get("msg-param-displayName", "").strip() or base["user_name"]
            base["extra"]["viewers"] = _int(tags.get("msg-param-viewerCount"))
        if not text:
            return None
        return ChatEvent(**base, text=text, kind=kind, amount=amount, currency=currency,
                         amount_cents=cny_cents(amount, currency))

    def _clearmsg(self, msg: IrcMessage, mono: float, wall: float) -> ModerationEvent | None:
        target = msg.tags.get("target-msg-id", "")
        if not target:
            return None
        return ModerationEvent(platform=PLATFORM, action="delete_message", channel=msg.channel or self.channel,
                               target_msg_id=target, target_user_name=msg.tags.get("login", ""),
                               received_mono=mono, received_wall=wall)

    def _clearchat(self, msg: IrcMessage, mono: float, wall: float) -> ModerationEvent:
        channel = msg.channel or self.channel
        user = msg.trailing.strip()
        user_id = msg.tags.get("target-user-id", "")
        if not user and not user_id:
            return ModerationEvent(platform=PLATFORM, action="clear_chat", channel=channel,
                                   received_mono=mono, received_wall=wall)
        duration = _int(msg.tags.get("ban-duration"))
        return ModerationEvent(platform=PLATFORM, action="timeout_user" if duration > 0 else "ban_user",
                               channel=channel, target_user_id=user_id, target_user_name=user,
                               duration_s=float(max(duration, 0)), received_mono=mono, received_wall=wall)
