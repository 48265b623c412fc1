"""Numbers read the Chinese way, for messages in Chinese.

A voice cloned from Chinese speech reads "30元" best as 三十元; chat adds its
own conventions on top: 666 and 2333 are read digit by digit, years too
(二零二四年), a lone 2 before a measure word is 两, and "1.5w" is 一点五万.
Every function here returns text without ASCII digits, so normalising again
changes nothing.
"""

from __future__ import annotations

import re

DIGITS = "零一二三四五六七八九"
_POSITIONS = ("", "十", "百", "千")
_SECTIONS = ("", "万", "亿", "万亿")

# Characters after a number that make it a quantity (so 1314天 is a count,
# while 1314 alone is the meme read digit by digit).
MEASURE_WORDS = frozenset(
    "个只位次块元角毛岁年月日号天周点楼层级页行期人件条张本部集遍倍克斤米里吨升"
    "杯碗首届名票份台辆架座栋套双对节篇章种样分秒小度万亿千百十"
)
# Of those, the ones after which 2 is said 两 (两个, 两点) and not 二 (二月, 二楼).
_LIANG_BEFORE = MEASURE_WORDS - frozenset("月日号楼层级页行期")

# Numbers chat uses as words, read digit by digit when they stand alone.
_MEMES = frozenset({"520", "521", "1314", "886", "88", "748", "7456", "9494", "55", "66", "99", "233"})
_CURRENCY = {"¥": "元", "$": "美元", "€": "欧元", "£": "英镑"}


def read_digits(digits: str) -> str:
    """'2024' → 二零二四."""
    return "".join(DIGITS[int(d)] for d in digits)


def _section(group: str) -> str:
    """A group of up to four digits (no leading zeros) as 千百十 reading."""
    out: list[str] = []
    zero = False
    for i, ch in enumerate(group):
        d = int(ch)
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out.append("零")
            zero = False
        out.append(DIGITS[d] + _POSITIONS[len(group) - 1 - i])
    return "".join(out)


def read_int(digits: str) -> str:
    """A non-negative integer as a cardinal: 10 → 十, 1005 → 一千零五,
    100010000 → 一亿零一万, 2000 → 两千. Longer than 16 digits: digit by digit."""
    digits = digits.lstrip("0") or "0"
    if digits == "0":
        return "零"
    if len(digits) > 16:
        return read_digits(digits)
    head = len(digits) % 4 or 4
    groups = [digits[:head]] + [digits[i:i + 4] for i in range(head, len(digits), 4)]
    out = ""
    gap = False
    for index, group in enumerate(groups):
        value = int(group)
        if value == 0:
            gap = bool(out)
            continue
        if out and (gap or value < 1000):
            out += "零"
        out += _section(group.lstrip("0")) + _SECTIONS[len(groups) - 1 - index]
        gap = False
    if out.startswith("一十"):
        out = out[1:]
    if out.startswith("二") and len(out) > 1 and out[1] in "百千万亿":
        out = "两" + out[1:]
    return out


def read_decimal(int_part: str, frac: str | None) -> str:
    text = read_int(int_part)
    return f"{text}点{read_digits(frac)}" if frac else text


def read_amount(amount: float) -> str:
    """A paid amount as spoken: 30.0 → 三十, 9.9 → 九点九."""
    text = f"{abs(amount):.2f}".rstrip("0").rstrip(".")
    int_part, _, frac = text.partition(".")
    return read_decimal(int_part, frac or None)


def is_meme(digits: str) -> bool:
    """666, 8888, 2333…, 520, 1314: chat words written in digits."""
    if digits in _MEMES:
        return True
    if len(digits) >= 3 and digits != "0" * len(digits) and len(set(digits)) == 1:
        return True
    return bool(re.fullmatch(r"23{2,}", digits))


_DIGIT_RUN = re.compile(r"(?<![0-9.,])[0-9]{4,}(?![0-9]|[.,][0-9])")


def collapse_digit_memes(text: str) -> str:
    """66666666 → 666 and 2333333 → 2333, in any language; real numbers such
    as 100000 are left alone."""

    def repl(m: re.Match[str]) -> str:
        run = m.group()
        if run[0] != "0" and len(set(run)) == 1:
            return run[:3]
        if re.fullmatch(r"23{4,}", run):
            return "2333"
        return run

    return _DIGIT_RUN.sub(repl, text)


