"""Ingest benchmarks: the pseudonymisation core, and end-to-end uploads over HTTP.

1. **Core** (no database, one process, one core): a synthetic ``nhs_episodes`` extract
   streamed from a file in 256 KiB chunks through ``RecordReader`` alone (CSV parsing)
   and through ``RecordReader`` + ``RowProcessor`` (normalise, validate, key: every
   token and Bloom encoding an upload makes), at ``--core-sizes`` rows. Rows/s (wall
   and per CPU second), peak RSS and the hit rates of ``PseudonymKeys``' caches; the
   RSS those caches take when filled to their bounds. Target: 100,000 rows/s. Then,
   at ``--profile-rows``, an ablation (the same pass with the Bloom encodings, then
   also the tokens, replaced by constants) and cProfile, with the top functions by
   cumulative and by self time.
2. **End to end**: for each backend and each of ``--sizes``, a fresh store (SQLite in
   a temporary directory; PostgreSQL in a throw-away database), initialised with
   ``app.services.setup.initialise``, a trust organisation ``RAL`` and a submitter
   with an API token; the real app (``create_app``) served by uvicorn in a background
   thread on 127.0.0.1; the extract uploaded with ``app.cli.upload.Uploader`` (what
   ``hsclink upload`` runs: POST with Upload-Length, then one streamed PATCH).
   Rows accepted per wall second, MB/s, CPU use, the peak RSS of that process
   (baseline before the upload, growth during it), the SQL statements executed and
   the time spent in the database driver. Target: 50,000 rows/s on PostgreSQL.

Each measurement runs in a fresh child process (this script with ``--worker``), so
that ``ru_maxrss`` is that measurement's own peak. The extract is made once with
``app.synth.write_extracts`` for the largest size; smaller sizes are its first N rows.
Everything is made under a temporary directory (and PostgreSQL databases
``hsclink_bench_<random>``) and removed at the end, even on failure.

Run from the repository root::

    .venv/bin/python benchmarks/ingest.py [--sizes 100000] [--core-sizes 100000,1000000]
                                          [--backends sqlite,postgresql] [--json]

Progress goes to standard error; the figures (a table, or JSON with ``--json``)
go to standard output.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import json
import os
import platform
import pstats
import resource
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere: import the repository's app
    sys.path.insert(0, str(REPO))

DEFAULT_POSTGRES_URL = "postgresql+psycopg://127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")
CHUNK = 256 * 1024
CORE_TARGET = 100_000  # rows/s, RecordReader + RowProcessor on one core
E2E_TARGET = 50_000  # rows/s, end to end on PostgreSQL
#: Episode rows per synthetic person is about 0.49 (seed-dependent); ask for a margin.
EPISODES_PER_PERSON = 0.47
RESULT_MARK = "@@ingest-benchmark-result@@ "
MIB = 1024 * 1024
VERSIONED = (
    "sqlalchemy",
    "psycopg",
    "fastapi",
    "starlette",
    "uvicorn",
    "h11",
    "anyio",
    "cryptography",
    "numpy",
    "pydantic",
)


def log(message: str) -> None:
    """Progress, on standard error so that ``--json`` output stays parseable."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- memory


def max_rss() -> int:
    """Peak resident set size of this process so far, in bytes (Linux: KiB * 1024)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    return 0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class RssSampler:
    """Current RSS every ``interval`` seconds in a thread, with a caller-given progress."""

    def __init__(self, progress: Callable[[], int], interval: float = 0.5) -> None:
        self.samples: list[tuple[float, int, int]] = []  # (seconds, progress, rss)
        self._progress = progress
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._start = time.perf_counter()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.samples.append(
                (time.perf_counter() - self._start, self._progress(), current_rss())
            )

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def at_fractions(self, total: int, fractions: tuple[float, ...]) -> dict[str, int | None]:
        """RSS at the first sample past each fraction of ``total`` progress."""
        out: dict[str, int | None] = {}
        for fraction in fractions:
            hit = next((rss for _, done, rss in self.samples if done >= fraction * total), None)
            out[f"{round(fraction * 100)}%"] = hit
        return out


# --------------------------------------------------------------------------- 1. core


def _file_chunks(path: Path, chunk: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            yield block


def _bench_keys() -> Any:
    """Fresh random secrets, derived exactly as ``pseudonym_keys`` derives the stored ones."""
    from privacy.pseudonym import LINKAGE_SECRET_BYTES, WRAP_SECRET_BYTES, PseudonymKeys

    return PseudonymKeys.derive(
        linkage_secret=os.urandom(LINKAGE_SECRET_BYTES),
        linkage_version=1,
        wrap_secret=os.urandom(WRAP_SECRET_BYTES),
        wrap_version=1,
    )


_CONSTANT_TOKEN = bytes(48)
_CONSTANT_BLOOM = bytes(128)


class _AblationKeys:
    """Stands in for PseudonymKeys in the ablation runs: constant Bloom encodings, and
    constant tokens too unless ``tokens`` (then the real, cached ``token`` is called)."""

    def __init__(self, real: Any, *, tokens: bool) -> None:
        self.linkage_version = real.linkage_version
        self.wrap_version = real.wrap_version
        self.token = real.token if tokens else self._constant_token

    @staticmethod
    def _constant_token(purpose: str, value: str) -> bytes:
        return _CONSTANT_TOKEN

    def bloom(self, field: str, value: str, *, salt: str = "") -> bytes:
        return _CONSTANT_BLOOM


def _cache_stats(keys: Any) -> dict[str, Any]:
    """Hits, misses and fill of PseudonymKeys' in-memory caches (private attributes)."""
    out: dict[str, Any] = {}
    with contextlib.suppress(AttributeError, TypeError):
        for purpose, compute in keys._tokens.items():
            info = getattr(compute, "cache_info", None)
            if info is not None:
                i = info()
                out[f"token {purpose}"] = {
                    "hits": i.hits,
                    "misses": i.misses,
                    "entries": i.currsize,
                    "max_entries": i.maxsize,
                }
        for name, encoder in keys._encoders.items():
            i = encoder._cached.cache_info()
            out[f"bloom {name}"] = {
                "hits": i.hits,
                "misses": i.misses,
                "entries": i.currsize,
                "max_entries": i.maxsize,
                "qgram_masks": encoder._entries[0],
                "max_qgram_masks": encoder.qgram_cache,
            }
    return out


