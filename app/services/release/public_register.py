"""The public release register: what has been released, for anyone, without signing in.

An IG officer switches it on or off (``register.configure``, audited; each switching is
kept in ``release_register_switches``). While it is off, it does not exist: 404. While
it is on, it lists each release (charged and answered; not repeats, failures or
refusals) by its plain-English question, date, project and epsilon, and shows an answer
only where an IG officer has marked that release published. Nothing else: no analyst,
no structured query, no plan, no snapshot.

Each view is audited as ``anonymous`` (``register.view``) and limited per address like
failed sign-ins: at most ``HSCLINK_PUBLIC_REGISTER_MAX_VIEWS`` (300) views in
``HSCLINK_LOGIN_WINDOW_SECONDS`` (views are counted in ``release_register_views`` and
forgotten after the window).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.db.base import utcnow
from app.db.models import RegisterEntry, RegisterSwitch, RegisterView, Release
from app.errors import NotFound, RateLimited
from app.services.context import ServiceContext
from app.services.release.records import entry_views
from app.services.release.register import MAX_PAGE, Answer, answer_of
from app.services.unit import unit_of_work
from privacy.release import build_catalogue

__all__ = [
    "PublicEntry",
    "PublicPage",
    "RegisterState",
    "configure",
    "public_releases",
    "register_state",
]


@dataclass(frozen=True)
class RegisterState:
    """Whether the public register is on, who last switched it and when."""

    public: bool
    set_by: str | None
    set_at: datetime | None


def _state(session: Session) -> RegisterState:
    latest = session.scalar(select(RegisterSwitch).order_by(RegisterSwitch.id.desc()).limit(1))
    if latest is None:
        return RegisterState(False, None, None)
    return RegisterState(latest.public, latest.set_by, latest.set_at)


def register_state(ctx: ServiceContext) -> RegisterState:
    """The switch as it stands (no audit entry: what a page shows beside its own reads)."""
    with ctx.reads() as session:
        return _state(session)


def configure(ctx: ServiceContext, *, actor: Actor, public: bool) -> RegisterState:
    """Switch the public register on or off (IG officers; audited, and kept)."""
    with unit_of_work(ctx, actor, "register.configure", target="register") as uow:
        was = _state(uow.session)
        switch = RegisterSwitch(public=public, set_by=actor.name[:120], set_at=utcnow())
        uow.session.add(switch)
        uow.details = {"public": public, "was_public": was.public}
        return RegisterState(public, switch.set_by, switch.set_at)


@dataclass(frozen=True)
class PublicEntry:
    """One release as the public register shows it."""

    id: int
    released_at: datetime
    project: str | None
    question: str
    epsilon: float
    #: The answer, only if an IG officer marked it published.
    answer: Answer | None


@dataclass(frozen=True)
class PublicPage:
    entries: list[PublicEntry]
    #: The id to ask for older entries (``before_id``), or None at the end.
    next_before: int | None


def public_releases(
    ctx: ServiceContext,
    *,
    address: str,
    request_id: str,
    before_id: int | None = None,
    limit: int = 50,
) -> PublicPage:
    """Released questions, newest first; NotFound while the register is off; RateLimited
    past ``public_register_max_views`` views from one address in the window."""
    anonymous = Actor.anonymous(request_id)
    address = address[:64]
    since = utcnow() - timedelta(seconds=ctx.settings.login_window_seconds)
    with ctx.sessions() as session, session.begin():  # counts only matter in the window
        session.execute(delete(RegisterView).where(RegisterView.at <= since))
    with unit_of_work(ctx, anonymous, "register.view", target="register") as uow:
        session = uow.session
        seen = session.scalar(
            select(func.count())
            .select_from(RegisterView)
            .where(RegisterView.address == address, RegisterView.at > since)
        )
        if (seen or 0) >= ctx.settings.public_register_max_views:
            uow.details = {"reason": "address_rate_limited"}
            raise RateLimited(
                "too many views of the register; try again later",
                ctx.settings.login_window_seconds,
            )
        view = RegisterView(address=address, at=utcnow())
        uow.keep_on_failure(view)  # a view of a register that is off counts too
        session.add(view)
        if not _state(session).public:
            raise NotFound("there is no public register")
        limit = max(1, min(limit, MAX_PAGE))
        query = select(RegisterEntry).where(RegisterEntry.status == "released")
        if before_id is not None:
            query = query.where(RegisterEntry.id < before_id)
        rows = list(session.scalars(query.order_by(RegisterEntry.id.desc()).limit(limit + 1)))
        shown = rows[:limit]
        views = entry_views(session, shown, build_catalogue(ctx.policy.rules.release_policy))
        releases = {
            r.id: r
            for r in session.scalars(
                select(Release).where(
                    Release.id.in_([e.release_id for e in shown if e.published_at is not None])
                )
            )
        }
        entries = [
            PublicEntry(
                id=v.id,
                released_at=v.released_at or v.occurred_at,
                project=v.project,
                question=v.question,
                epsilon=v.epsilon,
                answer=answer_of(releases.get(v.release_id or 0)) if v.published else None,
            )
            for v in views
        ]
        uow.details = {"entries": len(entries)}
        return PublicPage(entries, shown[-1].id if len(rows) > limit else None)