_NUMBERS = re.compile(
    r"(?P<date>(?<![0-9])(?P<y>[0-9]{4})(?P<sep>[-/.])(?P<mo>0?[1-9]|1[0-2])(?P=sep)"
    r"(?P<d>0?[1-9]|[12][0-9]|3[01])(?![0-9]))"
    r"|(?P<time>(?<![0-9:])(?P<h>[01]?[0-9]|2[0-4]):(?P<mi>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?(?![0-9:]))"
    r"|(?P<ratio>(?<![0-9:])(?P<ra>[0-9]{1,4}):(?P<rb>[0-9]{1,4})(?![0-9:]))"
    r"|(?P<frac>(?<![0-9/.])(?P<fa>[0-9]{1,3})/(?P<fb>[0-9]{1,3})(?![0-9/]))"
    r"|(?P<pct>(?P<pi>[0-9]+)(?:\.(?P<pf>[0-9]+))?\s*%)"
    r"|(?P<cur>(?P<sym>[¥$€£])\s*(?P<ci>[0-9]+(?:,[0-9]{3})+|[0-9]+)(?:\.(?P<cf>[0-9]+))?)"
    r"|(?P<year>(?<![0-9])(?P<yv>[0-9]{4})(?=\s*年))"
    r"|(?P<wan>(?<![0-9.])(?P<wi>[0-9]+)(?:\.(?P<wf>[0-9]+))?[wW](?![A-Za-z]))"
    r"|(?P<num>(?P<neg>(?<![A-Za-z0-9.])-)?(?P<ni>[0-9]+(?:,[0-9]{3})+|[0-9]+)(?:\.(?P<nf>[0-9]+))?)"
)


def _follower(text: str, end: int) -> str:
    rest = text[end:].lstrip(" ")
    return rest[:1]


def _plain_number(m: re.Match[str], text: str) -> str:
    int_part = m.group("ni").replace(",", "")
    frac = m.group("nf")
    sign = "负" if m.group("neg") else ""
    if frac is not None:
        return sign + read_decimal(int_part, frac)
    after = _follower(text, m.end())
    before = text[m.start() - 1] if m.start() else ""
    counted = after in MEASURE_WORDS
    if "," not in m.group("ni"):
        if len(int_part) > 1 and int_part.startswith("0"):
            return sign + read_digits(int_part)  # 007, 0832: codes, not quantities
        if len(int_part) > 8:
            return sign + read_digits(int_part)  # phone and QQ numbers, ids
        if after == "后" and len(int_part) == 2:
            return sign + read_digits(int_part)  # generations: 90后 is 九零后
        if before.isascii() and before.isalpha() and len(int_part) >= 3:
            return sign + read_digits(int_part)  # model numbers: RTX3090
        if not counted and before != "第" and not sign and is_meme(int_part):
            return read_digits(int_part)
    if int_part == "2" and after in _LIANG_BEFORE and before != "第" and not sign:
        return "两"
    return sign + read_int(int_part)


def _spoken(m: re.Match[str], text: str) -> str:
    kind = m.lastgroup
    if kind == "date":
        return f"{read_digits(m.group('y'))}年{read_int(m.group('mo'))}月{read_int(m.group('d'))}日"
    if kind == "time":
        hour = "两" if m.group("h").lstrip("0") == "2" else read_int(m.group("h"))
        minute = m.group("mi")
        seconds = m.group("s")
        if seconds is not None:
            return f"{hour}点{read_int(minute)}分{read_int(seconds)}秒"
        if minute == "00":
            return f"{hour}点"
        return f"{hour}点{'零' + DIGITS[int(minute[1])] if minute[0] == '0' else read_int(minute)}"
    if kind == "ratio":
        return f"{read_int(m.group('ra'))}比{read_int(m.group('rb'))}"
    if kind == "frac":
        if int(m.group("fb")) == 0:
            return f"{read_int(m.group('fa'))}除以零"
        return f"{read_int(m.group('fb'))}分之{read_int(m.group('fa'))}"
    if kind == "pct":
        return "百分之" + read_decimal(m.group("pi"), m.group("pf"))
    if kind == "cur":
        return read_decimal(m.group("ci").replace(",", ""), m.group("cf")) + _CURRENCY[m.group("sym")]
    if kind == "year":
        return read_digits(m.group("yv"))
    if kind == "wan":
        return read_decimal(m.group("wi"), m.group("wf")) + "万"
    return _plain_number(m, text)


def numbers_to_chinese(text: str) -> str:
    """Every run of ASCII digits in ``text`` spelled out in Chinese."""
    return _NUMBERS.sub(lambda m: _spoken(m, text), text)


def digits_to_chinese(text: str) -> str:
    """Digit by digit, for names and ids: 'user123' → user一二三."""
    return re.sub(r"[0-9]", lambda m: DIGITS[int(m.group())], text)
