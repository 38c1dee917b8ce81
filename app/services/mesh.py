"""MESH intake: each message in the mailbox becomes a submission, then is acknowledged.

A message's body streams from MESH (chunk by chunk, as ``mesh-client`` reads it) through
the same ingest path as an HTTP upload (``ingest.upload``, open-ended: its length is
known only at its end), so no byte of it is written to disk. MESH deletes a message once
it is acknowledged, so a message is acknowledged only when nothing of it can be lost:

======================================  =================  ============================
what happened                           recorded state     acknowledged
======================================  =================  ============================
accepted (committed)                    ``accepted``       yes, after the commit
same file as an accepted submission     ``refused``        yes (its content is held)
delivered again (same message id,       ``accepted``       yes (not ingested twice)
already accepted)
sender or workflow id not mapped,       ``refused``        no: re-examined each poll, so
or the mapping names no usable                             mapping it later receives it
organisation, account or schema
extract refused (header, encoding,      ``refused``        no: left in the mailbox for the
too many bad rows, too large)                              sender to see as undelivered;
                                                           not read again
transport or server failure mid-read    ``failed``         no: read again next poll
(its submission failed, its
batches deleted)
======================================  =================  ============================

A poll that cannot start (settings, mapping, network, TLS, credentials) reads nothing
and is audited as ``mesh.poll`` (failed, with the reason).

Each step is audited (``mesh.receive``, ``mesh.accept``, ``mesh.refuse``, ``mesh.fail``,
``mesh.acknowledge``) as the host operator; the submission itself is created and
streamed as the sender's MESH account (``mesh.<mailbox>``, a submitter of the mapped
organisation), so the policy in force applies as to any upload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy import select

from app.auth.actor import Actor
from app.db.base import utcnow
from app.db.models import MeshMessage, Organisation, User
from app.errors import Conflict, HsclinkError, InvalidRequest
from app.ingest.reader import EncodingError, OverrunError
from app.mesh.client import (
    TRANSPORT_ERRORS,
    MeshNotConfigured,
    connection_problem,
    open_mailbox,
)
from app.mesh.mapping import MappingError, MeshMapping, load_mapping
from app.services import identity, ingest
from app.services.context import ServiceContext
from app.services.unit import unit_of_work

if TYPE_CHECKING:
    from mesh_client import MeshClient, Message

__all__ = [
    "MeshMisconfigured",
    "MeshUnreachable",
    "MessageOutcome",
    "Slot",
    "list_messages",
    "poll",
    "poll_mailbox",
    "receive",
]

#: The largest message body accepted, as received (gzip expands within the ingest
#: limits): the largest extract an upload may declare (``ingest.create_submission``).
MAX_MESSAGE_BYTES = 50 * 1024**3
#: Bytes asked of ``mesh-client`` at a time (it fetches MESH chunks as they are needed).
READ_BYTES = 256 * 1024


@dataclass(frozen=True)
class MessageOutcome:
    message_id: str
    state: str  # accepted, refused, failed, or skipped (refused earlier, not read again)
    acknowledged: bool
    submission_id: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class _Row:
    """What is recorded of one message (a snapshot of its ``MeshMessage`` row)."""

    message_id: str
    sender: str
    workflow_id: str
    submission_id: int | None
    state: str
    problem: str | None
    acknowledged: bool

    @classmethod
    def of(cls, row: MeshMessage) -> _Row:
        return cls(
            row.message_id,
            row.sender,
            row.workflow_id,
            row.submission_id,
            row.state,
            row.problem,
            row.acknowledged_at is not None,
        )


class MeshMisconfigured(InvalidRequest):
    """The MESH settings or the mapping file cannot be used (names the setting or the
    key at fault, never a secret): nothing was received."""

    title = "MESH is not configured"


class MeshUnreachable(HsclinkError):
    """The mailbox could not be polled: the network, TLS (either side's certificate) or
    MESH's answer to hsclink's credentials. Nothing was received or acknowledged."""

    title = "MESH mailbox unavailable"


#: Holds one of the server's upload-stream slots while a message streams (``hsclink
#: serve``'s poller, ``app.mesh.poller``); the CLI streams in a process of its own.
Slot = Callable[[], AbstractContextManager[object]]


class _Refused(Exception):
    """A message refused before any of its bytes is read (value-free reason)."""


def poll_mailbox(
    ctx: ServiceContext, *, actor: Actor, today: date, slot: Slot = nullcontext
) -> list[MessageOutcome]:
    """Poll the configured mailbox (``ctx.settings``) with the configured mapping.

    A mailbox that cannot be used (settings, mapping, network, TLS, credentials) is
    audited (``mesh.poll``, failed, with the reason) and raised as ``MeshMisconfigured``
    or ``MeshUnreachable``: nothing was received or acknowledged."""
    try:
        mapping = load_mapping(ctx.settings.mesh_mapping_file)
        client = open_mailbox(ctx.settings)
    except (MeshNotConfigured, MappingError) as error:
        _mailbox_failed(ctx, actor, MeshMisconfigured(str(error)), ctx.settings.mesh_mailbox)
    with client:
        return poll(ctx, actor=actor, client=client, mapping=mapping, today=today, slot=slot)


def poll(
    ctx: ServiceContext,
    *,
    actor: Actor,
    client: MeshClient,
    mapping: MeshMapping,
    today: date,
    slot: Slot = nullcontext,
) -> list[MessageOutcome]:
    """Receive every message in the mailbox's inbox, one at a time, oldest first, each
    inside ``slot()``.

    Starts with MESH's handshake (which MESH asks of a client at least daily). A mailbox
    that cannot be reached is audited and raised as ``MeshUnreachable``."""
    try:
        client.handshake()  # type: ignore[no-untyped-call]
        message_ids = list(client.iterate_message_ids())
    except TRANSPORT_ERRORS as error:
        problem = connection_problem(error, client.mailbox_url)
        _mailbox_failed(ctx, actor, MeshUnreachable(problem), client.mailbox_path)
    outcomes = []
    for message_id in message_ids:
        with slot():
            outcomes.append(
                receive(
                    ctx,
                    actor=actor,
                    client=client,
                    mapping=mapping,
                    message_id=message_id,
                    today=today,
                )
            )
    return outcomes


def _mailbox_failed(
    ctx: ServiceContext, actor: Actor, error: HsclinkError, mailbox: str
) -> NoReturn:
    """Audit a poll that could not start (``mesh.poll``, failed), then raise ``error``.
    ``mailbox``: its id, or its API path (``/messageexchange/<id>``)."""
    target = f"mesh-mailbox:{mailbox.rsplit('/', 1)[-1][:32] or '-'}"
    with unit_of_work(ctx, actor, "mesh.poll", target=target) as uow:
        uow.details = {"problem": error.safe_detail}
        raise error


def receive(
    ctx: ServiceContext,
    *,
    actor: Actor,
    client: MeshClient,
    mapping: MeshMapping,
    message_id: str,
    today: date,
) -> MessageOutcome:
    """Receive one message into a submission; acknowledge it as the module doc says."""
    message_id = message_id[:100]
    earlier = _earlier(ctx, message_id)
    if earlier is not None:
        if earlier.state == "receiving" and earlier.submission_id is not None:
            earlier = _settle_interrupted(ctx, actor, earlier)
        if earlier.state == "accepted":
            _acknowledge(ctx, actor, client, earlier)
            return MessageOutcome(message_id, "accepted", True, earlier.submission_id)
        if earlier.state == "refused" and earlier.submission_id is not None:
            return MessageOutcome(
                message_id, "skipped", False, earlier.submission_id, earlier.problem
            )
    try:
        message = client.retrieve_message(message_id)  # headers only: the body streams later
    except TRANSPORT_ERRORS as error:
        problem = f"the message could not be fetched from MESH ({_kind(error)}); retried next poll"
        _record(ctx, actor, message_id, "-", "-", None, "failed", problem)
        return MessageOutcome(message_id, "failed", False, None, problem)
    try:
        sender = str(message.sender or "")[:32]
        workflow = str(message.workflow_id or "")[:64]
        note = partial(_record, ctx, actor, message_id, sender, workflow)
        try:
            account, schema = _route(ctx, actor, mapping, sender, workflow)
            submission_id = ingest.create_submission(
                ctx, actor=account, schema_name=schema, upload_length=MAX_MESSAGE_BYTES
            ).id
        except (_Refused, HsclinkError) as error:
            problem = str(error) if isinstance(error, _Refused) else error.safe_detail
            note(None, "refused", problem)
            return MessageOutcome(message_id, "refused", False, None, problem)
        note(submission_id, "receiving", None)
        stream = _Body(message)
        try:
            view = ingest.upload(
                ctx,
                actor=account,
                submission_id=submission_id,
                offset=0,
                chunks=stream,
                today=today,
                open_ended=True,
            )
        except HsclinkError as error:
            if stream.failed is not None:
                problem = (
                    f"the message could not be read from MESH to its end ({stream.failed});"
                    " retried next poll"
                )
                note(submission_id, "failed", problem)
                return MessageOutcome(message_id, "failed", False, submission_id, problem)
            problem = error.safe_detail
            row = note(submission_id, "refused", problem)
            # The same file as an accepted submission: its content is held, so MESH may drop it.
            duplicate = isinstance(error, Conflict) and _acknowledge(ctx, actor, client, row)
            return MessageOutcome(message_id, "refused", duplicate, submission_id, problem)
    finally:
        message.close()  # type: ignore[no-untyped-call]
    if view.status != "accepted":
        note(submission_id, "refused", view.problem)
        return MessageOutcome(message_id, "refused", False, submission_id, view.problem)
    row = note(submission_id, "accepted", None)
    acknowledged = _acknowledge(ctx, actor, client, row)
    return MessageOutcome(message_id, "accepted", acknowledged, submission_id)


class _Body:
    """The message body as chunks, read from MESH as the ingest path asks for them. A
    transport failure (the connection dropped or reset mid-body, a later MESH chunk that
    cannot be fetched, a broken transport compression) ends the stream as an encoding
    error, so the submission is failed, never accepted short, and is remembered by the
    error's type (``failed``), so the message is retried."""

    def __init__(self, message: Message) -> None:
        self._message = message
        self.failed: str | None = None

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        while True:
            try:
                chunk = self._message.read(READ_BYTES)
            except TRANSPORT_ERRORS as error:
                self.failed = _kind(error)
                raise EncodingError("the message could not be read from MESH") from None
            if not chunk:
                return
            received += len(chunk)
            if received > MAX_MESSAGE_BYTES:
                raise OverrunError("the message is larger than hsclink accepts (50 GiB)")
            yield chunk


def _kind(error: BaseException) -> str:
    """An error's type name: safe to record (its text may quote a URL or a header)."""
    return type(error).__name__


def _earlier(ctx: ServiceContext, message_id: str) -> _Row | None:
    with ctx.sessions() as session:
        row = session.scalar(select(MeshMessage).where(MeshMessage.message_id == message_id))
        return None if row is None else _Row.of(row)


def _settle_interrupted(ctx: ServiceContext, actor: Actor, row: _Row) -> _Row:
    """A poll stopped between committing a submission and recording it (a crash): the
    submission's own status says what became of the message."""
    from app.db.models import Submission

    with ctx.sessions() as session:
        status = session.scalar(select(Submission.status).where(Submission.id == row.submission_id))
    state = "accepted" if status == "accepted" else "failed"
    return _record(
        ctx, actor, row.message_id, row.sender, row.workflow_id, row.submission_id, state, None
    )


def _route(
    ctx: ServiceContext, actor: Actor, mapping: MeshMapping, sender: str, workflow: str
) -> tuple[Actor, str]:
    """The account the sender submits as and the schema its workflow names."""
    org_code = mapping.senders.get(sender)
    if org_code is None:
        raise _Refused("the sending mailbox is not mapped to an organisation")
    schema = mapping.workflows.get(workflow)
    if schema is None:
        raise _Refused("the workflow id is not mapped to a dataset")
    return _account(ctx, actor, sender, org_code), schema


def _account(ctx: ServiceContext, actor: Actor, sender: str, org_code: str) -> Actor:
    """The sender's submitter account, ``mesh.<mailbox>``: made on its first message."""
    username = f"mesh.{sender.lower()}"
    with ctx.sessions() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            if session.scalar(select(Organisation.id).where(Organisation.code == org_code)) is None:
                raise _Refused("the organisation the sender is mapped to is not registered")
        elif user.organisation.code != org_code or user.role != "submitter" or not user.is_active:
            raise _Refused(
                "the sender's MESH account is not an active submitter of its organisation"
            )
    if user is None:
        identity.create_user(
            ctx, actor=actor, username=username, role="submitter", organisation=org_code
        )
        with ctx.sessions() as session:
            user = session.scalar(select(User).where(User.username == username))
            assert user is not None
            return identity.actor_for(user, "mesh")
    return identity.actor_for(user, "mesh")


_ACTIONS = {"receiving": "mesh.receive", "accepted": "mesh.accept", "refused": "mesh.refuse"}


def _record(
    ctx: ServiceContext,
    actor: Actor,
    message_id: str,
    sender: str,
    workflow: str,
    submission_id: int | None,
    state: str,
    problem: str | None,
) -> _Row:
    """Write the message's row and audit the step, in one transaction."""
    action = _ACTIONS.get(state, "mesh.fail")
    with unit_of_work(ctx, actor, action, target=f"mesh-message:{message_id[:64]}") as uow:
        row = uow.session.scalar(select(MeshMessage).where(MeshMessage.message_id == message_id))
        if row is None:
            row = MeshMessage(
                message_id=message_id, sender=sender, workflow_id=workflow, attempts=0
            )
            uow.session.add(row)
        if state == "receiving":
            row.attempts += 1
            row.received_at = utcnow()
        row.state, row.problem, row.submission_id = state, (problem or None), submission_id
        if row.problem:
            row.problem = row.problem[:500]
        uow.details = {
            "sender": sender,
            "workflow": workflow,
            "submission": submission_id,
            "state": state,
        }
        if row.problem:  # value-free by construction: each names a cause, never content
            uow.details["problem"] = row.problem
        uow.session.flush()
        return _Row.of(row)


def _acknowledge(ctx: ServiceContext, actor: Actor, client: MeshClient, row: _Row) -> bool:
    """Tell MESH the message is received (it then deletes it). A failure leaves it to be
    acknowledged at the next poll: the row says it is already accepted."""
    try:
        client.acknowledge_message(row.message_id)
    except TRANSPORT_ERRORS:
        return False
    with unit_of_work(
        ctx, actor, "mesh.acknowledge", target=f"mesh-message:{row.message_id[:64]}"
    ) as uow:
        stored = uow.session.scalar(
            select(MeshMessage).where(MeshMessage.message_id == row.message_id)
        )
        assert stored is not None
        stored.acknowledged_at = utcnow()
        uow.details = {"submission": row.submission_id, "state": row.state}
    return True


def list_messages(ctx: ServiceContext, *, actor: Actor, limit: int = 50) -> list[dict[str, Any]]:
    """The newest received messages and what became of them (ids and states, no content)."""
    with unit_of_work(ctx, actor, "mesh.list", target="mesh-messages") as uow:
        rows = uow.session.scalars(select(MeshMessage).order_by(MeshMessage.id.desc()).limit(limit))
        return [
            {
                "message_id": r.message_id,
                "sender": r.sender,
                "workflow_id": r.workflow_id,
                "state": r.state,
                "submission_id": r.submission_id,
                "problem": r.problem,
                "attempts": r.attempts,
                "received_at": r.received_at,
                "acknowledged_at": r.acknowledged_at,
            }
            for r in rows
        ]
