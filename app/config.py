"""Typed settings, read once from ``HSCLINK_*`` environment variables.

Nothing here is built at import time: the CLI and the app factory call
:func:`load_settings` and pass the object down.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app import REPO_ROOT

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
    master_key_file: Path | None = None
    audit_public_key_file: Path | None = None
    audit_witness_file: Path | None = None
    policy_dir: Path = REPO_ROOT / "policies"

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

    login_window_seconds: int = Field(default=900, gt=0)
    login_max_failures_per_account: int = Field(default=5, gt=0)
    login_max_failures_per_address: int = Field(default=20, gt=0)

    audit_sign_interval_seconds: float = Field(default=300.0, ge=0)

    dataset_dir: Path = REPO_ROOT / "datasets"
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
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _fill_paths(self) -> Settings:
        data_dir = self.data_dir
        object.__setattr__(self, "data_dir", data_dir)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{data_dir / 'hsclink.db'}")
        if self.master_key_file is None:
            object.__setattr__(self, "master_key_file", data_dir / "master.key")
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
        key = self.master_key_path
        if key.exists() and key.stat().st_mode & 0o077:
            problems.append("HSCLINK_MASTER_KEY_FILE must be readable by its owner only")
        if problems:
            raise InsecureConfiguration("; ".join(problems))


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
