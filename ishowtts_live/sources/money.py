"""Money as chat platforms show it, turned into one comparable figure.

``amount_cents`` on a :class:`~ishowtts_live.events.ChatEvent` is in cents of
CNY so that paid-priority rules and minimum-amount filters work across
platforms. The rates below are a static table of approximate mid-2025 market
rates: good enough to rank a ¥30 Super Chat against a $5 one, not accounting.
A currency missing from the table gives 0 (unknown), never a guess.
"""

from __future__ import annotations

import math
import re

# CNY per one unit of the currency (approximate, 2025).
CNY_PER_UNIT: dict[str, float] = {
    "CNY": 1.0, "USD": 7.2, "EUR": 8.2, "GBP": 9.6, "JPY": 0.049, "KRW": 0.0052,
    "TWD": 0.23, "HKD": 0.92, "MOP": 0.89, "SGD": 5.5, "MYR": 1.65, "THB": 0.21,
    "PHP": 0.125, "IDR": 0.00044, "VND": 0.00028, "INR": 0.084, "PKR": 0.026,
    "BDT": 0.059, "AUD": 4.7, "NZD": 4.3, "CAD": 5.2, "MXN": 0.37, "BRL": 1.3,
    "ARS": 0.0062, "CLP": 0.0076, "COP": 0.0017, "PEN": 1.95, "UYU": 0.18,
    "CHF": 8.8, "SEK": 0.74, "NOK": 0.70, "DKK": 1.1, "ISK": 0.055, "PLN": 1.9,
    "CZK": 0.33, "HUF": 0.020, "RON": 1.6, "BGN": 4.2, "RSD": 0.070, "HRK": 1.1,
    "TRY": 0.18, "RUB": 0.090, "UAH": 0.17, "BYN": 2.2, "ILS": 2.0, "SAR": 1.92,
    "AED": 1.96, "QAR": 1.98, "KWD": 23.5, "BHD": 19.1, "OMR": 18.7, "JOD": 10.2,
    "EGP": 0.145, "ZAR": 0.40, "NGN": 0.0046, "KES": 0.056, "MAD": 0.78,
    "GTQ": 0.94, "CRC": 0.014, "DOP": 0.12, "HNL": 0.28, "NIO": 0.20, "PYG": 0.0009,
    "BOB": 1.04, "GEL": 2.6,
}

# Twitch: one Bit is worth one US cent to the streamer.
CNY_PER_BIT = CNY_PER_UNIT["USD"] / 100.0

# Symbols as YouTube writes them in purchaseAmountText, longest first where
# one is a prefix of another ("$" vs "CA$"). Three-letter ISO codes are
# recognised without a table entry.
SYMBOLS: dict[str, str] = {
    "US$": "USD", "CA$": "CAD", "A$": "AUD", "AU$": "AUD", "NZ$": "NZD", "HK$": "HKD",
    "NT$": "TWD", "MX$": "MXN", "R$": "BRL", "S$": "SGD", "CN¥": "CNY", "RMB": "CNY",
    "$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "￥": "JPY", "₩": "KRW", "￦": "KRW",
    "₹": "INR", "₱": "PHP", "₫": "VND", "₪": "ILS", "฿": "THB", "₺": "TRY", "₽": "RUB",
    "₴": "UAH", "zł": "PLN", "Kč": "CZK", "Ft": "HUF", "kr": "SEK", "RM": "MYR", "Rp": "IDR",
    "R": "ZAR", "E£": "EGP", "₦": "NGN", "₡": "CRC",
}

_NUMBER = re.compile(r"\d[\d.,\u00a0\u202f' ]*")


def cny_cents(amount: float, currency: str) -> int:
    """``amount`` of ``currency`` in cents of CNY, or 0 when the rate is unknown."""
    rate = CNY_PER_UNIT.get(currency.upper())
    if rate is None or not math.isfinite(amount) or amount <= 0:
        return 0
    return int(round(amount * rate * 100))


def bits_to_cny_cents(bits: int) -> int:
    return int(round(max(bits, 0) * CNY_PER_BIT * 100))


def _number(text: str) -> float | None:
    """A displayed number: '1,234.50', '1.234,50', '5,00', '1 000', '¥1,000'."""
    digits = re.sub(r"[\u00a0\u202f' ]", "", text).strip(".,")
    if not digits:
        return None
    last_dot, last_comma = digits.rfind("."), digits.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        decimal = "." if last_dot > last_comma else ","
    elif last_comma >= 0:
        # one comma followed by exactly 1–2 digits reads as a decimal comma
        tail = digits[last_comma + 1:]
        decimal = "," if digits.count(",") == 1 and 1 <= len(tail) <= 2 else ""
    elif last_dot >= 0:
        tail = digits[last_dot + 1:]
        decimal = "." if digits.count(".") == 1 and len(tail) != 3 else ""
    else:
        decimal = ""
    if decimal:
        whole, _, frac = digits.rpartition(decimal)
        whole = re.sub(r"[.,]", "", whole)
        digits = f"{whole or '0'}.{frac}"
    else:
        digits = re.sub(r"[.,]", "", digits)
    try:
        value = float(digits)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_amount_text(text: str) -> tuple[float, str]:
    """('$5.00' → (5.0, 'USD')), ('1.000 ¥' → (1000.0, 'JPY')), ('PLN 10,50' → (10.5, 'PLN')).

    Returns (0.0, '') when no number is found; the currency is '' when the
    symbol is not known (the amount is still returned).
    """
    if not isinstance(text, str) or len(text) > 64:
        return 0.0, ""
    match = _NUMBER.search(text)
    if match is None:
        return 0.0, ""
    amount = _number(match.group(0))
    if amount is None:
        return 0.0, ""
    symbol = (text[: match.start()] + " " + text[match.end():]).strip()
    return amount, _currency(symbol)


def _currency(symbol: str) -> str:
    if not symbol:
        return ""
    if symbol in SYMBOLS:
        return SYMBOLS[symbol]
    code = symbol.upper()
    if re.fullmatch(r"[A-Z]{3}", code):
        return code
    for known, iso in SYMBOLS.items():
        if symbol.startswith(known) or symbol.endswith(known):
            return iso
    return ""
