"""YouTube live-chat JSON in the shapes the web client receives.

Field names and nesting follow the public readers that parse real responses
(chat-downloader's youtube.py remapping table, pytchat's renderers and its
sanitized test data; see /work/shared/research/protocols.md §3.5).
"""

from __future__ import annotations

import itertools

_usec = itertools.count(1_700_000_000_000_000, 1_000_000)

MODERATOR = {"liveChatAuthorBadgeRenderer": {"icon": {"iconType": "MODERATOR"}, "tooltip": "Moderator",
                                             "accessibility": {"accessibilityData": {"label": "Moderator"}}}}
OWNER = {"liveChatAuthorBadgeRenderer": {"icon": {"iconType": "OWNER"}, "tooltip": "Owner",
                                         "accessibility": {"accessibilityData": {"label": "Owner"}}}}
VERIFIED = {"liveChatAuthorBadgeRenderer": {"icon": {"iconType": "VERIFIED"}, "tooltip": "Verified",
                                            "accessibility": {"accessibilityData": {"label": "Verified"}}}}
MEMBER = {"liveChatAuthorBadgeRenderer": {
    "customThumbnail": {"thumbnails": [{"url": "https://yt3.ggpht.com/member-badge=s16", "width": 16, "height": 16},
                                       {"url": "https://yt3.ggpht.com/member-badge=s32", "width": 32, "height": 32}]},
    "tooltip": "Member (6 months)", "accessibility": {"accessibilityData": {"label": "Member (6 months)"}}}}


def runs(*parts) -> dict:
    """Text runs: strings become text runs, ('emoji', id, shortcut, custom) tuples emoji runs."""
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append({"text": part})
        else:
            _, emoji_id, shortcut, custom = part
            emoji = {"emojiId": emoji_id, "shortcuts": [shortcut], "searchTerms": [shortcut.strip(":")],
                     "image": {"thumbnails": [{"url": "https://yt3.ggpht.com/emoji", "width": 24, "height": 24}],
                               "accessibility": {"accessibilityData": {"label": shortcut.strip(":")}}}}
            if custom:
                emoji["isCustomEmoji"] = True
            out.append({"emoji": emoji})
    return {"runs": out}


def _author(name: str, channel_id: str, badges) -> dict:
    author = {"authorName": {"simpleText": name},
              "authorPhoto": {"thumbnails": [{"url": "https://yt4.ggpht.com/photo=s32", "width": 32, "height": 32},
                                             {"url": "https://yt4.ggpht.com/photo=s64", "width": 64, "height": 64}]},
              "authorExternalChannelId": channel_id}
    if badges:
        author["authorBadges"] = list(badges)
    return author


def _common(item_id: str) -> dict:
    return {"id": item_id, "timestampUsec": str(next(_usec)),
            "contextMenuEndpoint": {"commandMetadata": {"webCommandMetadata": {"ignoreNavigation": True}},
                                    "liveChatItemContextMenuEndpoint": {"params": "Q2g0S0hBb2FD"}},
            "contextMenuAccessibility": {"accessibilityData": {"label": "Chat actions"}}}


def add(item: dict) -> dict:
    return {"clickTrackingParams": "CAEQl98BIhMI", "addChatItemAction": {"item": item, "clientId": "CLIENT-1"}}


def text_message(item_id: str, name: str, channel_id: str, message: dict | str, badges=()) -> dict:
    body = message if isinstance(message, dict) else runs(message)
    return add({"liveChatTextMessageRenderer": {**_common(item_id), "message": body, **_author(name, channel_id, badges),
                                                "timestampText": {"simpleText": "1:02"}}})


def paid_message(item_id: str, name: str, channel_id: str, amount_text: str, message: str | None = None,
                 badges=()) -> dict:
    renderer = {**_common(item_id), **_author(name, channel_id, badges),
                "purchaseAmountText": {"simpleText": amount_text}, "headerBackgroundColor": 4278239141,
                "headerTextColor": 4278190080, "bodyBackgroundColor": 4280150454, "bodyTextColor": 4278190080,
                "authorNameTextColor": 2315255808, "timestampColor": 2147483648, "isV2Style": True}
    if message is not None:
        renderer["message"] = runs(message)
    return add({"liveChatPaidMessageRenderer": renderer})


