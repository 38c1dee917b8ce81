"""Types of the native extension ``app.ingest._kernel`` (source: app/ingest/_kernel.pyx)."""

from collections.abc import Iterable, Sequence
from typing import Any

class RowKernel:
    def __init__(self, **parts: Any) -> None: ...
    def run(
        self, rows: Iterable[Sequence[Any]]
    ) -> tuple[list[tuple[Any, ...]], list[Any], int, list[list[int]]]: ...
    def clear(self) -> None: ...
