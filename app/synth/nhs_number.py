"""Synthetic NHS numbers: valid by Modulus 11, unique without a lookup table, and mistyped.

A number is nine digits and a check digit: weights 10..2 on the nine, check =
11 - (sum mod 11), 11 becomes 0 and 10 means the body is never issued. The full
weighted sum (check digit weight 1) is then 0 mod 11, so changing any one digit,
or swapping two adjacent different digits, always breaks the check: a mistyped
number is always detectably invalid.

Uniqueness comes from a keyed permutation (a small Feistel network with cycle
walking) of the person's index, so memory does not grow with the population.
Bodies start with 4, 6 or 9, like issued English numbers; they are random, so
any resemblance to a real person's number carries no information about them.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.synth.draws import Draws

__all__ = ["NhsNumberIssuer", "check_digit", "is_valid_nhs_number", "mistype"]

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_PREFIXES = (4, 6, 9)
_DOMAIN = len(_PREFIXES) * 10**8
#: The permutation works on 29 bits (2**29 > _DOMAIN) as a 14-bit and a 15-bit half.
_LEFT_BITS, _RIGHT_BITS = 14, 15
_LEFT_MASK, _RIGHT_MASK = (1 << _LEFT_BITS) - 1, (1 << _RIGHT_BITS) - 1
_ROUNDS = 4
#: Candidate slots per person: all of them having check 10 has probability 11**-16.
_SLOTS = 16


def check_digit(body: str) -> int | None:
    """The check digit for nine digits, or None when the body is never issued."""
    if len(body) != 9 or not body.isdigit():
        raise ValueError("an NHS number body is nine digits")
    return _check_of(int(body))


def _chunk_sums(weights: tuple[int, ...]) -> tuple[int, ...]:
    """Weighted digit sums of every three-digit chunk 000..999."""
    return tuple(
        sum(w * int(d) for w, d in zip(weights, f"{n:03d}", strict=True)) for n in range(1000)
    )


_HIGH, _MIDDLE, _LOW = (_chunk_sums(_WEIGHTS[i : i + 3]) for i in (0, 3, 6))


def _check_of(body: int) -> int | None:
    high, rest = divmod(body, 1_000_000)
    middle, low = divmod(rest, 1000)
    check = 11 - (_HIGH[high] + _MIDDLE[middle] + _LOW[low]) % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def is_valid_nhs_number(text: str) -> bool:
    """Ten digits whose last is the Modulus 11 check digit of the first nine."""
    if len(text) != 10 or not text.isdigit():
        return False
    return _check_of(int(text[:9])) == int(text[9])


def _mix(value: int, key: int) -> int:
    h = (value * 0x9E3779B1 + key) & 0xFFFFFFFF
    h ^= h >> 15
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    return h ^ (h >> 13)


@dataclass(frozen=True)
class NhsNumberIssuer:
    """Issues the i-th person's NHS number; distinct indexes give distinct numbers."""

    keys: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.keys) != _ROUNDS or any(not 0 <= k < 2**32 for k in self.keys):
            raise ValueError(f"an issuer needs {_ROUNDS} 32-bit round keys")

    @classmethod
    def draw(cls, draws: Draws) -> NhsNumberIssuer:
        return cls(tuple(draws.below(2**32) for _ in range(_ROUNDS)))

    @staticmethod
    def capacity() -> int:
        """How many people one issuer can number."""
        return _DOMAIN // _SLOTS

    def _permute(self, value: int) -> int:
        """A bijection of [0, _DOMAIN): four unbalanced Feistel rounds, cycle-walked."""
        k0, k1, k2, k3 = self.keys
        while True:
            left, right = value >> _RIGHT_BITS, value & _RIGHT_MASK
            left ^= _mix(right, k0) & _LEFT_MASK
            right ^= _mix(left, k1) & _RIGHT_MASK
            left ^= _mix(right, k2) & _LEFT_MASK
            right ^= _mix(left, k3) & _RIGHT_MASK
            value = (left << _RIGHT_BITS) | right
            if value < _DOMAIN:
                return value

    def issue(self, index: int) -> str:
        if not 0 <= index < self.capacity():
            raise ValueError("person index outside the issuer's capacity")
        for slot in range(_SLOTS):
            value = self._permute(index * _SLOTS + slot)
            body = _PREFIXES[value // 10**8] * 10**8 + value % 10**8
            check = _check_of(body)
            if check is not None:
                return f"{body:09d}{check}"
        raise AssertionError(
            "unreachable: sixteen never-issued bodies in a row"
        )  # pragma: no cover - probability 11**-16


def mistype(number: str, draws: Draws) -> str:
    """One keying error: a digit changed, or two adjacent different digits swapped."""
    digits = list(number)
    swappable = [i for i in range(len(digits) - 1) if digits[i] != digits[i + 1]]
    if swappable and draws.chance(0.35):
        i = draws.pick(swappable)
        digits[i], digits[i + 1] = digits[i + 1], digits[i]
    else:
        i = draws.below(len(digits))
        digits[i] = str((int(digits[i]) + draws.between(1, 9)) % 10)
    return "".join(digits)
