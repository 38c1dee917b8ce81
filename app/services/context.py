"""What every use case needs, built once at start-up (by the app factory or the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from app.config import Settings
from app.db.engine import (
    SessionFactory,
    make_engine,
    make_read_session_factory,
    make_session_factory,
)
from app.keys.custody import KeyCustody, open_custody
from app.policy.engine import PolicySet, load_policy_set

__all__ = ["ServiceContext"]


@dataclass
class ServiceContext:
    settings: Settings
    engine: Engine
    sessions: SessionFactory
    #: Read-only sessions: never hold SQLite's write lock (verification, exports, proofs).
    reads: SessionFactory
    policy: PolicySet
    _master: KeyCustody | None = field(default=None, repr=False)
    #: In-memory caches shared by requests (e.g. the linked data of the snapshot queried).
    caches: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, settings: Settings) -> ServiceContext:
        # Every process (service, CLI, jobs) refuses what production forbids, e.g. a key file.
        settings.check_safe_for_environment()
        engine = make_engine(settings)
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            reads=make_read_session_factory(engine),
            policy=load_policy_set(settings.policy_dir),
        )

    @property
    def master_key(self) -> KeyCustody:
        """Whatever holds the key-encryption key (HSM or key file), opened on first use
        and kept: the HSM's session and the data keys it unwrapped live as long as this."""
        if self._master is None:
            self._master = open_custody(self.settings)
        return self._master

    def close(self) -> None:
        if self._master is not None:
            self._master.close()
            self._master = None
        self.engine.dispose()
