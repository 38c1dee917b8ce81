"""Every route of the OpenAPI schema, for every role and every kind of bad credential.

``ROUTES`` is the documented allowed set (SECURITY.md, "Policy model"). A route that is
in the schema but not in this table fails ``test_every_route_is_in_the_table``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from app.auth.actor import Actor
from app.auth.secrets import hash_secret
from app.db.base import utcnow
from app.db.models import ApiToken, AuditEvent
from app.services import audit, identity
from app.services.context import ServiceContext

ALL = frozenset({"analyst", "ig_officer", "submitter", "operator"})
PUBLIC = "public"
_counter = itertools.count()


@dataclass(frozen=True)
class Call:
    allowed: frozenset[str] | str
    ok_status: int = 200
    make: Callable[[ServiceContext], dict[str, Any]] = field(default=lambda ctx: {})
    #: Waits for work the call started in the background (a linkage run) to finish.
    settle: Callable[[ServiceContext], None] = field(default=lambda ctx: None)


def _victim(ctx: ServiceContext) -> str:
    name = f"victim{next(_counter)}"
    identity.create_user(ctx, actor=Actor.cli(), username=name, role="analyst", organisation="RAL")
    return name


def _victim_token(ctx: ServiceContext) -> int:
    return identity.issue_token(ctx, actor=Actor.cli(), username=_victim(ctx)).id


_EXTRACT = (
    b"nhs_number,given_name,family_name,date_of_birth,sex,postcode,episode_id,"
    b"admission_date,discharge_date,admission_method,primary_diagnosis,provider_code\n"
    b"9434765919,Ann,Lee,01/02/1950,2,SW1A 1AA,EP1,2025-05-01,2025-05-03,21,I50.9,RAL\n"
)


def _submission(ctx: ServiceContext) -> int:
    """A fresh submission of the test submitter's organisation (RAL)."""
    from app.db.models import User
    from app.services import ingest

    with ctx.sessions() as session:
        user = session.scalars(select(User).where(User.username == "test.submitter")).one()
        actor = identity.actor_for(user)
    created = ingest.create_submission(
        ctx, actor=actor, schema_name="nhs_episodes", upload_length=len(_EXTRACT)
    )
    return created.id


def _snapshot(ctx: ServiceContext) -> dict[str, Any]:
    """A linkage snapshot (of whatever records there are), made by a real run."""
    from app.services import linkage

    run = linkage.start_run(ctx, actor=Actor.cli())
    view = linkage.execute_run(ctx, run.id)
    assert view.snapshot_id is not None, view.problem
    return {"path": {"snapshot_id": view.snapshot_id, "run_id": run.id}}


def _query(ctx: ServiceContext) -> dict[str, Any]:
    """A linkage snapshot and a budget for the test analyst: a query can be answered."""
    from app.services.release import budgets

    _snapshot(ctx)
    budgets.set_budget(
        ctx,
        actor=Actor.cli(),
        kind="analyst",
        subject="test.analyst",
        total=1,
        today=date.today(),
    )
    query = {"measure": {"kind": "persons"}, "group_by": ["sex"], "epsilon": 0.1}
    return {"json": {"query": query}}


def _project_member(ctx: ServiceContext) -> dict[str, Any]:
    from app.services.release import budgets

    code = f"P{next(_counter)}"
    budgets.create_project(ctx, actor=Actor.cli(), code=code, name="Discharge to assess")
    return {"path": {"code": code}, "json": {"username": "test.analyst"}}


def _release(ctx: ServiceContext) -> dict[str, Any]:
    """A release by the test analyst: its register entry's id (as ``path``)."""
    from app.db.models import RegisterEntry, User
    from app.services.release import queries

    request = _query(ctx)
    with ctx.sessions() as session:
        user = session.scalars(select(User).where(User.username == "test.analyst")).one()
        analyst = identity.actor_for(user)
    query = {**request["json"]["query"], "epsilon": 0.001 * (1 + next(_counter) % 500)}
    queries.run_query(ctx, actor=analyst, query=query, today=date.today())
    with ctx.sessions() as session:
        entry_id = session.scalars(
            select(RegisterEntry.id).order_by(RegisterEntry.id.desc()).limit(1)
        ).one()
    return {"path": {"entry_id": entry_id}}


def _public_register(ctx: ServiceContext) -> dict[str, Any]:
    """The public register, switched on by the service (as an IG officer would)."""
    from app.services.release import public_register

    public_register.configure(ctx, actor=Actor.service(), public=True)
    return {}


