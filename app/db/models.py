"""ORM models. The migrations in ``migrations/versions`` create exactly these tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.roles import ROLES
from app.db.base import Base, UTCDateTime, utcnow

__all__ = [
    "ROLES",
    "ApiToken",
    "AssignmentBatch",
    "AuditCosignature",
    "AuditEvent",
    "AuditTreeHead",
    "Budget",
    "Charge",
    "GlobalBudget",
    "GlobalCharge",
    "KeyVersion",
    "LinkageRun",
    "LinkageSnapshot",
    "LoginFailure",
    "OptOutList",
    "Organisation",
    "PolicyLoad",
    "Project",
    "ProjectMember",
    "RecordBatch",
    "RegisterEntry",
    "RegisterSwitch",
    "RegisterView",
    "Release",
    "RowError",
    "Submission",
    "User",
    "WebSession",
]

ORG_KINDS = ("trust", "council", "operator")


class Organisation(Base):
    """An NHS trust (ODS code), a council (ONS code) or the service operator."""

    __tablename__ = "iam_organisations"
    __table_args__ = (CheckConstraint("kind IN ('trust', 'council', 'operator')", name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class User(Base):
    __tablename__ = "iam_users"
    __table_args__ = (
        CheckConstraint("role IN ('analyst', 'ig_officer', 'submitter', 'operator')", name="role"),
        Index("ux_iam_users_issuer_subject", "issuer", "subject", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("iam_organisations.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Single sign-on (issue 14): the OpenID provider's issuer name and its subject
    #: identifier. An account is found by this pair, never by its user name.
    issuer: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(255))
    #: ``pending`` (just-in-time account, not yet approved by an operator) or ``active``.
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")

    organisation: Mapped[Organisation] = relationship(lazy="joined")

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None and self.status == "active"


class ApiToken(Base):
    """A bearer token: only its SHA-256 is kept; the token itself is shown once."""

    __tablename__ = "iam_api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("iam_users.id"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined")


class WebSession(Base):
    """A signed-in browser: the cookie value is hashed; the CSRF token is per session."""

    __tablename__ = "iam_web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("iam_users.id"), index=True)
    session_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Single sign-on: the ID token for signing out at the provider, sealed under a key
    #: only the session cookie gives (``app.auth.oidc_seal``); dropped at sign-out.
    id_token_sealed: Mapped[bytes | None] = mapped_column(LargeBinary())

    user: Mapped[User] = relationship(lazy="joined")


class SsoRequest(Base):
    """One started single sign-on: used once, by the browser that started it.

    ``state`` and the browser binding cookie are kept only as SHA-256 hashes; the PKCE
    verifier and the nonce are needed in clear when the provider answers, and the row
    is deleted then (or refused once it is older than ten minutes).
    """

    __tablename__ = "iam_sso_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    binding_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    issuer: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LoginFailure(Base):
    """One failed web login, counted per account and per address for rate limiting."""

    __tablename__ = "iam_login_failures"
    __table_args__ = (
        Index("ix_iam_login_failures_username_at", "username", "at"),
        Index("ix_iam_login_failures_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditEvent(Base):
    """One entry of the append-only, hash-chained audit log.

    ``entry_hash`` is the RFC 9162 leaf hash of the entry's canonical encoding,
    which includes ``prev_hash``: it is both the chain link and the Merkle leaf.
    """

    __tablename__ = "audit_events"
    __table_args__ = (CheckConstraint("seq >= 1", name="seq_positive"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    organisation: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditTreeHead(Base):
    """A signed tree head: the Merkle root over the first ``tree_size`` entries."""

    __tablename__ = "audit_tree_heads"

    tree_size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_version: Mapped[int] = mapped_column(Integer)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    #: "hsclink-v1" (JSON signing input, heads signed before migration 0016) or
    #: "checkpoint" (a C2SP checkpoint; ``checkpoint`` holds the signed note).
    format: Mapped[str] = mapped_column(String(16), server_default="hsclink-v1")
    checkpoint: Mapped[str | None] = mapped_column(Text)


class AuditCosignature(Base):
    """A witness's cosignature line over a checkpoint, kept for display and export.

    Verification never reads this table: it asks the witnesses themselves. A display
    copy, not part of the log's integrity, so no foreign key to ``audit_tree_heads``.
    """

    __tablename__ = "audit_cosignatures"

    tree_size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    witness: Mapped[str] = mapped_column(String(200), primary_key=True)
    cosigned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    line: Mapped[str] = mapped_column(Text)


class KeyVersion(Base):
    """A data key wrapped (AES-256-GCM) under a named key-encryption key, or a key held
    in the HSM itself (``hsm_label``; no copy of it exists outside the HSM)."""

    __tablename__ = "keystore_keys"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'retired')", name="status"),
        CheckConstraint(
            "(wrapped_key IS NOT NULL AND kek IS NOT NULL AND hsm_label IS NULL)"
            " OR (wrapped_key IS NULL AND kek IS NULL AND hsm_label IS NOT NULL)",
            name="custody",
        ),
        Index("ix_keystore_keys_purpose_version", "purpose", "version", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: The key-encryption key that wrapped ``wrapped_key``: ``key-file`` or ``hsm:<label>``.
    kek: Mapped[str | None] = mapped_column(String(64))
    #: The HSM object that holds this key (audit signing keys made in the HSM).
    hsm_label: Mapped[str | None] = mapped_column(String(64))
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PolicyLoad(Base):
    """Each distinct policy set the service has put in force, by SHA-256."""

    __tablename__ = "policy_loads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    source: Mapped[str] = mapped_column(Text)


#: A byte count: extracts run past 2 GiB (migration 0019). SQLite's INTEGER is 64-bit.
_BYTE_COUNT = BigInteger().with_variant(Integer(), "sqlite")


class Submission(Base):
    """One uploaded extract. Its records are staged and count only once ``status`` is
    ``accepted``: a failure, a rejection or a crash leaves nothing partial visible."""

    __tablename__ = "ingest_submissions"
    __table_args__ = (
        CheckConstraint("status IN ('receiving', 'accepted', 'rejected', 'failed')", name="status"),
        Index("ix_ingest_submissions_org_sha256", "organisation_id", "sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("iam_organisations.id"), index=True)
    submitted_by: Mapped[int] = mapped_column(ForeignKey("iam_users.id"))
    dataset: Mapped[str] = mapped_column(String(32))
    schema_name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="receiving")
    upload_length: Mapped[int] = mapped_column(_BYTE_COUNT)
    #: Uploaded bytes whose records are committed: where an interrupted upload resumes.
    upload_offset: Mapped[int] = mapped_column(_BYTE_COUNT, default=0)
    compressed: Mapped[bool | None] = mapped_column(Boolean)
    encoding: Mapped[str | None] = mapped_column(String(16))
    #: Column names of the header row (names, not data), kept to resume without it.
    header: Mapped[list[str] | None] = mapped_column(JSON)
    next_line: Mapped[int] = mapped_column(Integer, default=2)
    rows_seen: Mapped[int] = mapped_column(Integer, default=0)
    rows_accepted: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    sha256_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    quality: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    problem: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class RecordBatch(Base):
    """A sealed batch of one submission's pseudonymised records (``app/store``).

    Nothing per record is in clear: the records' tokens, Bloom encodings and typed
    attributes are inside ``linkage_part`` and ``facts_part`` (Arrow IPC under
    AES-256-GCM). A batch is numbered by the line its first record came from.
    """

    __tablename__ = "ingest_batches"
    __table_args__ = (
        Index(
            "ux_ingest_batches_submission_first_line", "submission_id", "first_line", unique=True
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("ingest_submissions.id"))
    first_line: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)
    linkage_key_version: Mapped[int] = mapped_column(Integer)
    wrap_key_version: Mapped[int] = mapped_column(Integer)
    seal_key_version: Mapped[int] = mapped_column(Integer)
    # In this order (migration 0012): SQLite reaches a column past a large value only by
    # walking its overflow pages, and releases read the facts part, not the linkage part.
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    facts_part: Mapped[bytes] = mapped_column(LargeBinary)
    linkage_part: Mapped[bytes] = mapped_column(LargeBinary)


class RowError(Base):
    """Why a row was refused: line, column and reason, never the value (first 1,000 kept)."""

    __tablename__ = "ingest_row_errors"
    __table_args__ = (Index("ix_ingest_row_errors_submission_line", "submission_id", "line"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("ingest_submissions.id"))
    line: Mapped[int] = mapped_column(Integer)
    column: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(200))


class MeshMessage(Base):
    """A message received from the MESH mailbox (issue 14, ``app/services/mesh.py``) and
    what became of it: the submission it fed and whether MESH was told it was received.
    Holds MESH's own routing fields (ids, never content); one row per message id."""

    __tablename__ = "ingest_mesh_messages"
    __table_args__ = (
        CheckConstraint(
            "state IN ('receiving', 'accepted', 'refused', 'failed')", name="mesh_state"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(100), unique=True)
    sender: Mapped[str] = mapped_column(String(32))
    workflow_id: Mapped[str] = mapped_column(String(64))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_submissions.id"))
    state: Mapped[str] = mapped_column(String(16))
    problem: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When MESH was told the message was received (and deleted it from the mailbox).
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OptOutList(Base):
    """The national data opt-out list in force: NHS-number tokens, sealed (``app/store``).

    A load replaces the list whole; only the newest row is in force.
    """

    __tablename__ = "ingest_optout_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entries: Mapped[int] = mapped_column(Integer)
    linkage_key_version: Mapped[int] = mapped_column(Integer)
    wrap_key_version: Mapped[int] = mapped_column(Integer)
    seal_key_version: Mapped[int] = mapped_column(Integer)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LinkageRun(Base):
    """One linkage job: who started it, where it is, and the snapshot it made.

    ``active`` is 1 while the run is queued or running and NULL otherwise; its unique
    constraint lets only one run be active at a time, on SQLite and PostgreSQL alike.
    """

    __tablename__ = "linkage_runs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
        CheckConstraint("active IS NULL OR active = 1", name="active_flag"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    active: Mapped[int | None] = mapped_column(Integer, unique=True, default=1)
    mode: Mapped[str] = mapped_column(String(16))  # incremental | full
    started_by: Mapped[str] = mapped_column(String(120))
    stage: Mapped[str] = mapped_column(String(40), default="queued")
    records: Mapped[int | None] = mapped_column(Integer)
    problem: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("linkage_snapshots.id"))


class LinkageSnapshot(Base):
    """A versioned linkage result: the model, its figures and the code that made it.

    ``summary`` is the engine's own account (parameters, threshold, pair counts,
    histogram, estimates, timings); ``report`` holds the counts behind the run report
    (per dataset, per borough / age band / sex), unrounded: disclosure control is
    applied when they are shown. Neither holds a token, a filter or a per-pair score.
    """

    __tablename__ = "linkage_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    previous_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    code_version: Mapped[str] = mapped_column(String(80))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    records: Mapped[int] = mapped_column(Integer)
    persons: Mapped[int] = mapped_column(Integer)
    next_person_id: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)