def paid_sticker(item_id: str, name: str, channel_id: str, amount_text: str, label: str) -> dict:
    renderer = {**_common(item_id), **_author(name, channel_id, ()),
                "sticker": {"thumbnails": [{"url": "//lh3.googleusercontent.com/sticker=s40", "width": 40,
                                            "height": 40}],
                            "accessibility": {"accessibilityData": {"label": label}}},
                "purchaseAmountText": {"simpleText": amount_text}, "moneyChipBackgroundColor": 4278248959,
                "moneyChipTextColor": 4278190080, "backgroundColor": 4278237396, "stickerDisplayWidth": 40,
                "stickerDisplayHeight": 40}
    return add({"liveChatPaidStickerRenderer": renderer})


def new_member(item_id: str, name: str, channel_id: str, welcome: str) -> dict:
    renderer = {**_common(item_id), **_author(name, channel_id, (MEMBER,)), "headerSubtext": runs(welcome)}
    return add({"liveChatMembershipItemRenderer": renderer})


def member_milestone(item_id: str, name: str, channel_id: str, months: int, message: str) -> dict:
    renderer = {**_common(item_id), **_author(name, channel_id, (MEMBER,)),
                "headerPrimaryText": runs("Member for ", str(months), " months"),
                "headerSubtext": {"simpleText": "The Channel"}, "message": runs(message)}
    return add({"liveChatMembershipItemRenderer": renderer})


def gift_purchase(item_id: str, name: str, channel_id: str, count: int) -> dict:
    header = {**_author(name, channel_id, ()), "primaryText": runs("Gifted ", str(count), " The Channel memberships"),
              "image": {"thumbnails": [{"url": "https://www.gstatic.com/youtube/img/sponsorships/gift.png"}]}}
    renderer = {"id": item_id, "timestampUsec": str(next(_usec)), "authorExternalChannelId": channel_id,
                "header": {"liveChatSponsorshipsHeaderRenderer": header}}
    return add({"liveChatSponsorshipsGiftPurchaseAnnouncementRenderer": renderer})


def gift_redemption(item_id: str, name: str, channel_id: str, giver: str) -> dict:
    renderer = {**_common(item_id), **_author(name, channel_id, ()),
                "message": runs("received a gift membership by ", giver)}
    return add({"liveChatSponsorshipsGiftRedemptionAnnouncementRenderer": renderer})


def placeholder(item_id: str) -> dict:
    return add({"liveChatPlaceholderItemRenderer": {"id": item_id, "timestampUsec": str(next(_usec))}})


def replace(target_id: str, replacement: dict) -> dict:
    return {"replaceChatItemAction": {"targetItemId": target_id, "replacementItem": replacement["addChatItemAction"]["item"]}}


def remove(target_id: str) -> dict:
    return {"clickTrackingParams": "CAAQl98BIhMI", "removeChatItemAction": {"targetItemId": target_id}}


def mark_deleted(target_id: str) -> dict:
    return {"markChatItemAsDeletedAction": {"deletedStateMessage": runs("[message retracted]"),
                                            "targetItemId": target_id}}


def remove_by_author(channel_id: str) -> dict:
    return {"clickTrackingParams": "CAAQl98BIhMI", "removeChatItemByAuthorAction": {"externalChannelId": channel_id}}


def mark_by_author(channel_id: str) -> dict:
    return {"markChatItemsByAuthorAsDeletedAction": {"deletedStateMessage": runs("[message deleted]"),
                                                     "externalChannelId": channel_id}}


def ticker(item_id: str, name: str, channel_id: str, amount_text: str) -> dict:
    return {"addLiveChatTickerItemAction": {"item": {"liveChatTickerPaidMessageItemRenderer": {
        "id": item_id, "amount": {"simpleText": amount_text}, "amountTextColor": 3741319168,
        "startBackgroundColor": 4280191205, "endBackgroundColor": 4278558415, "durationSec": 120,
        "fullDurationSec": 120, "authorExternalChannelId": channel_id, **_author(name, channel_id, ())}},
        "durationSec": "120"}}