def _no_active_run(ctx: ServiceContext) -> None:
    from app.db.models import LinkageRun

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with ctx.sessions() as session:
            if session.scalar(select(LinkageRun.id).where(LinkageRun.active == 1)) is None:
                return
        time.sleep(0.05)
    raise AssertionError("the linkage run did not finish")


def _consistency_request(ctx: ServiceContext) -> dict[str, Any]:
    first = audit.sign_head_if_grown(ctx)
    identity.list_organisations(ctx, actor=Actor.cli())
    second = audit.sign_head_if_grown(ctx)
    assert first and second
    return {"params": {"first": first, "second": second}}


ROUTES: dict[tuple[str, str], Call] = {
    ("GET", "/health"): Call(PUBLIC),
    ("GET", "/api/v1/me"): Call(ALL),
    ("GET", "/api/v1/organisations"): Call(frozenset({"ig_officer", "operator"})),
    ("POST", "/api/v1/organisations"): Call(
        frozenset({"operator"}),
        201,
        lambda ctx: {
            "json": {"code": f"ORG{next(_counter)}", "name": "A council", "kind": "council"}
        },
    ),
    ("GET", "/api/v1/users"): Call(frozenset({"ig_officer", "operator"})),
    ("POST", "/api/v1/users"): Call(
        frozenset({"operator"}),
        201,
        lambda ctx: {
            "json": {"username": f"new{next(_counter)}", "role": "analyst", "organisation": "RAL"}
        },
    ),
    ("POST", "/api/v1/users/{username}/disable"): Call(
        frozenset({"operator"}), 200, lambda ctx: {"path": {"username": _victim(ctx)}}
    ),
    ("POST", "/api/v1/users/{username}/tokens"): Call(
        frozenset({"operator"}),
        201,
        lambda ctx: {"path": {"username": _victim(ctx)}, "json": {"label": "ci", "days": 7}},
    ),
    ("GET", "/api/v1/tokens"): Call(frozenset({"ig_officer", "operator"})),
    ("POST", "/api/v1/tokens/{token_id}/revoke"): Call(
        frozenset({"operator"}), 204, lambda ctx: {"path": {"token_id": _victim_token(ctx)}}
    ),
    ("GET", "/api/v1/audit/events"): Call(frozenset({"ig_officer"})),
    ("GET", "/api/v1/audit/events/{seq}/inclusion-proof"): Call(
        frozenset({"ig_officer"}),
        200,
        lambda ctx: {"path": {"seq": 1}, "params": {"tree_size": audit.sign_head_if_grown(ctx)}},
    ),
    ("GET", "/api/v1/audit/heads"): Call(frozenset({"ig_officer"})),
    ("POST", "/api/v1/audit/heads"): Call(frozenset({"ig_officer", "operator"})),
    ("GET", "/api/v1/audit/consistency-proof"): Call(
        frozenset({"ig_officer"}),
        200,
        _consistency_request,
    ),
    ("POST", "/api/v1/audit/verification"): Call(frozenset({"ig_officer"})),
    ("GET", "/api/v1/policy"): Call(frozenset({"ig_officer", "operator"})),
    ("GET", "/api/v1/keys"): Call(frozenset({"ig_officer", "operator"})),
    ("GET", "/api/v1/optouts"): Call(frozenset({"ig_officer", "operator"})),
    ("PUT", "/api/v1/optouts"): Call(
        frozenset({"operator"}),
        200,
        lambda ctx: {
            "content": b"nhs_number\n9434765919\n",
            "headers": {"Content-Type": "text/plain"},
        },
    ),
    ("GET", "/api/v1/datasets"): Call(frozenset({"submitter", "ig_officer", "operator"})),
    ("POST", "/api/v1/submissions"): Call(
        frozenset({"submitter"}),
        201,
        lambda ctx: {"json": {"schema": "nhs_episodes"}, "headers": {"Upload-Length": "100"}},
    ),
    ("GET", "/api/v1/submissions"): Call(frozenset({"submitter", "ig_officer", "operator"})),
    ("GET", "/api/v1/submissions/{submission_id}"): Call(
        frozenset({"submitter", "ig_officer", "operator"}),
        200,
        lambda ctx: {"path": {"submission_id": _submission(ctx)}},
    ),
    ("HEAD", "/api/v1/submissions/{submission_id}"): Call(
        frozenset({"submitter", "ig_officer", "operator"}),
        204,
        lambda ctx: {"path": {"submission_id": _submission(ctx)}},
    ),
    ("POST", "/api/v1/linkage/runs"): Call(
        frozenset({"operator"}), 202, lambda ctx: {"json": {}}, settle=_no_active_run
    ),
    ("GET", "/api/v1/linkage/runs"): Call(frozenset({"ig_officer", "operator"})),
    ("GET", "/api/v1/linkage/runs/{run_id}"): Call(
        frozenset({"ig_officer", "operator"}), 200, _snapshot
    ),
    ("GET", "/api/v1/linkage/snapshots/latest/report"): Call(
        frozenset({"ig_officer", "operator"}), 200, _snapshot
    ),
    ("GET", "/api/v1/linkage/snapshots/{snapshot_id}/report"): Call(
        frozenset({"ig_officer", "operator"}), 200, _snapshot
    ),
    ("GET", "/api/v1/budget"): Call(frozenset({"analyst"})),
    ("GET", "/api/v1/budgets"): Call(frozenset({"ig_officer"})),
    ("PUT", "/api/v1/budgets/{kind}/{subject}"): Call(
        frozenset({"ig_officer"}),
        200,
        lambda ctx: {"path": {"kind": "analyst", "subject": "test.analyst"}, "json": {"total": 1}},
    ),
    ("PUT", "/api/v1/budgets/global"): Call(
        frozenset({"ig_officer"}),
        200,
        lambda ctx: {**_snapshot(ctx), "json": {"total": 1}},
    ),
    ("POST", "/api/v1/projects"): Call(
        frozenset({"ig_officer"}),
        201,
        lambda ctx: {"json": {"code": f"P{next(_counter)}", "name": "Hospital discharge"}},
    ),
    ("POST", "/api/v1/projects/{code}/members"): Call(
        frozenset({"ig_officer"}), 200, _project_member
    ),
    ("GET", "/api/v1/queries/catalogue"): Call(frozenset({"analyst", "ig_officer"})),
    ("POST", "/api/v1/queries/preview"): Call(frozenset({"analyst"}), 200, _query),
    ("POST", "/api/v1/queries"): Call(frozenset({"analyst"}), 200, _query),
    # The release register: analysts their own entries, IG officers everyone's.
    ("GET", "/api/v1/releases"): Call(frozenset({"analyst", "ig_officer"})),
    ("GET", "/api/v1/releases/export"): Call(
        frozenset({"analyst", "ig_officer"}), 200, lambda ctx: {"params": {"format": "csv"}}
    ),
    ("GET", "/api/v1/releases/{entry_id}"): Call(
        frozenset({"analyst", "ig_officer"}), 200, _release
    ),
    ("POST", "/api/v1/releases/{entry_id}/publish"): Call(
        frozenset({"ig_officer"}), 200, lambda ctx: {**_release(ctx), "json": {"published": True}}
    ),
    ("PUT", "/api/v1/register"): Call(
        frozenset({"ig_officer"}), 200, lambda ctx: {"json": {"public": True}}
    ),
    ("GET", "/api/v1/public/releases"): Call(PUBLIC, 200, _public_register),
    ("PATCH", "/api/v1/submissions/{submission_id}"): Call(
        frozenset({"submitter"}),
        200,
        lambda ctx: {
            "path": {"submission_id": _submission(ctx)},
            "content": _EXTRACT,
            "headers": {
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
        },
    ),
}
ROLES = sorted(ALL)
BAD_CREDENTIALS = ("none", "malformed", "unknown", "expired", "revoked", "disabled")


def send(client, method: str, template: str, request: dict[str, Any], headers: dict[str, str]):
    path = template.format(**request.get("path", {}))
    return client.request(
        method,
        path,
        json=request.get("json"),
        content=request.get("content"),
        params=request.get("params"),
        headers={**request.get("headers", {}), **headers},
    )


def last_entry(ctx: ServiceContext) -> AuditEvent:
    with ctx.sessions() as session:
        # The caller's own entry: background work (a linkage run) is audited as the service.
        query = select(AuditEvent).where(AuditEvent.actor != Actor.service().name)
        return session.scalars(query.order_by(AuditEvent.seq.desc()).limit(1)).one()


def test_every_route_is_in_the_table(client):
    schema = client.get("/api/v1/openapi.json").json()
    documented = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
    }
    assert documented == set(ROUTES)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_each_role_gets_exactly_the_documented_access(client, people, ctx, method, path, role):
    call = ROUTES[(method, path)]
    request = call.make(ctx)
    headers = {"Authorization": f"Bearer {people[role].token}"}
    response = send(client, method, path, request, headers)
    call.settle(ctx)
    if call.allowed == PUBLIC or role in call.allowed:
        assert response.status_code == call.ok_status, response.text
        if call.allowed != PUBLIC:
            entry = last_entry(ctx)
            assert (entry.actor, entry.outcome) == (people[role].username, "allowed")
    else:
        assert response.status_code == 403, response.text
        if method != "HEAD":  # a HEAD response has no body
            assert response.json()["type"] == "/problems/forbidden"
        entry = last_entry(ctx)
        assert (entry.actor, entry.role, entry.outcome) == (people[role].username, role, "refused")


