"""Command payloads shaped like the captured samples in bilibili-API-collect
(docs/live/message_stream.md) and the open platform's documentation: every
field the reference clients read is present, with the same types."""

from __future__ import annotations

import json

ANCHOR_UID = 3546569288714792
REAL_ROOM = 22608112
SHORT_ROOM = 732


def danmu(uid: int, name: str, text: str, *, ts_ms: int = 1723979200649, rnd: int = -1312973962,
          medal: tuple[int, str] | None = None, medal_anchor: int = ANCHOR_UID, guard: int = 0, admin: int = 0,
          dm_type: int = 0, id_str: str = "", emots: dict | None = None, suffix: str = "",
          sticker: dict | None = None) -> dict:  # fmt: skip
    extra = {"send_from_me": False, "mode": 0, "color": 9920249, "dm_type": dm_type, "font_size": 25,
             "content": text, "emots": emots, "id_str": id_str or f"{uid:x}{ts_ms:x}", "reply_mid": 0,
             "reply_uname": ""}  # fmt: skip
    mode_info = {"extra": json.dumps(extra, ensure_ascii=False), "mode": 0, "show_player_type": 0,
                 "user": {"base": {"face": "https://i1.hdslb.com/bfs/face/x.jpg", "name": name}, "uid": uid}}  # fmt: skip
    medal_list = [] if medal is None else [medal[0], medal[1], "果宝Official", 31180317, 2951253, "", 0, 16771156,
                                           2951253, 10329087, guard, 1, medal_anchor]  # fmt: skip
    info = [
        [0, 1, 25, 9920249, ts_ms, rnd, 0, "0bc8acd0", 0, 0, 0, "", dm_type,
         json.dumps(sticker or {}), "{}", mode_info, {"activity_identity": "", "activity_source": 0, "not_show": 0}, 0],
        text,
        [uid, name, admin, 0, 0, 10000, 1, ""],
        medal_list,
        [39, 0, 10512625, 42523, 2],
        ["", ""],
        0,
        guard,
        None,
        {"ct": "AFFF4206", "ts": ts_ms // 1000},
        0, 0, None, None, 0, 1040, [49], None,
    ]  # fmt: skip
    return {"cmd": "DANMU_MSG" + suffix, "dm_v2": "", "info": info}


def super_chat(sc_id: int, uid: int, name: str, text: str, price: int, *, guard: int = 3) -> dict:
    return {
        "cmd": "SUPER_CHAT_MESSAGE",
        "data": {
            "background_bottom_color": "#2A60B2", "background_color": "#EDF5FF", "background_color_end": "#405D85",
            "background_color_start": "#3171D2", "background_icon": "",
            "background_image": "https://i0.hdslb.com/bfs/live/a712.png", "background_price_color": "#7497CD",
            "color_point": 0.7, "dmscore": 120, "end_time": 1677069095,
            "gift": {"gift_id": 12000, "gift_name": "醒目留言", "num": 1},
            "id": sc_id, "is_ranked": 1, "is_send_audit": 0,
            "medal_info": {"anchor_roomid": SHORT_ROOM, "anchor_uname": "Asaki", "guard_level": guard,
                           "medal_level": 21, "medal_name": "ASAKI", "target_id": ANCHOR_UID},
            "message": text, "message_font_color": "#A3F6FF", "message_trans": "", "price": price, "rate": 1000,
            "start_time": 1677069035, "time": 60, "token": "7BED5681", "trans_mark": 0, "ts": 1677069035,
            "uid": uid,
            "user_info": {"face": "https://i1.hdslb.com/bfs/face/7a.jpg", "face_frame": "", "guard_level": guard,
                          "is_main_vip": 1, "is_svip": 0, "is_vip": 0, "level_color": "#969696", "manager": 0,
                          "name_color": "#00D1F1", "title": "0", "uname": name, "user_level": 6},
        },
        "roomid": REAL_ROOM,
    }  # fmt: skip


def super_chat_delete(*ids: int) -> dict:
    return {"cmd": "SUPER_CHAT_MESSAGE_DELETE", "data": {"ids": list(ids)}, "roomid": REAL_ROOM}


def gift(uid: int, name: str, gift_name: str, num: int, *, gift_id: int = 31036, price: int = 100,
         coin_type: str = "gold", tid: str = "1673622464121900003") -> dict:  # fmt: skip
    return {
        "cmd": "SEND_GIFT",
        "data": {
            "action": "投喂", "batch_combo_id": "", "coin_type": coin_type, "combo_total_coin": price * num,
            "discount_price": price, "face": "https://i1.hdslb.com/bfs/face/fb.jpg", "giftId": gift_id,
            "giftName": gift_name, "giftType": 0, "gold": 0, "guard_level": 0,
            "medal_info": {"anchor_roomid": 0, "anchor_uname": "", "guard_level": 0, "medal_level": 0,
                           "medal_name": "", "target_id": 0},
            "num": num, "price": price, "rnd": tid, "tid": tid, "timestamp": 1673622464,
            "total_coin": price * num, "uid": uid, "uname": name,
        },
    }  # fmt: skip


def gift_v2(uid: int, name: str, gifts: list[dict], *, guard: int = 0, medal_level: int = 0,
            blind: tuple[str, int] | None = None, pb: str | None = None) -> dict:  # fmt: skip
    """SEND_GIFT_V2: the sender once, ``gifts`` (GiftItem fields) in one protobuf broadcast, base64 in data.pb.

    ``pb`` replaces the encoded broadcast (for truncated or garbage payloads)."""
    from tests.sources.bilibili import pbwire

    medal = {"target_id": ANCHOR_UID, "anchor_roomid": SHORT_ROOM, "medal_level": medal_level,
             "medal_name": "果咩吖"} if medal_level else None  # fmt: skip
    blind_box = {"original_gift_name": blind[0], "original_gift_price": blind[1]} if blind else None
    if pb is None:
        pb = pbwire.broadcast_b64(uid, name, gifts, guard_level=guard, medal=medal, blind=blind_box)
    return {"cmd": "SEND_GIFT_V2", "data": {"pb": pb}}


def v2_item(gift_name: str, num: int, *, price: int = 100, coin_type: str = "gold", tid: str = "", gift_id: int = 31036,
            total_coin: int | None = None, action: str = "投喂") -> dict:  # fmt: skip
    """One GiftItem of a SEND_GIFT_V2 broadcast."""
    return {"gift_id": gift_id, "gift_name": gift_name, "num": num, "gift_type": 0, "price": price,
            "total_coin": price * num if total_coin is None else total_coin, "coin_type": coin_type,
            "tid": tid or f"{gift_id}-{gift_name}-{num}", "timestamp": 1786000000, "rnd": tid, "action": action,
            "gift_info": {"img_basic": "https://s1.hdslb.com/bfs/live/gift.png"}}  # fmt: skip


def guard_buy(uid: int, name: str, level: int = 3, num: int = 1, price: int = 198000) -> dict:
    names = {1: "总督", 2: "提督", 3: "舰长"}
    return {"cmd": "GUARD_BUY", "data": {"uid": uid, "username": name, "guard_level": level, "num": num,
            "price": price, "gift_id": 10003, "gift_name": names[level], "start_time": 1677069316,
            "end_time": 1677069316}}  # fmt: skip


def room_block(uid: int, name: str) -> dict:
    return {"cmd": "ROOM_BLOCK_MSG", "data": {"dmscore": 30, "operator": 1, "uid": uid, "uname": name},
            "uid": str(uid), "uname": name}  # fmt: skip


def watched(num: int = 22097) -> dict:
    return {"cmd": "WATCHED_CHANGE", "data": {"num": num, "text_small": "2.2万", "text_large": "2.2万人看过"}}


# ---------------------------------------------------------------- open live platform


def open_dm(open_id: str, name: str, text: str, msg_id: str, *, dm_type: int = 0, guard: int = 0,
            medal: int = 0, admin: bool = False) -> dict:  # fmt: skip
    return {"cmd": "LIVE_OPEN_PLATFORM_DM", "data": {
        "uname": name, "open_id": open_id, "uface": "http://i0.hdslb.com/bfs/face/7c.jpg", "timestamp": 1650717881,
        "room_id": REAL_ROOM, "msg": text, "msg_id": msg_id, "guard_level": guard,
        "fans_medal_wearing_status": bool(medal), "fans_medal_name": "官方" if medal else "", "fans_medal_level": medal,
        "emoji_img_url": "http://i0.hdslb.com/bfs/live/emoji.png" if dm_type else "", "dm_type": dm_type,
        "glory_level": 0, "reply_open_id": "", "reply_uname": "", "is_admin": int(admin)}}  # fmt: skip


def open_super_chat(open_id: str, name: str, text: str, message_id: int, rmb: int) -> dict:
    return {"cmd": "LIVE_OPEN_PLATFORM_SUPER_CHAT", "data": {
        "room_id": REAL_ROOM, "open_id": open_id, "uname": name, "uface": "", "message_id": message_id,
        "message": text, "rmb": rmb, "timestamp": 1650717900, "start_time": 1650717900, "end_time": 1650717960,
        "guard_level": 0, "fans_medal_level": 0, "fans_medal_name": "", "fans_medal_wearing_status": False,
        "msg_id": f"sc-{message_id}"}}  # fmt: skip


def open_super_chat_del(*message_ids: int) -> dict:
    return {"cmd": "LIVE_OPEN_PLATFORM_SUPER_CHAT_DEL",
            "data": {"room_id": REAL_ROOM, "message_ids": list(message_ids), "msg_id": "del-1"}}  # fmt: skip


def open_gift(open_id: str, name: str, gift_name: str, num: int, price: int, msg_id: str, *, paid: bool = True) -> dict:
    return {"cmd": "LIVE_OPEN_PLATFORM_SEND_GIFT", "data": {
        "room_id": REAL_ROOM, "open_id": open_id, "uname": name, "uface": "", "gift_id": 31036,
        "gift_name": gift_name, "gift_num": num, "price": price, "r_price": price, "paid": paid,
        "fans_medal_level": 0, "fans_medal_name": "", "fans_medal_wearing_status": False, "guard_level": 0,
        "timestamp": 1650717898, "msg_id": msg_id, "gift_icon": "",
        "anchor_info": {"uid": ANCHOR_UID, "open_id": "anchor-open-id", "uname": "主播", "uface": ""}}}  # fmt: skip


def open_guard(open_id: str, name: str, level: int, num: int, price: int, msg_id: str) -> dict:
    return {"cmd": "LIVE_OPEN_PLATFORM_GUARD", "data": {
        "user_info": {"open_id": open_id, "uname": name, "uface": ""}, "guard_level": level, "guard_num": num,
        "guard_unit": "月", "price": price, "fans_medal_level": 0, "fans_medal_name": "",
        "fans_medal_wearing_status": False, "room_id": REAL_ROOM, "msg_id": msg_id, "timestamp": 1654801753}}  # fmt: skip


def open_end(game_id: str) -> dict:
    return {"cmd": "LIVE_OPEN_PLATFORM_INTERACTION_END", "data": {"game_id": game_id, "timestamp": 1654801800}}
