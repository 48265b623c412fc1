"""Text normalisation for speech and the speaking templates (filters/speech.py, text.py)."""

from __future__ import annotations

import msgspec
import pytest

from ishowtts_live.config.schema import SpeechConfig
from ishowtts_live.events import ChatEvent
from ishowtts_live.filters.speech import Speech, template_problems

SPEECH = Speech(SpeechConfig())

CASES = [
    # repeats
    ("哈哈哈哈哈哈", "哈哈哈"),
    ("真的吗?????", "真的吗？"),
    ("！！！！好耶！！！", "好耶！"),
    ("hahahahahaha", "hahaha"),
    ("233333333", "二三三三"),
    ("6666666666", "六六六"),
    # emotes and emoji
    ("[doge][doge]笑死", "笑死"),
    ("主播[tv_微笑]好帅", "主播好帅"),
    ("😂😂😂😂😂太好笑了", "太好笑了"),
    ("好耶🎉🎉🎉", "好耶"),
    ("(≧∇≦)太棒了", "太棒了"),
    ("(╯°□°）╯︵ ┻━┻ 气死了", "气死了"),
    ("awesome ^_^", "awesome"),
    ("nice :)", "nice"),
    # links
    ("看这个 https://b23.tv/abc123 好玩", "看这个链接好玩"),
    ("go to www.example.com now", "go to link now"),
    ("加群 spam.example.com/join 领福利", "加群链接领福利"),
    # numbers in Chinese context, left alone in English
    ("2024年也要加油", "二零二四年也要加油"),
    ("打折50%", "打折百分之五十"),
    ("花了¥30", "花了三十元"),
    ("１２３个", "一百二十三个"),
    ("I have 3 cats", "I have 3 cats"),
    ("666", "六六六"),
    # acronyms in Chinese context only
    ("GPU好快", "G P U好快"),
    ("这个AI好强", "这个A I好强"),
    ("the GPU is fast", "the GPU is fast"),
    # invisible characters and width
    ("主\u200b播\u202e好", "主播好"),
    ("ｈｅｌｌｏ", "hello"),
    # pronunciation dictionary
    ("yyds", "永远的神"),
    ("NBA好看", "N B A好看"),
    ("真的nb", "真的牛逼"),
    # markup
    ("@主播 你好", "主播你好"),
    ("#话题# 真好", "话题真好"),
    ("<b>粗体</b>", "粗体"),
    ("C++ and C# are fine", "C++ and C# are fine"),
    # nothing left
    ("😂😂😂", ""),
    ("[doge]", ""),
    ("\u200b\u200b", ""),
    ("。。。", ""),
]


@pytest.mark.parametrize("raw, spoken", CASES)
def test_normalise(raw, spoken):
    """Chat text becomes what a voice can say."""
    assert SPEECH.normalise(raw) == spoken


def test_english_numbers_left_for_the_model_and_default_language():
    """Digits alone follow speech.default_language; in English text they stay digits."""
    en = Speech(SpeechConfig(default_language="en"))
    assert en.normalise("666") == "666"
    assert SPEECH.normalise("666") == "六六六"


def test_user_pronunciations_replace_the_built_in_table():
    """A configured table is used instead of the defaults, case-insensitively, whole words only."""
    speech = Speech(SpeechConfig(pronunciations={"F5": "F five", "up主": "阿婆主"}))
    assert speech.normalise("f5 is here") == "F five is here"
    assert speech.normalise("UP主好") == "阿婆主好"
    assert speech.normalise("yyds") == "yyds"  # not in this table
    assert speech.normalise("f50") == "f50"


def test_link_word_is_configurable():
    """speech.link_word replaces links in Chinese messages."""
    speech = Speech(SpeechConfig(link_word="网址"))
    assert speech.normalise("点 http://x.cn 看看") == "点网址看看"


def _event(**kw) -> ChatEvent:
    return ChatEvent(platform="replay", msg_id="m1", **kw)


@pytest.mark.parametrize("kind, amount, text, spoken", [
    ("chat", 0, "主播好", "阿明说：主播好"),
    ("superchat", 30, "加油", "阿明的醒目留言：加油"),
    ("gift", 1, "投喂了十个辣条", "感谢阿明投喂了十个辣条"),
    ("member", 198, "开通了舰长", "欢迎阿明开通了舰长"),
    ("system", 0, "马上回来", "马上回来"),
])
def test_templates_per_kind(kind, amount, text, spoken):
    """Each kind of message is said with its own template."""
    assert SPEECH.render(_event(text=text, user_name="阿明", kind=kind, amount=amount), text) == spoken


def test_english_messages_use_english_templates():
    """A message without Chinese is announced with the English template."""
    assert SPEECH.render(_event(text="hi", user_name="bob"), "hi") == "bob says: hi"


def test_compact_templates_drop_the_user_name():
    """While a backlog is caught up, chat is read without the user-name prefix."""
    assert SPEECH.render(_event(text="主播好", user_name="阿明"), "主播好", compact=True) == "主播好"


def test_user_names_are_made_sayable():
    """Emoji leave names, digits are read one by one, long names are cut, empty ones are anonymous."""
    speech = Speech(SpeechConfig(user_name_max_chars=6))
    assert speech.render(_event(text="好", user_name="🐱小猫🐱"), "好") == "小猫说：好"
    assert SPEECH.render(_event(text="好", user_name="user123"), "好") == "user一二三说：好"
    assert speech.render(_event(text="好", user_name="一二三四五六七八"), "好") == "一二三四五六说：好"
    assert speech.render(_event(text="好", user_name="😂😂"), "好") == "有人说：好"


def test_amount_placeholder():
    """{amount} is the paid amount, read as a Chinese number."""
    cfg = SpeechConfig()
    cfg = msgspec.structs.replace(cfg, templates=msgspec.structs.replace(cfg.templates,
                                                                         superchat="{user}花{amount}元说：{text}"))
    ev = _event(text="加油", user_name="土豪", kind="superchat", amount=50)
    assert Speech(cfg).render(ev, "加油") == "土豪花五十元说：加油"


@pytest.mark.parametrize("template, problem", [
    ("{user}说：{text}", None),
    ("{name}说", "unknown placeholder {name}"),
    ("{user", "bad template"),
])
def test_template_problems(template, problem):
    """Templates with unknown placeholders or bad braces are reported."""
    found = template_problems(template)
    assert (found is None) if problem is None else (problem in found)