class AssignmentBatch(Base):
    """A sealed batch of a snapshot's record -> person assignment (``app/store``): which
    records are one person is itself patient-derived, so it is never in clear."""

    __tablename__ = "linkage_assignment_batches"
    __table_args__ = (
        Index(
            "ux_linkage_assignment_batches_snapshot_batch", "snapshot_id", "batch_no", unique=True
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("linkage_snapshots.id"))
    batch_no: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)
    seal_key_version: Mapped[int] = mapped_column(Integer)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))


class Project(Base):
    """An analysis project: a budget that several analysts' queries are also charged to."""

    __tablename__ = "release_projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProjectMember(Base):
    __tablename__ = "release_project_members"

    project_id: Mapped[int] = mapped_column(ForeignKey("release_projects.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("iam_users.id"), primary_key=True)


class Budget(Base):
    """A privacy budget for one analyst or one project in one period, in micro-units of
    the ledger's unit (integers: no rounding drift). ``spent <= total`` is a CHECK: the
    last line of defence if the service's own check were ever bypassed."""

    __tablename__ = "release_budgets"
    __table_args__ = (
        CheckConstraint("kind IN ('analyst', 'project')", name="kind"),
        CheckConstraint("spent >= 0 AND total >= 0 AND spent <= total", name="within_total"),
        Index("ux_release_budgets_subject_period", "kind", "subject_id", "period", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(Integer)  # iam_users.id or release_projects.id
    period: Mapped[str] = mapped_column(String(16))  # e.g. "FY2025-26"
    total: Mapped[int] = mapped_column(BigInteger)
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    set_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Release(Base):
    """A differentially private answer, kept so that a repeated identical query on the same
    snapshot (and opt-out list) gets the same answer without a new charge. ``status`` is
    ``pending`` from the charge until the answer is stored, ``failed`` if the mechanism
    failed (the charge stands: the data may have been touched)."""

    __tablename__ = "release_releases"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'released', 'failed')", name="status"),
        Index(
            "ux_release_releases_snapshot_plan",
            "snapshot_id",
            "plan_id",
            "data_version",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("linkage_snapshots.id"))
    plan_id: Mapped[str] = mapped_column(String(64))
    #: The opt-out list the answer honours: a change of list means a new answer.
    data_version: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    cost: Mapped[int] = mapped_column(BigInteger)  # micro-units charged
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    analyst_id: Mapped[int] = mapped_column(ForeignKey("iam_users.id"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("release_projects.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Charge(Base):
    """One entry of the privacy ledger: what a release cost, against which budgets."""

    __tablename__ = "release_charges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("release_releases.id"))
    analyst_budget_id: Mapped[int] = mapped_column(ForeignKey("release_budgets.id"))
    project_budget_id: Mapped[int | None] = mapped_column(ForeignKey("release_budgets.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GlobalBudget(Base):
    """The global privacy-loss budget of one linked dataset, across all analysts and
    projects, in micro-units of epsilon (issue 13).

    A linked dataset is a snapshot *lineage*: ``lineage_id`` is the first snapshot of a
    chain of ``linkage_snapshots.previous_id`` links, so every later snapshot of the same
    linked data shares its budget. It has no period: ``generation`` grows only when an IG
    officer renews it (audited); the current budget is the highest generation. As for
    ``release_budgets``, ``spent <= total`` is a CHECK and a trigger refuses any decrease
    of ``spent`` or any deletion, on both databases.
    """

    __tablename__ = "release_global_budgets"
    __table_args__ = (
        CheckConstraint("spent >= 0 AND total >= 0 AND spent <= total", name="within_total"),
        CheckConstraint("generation >= 1", name="generation"),
        Index(
            "ux_release_global_budgets_lineage_generation",
            "lineage_id",
            "generation",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lineage_id: Mapped[int] = mapped_column(ForeignKey("linkage_snapshots.id"))
    generation: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(BigInteger)
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    set_by: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GlobalCharge(Base):
    """What a release cost against its lineage's global budget (append-only, like
    ``release_charges``: the sum per budget is that budget's ``spent``)."""

    __tablename__ = "release_global_charges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("release_releases.id"))
    global_budget_id: Mapped[int] = mapped_column(ForeignKey("release_global_budgets.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RegisterEntry(Base):
    """The release register (issue 15): one row per query the release service decided,
    written in the same transaction as its ``query.run`` audit entry.

    ``status``: ``pending`` (charged, being answered), ``released`` (charged and
    answered), ``repeat`` (the stored answer of ``release_id``, not charged), ``failed``
    (charged, not answered) or ``refused`` (nothing charged; ``reason`` is its category,
    never an input value). ``query`` is the canonical structured query when it parsed.
    ``charge_id``/``global_charge_id`` are its ledger entries. Rows are never deleted
    and, once decided, keep who, when and what (triggers, migration 0021).
    """

    __tablename__ = "release_register"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'released', 'repeat', 'failed', 'refused')", name="status"
        ),
        Index("ix_release_register_user_id_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[str] = mapped_column(String(16))
    #: Who asked, as the audit log names them (a user name).
    actor: Mapped[str] = mapped_column(String(120))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("iam_users.id"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("release_projects.id"))
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("linkage_snapshots.id"))
    release_id: Mapped[int | None] = mapped_column(ForeignKey("release_releases.id"))
    plan_id: Mapped[str | None] = mapped_column(String(64))
    query: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(String(32))
    charge_id: Mapped[int | None] = mapped_column(ForeignKey("release_charges.id"))
    global_charge_id: Mapped[int | None] = mapped_column(ForeignKey("release_global_charges.id"))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: An IG officer's mark: the public register may show this release's answer.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_by: Mapped[str | None] = mapped_column(String(120))


class RegisterSwitch(Base):
    """Each time an IG officer switched the public register on or off (append-only);
    the newest row is in force, and with none it is off."""

    __tablename__ = "release_register_switches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public: Mapped[bool] = mapped_column(Boolean)
    set_by: Mapped[str] = mapped_column(String(120))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RegisterView(Base):
    """A view of the public register, counted per address for its rate limit and
    deleted once older than the window (as ``iam_login_failures``)."""

    __tablename__ = "release_register_views"
    __table_args__ = (Index("ix_release_register_views_address_at", "address", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
