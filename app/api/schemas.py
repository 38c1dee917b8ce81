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

    username: str
    role: str
    organisation: str


class OrganisationIn(Strict):
    """A new organisation: its ODS/ONS code, name and kind."""

    code: str = Field(min_length=3, max_length=16, pattern=r"^[A-Z0-9]+$")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["trust", "council", "operator"]


class OrganisationOut(BaseModel):
    """A registered organisation."""

    code: str
    name: str
    kind: str


class UserIn(Strict):
    """A new user: name, role, organisation and an optional password (12+ characters)."""

    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]+$")
    role: Role
    organisation: str = Field(min_length=3, max_length=16)
    password: str | None = Field(default=None, min_length=12, max_length=200)


class UserOut(BaseModel):
    """A user account (never its password or tokens)."""

    id: int
    username: str
    role: str
    organisation: str
    active: bool
    created_at: datetime


class TokenIn(Strict):
    """A new API token: a label and its lifetime in days."""

    label: str = Field(default="api", min_length=1, max_length=100)
    days: int | None = Field(default=None, ge=1, le=366)


class TokenIssuedOut(BaseModel):
    """A newly issued API token, its value shown this once."""

    id: int
    user: str
    token: str = Field(description="Shown once. Only its hash is stored.")
    expires_at: datetime


class TokenOut(BaseModel):
    """An API token's owner, label and lifetime (never its value)."""

    id: int
    user: str
    label: str
    created_at: datetime
    expires_at: datetime
    revoked: bool


class AuditEventOut(BaseModel):
    """An audit entry with its hash chain links (no identifier or secret)."""

    seq: int
    occurred_at: str
    actor: str
    role: str
    organisation: str
    action: str
    target: str
    outcome: str
    request_id: str
    details: dict[str, Any]
    prev_hash: str
    entry_hash: str


class TreeHeadOut(BaseModel):
    """A signed head of the audit log's Merkle tree."""

    tree_size: int
    root_hash: str
    signed_at: str
    key_version: int
    signature: str
    #: "checkpoint": ``checkpoint`` is the signed C2SP checkpoint note; "hsclink-v1":
    #: the signature is over the JSON signing input of heads signed before checkpoints.
    format: str = "hsclink-v1"
    checkpoint: str | None = None
    #: Witnesses' cosignature lines over the checkpoint (a copy; verify asks them).
    cosignatures: list[str] = []


class InclusionProofOut(BaseModel):
    """An RFC 9162 inclusion proof of one audit entry in a signed tree."""

    seq: int
    leaf_index: int
    entry_hash: str
    tree_head: TreeHeadOut
    audit_path: list[str]


class ConsistencyProofOut(BaseModel):
    """An RFC 9162 consistency proof between two signed tree heads."""

    first: TreeHeadOut
    second: TreeHeadOut
    proof: list[str]


class VerificationOut(BaseModel):
    """The outcome of re-checking the whole audit log."""

    ok: bool
    entries_checked: int
    heads_checked: int
    largest_signed_size: int
    first_bad_seq: int | None
    problem: str | None
    root_hash: str | None
    notes: list[str]


class PolicyOut(BaseModel):
    """The authorisation policy in force: its files, text and SHA-256."""

    sha256: str
    files: list[str]
    text: str


class KeyOut(BaseModel):
    """A key version: purpose, version, status and (signing keys) public key."""

    purpose: str
    version: int
    status: str
    public_key: str | None = Field(description="Base64 Ed25519 public key (signing keys only)")
