"""get_live_chat responses → :class:`ChatEvent` / :class:`ModerationEvent`.

A response holds ``continuationContents.liveChatContinuation`` with
``continuations`` (the next token and the wait the server asks for) and
``actions``. Each action is read on its own: one whose shape is wrong is
reported as unparsable, one of a type this reader has no rule for as
unknown (by action or renderer name), and skipped — never fatal, never
silent. Renderers handled:

- liveChatTextMessageRenderer → chat
- liveChatPaidMessageRenderer (Super Chat) → superchat with amount and currency
- liveChatPaidStickerRenderer (Super Sticker) → superchat, text = the sticker's description
- liveChatMembershipItemRenderer → member (new member or milestone message)
- liveChatSponsorshipsGiftPurchaseAnnouncementRenderer → gift ("Gifted 5 memberships")
- removeChatItemAction / markChatItemAsDeletedAction → delete_message
- removeChatItemByAuthorAction / markChatItemsByAuthorAsDeletedAction → ban_user
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ishowtts_live.events import ChatEvent, ModerationEvent, SourceItem, UserFlags
from ishowtts_live.sources.money import cny_cents, parse_amount_text
from ishowtts_live.sources.youtube.discovery import dig

PLATFORM = "youtube"
MAX_ACTIONS = 2000  # per response; a real one carries a few hundred at most
CONTINUATION_KINDS = ("invalidationContinuationData", "timedContinuationData", "reloadContinuationData")
# Renderers that carry nothing to read aloud (placeholders are replaced later
# by replaceChatItemAction; gift redemptions repeat the purchase announcement).
IGNORED_RENDERERS = {
    "liveChatPlaceholderItemRenderer", "liveChatViewerEngagementMessageRenderer",
    "liveChatModeChangeMessageRenderer", "liveChatSponsorshipsGiftRedemptionAnnouncementRenderer",
    "liveChatDonationAnnouncementRenderer", "liveChatPurchasedProductMessageRenderer",
    "liveChatAutoModMessageRenderer", "liveChatBannerRenderer",
}
# Actions that carry nothing to read aloud: tickers and banners repeat chat
# items, the rest are polls, tooltips, panels and dialogs. The names are the
# ones the public readers (chat-downloader's action table, yt-dlp) know.
IGNORED_ACTIONS = {
    "addLiveChatTickerItemAction", "addBannerToLiveChatCommand", "removeBannerForLiveChatCommand",
    "showLiveChatTooltipCommand", "showLiveChatActionPanelAction", "updateLiveChatPollAction",
    "closeLiveChatActionPanelAction", "showLiveChatDialogAction", "hideLiveChatDialogAction",
    "liveChatReportModerationStateCommand", "addToPlaylistCommand", "updateDateTextAction",
    "updateDescriptionAction", "updateTitleAction", "updateToggleButtonTextAction", "updateViewershipAction",
}
NOT_ACTION_KEYS = {"clickTrackingParams"}  # keys beside the one action key of an action object


class ChatResponseError(ValueError):
    """The response as a whole is unusable (an error object, not JSON, …)."""


@dataclass
class ChatPage:
    items: list[SourceItem] = field(default_factory=list)
    continuation: str | None = None  # None: the chat is over
    timeout_ms: int | None = None
    ignored: int = 0  # actions understood but not spoken (tickers, banners, placeholders…)
    unknown: list[tuple[str, Any]] = field(default_factory=list)  # (action or renderer name, the action)
    unparsable: list[tuple[str, str, Any]] = field(default_factory=list)  # (name, error, the action)
    over_limit: int = 0  # actions past MAX_ACTIONS, not read

    @property
    def errors(self) -> int:
        return len(self.unparsable)


class UnknownKind(Exception):
    """An action or renderer this reader has no rule for (``args[0]`` is its name)."""


def text_of(value: Any) -> str:
    """A YouTube text object ({simpleText} or {runs: […]}) as plain text;
    standard emoji are kept as characters, channel emoji as their :shortcut:."""
    if not isinstance(value, dict):
        return ""
    if isinstance(value.get("simpleText"), str):
        return value["simpleText"]
    parts = []
    for run in value.get("runs") or []:
        if not isinstance(run, dict):
            continue
        if isinstance(run.get("text"), str):
            parts.append(run["text"])
        elif isinstance(run.get("emoji"), dict):
            emoji = run["emoji"]
            shortcuts = emoji.get("shortcuts")
            shortcut = shortcuts[0] if isinstance(shortcuts, list) and shortcuts and isinstance(shortcuts[0], str) else ""
            emoji_id = emoji.get("emojiId") if isinstance(emoji.get("emojiId"), str) else ""
            parts.append(shortcut if emoji.get("isCustomEmoji") or not emoji_id else emoji_id)
    return "".join(parts)


def flags_of(renderer: dict) -> UserFlags:
    moderator = broadcaster = member = False
    for badge in renderer.get("authorBadges") or []:
        inner = dig(badge, "liveChatAuthorBadgeRenderer")
        if not isinstance(inner, dict):
            continue
        icon = dig(inner, "icon", "iconType")
        moderator |= icon == "MODERATOR"
        broadcaster |= icon == "OWNER"
        member |= "customThumbnail" in inner  # channel membership badges are custom images
    return UserFlags(moderator=moderator, broadcaster=broadcaster, subscriber=member)


def _action_name(action: Any) -> str:
    """The action's own key (``addChatItemAction``, …), beside ``clickTrackingParams``."""
    if not isinstance(action, dict):
        return "action"
    return next((str(k) for k in action if k not in NOT_ACTION_KEYS), "action")


