"""Typed settings, read once from ``HSCLINK_*`` environment variables.

Nothing here is built at import time: the CLI and the app factory call
:func:`load_settings` and pass the object down.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.resources import resource_dir

__all__ = ["InsecureConfiguration", "Settings", "load_settings"]


class InsecureConfiguration(RuntimeError):
    """A setting is unsafe outside development; the service refuses to start."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HSCLINK_", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    #: PostgreSQL only: the role the application acts as (SET ROLE on each connection).
    database_role: str = "hsclink_app"
    #: Who holds the key-encryption key: ``hsm`` (a PKCS#11 token; required in
    #: production) or ``key-file`` (development only).
    key_custody: Literal["key-file", "hsm"] = "key-file"
    #: The key file (``key-file`` custody). Default: ``<data dir>-keys/master.key``, beside
    #: the data directory and never in it, so a copy of the data dir holds no key.
    master_key_file: Path | None = None
    #: The PKCS#11 module (``hsm`` custody), e.g. ``/usr/lib/softhsm/libsofthsm2.so``.
    hsm_module: Path | None = None
    hsm_token_label: str = "hsclink"  # noqa: S105 - the token's name, not a secret
    #: The token's user PIN: from a file readable by its owner only, or this variable.
    hsm_pin_file: Path | None = None
    hsm_pin: SecretStr | None = None
    audit_public_key_file: Path | None = None
    audit_witness_file: Path | None = None
    policy_dir: Path = resource_dir("policies")

    host: str = "127.0.0.1"
    port: int = 8000
    #: Terminate TLS in ``hsclink serve`` itself (deployments without a reverse proxy).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    #: Comma-separated addresses of reverse proxies whose X-Forwarded-For is believed
    #: (for per-address sign-in limits). Empty: the connecting address is the client.
    trusted_proxies: str = ""
    cookie_secure: bool = True
    session_hours: float = Field(default=8.0, gt=0)
    token_days: int = Field(default=90, gt=0, le=366)

    #: Single sign-on (OpenID Connect): the TOML file naming the trusted issuers and how
    #: their claims map to roles and organisations (see README, "Single sign-on"). Unset:
    #: no single sign-on.
    identity_file: Path | None = None
    #: The service's public base URL (``https://hsclink.example.nhs.uk``), from which the
    #: single sign-on redirect URI is built. Empty: taken from each request.
    public_url: str = ""
    #: Comma-separated roles that may still sign in with a local password (break-glass).
    #: Production sets ``operator``; the default lets every role in (the demo).
    local_login_roles: str = "analyst,ig_officer,submitter,operator"
    login_window_seconds: int = Field(default=900, gt=0)
    login_max_failures_per_account: int = Field(default=5, gt=0)
    login_max_failures_per_address: int = Field(default=20, gt=0)
    #: Views of the public release register per client address in the window above.
    public_register_max_views: int = Field(default=300, gt=0)

    audit_sign_interval_seconds: float = Field(default=300.0, ge=0)
    #: The audit log's name in its checkpoints (the C2SP origin line and the key name of
    #: its signatures): a schema-less URL, unique among the logs a witness follows.
    audit_log_origin: str = Field(default="hsclink.invalid/audit", pattern=r"^[^\s+]+$")
    #: Witnesses that cosign the log's checkpoints: comma-separated
    #: ``name=url=verifier-key`` entries, or the path of a file of such lines.
    audit_witnesses: str = ""
    #: How many witnesses must answer ``hsclink audit verify`` with a valid cosignature.
    audit_witness_quorum: int = Field(default=1, ge=0)
    #: Verify fails when the newest cosigned checkpoint is older than this many signing
    #: intervals (the cosigner refreshes it every interval, even on an idle log).
    audit_witness_max_age_intervals: float = Field(default=3.0, gt=0)
    #: Seconds the cosigner and verify wait for one witness.
    audit_witness_timeout_seconds: float = Field(default=10.0, gt=0)

    dataset_dir: Path = resource_dir("datasets")
    #: Above this share of refused rows a submission is rejected whole.
    ingest_max_bad_row_share: float = Field(default=0.05, ge=0, le=1)
    #: Rows committed per transaction while an upload streams in (the resume granularity).
    #: Each batch costs a few round trips whatever its size, paid by a writer thread that
    #: shares the interpreter lock with the pseudonymiser: end to end on PostgreSQL, 100,000
    #: rows went at ~50,000 rows/s in batches of 2,000 and ~68,000 in batches of 5,000
    #: (10,000: no faster, ~35 MiB more memory). Memory per upload grows with it.
    ingest_batch_rows: int = Field(default=5000, gt=0)
    #: Upload streams run at once per process; more wait their turn (holding no thread).
    #: Each takes a core, up to ~300 MiB of memo tables and a database connection.
    ingest_max_concurrent_uploads: int = Field(default=4, gt=0)
    #: A gzip upload may expand to at most this many times the compressed bytes read so
    #: far (past the first 1 MiB, which is always allowed). Extracts compress about 5:1
    #: to 25:1; a "zip bomb" of blank lines, about 1000:1.
    ingest_max_decompression_ratio: float = Field(default=100.0, ge=1)
    #: And to at most this many bytes in all, whatever the ratio (16 GiB).
    ingest_max_decompressed_bytes: int = Field(default=16 * 1024**3, gt=0)
    #: An upload request stops after the first batch it commits past this many seconds
    #: and answers with the offset reached; the client resumes from there (as after a
    #: dropped connection), so no request holds an upload slot for long. 0: one batch
    #: per request.
    ingest_request_seconds: float = Field(default=300.0, ge=0)
    #: The date age bands are computed at (ONS mid-year estimates use 30 June).
    reference_date: date = date(2026, 6, 30)
    #: Read the latest linkage snapshot into memory in the background when the service
    #: starts and after each linkage run it makes, so that analysts' first query does not
    #: wait for it (about a minute at London scale).
    release_warm_cache: bool = True
    #: MESH intake (``hsclink mesh poll``; README "Receiving extracts over MESH"). The
    #: mailbox's API address (e.g. https://mesh-sync.spineservices.nhs.uk; plain http only
    #: to this host), its id, and files holding its password and the environment's shared
    #: key (readable by their owner only; never logged). Empty URL: MESH is off.
    mesh_url: str = ""
    mesh_mailbox: str = ""
    mesh_password_file: Path | None = None
    mesh_shared_key_file: Path | None = None
    #: The mailbox's client certificate and key (PEM) and the CA bundle that signs the
    #: MESH server's certificate (default: mesh-client's bundle for NHS endpoints).
    mesh_client_cert_file: Path | None = None
    mesh_client_key_file: Path | None = None
    mesh_ca_file: Path | None = None
    #: Sender mailbox -> organisation, workflow id -> dataset schema (IG officers read it).
    mesh_mapping_file: Path = resource_dir("policies") / "mesh" / "mapping.toml"
    #: ``hsclink serve`` polls the mailbox every this many seconds; 0: it does not.
    mesh_poll_seconds: float = Field(default=0.0, ge=0)
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _fill_paths(self) -> Settings:
        data_dir = self.data_dir
        object.__setattr__(self, "data_dir", data_dir)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{data_dir / 'hsclink.db'}")
        if self.master_key_file is None:
            keys_dir = data_dir.parent / f"{data_dir.name or 'hsclink'}-keys"
            object.__setattr__(self, "master_key_file", keys_dir / "master.key")
        if self.audit_public_key_file is None:
            object.__setattr__(self, "audit_public_key_file", data_dir / "audit-signing.pub")
        if self.audit_witness_file is None:
            object.__setattr__(self, "audit_witness_file", data_dir / "audit-heads.jsonl")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def master_key_path(self) -> Path:
        assert self.master_key_file is not None
        return self.master_key_file

    @property
    def audit_public_key_path(self) -> Path:
        assert self.audit_public_key_file is not None
        return self.audit_public_key_file

    @property
    def audit_witness_path(self) -> Path:
        assert self.audit_witness_file is not None
        return self.audit_witness_file

    def check_safe_for_environment(self) -> None:
        """Refuse insecure settings outside development (named, never their values)."""
        if self.environment == "development":
            return
        problems = []
        if self.is_sqlite:
            problems.append("HSCLINK_DATABASE_URL must name PostgreSQL in production")
        if not self.cookie_secure:
            problems.append("HSCLINK_COOKIE_SECURE must be true in production")
        problems.extend(self._key_custody_problems())
        if not self.audit_witnesses.strip():
            problems.append(
                "HSCLINK_AUDIT_WITNESSES must name at least one witness in production (without"
                " one, nothing outside this host remembers the audit log's latest checkpoint)"
            )
        if self.audit_witness_quorum < 1:
            problems.append("HSCLINK_AUDIT_WITNESS_QUORUM must be at least 1 in production")
        if problems:
            raise InsecureConfiguration("; ".join(problems))

    def _key_custody_problems(self) -> list[str]:
        """Production keeps no key file: not as custody, not left over, never beside the
        data. (Whether the HSM lets a key out is checked when the token is opened.)"""
        problems = []
        key = self.master_key_path
        if self.key_custody == "key-file":
            problems.append(
                "HSCLINK_KEY_CUSTODY must be hsm in production (a key file is development only)"
            )
        elif key.exists():
            problems.append(
                "a key file exists at HSCLINK_MASTER_KEY_FILE: production keeps none"
                " (move its keys into the HSM with `hsclink key hsm-init --from-key-file`)"
            )
        if self.key_custody == "key-file" or key.exists():
            if _inside(key, self.data_dir):
                problems.append("HSCLINK_MASTER_KEY_FILE must not be inside HSCLINK_DATA_DIR")
            database_file = self.sqlite_path
            if database_file is not None and _same_filesystem(key, database_file):
                problems.append("HSCLINK_MASTER_KEY_FILE must not be on the database's filesystem")
            if key.exists() and key.stat().st_mode & 0o077:
                problems.append("HSCLINK_MASTER_KEY_FILE must be readable by its owner only")
        if self.key_custody == "hsm":
            if self.hsm_module is None:
                problems.append("HSCLINK_HSM_MODULE must name the PKCS#11 module")
            pin_file = self.hsm_pin_file
            if pin_file is None and self.hsm_pin is None:
                problems.append("HSCLINK_HSM_PIN_FILE (or HSCLINK_HSM_PIN) must be set")
            elif pin_file is not None and pin_file.exists() and pin_file.stat().st_mode & 0o077:
                problems.append("HSCLINK_HSM_PIN_FILE must be readable by its owner only")
            if pin_file is not None and _inside(pin_file, self.data_dir):
                problems.append("HSCLINK_HSM_PIN_FILE must not be inside HSCLINK_DATA_DIR")
        return problems

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database file, or None (PostgreSQL, or an in-memory database)."""
        if not self.is_sqlite:
            return None
        from sqlalchemy.engine import make_url

        database = make_url(self.database_url).database
        return Path(database) if database and database != ":memory:" else None


def _inside(path: Path, directory: Path) -> bool:
    return path.resolve().is_relative_to(directory.resolve())


def _same_filesystem(path: Path, other: Path) -> bool:
    """Both on one device, judged by their nearest existing directories."""

    def device(p: Path) -> int | None:
        for candidate in (p, *p.parents):
            if candidate.exists():
                return candidate.stat().st_dev
        return None  # pragma: no cover - "/" always exists

    return device(path) == device(other)


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
