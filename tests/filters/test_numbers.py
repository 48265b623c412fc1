"""Numbers read the Chinese way (filters/numbers.py)."""

from __future__ import annotations

import pytest

from ishowtts_live.filters.chars import clean
from ishowtts_live.filters.numbers import collapse_digit_memes, numbers_to_chinese, read_amount, read_int

CASES = [
    ("666", "六六六"),
    ("2333", "二三三三"),
    ("520", "五二零"),
    ("2024年", "二零二四年"),
    ("¥30", "三十元"),
    ("30元", "三十元"),
    ("$5.99", "五点九九美元"),
    ("50%", "百分之五十"),
    ("12.5%", "百分之十二点五"),
    ("3.14", "三点一四"),
    ("2个", "两个"),
    ("第2名", "第二名"),
    ("2月", "二月"),
    ("1314天", "一千三百一十四天"),
    ("10000", "一万"),
    ("1005", "一千零五"),
    ("2000", "两千"),
    ("1,234", "一千二百三十四"),
    ("RTX3090", "RTX三零九零"),
    ("12:30", "十二点三十"),
    ("8:05", "八点零五"),
    ("3:2", "三比二"),
    ("1/3", "三分之一"),
    ("1.5w", "一点五万"),
    ("-5度", "负五度"),
    ("007", "零零七"),
    ("90后", "九零后"),
    ("00后", "零零后"),
    ("13800138000", "一三八零零一三八零零零"),
    ("2024-01-15", "二零二四年一月十五日"),
]


@pytest.mark.parametrize("text, spoken", CASES)
def test_numbers_read_the_chinese_way(text, spoken):
    """Each number form is spelled out as a Chinese speaker reads it in chat."""
    assert numbers_to_chinese(clean(text)) == spoken


def test_full_width_digits_are_read_after_cleaning():
    """Full-width digits (１２３) are folded by clean() and then read as a number."""
    assert numbers_to_chinese(clean("１２３个")) == "一百二十三个"


@pytest.mark.parametrize("text, collapsed", [
    ("66666666", "666"), ("23333333", "2333"), ("100000", "100000"), ("8888", "888"), ("0000", "0000"),
])
def test_digit_memes_collapse_but_real_numbers_stay(text, collapsed):
    """Stretched 666/2333 memes are cut to their usual form; real numbers are untouched."""
    assert collapse_digit_memes(text) == collapsed


@pytest.mark.parametrize("value, spoken", [("0", "零"), ("10", "十"), ("110", "一百一十"), ("100010", "十万零一十")])
def test_cardinals(value, spoken):
    """Cardinals put 零 where a position is skipped and drop the leading 一 of 十."""
    assert read_int(value) == spoken


@pytest.mark.parametrize("amount, spoken", [(30.0, "三十"), (9.9, "九点九"), (0.5, "零点五"), (1000, "一千")])
def test_paid_amounts(amount, spoken):
    """A paid amount is read without trailing zeros."""
    assert read_amount(amount) == spoken
