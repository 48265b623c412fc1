"""Twitch IRC lines: real samples from public documentation and a builder.

The samples are the lines Twitch's own documentation and the twitch-irc-rs
test suite show (see /work/shared/research/protocols.md §2), trimmed only
where a UUID was elided there.
"""

from __future__ import annotations

import itertools
import zlib

from ishowtts_live.sources.twitch.irc import escape_tag_value

# dev.twitch.tv/docs/irc/tags/ PRIVMSG example (client-nonce and id filled in)
DOC_PRIVMSG = (
    "@badge-info=;badges=broadcaster/1;client-nonce=459e3142897c7a22b7d275178f2259e0;color=#0000FF;"
    "display-name=abc;emotes=;first-msg=0;flags=0-6:S.7;id=eb24e920-8065-492a-8aea-266a00fc5126;mod=0;"
    "room-id=713936733;subscriber=0;tmi-sent-ts=1642786203573;turbo=0;user-id=713936733;user-type= "
    ":abc!abc@abc.tmi.twitch.tv PRIVMSG #xyz :HeyGuys"
)
# twitch-irc-rs clearchat.rs / clearmsg.rs samples
CLEARCHAT_TIMEOUT = ("@ban-duration=1;room-id=11148817;target-user-id=148973258;tmi-sent-ts=1594553828245 "
                     ":tmi.twitch.tv CLEARCHAT #pajlada :fabzeef")
CLEARCHAT_BAN = ("@room-id=11148817;target-user-id=70948394;tmi-sent-ts=1594561360331 "
                 ":tmi.twitch.tv CLEARCHAT #pajlada :weeb123")
CLEARCHAT_ALL = "@room-id=11148817;tmi-sent-ts=1594561392337 :tmi.twitch.tv CLEARCHAT #pajlada"
CLEARMSG = ("@login=alazymeme;room-id=;target-msg-id=3c92014f-340a-4dc3-a9c9-e5cf182f4a84;"
            "tmi-sent-ts=1594561955611 :tmi.twitch.tv CLEARMSG #pajlada :lole")
CLEARMSG_NEGATIVE_TS = ("@login=supibot;room-id=;target-msg-id=25fd76d9-4731-4907-978e-a391134ebd67;"
                        "tmi-sent-ts=-6795364578871 :tmi.twitch.tv CLEARMSG #randers :Pong! Uptime: 6h")
SYSTEM_MSG_ESCAPED = "PilotChup\\ssubscribed\\swith\\sTwitch\\sPrime."

_ids = itertools.count(1)


def tags_text(tags: dict[str, str]) -> str:
    return ";".join(f"{k}={escape_tag_value(str(v))}" for k, v in tags.items())


def privmsg(channel: str, login: str, text: str, *, room_id: str = "11148817", user_id: str | None = None,
            msg_id: str | None = None, display_name: str | None = None, **extra: str) -> str:
    tags = {
        "badge-info": "", "badges": "", "color": "#FF0000", "display-name": display_name or login,
        "emotes": "", "first-msg": "0", "flags": "", "id": msg_id or f"00000000-0000-4000-8000-{next(_ids):012d}",
        "mod": "0", "returning-chatter": "0", "room-id": room_id, "subscriber": "0",
        "tmi-sent-ts": "1594556065407", "turbo": "0", "user-id": user_id or str(zlib.crc32(login.encode())),
        "user-type": "",
    }
    tags.update({k.replace("_", "-"): v for k, v in extra.items()})
    return f"@{tags_text(tags)} :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #{channel} :{text}"


def usernotice(channel: str, login: str, msg_id: str, system_msg: str, text: str = "", *,
               room_id: str = "11148817", **params: str) -> str:
    tags = {
        "badge-info": "", "badges": "", "color": "", "display-name": login.capitalize(), "emotes": "",
        "flags": "", "id": f"10000000-0000-4000-8000-{next(_ids):012d}", "login": login, "mod": "0",
        "msg-id": msg_id, "room-id": room_id, "subscriber": "1", "system-msg": system_msg,
        "tmi-sent-ts": "1594583782376", "user-id": str(zlib.crc32(login.encode())), "user-type": "",
    }
    tags.update({k.replace("_", "-"): v for k, v in params.items()})
    tail = f" :{text}" if text else ""
    return f"@{tags_text(tags)} :tmi.twitch.tv USERNOTICE #{channel}{tail}"
