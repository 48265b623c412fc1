"""The benchmark's messages: short, medium and long (about 2, 4 and 8 s of
speech at the default voice's pace), in Chinese and in mixed Chinese/English,
the way chat reads them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str  # e.g. "medium-zh"
    length: str  # short | medium | long
    lang: str  # zh | mix
    text: str


CASES = (
    Case("short-zh", "short", "zh", "谢谢老板！"),
    Case("medium-zh", "medium", "zh", "欢迎新朋友，点关注。"),
    Case("long-zh", "long", "zh", "今天我们继续挑战这个关卡，大家觉得能过吗？"),
    Case("short-mix", "short", "mix", "GG，打得好！"),
    Case("medium-mix", "medium", "mix", "这波操作太秀了，nice！"),
    Case("long-mix", "long", "mix", "感谢大家的支持，下一把我们玩ranked，good luck！"),
)
BY_NAME = {c.name: c for c in CASES}


def select(spec: str) -> list[Case]:
    """``all``, or a comma list of case names, lengths (``short``) or
    languages (``mix``); unknown names raise ValueError naming them."""
    if spec.strip() in ("", "all"):
        return list(CASES)
    chosen: list[Case] = []
    for word in (w.strip() for w in spec.split(",")):
        matches = [c for c in CASES if word in (c.name, c.length, c.lang)]
        if not matches:
            known = ", ".join(c.name for c in CASES)
            raise ValueError(f"unknown case {word!r} (known: {known}, or short/medium/long/zh/mix)")
        chosen.extend(c for c in matches if c not in chosen)
    return chosen