class YouTubeConverter:
    def __init__(self, video_id: str):
        self.video_id = video_id

    def page(self, data: Any, mono: float = 0.0, wall: float = 0.0) -> ChatPage:
        if not isinstance(data, dict):
            raise ChatResponseError(f"expected a JSON object, got {type(data).__name__}")
        if isinstance(data.get("error"), dict):
            error = data["error"]
            raise ChatResponseError(f"API error {error.get('code')}: {str(error.get('message'))[:200]}")
        chat = dig(data, "continuationContents", "liveChatContinuation")
        page = ChatPage()
        if not isinstance(chat, dict):
            return page  # no chat continuation: the stream (or its chat) is over
        continuations = chat.get("continuations")
        for entry in continuations if isinstance(continuations, list) else []:
            for kind in CONTINUATION_KINDS:
                token = dig(entry, kind, "continuation")
                if isinstance(token, str) and token:
                    page.continuation = token
                    timeout = dig(entry, kind, "timeoutMs")
                    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout >= 0:
                        page.timeout_ms = int(min(timeout, 3_600_000))
        actions = chat.get("actions") or []
        if not isinstance(actions, list):
            page.unparsable.append(("actions", "actions is not a list", actions))
            return page
        page.over_limit = max(len(actions) - MAX_ACTIONS, 0)
        for action in actions[:MAX_ACTIONS]:
            try:
                item = self.action(action, mono, wall)
            except UnknownKind as exc:
                page.unknown.append((exc.args[0], action))
                continue
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                page.unparsable.append((_action_name(action), f"{type(exc).__name__}: {exc}", action))
                continue
            if item is None:
                page.ignored += 1
            else:
                page.items.append(item)
        return page

    def action(self, action: Any, mono: float, wall: float) -> SourceItem | None:
        if not isinstance(action, dict):
            raise TypeError("action is not an object")
        if "addChatItemAction" in action:
            return self.item(action["addChatItemAction"]["item"], mono, wall)
        if "replaceChatItemAction" in action:
            return self.item(action["replaceChatItemAction"]["replacementItem"], mono, wall)
        for key in ("removeChatItemAction", "markChatItemAsDeletedAction"):
            if key in action:
                target = action[key]["targetItemId"]
                if not isinstance(target, str) or not target:
                    raise ValueError("no targetItemId")
                return ModerationEvent(platform=PLATFORM, action="delete_message", channel=self.video_id,
                                       target_msg_id=target, received_mono=mono, received_wall=wall)
        for key in ("removeChatItemByAuthorAction", "markChatItemsByAuthorAsDeletedAction"):
            if key in action:
                author = action[key]["externalChannelId"]
                if not isinstance(author, str) or not author:
                    raise ValueError("no externalChannelId")
                return ModerationEvent(platform=PLATFORM, action="ban_user", channel=self.video_id,
                                       target_user_id=author, received_mono=mono, received_wall=wall)
        name = _action_name(action)
        if name in IGNORED_ACTIONS:
            return None  # tickers, banners, polls, tooltips, …
        raise UnknownKind(name)

    def item(self, item: Any, mono: float, wall: float) -> ChatEvent | None:
        if not isinstance(item, dict) or len(item) != 1:
            raise TypeError("item is not a single renderer")
        (kind, renderer), = item.items()
        if kind in IGNORED_RENDERERS:
            return None
        if not isinstance(renderer, dict):
            raise TypeError("renderer is not an object")
        if kind == "liveChatSponsorshipsGiftPurchaseAnnouncementRenderer":
            header = dig(renderer, "header", "liveChatSponsorshipsHeaderRenderer")
            if not isinstance(header, dict):
                raise ValueError("gift announcement without header")
            return self._event(renderer, header, text_of(header.get("primaryText")), "gift", mono, wall)
        if kind == "liveChatTextMessageRenderer":
            return self._event(renderer, renderer, text_of(renderer.get("message")), "chat", mono, wall)
        if kind == "liveChatMembershipItemRenderer":
            text = (text_of(renderer.get("message")) or text_of(renderer.get("headerSubtext"))
                    or text_of(renderer.get("headerPrimaryText")))
            return self._event(renderer, renderer, text, "member", mono, wall)
        if kind in ("liveChatPaidMessageRenderer", "liveChatPaidStickerRenderer"):
            amount, currency = parse_amount_text(text_of(renderer.get("purchaseAmountText")))
            if kind == "liveChatPaidStickerRenderer":
                text = str(dig(renderer, "sticker", "accessibility", "accessibilityData", "label") or "")
            else:
                text = text_of(renderer.get("message"))
            return self._event(renderer, renderer, text, "superchat", mono, wall, amount=amount,
                               currency=currency, amount_cents=cny_cents(amount, currency))
        raise UnknownKind(kind)

    def _event(self, renderer: dict, author: dict, text: str, kind: str, mono: float, wall: float,
               **money: Any) -> ChatEvent:
        msg_id = renderer.get("id")
        if not isinstance(msg_id, str) or not msg_id:
            raise ValueError("item without id")
        user_id = renderer.get("authorExternalChannelId") or author.get("authorExternalChannelId")
        user_id = user_id if isinstance(user_id, str) else ""
        extra = {}
        if isinstance(renderer.get("timestampUsec"), (str, int)):
            extra["sent_usec"] = str(renderer["timestampUsec"])[:20]
        return ChatEvent(platform=PLATFORM, channel=self.video_id, msg_id=msg_id, text=text.strip(),
                         user_id=user_id, user_name=text_of(author.get("authorName")).strip(), kind=kind,
                         flags=flags_of(author), received_mono=mono, received_wall=wall, clock=mono,
                         extra=extra, **money)
