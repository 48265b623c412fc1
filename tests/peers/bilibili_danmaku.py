"""Runs inside the blivedm peer venv: connect blivedm's BLiveClient to the
fake Bilibili and print one JSON line per command it dispatches.

    python bilibili_danmaku.py http://127.0.0.1:API_PORT ROOM

blivedm 0.1.1 hard-codes its two discovery URLs as module constants; only
those are pointed at the fake (and TLS verification is off for the fake's
self-signed certificate). Room init, getDanmuInfo, the wss socket, the auth
packet, heartbeats, brotli bodies and packet splitting are blivedm's own.
"""

import asyncio
import json
import sys

import blivedm
import blivedm.client


def emit(**record):
    print(json.dumps(record, ensure_ascii=False), flush=True)


class Printer(blivedm.HandlerInterface):
    async def handle(self, client, command):
        emit(event="command", cmd=command.get("cmd", ""), body=command)


async def main(api: str, room: int) -> None:
    blivedm.client.ROOM_INIT_URL = api + "/xlive/web-room/v1/index/getInfoByRoom"
    blivedm.client.DANMAKU_SERVER_CONF_URL = api + "/xlive/web-room/v1/index/getDanmuInfo"
    client = blivedm.BLiveClient(room, ssl=False, heartbeat_interval=1)
    client.add_handler(Printer())
    ok = await client.init_room()
    emit(event="room", ok=ok, room_id=client.room_id, short_id=client.room_short_id, owner=client.room_owner_uid)
    client.start()
    try:
        await client.join()
    finally:
        await client.stop_and_close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
