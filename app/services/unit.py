"""A unit of work: one transaction, one audit entry, whatever happens.

On success the entry (outcome ``allowed``) is written in the same transaction as
the work, so if the audit write fails the work is rolled back too. On a domain
error the work is rolled back and a ``refused`` or ``failed`` entry is committed on
its own, then the error propagates. Objects passed to :meth:`keep_on_failure`
are written with that entry (for example the failed-login counter).

Inside a page view (``app.services.page_view``), a unit of the admitted actor that
changed nothing is folded into the view's one entry instead of being written itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from app.audit.log import AuditLog
from app.auth.actor import Actor
from app.errors import (
    BudgetExhausted,
    CsrfFailed,
    HsclinkError,
    NotAuthenticated,
    PermissionDenied,
    RateLimited,
)
from app.keys.store import DatabaseKeyStore
from app.policy.engine import Resource
from app.services import page_view
from app.services.context import ServiceContext

__all__ = ["UnitOfWork", "unit_of_work"]

_REFUSALS = (PermissionDenied, NotAuthenticated, RateLimited, CsrfFailed, BudgetExhausted)


class UnitOfWork:
    def __init__(self, ctx: ServiceContext, session: Session, actor: Actor, action: str) -> None:
        self.ctx = ctx
        self.session = session
        self.actor = actor
        self.action = action
        self.target = "-"
        self.details: dict[str, Any] = {}
        self._kept: list[object] = []

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.session)

    @property
    def keys(self) -> DatabaseKeyStore:
        return DatabaseKeyStore(self.session, self.ctx.master_key)

    def authorize(self, resource: Resource) -> None:
        """Ask the policy decision point about this unit's action on ``resource``."""
        if not self.ctx.policy.decide(self.actor, self.action, resource).allowed:
            raise PermissionDenied("the policy in force does not permit this action")

    def keep_on_failure(self, obj: object) -> None:
        self._kept.append(obj)


@contextmanager
def unit_of_work(
    ctx: ServiceContext, actor: Actor, action: str, *, target: str = "-"
) -> Iterator[UnitOfWork]:
    session = ctx.sessions()
    uow = UnitOfWork(ctx, session, actor, action)
    uow.target = target
    fold = page_view.fold_for(actor, session)
    try:
        yield uow
        if fold is None or not fold.take(uow.actor, action, uow.target, uow.details):
            uow.audit.record(uow.actor, action, target=uow.target, details=uow.details)
        session.commit()
    except HsclinkError as error:
        session.rollback()
        outcome = "refused" if isinstance(error, _REFUSALS) else "failed"
        for obj in uow._kept:
            session.add(obj)
        details = {**uow.details, "error": type(error).__name__}
        uow.audit.record(uow.actor, action, target=uow.target, outcome=outcome, details=details)
        session.commit()
        if fold is not None:
            fold.recorded_elsewhere()
        raise
    except Exception:
        session.rollback()
        _record_internal_failure(uow)
        if fold is not None:
            fold.recorded_elsewhere()
        raise
    finally:
        session.close()


def _record_internal_failure(uow: UnitOfWork) -> None:
    """Best effort: an unexpected error is audited too, unless the audit log itself failed."""
    try:
        uow.audit.record(
            uow.actor,
            uow.action,
            target=uow.target,
            outcome="failed",
            details={"error": "internal"},
        )
        uow.session.commit()
    except Exception:
        uow.session.rollback()
