"""Reading a page is audited once per page view, not once per internal call.

A page (a GET route answering HTML, ``app.web.page_route``) opens a :class:`PageView`
while it runs; its policy gate (``app.web.pages.PageActor``) admits the signed-in actor
to it. While it is open, a unit of work (``app.services.unit``) of that actor that
changed nothing, a read, is folded into the view instead of being written on its own.
After the route returns, and before the page is sent, the view is written as one
``page.view`` entry: its target is the route's path template (never a query value, which
could carry what someone typed), and its details name the permission that admitted it,
every read folded into it (action, target, details) and the names of the query
parameters used.

Writes (anything that changed state), refusals and failures are written on their own, as
everywhere else; a refused page is the refusal's entry alone. A view that failed is
written (outcome ``failed``) only if it holds reads, or if nothing else recorded why.

The view travels in a context variable: the route's thread and its dependencies' threads
each get a copy of the context that holds the same view. A unit of another actor, or a
thread the route starts itself, is not folded (it is written on its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from app.audit.log import AuditLog
from app.auth.actor import Actor
from app.services.context import ServiceContext

__all__ = [
    "MAX_READS",
    "PAGE_VIEW",
    "Fold",
    "PageView",
    "WriteWatch",
    "admit",
    "fold_for",
    "folding_for",
    "open_page_view",
    "record_page_view",
]

PAGE_VIEW = "page.view"
#: Reads kept in one entry; more are counted (a page makes a handful).
MAX_READS = 50

_current: ContextVar[PageView | None] = ContextVar("hsclink_page_view", default=None)


@dataclass
class PageView:
    """One page view: who was admitted, by which permission, and the reads it made."""

    route: str
    #: Names (never values) of the query parameters the route declares and was given.
    query: tuple[str, ...] = ()
    actor: Actor | None = None
    permission: str = "-"
    reads: list[dict[str, Any]] = field(default_factory=list)
    #: A refusal or failure inside the view was written as its own entry.
    recorded_elsewhere: bool = False

    def fold(self, action: str, target: str, details: dict[str, Any]) -> None:
        read: dict[str, Any] = {"action": action, "target": target}
        if details:
            read["details"] = details
        self.reads.append(read)

    def details(self, *, status: int | None, error: str | None) -> dict[str, Any]:
        details: dict[str, Any] = {
            "permission": self.permission,
            "reads": self.reads[:MAX_READS],
        }
        if len(self.reads) > MAX_READS:
            details["more_reads"] = len(self.reads) - MAX_READS
        if self.query:
            details["query"] = list(self.query)
        if status is not None:
            details["status"] = status
        if error is not None:
            details["error"] = error
        return details


@contextmanager
def open_page_view(view: PageView) -> Iterator[PageView]:
    token = _current.set(view)
    try:
        yield view
    finally:
        _current.reset(token)


def admit(actor: Actor, permission: str) -> None:
    """The page's gate let ``actor`` in: reads of theirs now fold into the open view."""
    view = _current.get()
    if view is not None and view.actor is None:
        view.actor, view.permission = actor, permission


def folding_for(actor: Actor) -> PageView | None:
    """The open page view ``actor`` was admitted to, if any."""
    view = _current.get()
    if view is None or view.actor is None or view.actor != actor:
        return None
    return view


class WriteWatch:
    """Whether a session changed anything: a flush, or a statement that is not a SELECT.

    Conservative: a textual statement counts as a write, so at worst a read is written
    on its own rather than folded.
    """

    def __init__(self, session: Session) -> None:
        self.seen = False
        event.listen(session, "after_flush", self._flushed)
        event.listen(session, "do_orm_execute", self._executed)

    def _flushed(self, session: Session, context: UOWTransaction) -> None:
        self.seen = True

    def _executed(self, state: ORMExecuteState) -> None:
        if not state.is_select:
            self.seen = True

    def wrote(self, session: Session) -> bool:
        return self.seen or bool(session.new or session.dirty or session.deleted)


class Fold:
    """One unit of work's way into the open page view: taken only if it changed nothing."""

    def __init__(self, view: PageView, session: Session) -> None:
        self.view = view
        self.session = session
        self.watch = WriteWatch(session)

    def take(self, actor: Actor, action: str, target: str, details: dict[str, Any]) -> bool:
        """Fold the unit into the view (True), or leave it to be written on its own."""
        if self.watch.wrote(self.session) or folding_for(actor) is not self.view:
            return False
        self.view.fold(action, target, details)
        return True

    def recorded_elsewhere(self) -> None:
        self.view.recorded_elsewhere = True


def fold_for(actor: Actor, session: Session) -> Fold | None:
    """A unit of ``actor`` on ``session`` inside a page view they were admitted to."""
    view = folding_for(actor)
    return None if view is None else Fold(view, session)


def record_page_view(
    ctx: ServiceContext, view: PageView, *, status: int | None, error: str | None
) -> None:
    """Write the view's one entry (its own transaction), unless it needs none."""
    if view.actor is None:
        return  # not signed in, or refused at the gate (the refusal is the entry)
    ok = error is None and status is not None and status < 400
    if not ok and not view.reads and view.recorded_elsewhere:
        return
    session = ctx.sessions()
    try:
        AuditLog(session).record(
            view.actor,
            PAGE_VIEW,
            target=view.route,
            outcome="allowed" if ok else "failed",
            details=view.details(status=status, error=error),
        )
        session.commit()
    finally:
        session.close()
