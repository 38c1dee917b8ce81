"""Request and response bodies of the API (pydantic), converted from domain objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AuditEventOut",
    "IdentityOut",
    "OrganisationIn",
    "OrganisationOut",
    "TokenIn",
    "TokenIssuedOut",
    "TokenOut",
    "UserIn",
    "UserOut",
]

Role = Literal["analyst", "ig_officer", "submitter", "operator"]


class Strict(BaseModel):
    """A request body: a field not in the schema is refused."""

    model_config = ConfigDict(extra="forbid")


class IdentityOut(BaseModel):
    """Who the caller is: user name, role and organisation."""

    username: str = Field(description="The caller's user name")
    role: str = Field(description="The caller's role: analyst, ig_officer, submitter or operator")
    organisation: str = Field(description="The code of the caller's organisation")


class OrganisationIn(Strict):
    """A new organisation: its ODS/ONS code, name and kind."""

    code: str = Field(
        min_length=3,
        max_length=16,
        pattern=r"^[A-Z0-9]+$",
        description="Its ODS or ONS code, unique: 3-16 capital letters and digits",
    )
    name: str = Field(
        min_length=1, max_length=200, description="Its name (surrounding spaces are dropped)"
    )
    kind: Literal["trust", "council", "operator"] = Field(
        description="An NHS trust, a council or the service operator: the kind decides which "
        "dataset schemas its submitters may send"
    )


class OrganisationOut(BaseModel):
    """A registered organisation."""

    code: str = Field(description="Its ODS or ONS code")
    name: str = Field(description="Its name")
    kind: str = Field(description="trust, council or operator")


class UserIn(Strict):
    """A new user: name, role, organisation and an optional password (12+ characters)."""

    username: str = Field(
        min_length=2,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9._-]+$",
        description="A unique user name: lower-case letters, digits, dots, dashes, underscores",
    )
    role: Role = Field(description="The role, which decides what the policy lets the user do")
    organisation: str = Field(
        min_length=3, max_length=16, description="The code of a registered organisation"
    )
    password: str | None = Field(
        default=None,
        min_length=12,
        max_length=200,
        description="A password for the web sign-in page (kept only as a hash; local sign-in "
        "is open only to the roles configured for it). Null: no password sign-in",
    )


class UserOut(BaseModel):
    """A user account (never its password or tokens)."""

    id: int = Field(description="The user's id")
    username: str = Field(description="The unique user name")
    role: str = Field(description="analyst, ig_officer, submitter or operator")
    organisation: str = Field(description="The code of the user's organisation")
    active: bool = Field(description="False once the account is disabled (or not yet approved)")
    created_at: datetime = Field(description="When the account was created (UTC)")
    status: Literal["active", "pending", "disabled"] = Field(
        description=(
            "pending: a single sign-on account an operator has not approved yet "
            "(hsclink user approve); disabled: disabled, whether approved or not"
        )
    )
    pending: bool = Field(
        description="True while a single sign-on account awaits an operator's approval"
    )
    issuer: str | None = Field(
        description=(
            "The sign-in provider of a single sign-on account (its name in the identity "
            "file); null for a local account. Never the person's subject at the provider"
        )
    )


class TokenIn(Strict):
    """A new API token: a label and its lifetime in days."""

    label: str = Field(
        default="api", min_length=1, max_length=100, description="A name to tell tokens apart"
    )
    days: int | None = Field(
        default=None,
        ge=1,
        le=366,
        description="Its lifetime in days. Null: the service's default (HSCLINK_TOKEN_DAYS)",
    )


class TokenIssuedOut(BaseModel):
    """A newly issued API token, its value shown this once."""

    id: int = Field(description="The token's id (to revoke it)")
    user: str = Field(description="The user name it authenticates")
    token: str = Field(description="Shown once. Only its hash is stored.")
    expires_at: datetime = Field(description="When it stops working (UTC)")


class TokenOut(BaseModel):
    """An API token's owner, label and lifetime (never its value)."""

    id: int = Field(description="The token's id")
    user: str = Field(description="The user name it authenticates")
    label: str = Field(description="The name it was issued with")
    created_at: datetime = Field(description="When it was issued (UTC)")
    expires_at: datetime = Field(description="When it stops working (UTC)")
    revoked: bool = Field(description="True once revoked (by hand, or by disabling its user)")


