"""Chat text as a voice should say it: ``Speech.normalise`` (idempotent, never
raises) and ``Speech.render`` (the speaking template for the message's kind).

Order matters for idempotence: the language is decided after the
pronunciation dictionary (a reading may turn Latin slang into Chinese), and
spaces between Chinese characters are closed before repeats are collapsed (so
"哈哈 哈哈" cannot turn into a run on a second pass).
"""

from __future__ import annotations

import re
import string
from typing import Mapping

from ishowtts_live.events import ChatEvent
from ishowtts_live.filters import numbers, text as cleanup
from ishowtts_live.filters.chars import clean, language_of

PLACEHOLDERS = frozenset({"user", "text", "amount"})


def template_problems(template: str) -> str | None:
    """Why ``template`` cannot be used (unknown placeholder, bad braces), or None."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        return f"bad template {template!r}: {exc}"
    unknown = sorted({f for f in fields if f not in PLACEHOLDERS})
    if unknown:
        allowed = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
        return f"unknown placeholder {{{unknown[0]}}} in {template!r} (allowed: {allowed})"
    return None


class Pronunciations:
    """The user's dictionary: word → reading, case-insensitive, longest word
    first; Latin words only as whole words ("nb" is not replaced in "nba")."""

    def __init__(self, table: Mapping[str, str]):
        entries = {clean(k).casefold(): clean(v) for k, v in table.items() if clean(k).strip()}
        self.table = entries
        if not entries:
            self._re = None
            return
        parts = []
        for word in sorted(entries, key=len, reverse=True):
            # A letter at the edge must not touch another letter, a digit not
            # another letter or digit. Digits next to a letter ("666nb") do not
            # block a match: they are read as Chinese later, and the word must
            # match the same way before and after that.
            pat = re.escape(word)
            if word[0].isascii() and word[0].isalnum():
                pat = (r"(?<![A-Za-z])" if word[0].isalpha() else r"(?<![A-Za-z0-9])") + pat
            if word[-1].isascii() and word[-1].isalnum():
                pat += r"(?![A-Za-z])" if word[-1].isalpha() else r"(?![A-Za-z0-9])"
            parts.append(pat)
        self._re = re.compile("|".join(parts), re.IGNORECASE)

    def apply(self, text: str) -> str:
        if self._re is None:
            return text
        return self._re.sub(lambda m: self.table.get(m.group().casefold(), m.group()), text)


class Speech:
    """Built from ``[speech]``; shared by the filter chain and ``listen``."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.pronunciations = Pronunciations(cfg.pronunciations)

    # ------------------------------------------------------------------ text

    def language(self, text: str) -> str:
        return language_of(text, self.cfg.default_language)

    def normalise(self, text: str) -> str:
        """Chat text → what the voice says; "" when nothing speakable is left.
        Idempotent: the steps are built so a second pass changes nothing, and
        as a guard against an input that completes a new pattern only after a
        step (fuzzing found a few), the result is passed again until stable."""
        out = self._normalise_once(text)
        for _ in range(2):
            again = self._normalise_once(out)
            if again == out:
                break
            out = again
        return out

    def _normalise_once(self, text: str) -> str:
        cfg = self.cfg
        out = clean(text)
        lang = self.language(out)
        link_word = cfg.link_word if lang == "zh" else cfg.link_word_en
        out = cleanup.replace_links(out, link_word)
        # again: an emote glued to a link ("x.tv[doge]") hides it until removed
        out = cleanup.replace_links(cleanup.remove_emotes(out), link_word)
        out = self.pronunciations.apply(out)
        out = numbers.collapse_digit_memes(out)
        if cfg.chinese_numbers and self.language(out) == "zh":
            out = numbers.numbers_to_chinese(out)
        # after the dictionary and the numbers: both change what a "#" or "@"
        # is glued to ("1W#" → "一万#")
        out = cleanup.strip_markup(out)
        out = cleanup.tidy_spaces(out)
        out = cleanup.collapse_repeats(out, cfg.max_repeat)
        if cfg.spell_acronyms:
            out = cleanup.spell_acronyms(out)
        out = cleanup.chinese_punctuation(cleanup.tidy_spaces(out))
        return out if cleanup.has_words(out) else ""

    def user_name(self, name: str, lang: str) -> str:
        """A display name made sayable and short: emoji gone, digits read one by one."""
        out = cleanup.tidy_spaces(cleanup.remove_emotes(clean(name[:64])))
        out = out[: self.cfg.user_name_max_chars].strip()
        if lang == "zh" and self.cfg.chinese_numbers:
            out = numbers.digits_to_chinese(out)
        return out if cleanup.has_words(out) else ""

    # ------------------------------------------------------------------ templates

    def render(self, event: ChatEvent, text: str, *, compact: bool = False) -> str:
        """``text`` (already normalised) inside the template for the event's kind."""
        lang = self.language(text) if text else self.cfg.default_language
        if compact:
            templates = self.cfg.compact_templates
        elif lang == "en":
            templates = self.cfg.templates_en
        else:
            templates = self.cfg.templates
        template = getattr(templates, event.kind, "{text}")
        user = self.user_name(event.user_name or event.user_id, lang) or self.cfg.anonymous
        if lang == "zh" and self.cfg.chinese_numbers:
            amount = numbers.read_amount(event.amount)
        else:
            amount = f"{event.amount:g}"
        try:
            spoken = template.format_map({"user": user, "text": text, "amount": amount})
        except (KeyError, ValueError, IndexError, AttributeError):
            # config checks reject such templates; a chain built by hand still speaks
            spoken = text
        return cleanup.tidy_spaces(spoken)
