"""Types of the native extension ``app.db._copy`` (source: app/db/_copy.pyx)."""

from collections.abc import Iterable, Sequence
from typing import Any

KINDS: dict[str, int]
HEADER: bytes
TRAILER: bytes

def binary_copy(
    rows: Iterable[Sequence[Any]],
    kinds: Sequence[int],
    names: Sequence[str],
    *,
    framed: bool = True,
) -> bytes: ...
