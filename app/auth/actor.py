"""Who is acting: a signed-in user, the CLI on the host, the service itself, or nobody."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, replace

__all__ = ["Actor"]


@dataclass(frozen=True)
class Actor:
    """The subject of a policy decision and of an audit entry."""

    name: str
    role: str
    organisation: str
    user_id: int | None = None
    organisation_kind: str = "-"
    request_id: str = "-"

    def with_request(self, request_id: str) -> Actor:
        return replace(self, request_id=request_id)

    @property
    def is_user(self) -> bool:
        return self.user_id is not None

    @classmethod
    def anonymous(cls, request_id: str = "-") -> Actor:
        return cls(name="anonymous", role="none", organisation="-", request_id=request_id)

    @classmethod
    def service(cls) -> Actor:
        return cls(name="hsclink", role="system", organisation="-", request_id="service")

    @classmethod
    def cli(cls) -> Actor:
        """The host operator: whoever can run ``hsclink`` with the service's configuration."""
        try:
            who = getpass.getuser()
        except (KeyError, OSError):  # pragma: no cover - no passwd entry in some containers
            who = "unknown"
        return cls(name=f"cli:{who}", role="operator", organisation="-", request_id="cli")