class AuditEventOut(BaseModel):
    """An audit entry with its hash chain links (no identifier or secret)."""

    seq: int = Field(description="Its position in the log, from 1 (its Merkle leaf is seq - 1)")
    occurred_at: str = Field(
        description="When, in UTC: RFC 3339 with microseconds (2026-11-25T08:16:44.123456Z)"
    )
    actor: str = Field(
        description="Who acted: a user name, cli:<host user>, hsclink (the service) or anonymous"
    )
    role: str = Field(description="The actor's role (system for the service, none if anonymous)")
    organisation: str = Field(description="The actor's organisation code (- if none)")
    action: str = Field(description="What was asked, as a policy action, e.g. query.run")
    target: str = Field(description="What it was done to, e.g. submission:12")
    outcome: str = Field(
        description="allowed; refused (credentials, policy, a rate limit or the budget said "
        "no); or failed (any other error)"
    )
    request_id: str = Field(description="The request's id (X-Request-ID), or cli or service")
    details: dict[str, Any] = Field(
        description="Safe facts about the action (ids, counts, amounts in micro-epsilon); "
        "never an identifier, a secret or a query's data"
    )
    prev_hash: str = Field(description="The previous entry's entry_hash (hex; zeros for seq 1)")
    entry_hash: str = Field(
        description="The RFC 9162 leaf hash (SHA-256, hex) of this entry's canonical encoding"
    )


class TreeHeadOut(BaseModel):
    """A signed head of the audit log's Merkle tree."""

    tree_size: int = Field(description="How many entries the tree holds (seq 1 to tree_size)")
    root_hash: str = Field(description="The RFC 9162 Merkle tree hash (SHA-256, hex)")
    signed_at: str = Field(description="When it was signed, in UTC: RFC 3339 with microseconds")
    key_version: int = Field(description="The version of the audit-signing key that signed it")
    signature: str = Field(description="The Ed25519 signature (hex)")
    #: "checkpoint": ``checkpoint`` is the signed C2SP checkpoint note; "hsclink-v1":
    #: the signature is over the JSON signing input of heads signed before checkpoints.
    format: str = Field(
        default="hsclink-v1",
        description="checkpoint: the signature is the checkpoint note's; hsclink-v1: over the "
        "JSON signing input of heads signed before checkpoints",
    )
    checkpoint: str | None = Field(
        default=None, description="The signed C2SP checkpoint note. Null for hsclink-v1 heads"
    )
    #: Witnesses' cosignature lines over the checkpoint (a copy; verify asks them).
    cosignatures: list[str] = Field(
        default=[],
        description="Witnesses' cosignature lines over the checkpoint (a copy: verification "
        "asks the witnesses themselves)",
    )


class InclusionProofOut(BaseModel):
    """An RFC 9162 inclusion proof of one audit entry in a signed tree."""

    seq: int = Field(description="The entry proved")
    leaf_index: int = Field(description="Its leaf's index in the tree (seq - 1)")
    entry_hash: str = Field(description="Its leaf hash (SHA-256, hex)")
    tree_head: TreeHeadOut = Field(description="The signed head the proof is against")
    audit_path: list[str] = Field(
        description="The RFC 9162 inclusion path, leaf to root (SHA-256 hashes, hex)"
    )


class ConsistencyProofOut(BaseModel):
    """An RFC 9162 consistency proof between two signed tree heads."""

    first: TreeHeadOut = Field(description="The smaller signed head")
    second: TreeHeadOut = Field(description="The larger signed head")
    proof: list[str] = Field(description="The RFC 9162 consistency proof (SHA-256 hashes, hex)")


class VerificationOut(BaseModel):
    """The outcome of re-checking the whole audit log."""

    ok: bool = Field(description="True if every check passed (problem is null)")
    entries_checked: int = Field(
        description="Entries whose hash and chain link were re-computed (0 if stopped before)"
    )
    heads_checked: int = Field(
        description="Distinct signed heads (tree sizes) whose root was re-computed from the "
        "entries, each counted once however many copies were checked"
    )
    head_sources: dict[str, int] = Field(
        default_factory=dict,
        description="Where the heads were checked: 'database', 'witness file', 'cosigned by "
        "witness <name>' -> how many of that source's heads matched the entries",
    )
    largest_signed_size: int = Field(
        description="The largest tree size a signed head covers (0 if none)"
    )
    first_bad_seq: int | None = Field(
        description="The first entry that failed a check. Null if none, or not an entry's fault"
    )
    problem: str | None = Field(description="What failed, in safe terms. Null if all is well")
    root_hash: str | None = Field(
        description="The Merkle root over every entry (SHA-256, hex). Null if the check "
        "stopped before the last entry"
    )
    notes: list[str] = Field(
        description="Observations that are not failures, e.g. entries not yet signed"
    )


class PolicyOut(BaseModel):
    """The authorisation policy in force: its files, text and SHA-256."""

    sha256: str = Field(description="The SHA-256 (hex) of the canonical text, as audited")
    files: list[str] = Field(description="The names of the policy's files")
    text: str = Field(description="The canonical text of the policy set in force")


class KeyOut(BaseModel):
    """A key version: purpose, version, status and (signing keys) public key."""

    purpose: str = Field(description="audit-signing, data-seal, linkage or pseudonym-wrap")
    version: int = Field(description="The version, from 1 per purpose")
    status: str = Field(description="active (in use) or retired (kept to read or verify)")
    public_key: str | None = Field(description="Base64 Ed25519 public key (signing keys only)")
