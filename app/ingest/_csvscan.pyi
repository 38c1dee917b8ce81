"""Types of the native extension ``app.ingest._csvscan`` (source: app/ingest/_csvscan.pyx)."""

from typing import Any, Generic, TypeVar

R = TypeVar("R", bound=tuple[Any, ...])

class Scanner(Generic[R]):
    def __init__(self, record: type[R], max_bytes: int, batch: int) -> None: ...
    def scan(
        self, text: str, pos: int, line: int, consumed: int, utf8: bool
    ) -> tuple[list[R], int, int, int]: ...
