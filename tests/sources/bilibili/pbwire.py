"""SEND_GIFT_V2's ``pb`` as the fake server writes it: encoded by Google's
reference protobuf runtime (installed with f5-tts, through wandb) from a
schema declared here apart from the product's reader, so that a wrong field
number or wire type on either side shows up as a failing test.

The schema is the public one (blivedm's ``models/pb.py``, commit "Support
SEND_GIFT_V2", 2026-08-11), written out as a FileDescriptorProto.
"""

from __future__ import annotations

import base64
from functools import cache

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {"int64": F.TYPE_INT64, "int32": F.TYPE_INT32, "string": F.TYPE_STRING}

# message → [(name, number, type or message name, repeated)]
SCHEMA = {
    "MedalInfo": [("target_id", 1, "int64", False), ("anchor_roomid", 4, "int64", False),
                  ("medal_level", 5, "int32", False), ("medal_name", 6, "string", False)],
    "BlindGift": [("original_gift_name", 3, "string", False), ("original_gift_price", 6, "int64", False)],
    "GiftMaterial": [("img_basic", 1, "string", False)],
    "GiftItem": [("gift_id", 1, "int64", False), ("gift_name", 2, "string", False), ("num", 3, "int32", False),
                 ("gift_type", 4, "int32", False), ("price", 5, "int64", False), ("total_coin", 7, "int64", False),
                 ("coin_type", 8, "string", False), ("tid", 9, "string", False), ("timestamp", 10, "int64", False),
                 ("rnd", 12, "string", False), ("action", 18, "string", False),
                 ("gift_info", 35, "GiftMaterial", False)],
    "SendGiftBroadcast": [("uid", 1, "int64", False), ("uname", 2, "string", False), ("face", 3, "string", False),
                          ("guard_level", 5, "int32", False), ("medal_info", 8, "MedalInfo", False),
                          ("blind_gift", 9, "BlindGift", False), ("gift_list", 10, "GiftItem", True)],
}  # fmt: skip


@cache
def classes() -> dict[str, type]:
    proto = descriptor_pb2.FileDescriptorProto(name="fake_bilibili_gift.proto", package="fakebili", syntax="proto3")
    for message, fields in SCHEMA.items():
        desc = proto.message_type.add(name=message)
        for name, number, kind, repeated in fields:
            field = desc.field.add(name=name, number=number,
                                   label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)  # fmt: skip
            if kind in _SCALARS:
                field.type = _SCALARS[kind]
            else:
                field.type, field.type_name = F.TYPE_MESSAGE, f".fakebili.{kind}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {m: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"fakebili.{m}")) for m in SCHEMA}


def broadcast_bytes(uid: int, uname: str, gifts: list[dict], *, guard_level: int = 0, medal: dict | None = None,
                    blind: dict | None = None) -> bytes:  # fmt: skip
    """A serialized SendGiftBroadcast; ``gifts`` are GiftItem field dicts (gift_info as {"img_basic": …})."""
    cls = classes()
    msg = cls["SendGiftBroadcast"](uid=uid, uname=uname, face="https://i0.hdslb.com/bfs/face/x.jpg",
                                   guard_level=guard_level)  # fmt: skip
    if medal:
        msg.medal_info.CopyFrom(cls["MedalInfo"](**medal))
    if blind:
        msg.blind_gift.CopyFrom(cls["BlindGift"](**blind))
    for gift in gifts:
        item = msg.gift_list.add()
        for key, value in gift.items():
            if key == "gift_info":
                item.gift_info.CopyFrom(cls["GiftMaterial"](**value))
            else:
                setattr(item, key, value)
    return msg.SerializeToString()


def broadcast_b64(*args, **kwargs) -> str:
    return base64.b64encode(broadcast_bytes(*args, **kwargs)).decode("ascii")
