"""The audit log for IG officers: entries, proofs, signed heads, verification."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime

from app.api import API_PREFIX
from app.api.deps import MAX_ROW_ID, Authorized, Ctx, QueryRowId, RowId
from app.api.openapi import problems
from app.api.schemas import (
    AuditEventOut,
    ConsistencyProofOut,
    InclusionProofOut,
    TreeHeadOut,
    VerificationOut,
)
from app.auth.actor import Actor
from app.services import audit
from app.services.audit import MAX_PAGE, EventFilter

router = APIRouter(prefix=API_PREFIX + "/audit")


@router.get("/events", summary="List audit entries, newest first")
def list_events(
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("audit.read", "audit-log"))],
    actor_name: Annotated[
        str | None, Query(alias="actor", max_length=100, description="Only this actor's entries")
    ] = None,
    action: Annotated[
        str | None, Query(max_length=64, description="Only actions with this prefix, e.g. 'auth.'")
    ] = None,
    outcome: Annotated[
        Literal["allowed", "refused", "failed"] | None,
        Query(description="Only entries with this outcome"),
    ] = None,
    role: Annotated[
        Literal["analyst", "ig_officer", "submitter", "operator", "none", "system"] | None,
        Query(
            description="Only entries of actors with this role ('none': not signed in, "
            "'system': the service itself; the host operator's commands are 'operator')"
        ),
    ] = None,
    organisation: Annotated[
        str | None,
        Query(max_length=32, description="Only entries of actors of this organisation (code)"),
    ] = None,
    # Aware times only: one without an offset names no instant (and the store refuses to
    # compare one), so it is refused as malformed (422).
    since: Annotated[
        AwareDatetime | None,
        Query(description="Only entries at or after this time (RFC 3339 with an offset)"),
    ] = None,
    until: Annotated[
        AwareDatetime | None,
        Query(description="Only entries before this time (RFC 3339 with an offset)"),
    ] = None,
    before_seq: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_ROW_ID,
            description="Only entries before this seq: the last seq seen, for the next page",
        ),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description="At most this many entries, newest first")
    ] = 50,
) -> list[AuditEventOut]:
    """Audit entries, newest first, optionally filtered; each with its hash chain links."""
    filters = EventFilter(
        actor_name, action, outcome, since, until, before_seq, limit, role, organisation
    )
    return [AuditEventOut(**e) for e in audit.list_events(ctx, actor=actor, filters=filters)]


@router.get("/events/{seq}/inclusion-proof", summary="RFC 9162 inclusion proof for one entry")
def inclusion_proof(
    seq: Annotated[RowId, Path(description="The entry's seq")],
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("audit.read", "audit-log"))],
    tree_size: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_ROW_ID,
            description="The size of a signed head to prove against. Default: the latest",
        ),
    ] = None,
) -> InclusionProofOut:
    """Proves one entry is in the latest signed tree head (RFC 9162)."""
    return InclusionProofOut(**audit.inclusion(ctx, actor=actor, seq=seq, tree_size=tree_size))


@router.get("/heads", summary="Signed tree heads, oldest first")
def list_heads(
    ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("audit.read", "audit-log"))]
) -> list[TreeHeadOut]:
    """Every signed tree head of the audit log, oldest first."""
    return [TreeHeadOut(**h) for h in audit.list_heads(ctx, actor=actor)]


@router.post("/heads", summary="Sign the current tree head now", responses={204: {}})
def sign_head(
    ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("audit.sign", "audit-log"))]
) -> TreeHeadOut | None:
    """Signs the current tree head now, if the log grew since the last head."""
    head = audit.sign_head(ctx, actor=actor)
    return TreeHeadOut(**head) if head else None


@router.get(
    "/consistency-proof",
    summary="RFC 9162 consistency proof between two signed heads",
    responses=problems(404),
)
def consistency_proof(
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("audit.read", "audit-log"))],
    first: Annotated[QueryRowId, Query(description="The smaller signed head's tree size")],
    second: Annotated[QueryRowId, Query(description="The larger signed head's tree size")],
) -> ConsistencyProofOut:
    """Proves the tree of one signed head is a prefix of another's (RFC 9162)."""
    return ConsistencyProofOut(**audit.consistency(ctx, actor=actor, first=first, second=second))


@router.post("/verification", summary="Verify the whole log now against the pinned key")
def verify(
    ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("audit.verify", "audit-log"))]
) -> VerificationOut:
    """Re-checks every entry's hash chain and every signed head against the pinned key."""
    return VerificationOut(**audit.verify(ctx, actor=actor).as_dict())