@dataclass
class CorePass:
    run: Callable[[], dict[str, Any]]
    progress: Callable[[], int]  # bytes read so far
    total: int  # bytes in the file


#: Core modes: what runs per record.
CORE_MODES = {
    "reader": "RecordReader alone",
    "process": "RecordReader + RowProcessor",
    "process-nobloom": "RowProcessor with constant Bloom encodings (real tokens)",
    "process-nokeys": "RowProcessor with constant tokens and Bloom encodings",
}


def _core_prepare(path: Path, mode: str, chunk: int) -> CorePass:
    """Set up a pass (reader, header, schema, keys, processor); the pass itself is returned."""
    from app.config import Settings
    from app.ingest.reader import RecordReader
    from app.ingest.rows import RowProcessor
    from app.ingest.schema import load_schemas

    total = path.stat().st_size
    reader = RecordReader(_file_chunks(path, chunk), upload_length=total)
    records = reader.records()
    header = next(records)
    schema = load_schemas(REPO / "datasets")["nhs_episodes"]
    keys = _bench_keys()
    used = keys
    if mode != "process":
        used = _AblationKeys(keys, tokens=mode == "process-nobloom")
    processor = RowProcessor(
        schema,
        schema.match_header(header.fields),
        used,
        reference_date=Settings().reference_date,
        today=date.today(),
    )

    def read_only() -> dict[str, Any]:
        rows = 0
        for _ in records:
            rows += 1
        return {"rows": rows, "refused": None, "bytes": reader.received}

    def read_and_process() -> dict[str, Any]:
        # Batches as the upload service makes them (HSCLINK_INGEST_BATCH_ROWS).
        rows = refused = 0
        process = processor.process_batch
        batch: list[Any] = []
        size = Settings().ingest_batch_rows
        for record in records:
            batch.append(record)  # as the upload service does: records go in as they are
            if len(batch) >= size:
                rows += len(batch)
                refused += process(batch).refused
                batch = []
        if batch:
            rows += len(batch)
            refused += process(batch).refused
        result: dict[str, Any] = {"rows": rows, "refused": refused, "bytes": reader.received}
        if mode == "process":
            result["caches"] = _cache_stats(keys)
        return result

    return CorePass(
        read_only if mode == "reader" else read_and_process, lambda: reader.received, total
    )


def worker_core(spec: dict[str, Any]) -> dict[str, Any]:
    core = _core_prepare(Path(spec["path"]), spec["mode"], spec["chunk"])
    gc.collect()
    baseline, baseline_now = max_rss(), current_rss()
    cpu, wall = cpu_seconds(), time.perf_counter()
    with RssSampler(core.progress) as sampler:
        figures = core.run()
    wall = time.perf_counter() - wall
    cpu = cpu_seconds() - cpu
    peak = max_rss()
    return {
        **figures,
        "mode": spec["mode"],
        "seconds": wall,
        "cpu_seconds": cpu,
        "rows_per_second": figures["rows"] / wall,
        "rows_per_cpu_second": figures["rows"] / cpu if cpu else None,
        "mb_per_second": figures["bytes"] / 1e6 / wall,
        "baseline_rss_bytes": baseline_now,
        "baseline_max_rss_bytes": baseline,
        "peak_rss_bytes": peak,
        "rss_growth_bytes": peak - baseline,
        "rss_during": sampler.at_fractions(core.total, (0.1, 0.25, 0.5, 0.75)),
        "final_rss_bytes": current_rss(),
    }


def worker_ceiling(spec: dict[str, Any]) -> dict[str, Any]:
    """RSS growth with PseudonymKeys' caches filled to their bounds with random values.

    Every LRU (each cached token purpose and each Bloom field: ``cache_size`` values)
    is filled, and the family_name q-gram table (the only salted field: the salt is the
    birth year, so its table can grow to the limit) is filled to just below the count
    at which it is emptied. The other fields' tables hold the q-grams of a small
    alphabet (a few thousand at most) and are left as the random values make them.
    """
    import random
    import string

    from privacy.pseudonym import BLOOM_FIELDS, TOKEN_PURPOSES, UNCACHED_PURPOSES

    keys = _bench_keys()
    rng = random.Random(spec["seed"])
    upper, mixed = string.ascii_uppercase, string.ascii_letters + string.digits
    size = keys.cache_size
    gc.collect()
    baseline = max_rss()
    cpu, wall = cpu_seconds(), time.perf_counter()
    for purpose in TOKEN_PURPOSES:
        if purpose not in UNCACHED_PURPOSES:
            for _ in range(size):
                keys.token(purpose, "".join(rng.choices(upper, k=10)))
    for name in BLOOM_FIELDS:
        for _ in range(size):
            keys.bloom(name, "".join(rng.choices(upper, k=10)))
    encoder = keys._encoders["family_name"]
    limit = encoder.qgram_cache - 16  # one value adds at most 11 q-grams
    while encoder._entries[0] < limit:
        keys.bloom(
            "family_name", "".join(rng.choices(mixed, k=10)), salt=str(rng.randrange(1900, 2030))
        )
    wall = time.perf_counter() - wall
    peak = max_rss()
    return {
        "seconds": wall,
        "cpu_seconds": cpu_seconds() - cpu,
        "baseline_max_rss_bytes": baseline,
        "peak_rss_bytes": peak,
        "rss_growth_bytes": peak - baseline,
        "caches": _cache_stats(keys),
    }


