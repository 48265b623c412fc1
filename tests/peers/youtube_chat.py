"""Runs inside the chat-downloader peer venv: read a live chat from the fake
YouTube and print one JSON line per message chat-downloader yields.

    python youtube_chat.py http://127.0.0.1:PORT VIDEO_ID MAX_MESSAGES

chat-downloader always addresses https://www.youtube.com; a requests
transport adapter mounted on its own session sends those requests to the
fake instead (scheme and host rewritten, path, query, headers and body as
chat-downloader made them). Everything else is chat-downloader's own code:
the watch-page bootstrap, the /live_chat first page, get_live_chat polling,
continuation handling and item parsing.
"""

import json
import sys
from urllib.parse import urlsplit, urlunsplit

from requests.adapters import HTTPAdapter

from chat_downloader.sites.youtube import YouTubeChatDownloader


class ToFake(HTTPAdapter):
    def __init__(self, base: str):
        super().__init__()
        self.base = urlsplit(base)

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        request.url = urlunsplit((self.base.scheme, self.base.netloc, parts.path, parts.query, parts.fragment))
        return super().send(request, **kwargs)


def main(base: str, video_id: str, limit: int) -> None:
    downloader = YouTubeChatDownloader()
    downloader.session.mount("https://www.youtube.com", ToFake(base))
    params = {"max_attempts": 1, "message_groups": ["all"], "chat_type": "live"}
    count = 0
    for message in downloader.get_chat_by_video_id(video_id, params).chat:
        money = message.get("money") or {}
        print(json.dumps({"id": message.get("message_id"), "type": message.get("message_type"),
                          "action": message.get("action_type"), "text": message.get("message"),
                          "author": (message.get("author") or {}).get("name"),
                          "author_id": (message.get("author") or {}).get("id"),
                          "badges": [b.get("title") for b in (message.get("author") or {}).get("badges") or []],
                          "amount": money.get("amount"), "currency": money.get("currency"),
                          "header_secondary": message.get("header_secondary_text"),
                          "target": message.get("target_message_id")}, ensure_ascii=False), flush=True)
        count += 1
        if count >= limit:
            break
    print(json.dumps({"done": count}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
