"""Types of the native extension ``app.ingest._kernel`` (source: app/ingest/_kernel.pyx)."""

from collections.abc import Iterable
from typing import Any

class RowKernel:
    def __init__(self, **parts: Any) -> None: ...
    def run(
        self, rows: Iterable[tuple[int, list[str]]]
    ) -> tuple[list[tuple[Any, ...]], list[Any], int, list[list[int]]]: ...
    def clear(self) -> None: ...
