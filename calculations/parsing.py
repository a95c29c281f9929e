"""Turn the text a person types ("39, 4, 6, 32") into a list of whole numbers.

Decisions, stricter than Python's int() on purpose so that every accepted text means one
thing to a reader:
- numbers are separated by commas and/or white space; blank entries between commas are
  ignored ("4,,6" is 4 and 6); spaces around a number are ignored (" 7 " is 7);
- a number is ASCII digits 0-9 only, leading zeros allowed ("007" is 7);
- refused, each with a message naming it: signs ("+5", "-1", "-0"), underscores ("1_000"),
  decimal points and exponents ("1.5", "1e6"), hexadecimal ("0x10"), and non-ASCII digits
  such as full-width "５" or Arabic-Indic "٥", which int() would quietly accept;
- any other separator (";", "|", "/") makes the entry containing it invalid.
"""

import re

from django.core.exceptions import ValidationError

_SEPARATORS = re.compile(r"[,\s]+")
_ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)
# More digits than any bound can allow: refused before int() is asked to read them.
MAX_DIGITS_PER_NUMBER = 30
_MAX_SHOWN = 20


def _describe(token: str) -> str:
    shown = token if len(token) <= _MAX_SHOWN else token[:_MAX_SHOWN] + "…"
    if token[0] in "+-" and _ASCII_DIGITS.fullmatch(token[1:]):
        reason = "write it without a sign"
    elif any(ch.isdigit() for ch in token) and not token.isascii():
        reason = "use the digits 0-9 only"
    else:
        reason = "it is not a whole number"
    return f"“{shown}”: {reason}"


def parse_numbers(text: str) -> list[int]:
    """Return the numbers in `text`, or raise ValidationError listing every bad entry."""
    tokens = [token for token in _SEPARATORS.split(text) if token]
    if not tokens:
        raise ValidationError("Enter at least one number, e.g. 39, 4, 6, 32.", code="empty")
    bad = [token for token in tokens if not _ASCII_DIGITS.fullmatch(token)]
    if bad:
        details = "; ".join(_describe(token) for token in bad[:3])
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        raise ValidationError(
            f"Enter whole numbers separated by commas or spaces. {details}{more}.",
            code="invalid",
        )
    too_long = [token for token in tokens if len(token.lstrip("0")) > MAX_DIGITS_PER_NUMBER]
    if too_long:
        raise ValidationError(
            f"{len(too_long[0]):,}-digit number: far above the largest allowed input.",
            code="out_of_range",
        )
    return [int(token) for token in tokens]