def _where(code: Any) -> str:
    filename, line, name = code
    if filename == "~":
        return name  # a built-in
    try:
        shown = str(Path(filename).resolve().relative_to(REPO))
    except ValueError:
        parts = Path(filename).parts
        shown = "/".join(
            parts[parts.index("site-packages") + 1 :] if "site-packages" in parts else parts[-2:]
        )
    return f"{shown}:{line}({name})"


#: (label, file suffix, function name) whose cumulative time makes up the breakdown.
BREAKDOWN = (
    ("RecordReader.records (CSV parsing, decoding)", "app/ingest/reader.py", "records"),
    ("RowProcessor.process_batch (everything per row)", "app/ingest/rows.py", "process_batch"),
    ("  date of birth (memo misses)", "app/ingest/rows.py", "_dob"),
    ("  postcode (memo misses)", "app/ingest/rows.py", "_postcode"),
    ("  given name (memo misses)", "app/ingest/rows.py", "_given"),
    ("  family name (memo misses)", "app/ingest/rows.py", "_family"),
    ("  kept attributes (memo misses)", "app/ingest/rows.py", "_attribute_outcome"),
    ("  PseudonymKeys.bloom (Bloom encodings, all callers)", "privacy/pseudonym.py", "bloom"),
    ("    BloomEncoder._mask (HMAC positions, cache misses)", "privacy/bloom.py", "_mask"),
    ("  PseudonymKeys.token (tokens, all callers)", "privacy/pseudonym.py", "token"),
    (
        "    _compute_token (HMAC + AES-SIV, cache misses)",
        "privacy/pseudonym.py",
        "_compute_token",
    ),
    ("  NHS number (validation)", "privacy/nhs_number.py", "nhs_number"),
)


def worker_profile(spec: dict[str, Any]) -> dict[str, Any]:
    top = spec["top"]
    run = _core_prepare(Path(spec["path"]), "process", spec["chunk"]).run
    profiler = cProfile.Profile()
    wall = time.perf_counter()
    profiler.enable()
    figures = run()
    profiler.disable()
    wall = time.perf_counter() - wall
    stats = pstats.Stats(profiler)
    entries = [
        {
            "function": _where(code),
            "calls": nc,
            "primitive_calls": cc,
            "self_seconds": tt,
            "cumulative_seconds": ct,
        }
        for code, (cc, nc, tt, ct, _callers) in stats.stats.items()  # type: ignore[attr-defined]
    ]
    total = stats.total_tt  # type: ignore[attr-defined]
    breakdown = []
    for label, suffix, name in BREAKDOWN:
        found = [
            ct
            for (filename, _line, fn), (_cc, _nc, _tt, ct, _c) in stats.stats.items()  # type: ignore[attr-defined]
            if fn == name and filename.endswith(suffix)
        ]
        seconds = max(found) if found else 0.0
        breakdown.append({"label": label, "seconds": seconds, "share": seconds / total})
    by_cumulative = sorted(entries, key=lambda e: -e["cumulative_seconds"])[:top]
    by_self = sorted(entries, key=lambda e: -e["self_seconds"])[:top]
    return {
        **figures,
        "seconds": wall,
        "profiled_seconds": total,
        "rows_per_second_under_profiler": figures["rows"] / wall,
        "breakdown": breakdown,
        "top_cumulative": by_cumulative,
        "top_self": by_self,
    }


# --------------------------------------------------------------------------- 2. end to end


