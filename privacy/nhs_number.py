"""NHS numbers: ten ASCII digits, the last a Modulus 11 check digit over the first nine.

The check is the NHS Data Dictionary's: multiply the first nine digits by the weights
10, 9, ..., 2, sum, and take ``11 - (sum % 11)``; a result of 11 means a check digit of
0 and a result of 10 means the number can never be valid. On top of that, numbers made
of one repeated digit (``0000000000``, ``1111111111`` ...) are refused: several pass the
arithmetic but are placeholders that systems use for "unknown", and linking on them would
join unrelated people.

Nothing here raises on bad input, and nothing ever echoes the input: an invalid number is
simply ``None``.
"""

from __future__ import annotations

import operator

__all__ = ["nhs_check_digit", "nhs_number"]

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
# Hyphen-minus plus the dash look-alikes that spreadsheets and word processors produce.
_DASHES = dict.fromkeys(map(ord, "-\u2010\u2011\u2012\u2013\u2014\u2212"), None)
_ZERO = ord("0")
_ZERO_OFFSET = _ZERO * sum(_WEIGHTS)  # the weighted sum of the ASCII codes' "0" part


def nhs_check_digit(first_nine: str) -> int | None:
    """The Modulus 11 check digit for nine ASCII digits, or None if no digit can be valid.

    ``None`` is returned both when ``first_nine`` is not exactly nine ASCII digits and when
    the arithmetic gives 10 (such prefixes are never issued). Useful for building
    synthetic numbers that validate.
    """
    if len(first_nine) != 9 or not first_nine.isascii() or not first_nine.isdigit():
        return None
    return _check(first_nine)


def _check(first_nine: str) -> int | None:
    # Weighted sum over the ASCII codes, less the codes' share of "0": fast and exact.
    total = sum(map(operator.mul, _WEIGHTS, first_nine.encode("ascii"))) - _ZERO_OFFSET
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def nhs_number(raw: str) -> str | None:
    """The ten-digit NHS number in ``raw``, or None if it is missing or invalid.

    Spaces, other whitespace and dashes anywhere are ignored (``"943 476 5919"``,
    ``"943-476-5919"``). The result always has exactly ten ASCII digits, passes the
    Modulus 11 check and is not one digit repeated.
    """
    digits = "".join(raw.split()).replace("-", "")
    if not digits.isascii():
        digits = digits.translate(_DASHES)
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        return None
    if digits == digits[0] * 10:
        return None
    if _check(digits[:9]) != ord(digits[9]) - _ZERO:
        return None
    return digits