def _bad_token(kind: str, ctx: ServiceContext, people) -> dict[str, str]:
    if kind == "none":
        return {}
    if kind == "malformed":
        return {"Authorization": "Basic dXNlcjpwYXNz"}
    if kind == "unknown":
        return {"Authorization": "Bearer hsk_" + "A" * 43}
    victim = _victim(ctx)
    issued = identity.issue_token(ctx, actor=Actor.cli(), username=victim)
    if kind == "expired":
        with ctx.sessions() as session, session.begin():
            session.execute(
                update(ApiToken)
                .where(ApiToken.token_hash == hash_secret(issued.token))
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
    elif kind == "revoked":
        identity.revoke_token(ctx, actor=Actor.cli(), token_id=issued.id)
    elif kind == "disabled":
        with ctx.sessions() as session, session.begin():
            session.execute(
                update(ApiToken).where(ApiToken.id == issued.id).values(revoked_at=None)
            )
        identity.disable_user(ctx, actor=Actor.cli(), username=victim)
        with ctx.sessions() as session, session.begin():  # a token someone forgot to revoke
            session.execute(
                update(ApiToken).where(ApiToken.id == issued.id).values(revoked_at=None)
            )
    return {"Authorization": f"Bearer {issued.token}"}


@pytest.mark.parametrize(
    ("method", "path"), sorted(k for k, v in ROUTES.items() if v.allowed != PUBLIC)
)
def test_bad_credentials_are_refused_and_audited_on_every_route(client, people, ctx, method, path):
    request = ROUTES[(method, path)].make(ctx)
    for kind in BAD_CREDENTIALS:
        headers = _bad_token(kind, ctx, people)
        response = send(client, method, path, request, headers)
        assert response.status_code == 401, (kind, response.text)
        if method != "HEAD":
            assert response.json()["type"] == "/problems/not-authenticated"
        assert response.headers["www-authenticate"] == "Bearer"
        entry = last_entry(ctx)
        assert (entry.action, entry.outcome, entry.actor) == ("auth.token", "refused", "anonymous")
        assert entry.details["reason"] in {"missing", "unknown", "expired", "revoked", "disabled"}
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        if token:
            assert token not in str(entry.details) and token not in entry.target


# --------------------------------------------------------------------------- admin pages
#
# The operator's administration pages (app/web/admin_pages.py) are not in the OpenAPI
# schema: ADMIN_PAGES lists each of them, and every role signs in with a browser session
# (a form's CSRF token included, so a 403 is the policy's and not the token's).

OPERATOR_ONLY = frozenset({"operator"})
READERS = frozenset({"ig_officer", "operator"})


def _pending_victim(ctx: ServiceContext) -> dict[str, Any]:
    """A single sign-on account awaiting approval."""
    from app.db.models import Organisation, User

    name = f"test-nhs.pending{next(_counter)}"
    with ctx.sessions() as session, session.begin():
        org = session.scalars(select(Organisation).where(Organisation.code == "RAL")).one()
        session.add(
            User(
                username=name,
                role="analyst",
                organisation=org,
                issuer="test-nhs",
                subject=name,
                status="pending",
            )
        )
    return {"path": {"username": name}}


def _disabled_victim(ctx: ServiceContext) -> dict[str, Any]:
    name = _victim(ctx)
    identity.disable_user(ctx, actor=Actor.cli(), username=name)
    return {"path": {"username": name}}


def _counted(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"


ADMIN_PAGES: dict[tuple[str, str], Call] = {
    ("GET", "/admin/organisations"): Call(READERS),
    ("POST", "/admin/organisations"): Call(
        OPERATOR_ONLY,
        200,
        lambda ctx: {"data": {"code": _counted("ORG"), "name": "A council", "kind": "council"}},
    ),
    ("GET", "/admin/users"): Call(READERS),
    ("POST", "/admin/users"): Call(
        OPERATOR_ONLY,
        200,
        lambda ctx: {
            "data": {"username": _counted("new"), "role": "analyst", "organisation": "RAL"}
        },
    ),
    ("POST", "/admin/users/{username}/approve"): Call(OPERATOR_ONLY, 200, _pending_victim),
    ("POST", "/admin/users/{username}/disable"): Call(
        OPERATOR_ONLY, 200, lambda ctx: {"path": {"username": _victim(ctx)}}
    ),
    ("POST", "/admin/users/{username}/enable"): Call(OPERATOR_ONLY, 200, _disabled_victim),
    ("POST", "/admin/users/{username}/role"): Call(
        OPERATOR_ONLY,
        200,
        lambda ctx: {"path": {"username": _victim(ctx)}, "data": {"role": "submitter"}},
    ),
    ("POST", "/admin/users/{username}/password"): Call(
        OPERATOR_ONLY, 200, lambda ctx: {"path": {"username": _victim(ctx)}}
    ),
    ("GET", "/admin/tokens"): Call(READERS),
    ("POST", "/admin/tokens"): Call(
        OPERATOR_ONLY,
        200,
        lambda ctx: {"data": {"username": _victim(ctx), "label": "ci", "days": "7"}},
    ),
    ("POST", "/admin/tokens/{token_id}/revoke"): Call(
        OPERATOR_ONLY, 200, lambda ctx: {"path": {"token_id": _victim_token(ctx)}}
    ),
    ("GET", "/admin/keys"): Call(READERS),
    ("GET", "/admin/keys/{purpose}/rotate"): Call(
        OPERATOR_ONLY, 200, lambda ctx: {"path": {"purpose": "data-seal"}}
    ),
    ("POST", "/admin/keys/{purpose}/rotate"): Call(
        OPERATOR_ONLY,
        200,
        lambda ctx: {"path": {"purpose": "data-seal"}, "data": {"confirm": "data-seal"}},
    ),
    ("GET", "/admin/opt-out"): Call(READERS),
    ("PUT", "/admin/opt-out"): Call(
        OPERATOR_ONLY,
        200,
        lambda ctx: {
            "content": b"nhs_number\n9434765919\n",
            "headers": {"Content-Type": "text/plain"},
        },
    ),
}


def _browser_sign_in(client, person) -> str:
    """Sign ``client`` in as ``person`` with the sign-in form; the session's CSRF token."""
    import re

    field = re.compile(r'name="csrf_token" value="([^"]+)"')
    client.cookies.clear()
    form = client.get("/login")
    login = {
        "username": person.username,
        "password": person.password,
        "csrf_token": field.search(form.text).group(1),
    }
    assert client.post("/login", data=login, follow_redirects=False).status_code == 303
    return field.search(client.get("/").text).group(1)  # the sign-out form's token


def test_every_admin_page_is_in_the_table():
    from app.web import routes as web_routes

    served = {
        (method, route.path)
        for route in web_routes.router.routes
        if route.path.startswith("/admin/")
        for method in route.methods
    }
    assert served == set(ADMIN_PAGES)


@pytest.mark.parametrize(("method", "path"), sorted(ADMIN_PAGES))
def test_each_role_gets_exactly_the_documented_access_to_the_admin_pages(
    client, people, ctx, method, path
):
    call = ADMIN_PAGES[(method, path)]
    for role in ROLES:
        csrf = _browser_sign_in(client, people[role])
        request = call.make(ctx)
        url = path.format(**request.get("path", {}))
        response = client.request(
            method,
            url,
            data={**request.get("data", {}), "csrf_token": csrf} if method == "POST" else None,
            content=request.get("content"),
            headers={**request.get("headers", {}), "X-CSRF-Token": csrf},
            follow_redirects=False,
        )
        entry = last_entry(ctx)
        if role in call.allowed:
            assert response.status_code == call.ok_status, (role, response.text)
            assert "admin-error" not in response.text, (role, response.text)
            assert (entry.actor, entry.outcome) == (people[role].username, "allowed")
        else:
            assert response.status_code == 403, (role, response.text)
            assert "Not permitted" in response.text
            assert (entry.actor, entry.role, entry.outcome) == (
                people[role].username,
                role,
                "refused",
            )