def _serve(app: Any) -> tuple[Any, threading.Thread, int]:
    """uvicorn in a background thread on a free loopback port (the socket is bound first)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, access_log=False, log_config=None, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return server, thread, port


def _http_get(port: int, path: str, token: str | None = None) -> tuple[int, Any]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        conn.close()


class SqlStats:
    """Statements executed, and the time spent inside the DBAPI cursor, while ``active``.

    The time covers the driver (parameter adaptation, sending, the server's work, the
    reply), not SQLAlchemy's own statement and parameter processing around it.
    """

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.active = False
        self.statements = 0
        self.record_inserts = 0
        self.seconds = 0.0
        self._started = threading.local()
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        # Record rows bypass SQLAlchemy (app/db/bulk.py: COPY on PostgreSQL, executemany of
        # tuples on SQLite): time the service's bulk_insert itself, as one statement a batch.
        import app.services.ingest as ingest_service

        real = ingest_service.bulk_insert

        def timed(session: Any, table: Any, columns: Any, rows: Any) -> None:
            started = time.perf_counter()
            try:
                real(session, table, columns, rows)
            finally:
                if self.active:
                    self.seconds += time.perf_counter() - started
                    self.statements += 1
                    self.record_inserts += 1

        ingest_service.bulk_insert = timed  # type: ignore[assignment]

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self._started.at = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started = getattr(self._started, "at", None)
        if not self.active or started is None:
            return
        self.seconds += time.perf_counter() - started
        self.statements += 1
        if statement.lstrip().upper().startswith("INSERT INTO INGEST_RECORDS"):
            self.record_inserts += 1


def _database_bytes(ctx: Any) -> int | None:
    from sqlalchemy import text

    with contextlib.suppress(Exception):
        if ctx.settings.is_sqlite:
            db = Path(ctx.settings.database_url.removeprefix("sqlite:///"))
            return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
        with ctx.engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())
    return None


def worker_e2e(spec: dict[str, Any]) -> dict[str, Any]:
    import logging

    from sqlalchemy import func, select

    from app.auth.actor import Actor
    from app.bootstrap import create_app
    from app.cli.upload import Uploader
    from app.config import Settings
    from app.db.models import IngestRecord, Submission
    from app.logs import configure_logging
    from app.services import identity, setup
    from app.services.context import ServiceContext

    configure_logging("WARNING")
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    path = Path(spec["path"])
    length = path.stat().st_size
    settings = Settings(
        data_dir=Path(spec["data_dir"]),
        database_url=spec["database_url"],
        policy_dir=REPO / "policies",
        dataset_dir=REPO / "datasets",
        audit_sign_interval_seconds=0,
    )
    ctx = ServiceContext.build(settings)
    result: dict[str, Any] = {
        "ingest_batch_rows": settings.ingest_batch_rows,
        "bytes": length,
    }
    server = thread = None
    try:
        t0 = time.perf_counter()
        cli = Actor.cli()
        setup.initialise(ctx, actor=cli)
        setup.ensure_operator_organisation(ctx, actor=cli, code="HSCOPS")
        identity.create_organisation(
            ctx, actor=cli, code="RAL", name="Royal Free London NHS Foundation Trust", kind="trust"
        )
        identity.create_user(
            ctx, actor=cli, username="bench.submitter", role="submitter", organisation="RAL"
        )
        token = identity.issue_token(ctx, actor=cli, username="bench.submitter").token
        server, thread, port = _serve(create_app(settings, ctx=ctx))
        result["setup_seconds"] = time.perf_counter() - t0
        # Warm up: one authenticated request through the middleware, policy and routes.
        status, _ = _http_get(port, "/api/v1/datasets", token)
        if status != 200:
            raise RuntimeError(f"warm-up request answered {status}")

        uploader = Uploader(
            f"http://127.0.0.1:{port}",
            token,
            state_file=Path(spec["data_dir"]) / "client-uploads.json",
        )
        sent = [0]
        marks: dict[str, float] = {}
        resumes: list[int] = []

        def on_bytes(chunk: bytes) -> None:
            if not sent[0]:
                marks["first_byte"] = time.perf_counter()
            sent[0] += len(chunk)

        def on_resume(offset: int) -> None:
            resumes.append(offset)
            marks.setdefault("resume", time.perf_counter())

        sql = SqlStats(ctx.engine)
        gc.collect()
        baseline_max, baseline_now = max_rss(), current_rss()
        cpu = cpu_seconds()
        sql.active = True
        log(f"{spec['backend']}: uploading {length / MIB:,.1f} MiB ({spec['rows']:,} rows)")
        start = time.perf_counter()

        last = [0]

        def committed() -> int:
            """Bytes the server has committed (rows stored), read from its database."""
            with contextlib.suppress(Exception), ctx.reads() as session:
                last[0] = int(session.scalar(select(func.max(Submission.upload_offset))) or 0)
            return last[0]

        with RssSampler(committed) as sampler:
            answer = uploader.upload(path, "nhs_episodes", on_bytes=on_bytes, on_resume=on_resume)
        end = time.perf_counter()
        sql.active = False
        cpu = cpu_seconds() - cpu
        peak = max_rss()
        upload_seconds = end - marks.get("resume", start)
        accepted = int(answer.get("rows_accepted", 0))
        with ctx.reads() as session:
            stored = session.scalar(
                select(func.count())
                .select_from(IngestRecord)
                .where(IngestRecord.submission_id == answer["id"])
            )
        result.update(
            {
                "status": answer.get("status"),
                "problem": answer.get("problem"),
                "rows_seen": answer.get("rows_seen"),
                "rows_accepted": accepted,
                "rows_rejected": answer.get("rows_rejected"),
                "rows_stored": stored,
                "sha256_verified": answer.get("sha256_verified"),
                "resumed": len(resumes) - 1,
                "client_sha256_seconds": marks.get("resume", start) - start,
                "upload_seconds": upload_seconds,
                "total_seconds": end - start,
                "rows_per_second": accepted / upload_seconds,
                "mb_per_second": length / 1e6 / upload_seconds,
                "cpu_seconds": cpu,
                "cpu_share": cpu / (end - start),
                "baseline_rss_bytes": baseline_now,
                "baseline_max_rss_bytes": baseline_max,
                "peak_rss_bytes": peak,
                "final_rss_bytes": current_rss(),
                "rss_growth_bytes": peak - baseline_max,
                "rss_during": sampler.at_fractions(length, (0.25, 0.5, 0.75, 1.0)),
                "database_bytes": _database_bytes(ctx),
                "sql_statements": sql.statements,
                "sql_record_inserts": sql.record_inserts,
                "rows_per_record_insert": accepted / sql.record_inserts
                if sql.record_inserts
                else None,
                "sql_seconds": sql.seconds,
                "sql_share": sql.seconds / upload_seconds,
            }
        )
    finally:
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=60)
        ctx.close()
    return result


# --------------------------------------------------------------------------- workers


def run_worker(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """This script in a child process; its last stdout line marked RESULT_MARK is the result."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    completed = subprocess.run(
        command, stdout=subprocess.PIPE, text=True, timeout=timeout, check=False, cwd=REPO
    )
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return dict(json.loads(line[len(RESULT_MARK) :]))
    raise RuntimeError(f"the {spec['kind']} worker failed (exit status {completed.returncode})")


def worker_main(raw: str) -> int:
    spec = json.loads(raw)
    kinds = {
        "core": worker_core,
        "profile": worker_profile,
        "ceiling": worker_ceiling,
        "e2e": worker_e2e,
    }
    try:
        result = kinds[spec["kind"]](spec)
    except Exception as error:
        import traceback

        traceback.print_exc()
        result = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
    result["load_average_after"] = os.getloadavg()
    print(RESULT_MARK + json.dumps(result, default=str), flush=True)
    return 0


# --------------------------------------------------------------------------- data


@dataclass
class Extract:
    rows: int
    path: Path
    bytes: int


