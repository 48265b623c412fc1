"""Runs inside the twitchAPI peer venv: connect twitchAPI's Chat to the URL
given, join the channel, print one JSON line per event it dispatches.

    python twitch_chat.py ws://127.0.0.1:PORT channel

Only the Helix/OAuth side is bypassed (no network here): the user token is set
without validation, and the login name is set instead of asking Helix for it.
The chat socket, IRC parsing and event dispatch are twitchAPI's own.
"""

import asyncio
import json
import sys

from twitchAPI.chat import Chat
from twitchAPI.twitch import Twitch
from twitchAPI.type import AuthScope, ChatEvent

TOKEN = "peer-token"


def emit(**record):
    print(json.dumps(record, ensure_ascii=False), flush=True)


async def main(url: str, channel: str) -> None:
    twitch = Twitch("peer-app-id", authenticate_app=False)
    await twitch.set_user_authentication(TOKEN, [AuthScope.CHAT_READ], refresh_token="peer-refresh", validate=False)

    async def token() -> str:
        return TOKEN

    twitch.get_refreshed_user_auth_token = token
    chat = Chat(twitch, connection_url=url, initial_channel=[channel])
    chat.username = "peerbot"

    async def on_ready(event):
        emit(event="ready")

    async def on_joined(event):
        emit(event="joined", room=event.room_name, user=event.user_name)

    async def on_message(msg):
        emit(event="message", id=msg.id, text=msg.text, bits=msg.bits, first=msg.first, user=msg.user.name,
             display_name=msg.user.display_name, user_id=msg.user.id, mod=msg.user.mod,
             subscriber=msg.user.subscriber, badges=msg.user.badges, source_room_id=msg.source_room_id)

    async def on_sub(sub):
        emit(event="sub", sub_type=sub.sub_type, plan=sub.sub_plan, text=sub.sub_message,
             system_msg=sub._parsed["tags"].get("system-msg"))

    async def on_raid(parsed):
        emit(event="raid", viewers=parsed["tags"].get("msg-param-viewerCount"),
             raider=parsed["tags"].get("msg-param-displayName"))

    async def on_delete(event):
        emit(event="message_delete", message_id=event.message_id, user=event.user_name, text=event.message)

    async def on_cleared(event):
        emit(event="chat_cleared", user=event.user_name, user_id=event.banned_user_id, duration=event.duration)

    for kind, handler in [(ChatEvent.READY, on_ready), (ChatEvent.JOINED, on_joined),
                          (ChatEvent.MESSAGE, on_message), (ChatEvent.SUB, on_sub), (ChatEvent.RAID, on_raid),
                          (ChatEvent.MESSAGE_DELETE, on_delete), (ChatEvent.CHAT_CLEARED, on_cleared)]:
        chat.register_event(kind, handler)
    chat.start()  # its own thread and event loop
    while True:
        await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
