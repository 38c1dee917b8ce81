"""The services the administration pages added: set a role, enable an account, reset a
password, the keys' status, the linkage key's guard and the opt-out list's history.

Each refusal is the service's (the CLI, the API and the web call the same functions), and
each is audited; a generated password is in the answer only, never in the log.
"""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from app.auth.actor import Actor
from app.db.models import AuditEvent, OptOutList, Organisation, User, WebSession
from app.errors import Conflict, InvalidRequest
from app.services import identity, keys, optout
from app.services.context import ServiceContext
from app.services.web_auth import login
from tests.conftest import Person

CLI = Actor.cli()
VALID_NHS = ["9434765919", "9434765870", "4010232137"]


def actor_of(ctx: ServiceContext, username: str) -> Actor:
    with ctx.sessions() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        return identity.actor_for(user)


def last(ctx: ServiceContext, action: str) -> AuditEvent:
    with ctx.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.action == action)
        return session.scalars(query.order_by(AuditEvent.seq.desc()).limit(1)).one()


def sso_account(ctx: ServiceContext) -> str:
    with ctx.sessions() as session, session.begin():
        org = session.scalars(select(Organisation).where(Organisation.code == "E09000007")).one()
        session.add(
            User(
                username="test-nhs.jane.doe",
                role="analyst",
                organisation=org,
                issuer="test-nhs",
                subject="jane.doe",
                status="pending",
            )
        )
    return "test-nhs.jane.doe"


def test_a_local_accounts_role_is_set_but_never_ones_own_nor_a_single_sign_on_accounts(
    ctx: ServiceContext, people: dict[str, Person]
) -> None:
    operator = actor_of(ctx, people["operator"].username)
    analyst = people["analyst"].username
    view = identity.set_role(ctx, actor=operator, username=analyst, role="ig_officer")
    assert view.role == "ig_officer" and actor_of(ctx, analyst).role == "ig_officer"
    assert last(ctx, "user.set_role").details == {"from": "analyst", "to": "ig_officer"}

    refusals = [
        (people["operator"].username, "analyst", Conflict),  # one's own
        (sso_account(ctx), "operator", Conflict),  # the provider's claims decide
        (analyst, "superuser", InvalidRequest),
    ]
    for username, role, error in refusals:
        with pytest.raises(error):
            identity.set_role(ctx, actor=operator, username=username, role=role)
        assert last(ctx, "user.set_role").outcome == "failed"
    assert actor_of(ctx, people["operator"].username).role == "operator"


def test_an_enabled_account_acts_again_but_its_revoked_tokens_stay_revoked(
    ctx: ServiceContext, people: dict[str, Person]
) -> None:
    analyst = people["analyst"]
    identity.disable_user(ctx, actor=CLI, username=analyst.username)
    assert identity.enable_user(ctx, actor=CLI, username=analyst.username).status == "active"
    with pytest.raises(Conflict):
        identity.enable_user(ctx, actor=CLI, username=analyst.username)  # not disabled
    tokens = [t for t in identity.list_tokens(ctx, actor=CLI) if t.user == analyst.username]
    assert tokens and all(t.revoked for t in tokens)


def test_a_reset_password_is_returned_once_ends_the_sessions_and_works(
    ctx: ServiceContext, people: dict[str, Person]
) -> None:
    analyst = people["analyst"]
    login(ctx, username=analyst.username, password=analyst.password, address="a", request_id="r")
    operator = actor_of(ctx, people["operator"].username)
    issued = identity.reset_password(ctx, actor=operator, username=analyst.username)
    assert len(issued.password) >= 24 and issued.password not in repr(issued)
    with ctx.sessions() as session:
        ended = session.scalars(select(WebSession.ended_at)).all()
    assert ended and all(at is not None for at in ended)
    entry = last(ctx, "user.password")
    assert entry.details == {"generated": True, "sessions_ended": True}
    assert issued.password not in str(entry.details)
    login(ctx, username=analyst.username, password=issued.password, address="a", request_id="r")


def test_a_password_reset_is_refused_for_oneself_single_sign_on_and_roles_without_passwords(
    ctx: ServiceContext, people: dict[str, Person]
) -> None:
    operator = actor_of(ctx, people["operator"].username)
    break_glass = dataclasses.replace(
        ctx, settings=ctx.settings.model_copy(update={"local_login_roles": "operator"})
    )
    for context, username in (
        (ctx, people["operator"].username),
        (ctx, sso_account(ctx)),
        (break_glass, people["analyst"].username),
    ):
        with pytest.raises(Conflict):
            identity.reset_password(context, actor=operator, username=username)
        assert last(ctx, "user.password").outcome == "failed"


def test_the_keys_status_names_custody_and_versions_and_no_material(
    ctx: ServiceContext,
) -> None:
    status = keys.key_status(ctx, actor=CLI)
    assert status.custody == "key-file" and status.current_kek == "key-file"
    assert status.purposes == ("audit-signing", "data-seal", "linkage", "pseudonym-wrap")
    assert {(v.purpose, v.version, v.status) for v in status.versions} == {
        (p, 1, "active") for p in status.purposes
    }
    assert status.linkage_refusal is None
    assert last(ctx, "key.list").details == {}


def test_the_linkage_key_is_not_rotated_under_an_opt_out_list(ctx: ServiceContext) -> None:
    optout.load_optouts(ctx, actor=CLI, lines=[VALID_NHS[0]])
    refusal = keys.key_status(ctx, actor=CLI).linkage_refusal
    assert refusal is not None and "opt-out list" in refusal
    with pytest.raises(Conflict):
        keys.rotate_key(ctx, actor=CLI, purpose="linkage")
    optout.load_optouts(ctx, actor=CLI, lines=[])  # an empty list keys nothing
    assert keys.rotate_key(ctx, actor=CLI, purpose="linkage").version == 2


def test_a_rotation_with_the_wrong_confirmation_rotates_nothing(ctx: ServiceContext) -> None:
    with pytest.raises(InvalidRequest):
        keys.rotate_key(ctx, actor=CLI, purpose="data-seal", confirmation="data seal")
    entry = last(ctx, "key.rotate")
    assert (entry.outcome, entry.details["reason"]) == ("failed", "unconfirmed")
    assert keys.key_status(ctx, actor=CLI).active("data-seal").version == 1  # type: ignore[union-attr]
    rotated = keys.rotate_key(ctx, actor=CLI, purpose="data-seal", confirmation="data-seal")
    assert rotated.version == 2


def test_the_opt_out_history_numbers_each_load_as_the_list_it_put_in_force(
    ctx: ServiceContext, people: dict[str, Person]
) -> None:
    assert optout.optout_history(ctx, actor=CLI).version == 0
    operator = actor_of(ctx, people["operator"].username)
    optout.load_optouts(ctx, actor=CLI, lines=["nhs_number", *VALID_NHS[:2], "123"])
    optout.load_optouts(ctx, actor=operator, lines=[VALID_NHS[2]])
    history = optout.optout_history(ctx, actor=CLI)
    with ctx.sessions() as session:
        in_force = session.scalars(select(OptOutList.id)).one()
    assert (history.version, history.entries, history.total_loads) == (in_force, 1, 2)
    assert [(h.version, h.actor, h.entries, h.invalid_lines) for h in history.loads] == [
        (2, people["operator"].username, 1, 0),
        (1, CLI.name, 2, 1),
    ]
    assert not any(number in repr(history) for number in VALID_NHS)