def make_extracts(
    sizes: list[int], workdir: Path, seed: int, keep: Path | None
) -> tuple[dict[int, Extract], dict[str, Any]]:
    """One ``write_extracts`` run for the largest size; the others are its first N rows."""
    from app.ingest.reader import RecordReader
    from app.synth import write_extracts

    largest = max(sizes)
    persons = int(largest / EPISODES_PER_PERSON) + 2000
    home = keep if keep is not None else workdir
    info: dict[str, Any] = {"seed": seed}
    while True:
        outdir = home / f"synth-seed{seed}-persons{persons}"
        source = outdir / "nhs_episodes.csv"
        if source.exists():
            log(f"reusing {source}")
            info["generate_seconds"] = 0.0
            info["reused"] = True
        else:
            log(f"write_extracts(persons={persons:,}, seed={seed}) for {largest:,} episode rows")
            t0 = time.perf_counter()
            report = write_extracts(outdir, persons=persons, seed=seed)
            info["generate_seconds"] = time.perf_counter() - t0
            info["reused"] = False
            log(f"  {report.episodes:,} episode rows in {info['generate_seconds']:.0f} s")
        # The byte offset after each wanted record (quoted newlines are handled).
        wanted = set(sizes)
        cut: dict[int, int] = {}
        reader = RecordReader(_file_chunks(source, CHUNK), upload_length=source.stat().st_size)
        available = -1  # the header is record 0
        for record in reader.records():
            available += 1
            if available in wanted:
                cut[available] = record.end_offset
                if len(cut) == len(wanted):
                    break
        if len(cut) == len(wanted):
            break
        persons = int(persons * largest / max(available, 1) * 1.05) + 2000
        log(f"  only {available:,} rows; generating again with {persons:,} persons")
    info["persons"] = persons
    info["source"] = str(source)
    extracts: dict[int, Extract] = {}
    for rows in sorted(sizes):
        target = workdir / f"nhs_episodes_{rows}.csv"
        with source.open("rb") as src, target.open("wb") as dst:
            remaining = cut[rows]
            while remaining:
                block = src.read(min(remaining, 8 * MIB))
                dst.write(block)
                remaining -= len(block)
        extracts[rows] = Extract(rows, target, target.stat().st_size)
    return extracts, info


# --------------------------------------------------------------------------- stores


def _normalise_pg_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


