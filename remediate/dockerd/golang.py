"""Go's text formats, so that predicted dockerd messages read exactly like the real ones.

dockerd formats values with fmt's %v and %q, and encoding/json quotes the
offending byte with its own quoteChar; these helpers reproduce them.
"""

from __future__ import annotations

import math
import unicodedata
from decimal import Decimal

_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v"}


def _printable(ch: str) -> bool:
    """strconv.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def _escape(text: str, quote: str) -> str:
    out = []
    for ch in text:
        if ch in (quote, "\\"):
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif _printable(ch):
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def go_quote(text: str) -> str:
    """fmt's %q of a string (strconv.Quote)."""
    return '"' + _escape(text, '"') + '"'


def quote_char(byte: int) -> str:
    """encoding/json's quoteChar: the byte read as a code point, in single quotes."""
    ch = chr(byte)
    if ch == "'":
        return r"'\''"
    if ch == '"':
        return "'\"'"
    return "'" + _escape(ch, '"') + "'"


def go_float(x: float) -> str:
    """fmt's %v of a float64: the shortest digits, exponent form from 1e+06 and below 1e-04."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if math.copysign(1, x) < 0 else "0"
    sign = "-" if x < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(x))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    point = len(digit_tuple) + exponent
    exp = point - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def go_value(value) -> str:
    """fmt's %v of a value that encoding/json decoded into an interface{}."""
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        try:
            return go_float(float(value))
        except OverflowError:
            return str(value)
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def parse_bool(text: str) -> bool | None:
    """strconv.ParseBool; None when Go would refuse the text."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None