class Postgres:
    """Throw-away databases on the server behind the admin URL; all dropped in ``close``."""

    def __init__(self, admin_url: str) -> None:
        from sqlalchemy import create_engine, text

        self.admin_url = _normalise_pg_url(admin_url)
        self._text = text
        self.engine = create_engine(
            self.admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        self.created: list[str] = []
        with self.engine.connect() as conn:
            self.version = str(conn.execute(text("SHOW server_version")).scalar())

    def create(self) -> str:
        from sqlalchemy.engine import make_url

        name = f"hsclink_bench_{uuid.uuid4().hex[:12]}"
        with self.engine.connect() as conn:
            conn.execute(self._text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        log(f"created PostgreSQL database {name}")
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        with self.engine.connect() as conn:
            conn.execute(self._text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.created:
            self.created.remove(name)
        log(f"dropped PostgreSQL database {name}")

    def close(self) -> None:
        for name in list(self.created):
            with contextlib.suppress(Exception), self.engine.connect() as conn:
                conn.execute(self._text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                log(f"dropped PostgreSQL database {name}")
        self.engine.dispose()


# --------------------------------------------------------------------------- reporting


def git_revision() -> str | None:
    """HEAD, and whether the measured code (app, privacy, datasets) differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "app", "privacy", "datasets"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + (" with uncommitted changes to app/privacy/datasets" if changed else "")


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": git_revision(),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model,
        "memory_bytes": memory,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "libraries": versions,
        "hsclink_env": sorted(k for k in os.environ if k.startswith("HSCLINK_")),
    }


def _n(value: Any, fmt: str = "{:,.0f}", scale: float = 1.0) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int | float):
        return fmt.format(value * scale)
    return str(value)


def _table(title: str, columns: list[str], rows: list[tuple[str, str, list[str]]]) -> None:
    label_width = max([44, *(len(r[0]) for r in rows)])
    col = max([14, *(len(c) + 2 for c in columns), *(len(c) + 2 for r in rows for c in r[2])])
    header = f"{'figure':<{label_width}} {'unit':<9}" + "".join(f"{c:>{col}}" for c in columns)
    print(title)
    print(header)
    print("-" * len(header))
    for label, unit, cells in rows:
        print(f"{label:<{label_width}} {unit:<9}" + "".join(f"{c:>{col}}" for c in cells))
    print()


def _get(result: dict[str, Any] | None, key: str) -> Any:
    return None if result is None else result.get(key)


def print_caches(sizes: list[int], proc: list[dict[str, Any] | None]) -> None:
    caches = [(_get(r, "caches") or {}) for r in proc]
    names = sorted({name for c in caches for name in c})
    if not names:
        return
    rows = []
    for name in names:
        cells = []
        for c in caches:
            item = c.get(name)
            if item is None:
                cells.append("-")
                continue
            calls = item["hits"] + item["misses"]
            rate = 100 * item["hits"] / calls if calls else 0.0
            full = " full" if item["entries"] >= item["max_entries"] else ""
            cells.append(f"{rate:.0f} % of {calls:,}{full}")
        rows.append((name, "hits", cells))
    qgram_rows = []
    for name in names:
        if not name.startswith("bloom "):
            continue
        cells = []
        for c in caches:
            item = c.get(name)
            cells.append(
                "-" if item is None else f"{item['qgram_masks']:,} of {item['max_qgram_masks']:,}"
            )
        qgram_rows.append((f"{name}: q-gram masks held", "entries", cells))
    _table(
        "PseudonymKeys caches after reader + RowProcessor (LRU of 32,768 values each; q-gram"
        " mask tables are emptied when full); nhs_number and record_id are never cached",
        [f"{s:,} rows" for s in sizes],
        rows + qgram_rows,
    )


def print_ablation(ablation: dict[str, Any] | None) -> None:
    """CPU seconds of the same pass with parts replaced by constants: no profiler overhead."""
    if not ablation:
        return
    runs = ablation["runs"]
    cpu = {mode: (runs.get(mode) or {}).get("cpu_seconds") for mode in CORE_MODES}
    if any(v is None for v in cpu.values()):
        print("ablation incomplete: " + ", ".join(m for m, v in cpu.items() if v is None))
        return
    total = cpu["process"]
    parts = [
        ("CSV parsing and decoding (RecordReader alone)", cpu["reader"]),
        (
            "normalise + validate (RowProcessor, constant keys)",
            cpu["process-nokeys"] - cpu["reader"],
        ),
        (
            "tokens: HMAC-SHA256 + AES-SIV with LRU caches",
            cpu["process-nobloom"] - cpu["process-nokeys"],
        ),
        ("Bloom encodings (4 a row) with caches", cpu["process"] - cpu["process-nobloom"]),
    ]
    print(
        f"Where the time goes, without a profiler ({ablation['rows']:,} rows; CPU seconds of"
        " separate runs with parts replaced by constants; differences of noisy runs):"
    )
    for label, seconds in parts:
        print(f"  {label:<58} {seconds:7.2f} s {100 * seconds / total:5.1f} %")
    print(f"  {'total: reader + RowProcessor':<58} {total:7.2f} s")
    rate = ablation["rows"] / cpu["process-nobloom"]
    print(f"  rows per CPU second without the Bloom encodings: {rate:,.0f}")
    rate = ablation["rows"] / cpu["process-nokeys"]
    print(f"  rows per CPU second without any keying: {rate:,.0f}")
    print()


def print_core(report: dict[str, Any]) -> None:
    core = report["core"]
    if not core:
        return
    sizes = sorted({int(k) for k in core})
    columns = [f"{s:,} rows" for s in sizes]
    reader = [core[str(s)].get("reader") for s in sizes]
    proc = [core[str(s)].get("process") for s in sizes]
    rows: list[tuple[str, str, list[str]]] = []
    for name, results in (("reader alone", reader), ("reader + RowProcessor", proc)):
        rows += [
            (f"{name}: rate", "rows/s", [_n(_get(r, "rows_per_second")) for r in results]),
            (
                "  per CPU second",
                "rows/s",
                [_n(_get(r, "rows_per_cpu_second")) for r in results],
            ),
            ("  wall", "s", [_n(_get(r, "seconds"), "{:.2f}") for r in results]),
            ("  throughput", "MB/s", [_n(_get(r, "mb_per_second"), "{:.1f}") for r in results]),
            (
                "  peak RSS",
                "MiB",
                [_n(_get(r, "peak_rss_bytes"), "{:.1f}", 1 / MIB) for r in results],
            ),
            (
                "  RSS growth over the baseline",
                "MiB",
                [_n(_get(r, "rss_growth_bytes"), "{:.1f}", 1 / MIB) for r in results],
            ),
        ]
    for fraction in ("10%", "25%", "50%", "75%"):
        rows.append(
            (
                f"  RSS (reader + RowProcessor) at {fraction} of the file",
                "MiB",
                [_n((_get(r, "rss_during") or {}).get(fraction), "{:.1f}", 1 / MIB) for r in proc],
            )
        )
    rows.append(
        (
            "  RSS (reader + RowProcessor) at the end",
            "MiB",
            [_n(_get(r, "final_rss_bytes"), "{:.1f}", 1 / MIB) for r in proc],
        )
    )
    rows.append(("rows refused by RowProcessor", "rows", [_n(_get(r, "refused")) for r in proc]))
    _table(
        "1. Pseudonymisation core: one process, no database, 256 KiB chunks from a file",
        columns,
        rows,
    )
    for size, r in zip(sizes, proc, strict=True):
        if r is None or "rows_per_second" not in r:
            print(f"  {size:,} rows: {r.get('error') if r else 'not run'}")
            continue
        rate = r["rows_per_second"]
        if rate >= CORE_TARGET:
            print(f"  target >= {CORE_TARGET:,} rows/s at {size:,} rows: met ({rate:,.0f} rows/s)")
        else:
            print(
                f"  TARGET MISSED at {size:,} rows: {rate:,.0f} rows/s"
                f" ({r['rows_per_cpu_second']:,.0f} per CPU second) is"
                f" {CORE_TARGET / rate:.0f}x short of {CORE_TARGET:,} rows/s"
            )
    ceiling = report.get("cache_ceiling")
    if ceiling and "rss_growth_bytes" in ceiling:
        print(
            f"  cache ceiling: RSS growth {ceiling['rss_growth_bytes'] / MIB:,.1f} MiB with every"
            " PseudonymKeys LRU and the family_name q-gram table filled with random values"
            " (separate process). The caches are bounded; a real pass adds allocator"
            " fragmentation from the values passing through them"
        )
    elif ceiling:
        print(f"  cache ceiling: {ceiling.get('error')}")
    print()
    print_caches(sizes, proc)
    print_ablation(report.get("ablation"))
    profile = report.get("profile")
    if profile and "breakdown" in profile:
        print(
            f"Where the time goes: cProfile of reader + RowProcessor on {profile['rows']:,} rows"
            f" ({profile['seconds']:.1f} s under the profiler,"
            f" {profile['rows_per_second_under_profiler']:,.0f} rows/s; the profiler slows"
            " Python calls, so compare shares, not seconds)"
        )
        total = profile["profiled_seconds"]
        for item in profile["breakdown"]:
            print(f"  {item['label']:<58} {item['seconds']:7.2f} s {100 * item['share']:5.1f} %")
        print(f"  {'total profiled':<58} {total:7.2f} s")
        print()
        for key, title in (
            ("top_cumulative", "by cumulative time"),
            ("top_self", "by self time"),
        ):
            print(f"  top {len(profile[key])} functions {title}:")
            print(f"  {'calls':>12} {'self s':>8} {'cum s':>8}  function")
            for e in profile[key]:
                calls = (
                    f"{e['calls']}/{e['primitive_calls']}"
                    if e["calls"] != e["primitive_calls"]
                    else str(e["calls"])
                )
                print(
                    f"  {calls:>12} {e['self_seconds']:8.3f} {e['cumulative_seconds']:8.3f}"
                    f"  {e['function']}"
                )
            print()
    elif profile:
        print(f"profile: {profile.get('error')}")


def print_e2e(report: dict[str, Any]) -> None:
    results = report["end_to_end"]
    if not results:
        return
    columns = [f"{r['backend']} {r['rows']:,}" for r in results]

    def cells(key: str, fmt: str = "{:,.0f}", scale: float = 1.0) -> list[str]:
        return [_n(r.get(key), fmt, scale) for r in results]

    def during(fraction: str) -> list[str]:
        return [_n((r.get("rss_during") or {}).get(fraction), "{:.1f}", 1 / MIB) for r in results]

    rows = [
        ("submission status", "", cells("status", "{}")),
        ("rows accepted", "rows", cells("rows_accepted")),
        ("rows refused", "rows", cells("rows_rejected")),
        ("rows stored (count of ingest_records)", "rows", cells("rows_stored")),
        ("upload wall (POST + streamed PATCH)", "s", cells("upload_seconds", "{:.1f}")),
        ("rate: rows accepted / upload wall", "rows/s", cells("rows_per_second")),
        ("throughput", "MB/s", cells("mb_per_second", "{:.2f}")),
        ("client SHA-256 pass before POST", "s", cells("client_sha256_seconds", "{:.2f}")),
        ("CPU of the process / wall (1.0 = one core)", "", cells("cpu_share", "{:.2f}")),
        ("RSS before the upload (current)", "MiB", cells("baseline_rss_bytes", "{:.1f}", 1 / MIB)),
        (
            "peak RSS before the upload (ru_maxrss)",
            "MiB",
            cells("baseline_max_rss_bytes", "{:.1f}", 1 / MIB),
        ),
        (
            "peak RSS after the upload (ru_maxrss)",
            "MiB",
            cells("peak_rss_bytes", "{:.1f}", 1 / MIB),
        ),
        ("  growth during the upload", "MiB", cells("rss_growth_bytes", "{:.1f}", 1 / MIB)),
        ("  RSS when 25 % of the file was committed", "MiB", during("25%")),
        ("  RSS when 50 % of the file was committed", "MiB", during("50%")),
        ("  RSS when 75 % of the file was committed", "MiB", during("75%")),
        ("  RSS after the upload (current)", "MiB", cells("final_rss_bytes", "{:.1f}", 1 / MIB)),
        ("database size after the upload", "MiB", cells("database_bytes", "{:.0f}", 1 / MIB)),
        ("SQL statements during the upload", "count", cells("sql_statements")),
        ("  of which bulk inserts into ingest_records", "count", cells("sql_record_inserts")),
        (
            "  rows per bulk insert (COPY / executemany)",
            "rows",
            cells("rows_per_record_insert", "{:.1f}"),
        ),
        ("time inside the DBAPI cursor (driver + server)", "s", cells("sql_seconds", "{:.1f}")),
        ("  share of the upload wall", "", cells("sql_share", "{:.2f}")),
        ("resumed (connection retries)", "count", cells("resumed")),
    ]
    _table(
        "2. End to end: uvicorn + HTTP (POST, then one streamed PATCH), fresh store each",
        columns,
        rows,
    )
    for r in results:
        if "error" in r:
            print(f"  {r['backend']} {r['rows']:,}: ERROR {r['error']}")
    ceiling = report.get("cache_ceiling") or {}
    if "rss_growth_bytes" in ceiling:
        print(
            f"  for comparison, PseudonymKeys' caches filled to their bounds add"
            f" {ceiling['rss_growth_bytes'] / MIB:,.1f} MiB (cache ceiling, section 1); each"
            " upload request derives its own keys, so each concurrent upload has its own caches"
        )
    pg = [r for r in results if r["backend"] == "postgresql" and "rows_per_second" in r]
    for r in pg:
        rate = r["rows_per_second"]
        verdict = (
            f"met ({rate:,.0f} rows/s)"
            if rate >= E2E_TARGET
            else f"MISSED: {rate:,.0f} rows/s is {E2E_TARGET / rate:.0f}x short"
        )
        print(f"  target >= {E2E_TARGET:,} rows/s on PostgreSQL at {r['rows']:,} rows: {verdict}")
    print()


def print_report(report: dict[str, Any]) -> None:
    info = report["machine"]
    print("hsclink ingest benchmark")
    memory = f", {info['memory_bytes'] / 2**30:.1f} GiB RAM" if info["memory_bytes"] else ""
    print(f"  date:     {info['date']}")
    print(f"  code:     git {info['git'] or 'unknown'}")
    print(f"  machine:  nproc {info['nproc']}, {info['cpu']}{memory}")
    print(f"  python:   {info['implementation']} {info['python']} on {info['platform']}")
    libs = ", ".join(f"{k} {v}" for k, v in info["libraries"].items() if v)
    print(f"  stack:    {libs}, SQLite {info['sqlite']}")
    if report.get("postgresql_server"):
        print(f"  postgres: PostgreSQL {report['postgresql_server']}")
    load = "/".join(f"{x:.2f}" for x in info["load_average_at_start"])
    print(f"  load:     {load} (1/5/15-minute load average at start; other work skews figures)")
    data = report.get("data", {})
    if data:
        sizes = ", ".join(f"{int(k):,} rows = {v / 1e6:.1f} MB" for k, v in data["bytes"].items())
        how = "reused" if data.get("reused") else f"made in {data['generate_seconds']:.0f} s"
        print(
            f"  data:     app.synth.write_extracts(persons={data['persons']:,},"
            f" seed={data['seed']}) nhs_episodes.csv, {how}; {sizes}"
        )
    if info["hsclink_env"]:
        print(f"  env:      {', '.join(info['hsclink_env'])} set (Settings read them)")
    for note in report["notes"]:
        print(f"  note:     {note}")
    print(f"  command:  {report['command']}")
    print()
    print_core(report)
    print_e2e(report)
    loads = report.get("loads", [])
    if loads:
        print("load average (1 min) after each measurement:")
        print("  " + "; ".join(f"{name} {value:.2f}" for name, value in loads))
    print(f"total run time: {report['total_seconds']:.0f} s")


# --------------------------------------------------------------------------- main


def _sizes(text: str) -> list[int]:
    values = sorted({int(v.replace("_", "").replace(",", "")) for v in text.split() if v})
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("sizes are positive row counts")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda s: _sizes(s.replace(",", " ")),
        default=[100_000],
        help="end-to-end upload sizes in rows (default 100000; 100000,1000000 for both)",
    )
    parser.add_argument(
        "--core-sizes",
        type=lambda s: _sizes(s.replace(",", " ")),
        default=[100_000, 1_000_000],
        help="sizes for the core measurement (default 100000,1000000); empty string: skip",
    )
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="admin connection used to CREATE and DROP the throw-away databases",
    )
    parser.add_argument(
        "--profile-rows", type=int, default=100_000, help="rows to profile (0: no profile)"
    )
    parser.add_argument("--top", type=int, default=15, help="functions listed per profile order")
    parser.add_argument("--seed", type=int, default=20240611, help="synthetic data seed")
    parser.add_argument(
        "--keep-data",
        type=Path,
        help="make (or reuse) the synthetic extract in this directory and keep it",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds before a measurement is abandoned"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--json-file", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if args.profile_rows < 0 or args.top < 1:
        parser.error("--profile-rows >= 0, --top >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    if len(raw) == 2 and raw[0] == "--worker":
        return worker_main(raw[1])
    args = parse_args(argv)
    # A plain `kill` ends the run through the finally clauses (databases dropped, files
    # removed); subprocess.run kills the running measurement on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    start = time.perf_counter()
    load_at_start = os.getloadavg()
    notes: list[str] = []
    report: dict[str, Any] = {
        "command": shlex.join([os.path.relpath(sys.executable), *sys.argv]),
        "machine": {**machine(), "load_average_at_start": load_at_start},
        "options": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in vars(args).items()
            if k not in ("json", "json_file")
        },
        "notes": notes,
        "core": {},
        "profile": None,
        "ablation": None,
        "cache_ceiling": None,
        "end_to_end": [],
        "loads": [],
    }

    def measured(name: str, spec: dict[str, Any]) -> dict[str, Any]:
        log(f"{name}: running")
        try:
            result = run_worker(spec, args.timeout)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            result = {"error": f"{type(error).__name__}: {error}"}
        if "error" in result:
            log(f"{name}: {result['error']}")
            notes.append(f"{name} failed: {result['error']}")
        load = result.get("load_average_after")
        if load:
            report["loads"].append((name, load[0]))
        return result

    pg: Postgres | None = None
    workdir = Path(tempfile.mkdtemp(prefix="hsclink-bench-ingest-"))
    try:
        if "postgresql" in args.backends and args.sizes:
            try:
                pg = Postgres(args.postgres_url)
                report["postgresql_server"] = pg.version
            except Exception as error:
                notes.append(f"PostgreSQL skipped: not reachable ({type(error).__name__})")
                log(notes[-1])
        wanted = set(args.core_sizes) | set(args.sizes)
        if args.profile_rows:
            wanted.add(args.profile_rows)
        extracts: dict[int, Extract] = {}
        if wanted:
            extracts, data = make_extracts(sorted(wanted), workdir, args.seed, args.keep_data)
            data["bytes"] = {str(k): v.bytes for k, v in sorted(extracts.items())}
            report["data"] = data

        for rows in args.core_sizes:
            entry: dict[str, Any] = {}
            for mode in ("reader", "process"):
                entry[mode] = measured(
                    f"core {mode} {rows:,}",
                    {
                        "kind": "core",
                        "mode": mode,
                        "path": str(extracts[rows].path),
                        "chunk": CHUNK,
                    },
                )
            report["core"][str(rows)] = entry
        if args.core_sizes or args.sizes:
            report["cache_ceiling"] = measured(
                "cache ceiling", {"kind": "ceiling", "seed": args.seed}
            )
        if args.profile_rows:
            size = args.profile_rows
            done = report["core"].get(str(size), {})
            runs = {}
            for mode in ("reader", "process-nokeys", "process-nobloom", "process"):
                runs[mode] = done.get(mode) or measured(
                    f"ablation {mode} {size:,}",
                    {
                        "kind": "core",
                        "mode": mode,
                        "path": str(extracts[size].path),
                        "chunk": CHUNK,
                    },
                )
            report["ablation"] = {"rows": size, "runs": runs}
            report["profile"] = measured(
                f"profile {args.profile_rows:,}",
                {
                    "kind": "profile",
                    "path": str(extracts[args.profile_rows].path),
                    "chunk": CHUNK,
                    "top": args.top,
                },
            )

        for backend in args.backends:
            if backend == "postgresql" and pg is None:
                continue
            for rows in args.sizes:
                store = workdir / f"store-{backend}-{rows}"
                url = pg.create() if backend == "postgresql" and pg else None
                try:
                    database_url = url or f"sqlite:///{store / 'var' / 'hsclink.db'}"
                    result = measured(
                        f"{backend} {rows:,}",
                        {
                            "kind": "e2e",
                            "backend": backend,
                            "rows": rows,
                            "path": str(extracts[rows].path),
                            "data_dir": str(store / "var"),
                            "database_url": database_url,
                        },
                    )
                finally:
                    if url and pg:
                        pg.drop(url)
                    shutil.rmtree(store, ignore_errors=True)
                report["end_to_end"].append({"backend": backend, "rows": rows, **result})
    finally:
        if pg is not None:
            pg.close()
        shutil.rmtree(workdir, ignore_errors=True)
        log(f"removed {workdir}")

    report["total_seconds"] = time.perf_counter() - start
    document = json.dumps(report, indent=2, default=str)
    if args.json_file:
        args.json_file.write_text(document + "\n")
    if args.json:
        print(document)
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
