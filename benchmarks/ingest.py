"""Ingest benchmarks: the pseudonymisation core, and end-to-end uploads over HTTP.

1. **Core** (no database, one process, one core): a synthetic ``nhs_episodes`` extract
   streamed from a file in 256 KiB chunks through ``RecordReader`` alone (CSV parsing),
   through ``RecordReader`` + ``RowProcessor`` (normalise, validate, key: every token
   and Bloom encoding an upload makes, in the native kernel ``RowKernel`` of
   ``app/ingest/_kernel.pyx``, as the service runs it): **the core**, and through the
   core + ``app.store.seal_record_columns`` (each batch's accepted rows as the Arrow
   linkage and facts parts, each sealed with AES-256-GCM under a fresh random data-seal
   key, as ``_BatchMaker.prepare`` does): **core + sealing**, at ``--core-sizes`` rows.
   Rows/s (wall and per CPU second), peak RSS and RSS at 10-75 % of the file (does it
   stay flat?), sealing CPU and sealed bytes per record, and the fill of the kernel's
   bounded native Bloom q-gram tables (``privacy._keyed.BloomMasks``; the kernel's memo
   tables are not reachable from Python and are not counted). Target: the core at
   100,000 rows per CPU second (reader + pseudonymiser); core + sealing is shown
   against the same figure. Then, at ``--profile-rows``: an ablation without a
   profiler (CPU seconds of ``RecordReader`` alone, of the core, of core + sealing and
   of the pure-Python reference loop ``RowProcessor(..., native=False)``: the share of
   the core spent reading, the share of core + sealing spent sealing, and the kernel's
   speed-up over the reference with reading excluded), and cProfile of core + sealing
   (CSV parsing, ``process_batch``, the Python fall-backs the kernel calls, and
   ``seal_record_columns``: Arrow columns, IPC, AES-GCM), with the top functions by
   cumulative and by self time.
2. **End to end**: for each backend and each of ``--sizes``, a fresh store (SQLite in
   a temporary directory; PostgreSQL in a throw-away database), initialised with
   ``app.services.setup.initialise``, a trust organisation ``RAL`` and a submitter
   with an API token; the real app (``create_app``) served by uvicorn in a background
   thread on 127.0.0.1; the extract uploaded with ``app.cli.upload.Uploader`` (what
   ``hsclink upload`` runs: POST with Upload-Length, then one streamed PATCH).
   Rows accepted per wall second, MB/s, CPU use, the peak RSS of that process
   (baseline before the upload, growth during it), the SQL statements executed and
   the time spent in the database driver, and the **store size per record**: bytes of
   the submission's sealed batches (``octet_length`` of ``linkage_part`` + ``facts_part``
   of ``ingest_batches``) and ``ingest_batches`` on disk (PostgreSQL:
   ``pg_total_relation_size``; SQLite: the database file), each divided by the records
   stored. Target: 50,000 rows/s on PostgreSQL.
   Beside it, in another fresh store set up the same way, the **database write
   ceiling**: a submission created with ``create_submission``, the extract read,
   pseudonymised and encoded as Arrow beforehand (untimed) into the batches the service
   prepares (``_BatchMaker.prepare``), then only the service's ``_write_batch`` (sealing:
   AES-GCM and the digest, then the database) for each batch in order (one transaction
   each, as its writer thread runs them: one ``INSERT`` into ``ingest_batches`` a batch)
   timed: rows/s, wall and client CPU seconds, with no HTTP, CSV parsing or
   pseudonymisation. An end-to-end rate near it is bounded by the writer.

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
import inspect
import json
import os
import platform
import pstats
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# The repository first (run as a script from anywhere): this directory's linkage.py
# must not shadow the linkage package (app.store imports linkage.records).
if sys.path[:1] != [str(REPO)]:
    sys.path.insert(0, str(REPO))

from benchmarks.harness import (  # noqa: E402 (the repository must come first on sys.path)
    Postgres,
    cpu_model_and_memory,
    cpu_seconds,
    current_rss,
    log,
    max_rss,
    serve,
)

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


def _bloom_tables(keys: Any) -> dict[str, dict[str, Any]] | None:
    """Entries in each field's native Bloom q-gram table (``privacy._keyed.BloomMasks``,
    ``len``) and its limit (the field's ``BloomEncoder.qgram_cache``); None when the
    keys give the kernel no native masks (then it calls ``PseudonymKeys.bloom``)."""
    from privacy.bloom import BloomEncoder

    masks = keys.native_parts()[1]
    if masks is None:
        return None
    default = next(f.default for f in fields(BloomEncoder) if f.name == "qgram_cache")
    encoders = getattr(keys, "_encoders", None) or {}  # private: the configured limit
    return {
        name: {
            "entries": len(table),
            "limit": getattr(encoders.get(name), "qgram_cache", default),
        }
        for name, table in masks.items()
    }


@dataclass
class CorePass:
    run: Callable[[], dict[str, Any]]
    progress: Callable[[], int]  # bytes read so far
    total: int  # bytes in the file


#: Core modes: what runs per record.
CORE_MODES = {
    "reader": "RecordReader alone",
    "process": "RecordReader + RowProcessor (native kernel): the core",
    "process-seal": "the core + seal_record_columns (Arrow columns + AES-256-GCM)",
    "process-reference": "RecordReader + RowProcessor(native=False) (Python reference)",
}


def _bench_seal_keys() -> Any:
    """A fresh random data-seal key, as ``seal_keys`` unwraps a stored one."""
    from app.store import SealKeys

    return SealKeys(1, {1: os.urandom(32)})


def _core_prepare(path: Path, mode: str, chunk: int) -> CorePass:
    """Set up a pass (reader, header, schema, keys, processor); the pass itself is returned."""
    from app.config import Settings
    from app.ingest.reader import RecordReader
    from app.ingest.rows import RowProcessor
    from app.ingest.schema import load_schemas
    from app.store.records import seal_record_columns

    if mode not in CORE_MODES:
        raise ValueError(f"unknown core mode {mode!r}")
    total = path.stat().st_size
    reader = RecordReader(_file_chunks(path, chunk), upload_length=total)
    records = reader.records()
    header = next(records)
    schema = load_schemas(REPO / "datasets")["nhs_episodes"]
    keys = _bench_keys()
    settings = Settings()
    memo_size = inspect.signature(RowProcessor).parameters["memo_size"].default
    # As the upload service makes it (app.services.ingest.row_processor): accepted rows
    # come out as tuples in RECORD_COLUMNS order, which _BatchMaker.prepare seals.
    processor = RowProcessor(
        schema,
        schema.match_header(header.fields),
        keys,
        reference_date=settings.reference_date,
        today=date.today(),
        native=mode != "process-reference",
    )
    seal_keys = _bench_seal_keys() if mode == "process-seal" else None
    attributes = schema.attributes
    # Private, but the only way to tell: does this pass run the native kernel?
    native = getattr(processor, "_kernel", None) is not None
    native_bloom = keys.native_parts()[1] is not None
    size = settings.ingest_batch_rows  # as the upload service batches (HSCLINK_INGEST_BATCH_ROWS)

    def read_only() -> dict[str, Any]:
        rows = 0
        for _ in records:
            rows += 1
        return {"rows": rows, "refused": None, "bytes": reader.received}

    def read_and_process() -> dict[str, Any]:
        rows = refused = 0
        sealed = [0, 0, 0]  # batches, linkage-part bytes, facts-part bytes

        def process(batch: list[Any]) -> Any:
            done = processor.process_batch(batch)
            if seal_keys is not None and done.accepted:  # as _BatchMaker.prepare seals them
                made = seal_record_columns(done.columns, attributes, seal_keys, submission_id=1)
                sealed[0] += 1
                sealed[1] += len(made.linkage_part)
                sealed[2] += len(made.facts_part)
            return done

        masks = keys.native_parts()[1] if mode == "process" else None
        tables = list(masks.items()) if masks else []
        # Highest fill seen at a batch end, and how often a table was seen emptied (its
        # fill fell between two batch ends): four len() calls a batch.
        most = dict.fromkeys((name for name, _ in tables), 0)
        emptied = dict.fromkeys((name for name, _ in tables), 0)
        last = dict.fromkeys((name for name, _ in tables), 0)

        def watch() -> None:
            for name, table in tables:
                n = len(table)
                if n < last[name]:
                    emptied[name] += 1
                last[name] = n
                most[name] = max(most[name], n)

        batch: list[Any] = []
        for record in records:
            batch.append(record)  # as the upload service does: records go in as they are
            if len(batch) >= size:
                rows += len(batch)
                refused += process(batch).refused
                batch = []
                watch()
        if batch:
            rows += len(batch)
            refused += process(batch).refused
            watch()
        result: dict[str, Any] = {
            "rows": rows,
            "refused": refused,
            "bytes": reader.received,
            "native_kernel": native,
            "native_bloom": native_bloom if native else None,
            "memo_limit": memo_size,
            "batch_rows": size,
        }
        if seal_keys is not None:
            accepted = rows - refused
            result["sealed_batches"] = sealed[0]
            result["sealed_linkage_bytes"] = sealed[1]
            result["sealed_facts_bytes"] = sealed[2]
            result["sealed_bytes_per_record"] = (
                (sealed[1] + sealed[2]) / accepted if accepted else None
            )
        if mode == "process":
            found = _bloom_tables(keys)
            if found is not None:
                for name, item in found.items():
                    item["most_seen"] = most.get(name)
                    item["emptied_seen"] = emptied.get(name)
            result["bloom_tables"] = found
        return result

    return CorePass(
        read_only if mode == "reader" else read_and_process, lambda: reader.received, total
    )


def worker_core(spec: dict[str, Any]) -> dict[str, Any]:
    core = _core_prepare(Path(spec["path"]), spec["mode"], spec["chunk"])
    gc.collect()
    gc.freeze()  # as the service does once started (app.bootstrap): imports out of GC sight
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


def _repo_file(filename: str) -> str | None:
    """``filename`` relative to the repository, or None outside it (or not a file)."""
    try:
        return Path(filename).resolve().relative_to(REPO).as_posix()
    except (ValueError, OSError):
        return None


#: Functions of these files that process_batch calls are the kernel's Python fall-backs...
FALLBACK_FILES = ("privacy/", "app/ingest/rows.py")
#: ...but for these, which process_batch itself calls (or the reference loop).
NOT_FALLBACKS = {"_slot_names", "_process_batch_reference", "process_batch"}


def worker_profile(spec: dict[str, Any]) -> dict[str, Any]:
    """cProfile of the native pass with sealing (what ``_BatchMaker.prepare`` runs). The
    kernel's own work is native code that cProfile cannot see: it counts as the self time
    of ``process_batch``. Python functions the kernel calls (fall-backs for rarer shapes,
    sex codes, boroughs, kept attributes) appear as callees of ``process_batch``. Sealing
    is ``seal_record_columns``: building the Arrow columns (``tables``), the IPC stream
    (``to_ipc``) and AES-256-GCM (``SealKeys.seal``)."""
    top = spec["top"]
    run = _core_prepare(Path(spec["path"]), "process-seal", spec["chunk"]).run
    profiler = cProfile.Profile()
    wall = time.perf_counter()
    profiler.enable()
    figures = run()
    profiler.disable()
    wall = time.perf_counter() - wall
    stats = pstats.Stats(profiler)
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    entries = [
        {
            "function": _where(code),
            "calls": nc,
            "primitive_calls": cc,
            "self_seconds": tt,
            "cumulative_seconds": ct,
        }
        for code, (cc, nc, tt, ct, _callers) in table.items()
    ]
    total = stats.total_tt  # type: ignore[attr-defined]

    def cumulative(suffix: str, name: str) -> tuple[Any, float]:
        found = [
            (code, ct)
            for code, (_cc, _nc, _tt, ct, _c) in table.items()
            if code[2] == name and code[0].endswith(suffix)
        ]
        return max(found, key=lambda f: f[1]) if found else (None, 0.0)

    # records() hands out batches chained together: the reading is in _batches.
    _, reading = cumulative("app/ingest/reader.py", "_batches")
    batch_code, batch = cumulative("app/ingest/rows.py", "process_batch")
    fallbacks = []
    for code, (_cc, _nc, _tt, _ct, callers) in table.items():
        shown = _repo_file(code[0])
        if batch_code is None or batch_code not in callers or code[2] in NOT_FALLBACKS:
            continue
        if shown is None or not shown.startswith(FALLBACK_FILES):
            continue
        calls, _primitive, _self, seconds = callers[batch_code]  # the calls from process_batch
        fallbacks.append({"function": _where(code), "calls": calls, "seconds": seconds})
    fallbacks.sort(key=lambda f: -f["seconds"])
    fallback = sum(f["seconds"] for f in fallbacks)
    _, sealing = cumulative("app/store/records.py", "seal_record_columns")
    _, arrow = cumulative("app/store/records.py", "tables")
    _, ipc = cumulative("app/store/ipc.py", "to_ipc")
    _, aead = cumulative("app/store/seal.py", "seal")
    breakdown = [
        ("RecordReader.records (CSV parsing, decoding: _batches)", reading),
        ("RowProcessor.process_batch (native kernel + Python fall-backs)", batch),
        ("  Python fall-backs called by the kernel", fallback),
        (
            "  the rest: native kernel (unseen by cProfile), process_batch's glue",
            batch - fallback,
        ),
        ("seal_record_columns (sealing: app/store/records.py)", sealing),
        ("  Arrow columns of the two parts (tables)", arrow),
        ("  Arrow IPC streams (to_ipc)", ipc),
        ("  AES-256-GCM (SealKeys.seal)", aead),
        ("  the rest of seal_record_columns (digest, glue)", sealing - arrow - ipc - aead),
    ]
    return {
        **figures,
        "seconds": wall,
        "profiled_seconds": total,
        "rows_per_second_under_profiler": figures["rows"] / wall,
        "breakdown": [
            {"label": label, "seconds": seconds, "share": seconds / total if total else None}
            for label, seconds in breakdown
        ],
        "fallbacks": fallbacks,
        "top_cumulative": sorted(entries, key=lambda e: -e["cumulative_seconds"])[:top],
        "top_self": sorted(entries, key=lambda e: -e["self_seconds"])[:top],
    }


# --------------------------------------------------------------------------- 2. end to end


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
    """Statements executed (of them, ``INSERT INTO ingest_batches``: one sealed batch
    each), and the time spent inside the DBAPI cursor, while ``active``.

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

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self._started.at = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started = getattr(self._started, "at", None)
        if not self.active or started is None:
            return
        self.seconds += time.perf_counter() - started
        self.statements += 1
        # One sealed batch a statement (app.store.insert_record_batch).
        if statement.lstrip().upper().startswith("INSERT INTO INGEST_BATCHES"):
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


def _store_size(ctx: Any, submission_id: int) -> dict[str, Any]:
    """The sealed store's size: records and bytes of the submission's sealed batches
    (``octet_length`` of ``linkage_part`` and ``facts_part``; ``length`` of a blob on
    SQLite), and ``ingest_batches`` on disk (PostgreSQL: ``pg_total_relation_size``, with
    its TOAST and indexes; SQLite: the database file, everything in it), per record."""
    from sqlalchemy import func, select, text

    from app.db.models import RecordBatch

    with ctx.reads() as session:
        length = func.length if ctx.settings.is_sqlite else func.octet_length
        batches, records, linkage, facts = session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(RecordBatch.rows), 0),
                func.coalesce(func.sum(length(RecordBatch.linkage_part)), 0),
                func.coalesce(func.sum(length(RecordBatch.facts_part)), 0),
            ).where(RecordBatch.submission_id == submission_id)
        ).one()
        on_disk = (
            _database_bytes(ctx)
            if ctx.settings.is_sqlite
            else session.scalar(text("SELECT pg_total_relation_size('ingest_batches')"))
        )
    records, sealed = int(records), int(linkage) + int(facts)
    return {
        "rows_stored": records,
        "store_batches": int(batches),
        "sealed_linkage_bytes": int(linkage),
        "sealed_facts_bytes": int(facts),
        "sealed_bytes": sealed,
        "sealed_bytes_per_record": sealed / records if records else None,
        "linkage_bytes_per_record": int(linkage) / records if records else None,
        "facts_bytes_per_record": int(facts) / records if records else None,
        "store_bytes_on_disk": on_disk,
        "store_disk_bytes_per_record": on_disk / records if records and on_disk else None,
    }


def _bench_context(spec: dict[str, Any]) -> Any:
    """The service context of a fresh store at ``spec``'s data directory and database URL."""
    from app.config import Settings
    from app.services.context import ServiceContext

    settings = Settings(
        data_dir=Path(spec["data_dir"]),
        database_url=spec["database_url"],
        policy_dir=REPO / "policies",
        dataset_dir=REPO / "datasets",
        audit_sign_interval_seconds=0,
    )
    return ServiceContext.build(settings)


def _bench_store(ctx: Any) -> Any:
    """Initialise the store: the operator organisation, the trust ``RAL`` and its submitter
    ``bench.submitter`` (returned as the service's ``UserView``)."""
    from app.auth.actor import Actor
    from app.services import identity, setup

    cli = Actor.cli()
    setup.initialise(ctx, actor=cli)
    setup.ensure_operator_organisation(ctx, actor=cli, code="HSCOPS")
    identity.create_organisation(
        ctx, actor=cli, code="RAL", name="Royal Free London NHS Foundation Trust", kind="trust"
    )
    return identity.create_user(
        ctx, actor=cli, username="bench.submitter", role="submitter", organisation="RAL"
    )


def worker_e2e(spec: dict[str, Any]) -> dict[str, Any]:
    import logging

    from sqlalchemy import func, select

    from app.auth.actor import Actor
    from app.bootstrap import create_app
    from app.cli.upload import Uploader
    from app.db.models import Submission
    from app.logs import configure_logging
    from app.services import identity

    configure_logging("WARNING")
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    path = Path(spec["path"])
    length = path.stat().st_size
    ctx = _bench_context(spec)
    settings = ctx.settings
    result: dict[str, Any] = {
        "ingest_batch_rows": settings.ingest_batch_rows,
        "bytes": length,
    }
    server = thread = None
    try:
        t0 = time.perf_counter()
        _bench_store(ctx)
        cli = Actor.cli()
        token = identity.issue_token(ctx, actor=cli, username="bench.submitter").token
        server, thread, port = serve(create_app(settings, ctx=ctx))
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
        result.update(_store_size(ctx, answer["id"]))
        result.update(
            {
                "status": answer.get("status"),
                "problem": answer.get("problem"),
                "rows_seen": answer.get("rows_seen"),
                "rows_accepted": accepted,
                "rows_rejected": answer.get("rows_rejected"),
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


def worker_db_ceiling(spec: dict[str, Any]) -> dict[str, Any]:
    """The database write ceiling: the service's own batch writes, and nothing else, timed.

    In a fresh store set up as for ``worker_e2e``, a submission is created for ``RAL``'s
    submitter (status "receiving"). Untimed: the extract is read and pseudonymised in
    batches of ``ingest_batch_rows`` into the ``_Prepared`` batches ``_stream`` makes
    (``_BatchMaker.prepare``, blank rows skipped and a closing empty batch when the rows fill
    the last batch exactly, as there). Timed: ``_write_batch`` for each batch in order,
    on this thread, exactly what the service's writer thread runs: one transaction a
    batch (UPDATE ... RETURNING of the submission, one INSERT of the sealed batch into
    ``ingest_batches``, the first row errors, commit). No HTTP, no CSV parsing, no
    pseudonymisation, no sealing (done in ``prepare``).
    """
    from app.auth.actor import Actor
    from app.db.models import Submission
    from app.ingest.reader import RecordReader
    from app.ingest.schema import load_schemas
    from app.logs import configure_logging
    from app.services import ingest as ingest_service
    from app.services.store import store_keys

    configure_logging("WARNING")
    path = Path(spec["path"])
    length = path.stat().st_size
    ctx = _bench_context(spec)
    settings = ctx.settings
    size = settings.ingest_batch_rows
    result: dict[str, Any] = {"ingest_batch_rows": size, "bytes": length}
    try:
        t0 = time.perf_counter()
        user = _bench_store(ctx)
        submitter = Actor(
            name=user.username,
            role=user.role,
            organisation=user.organisation,
            user_id=user.id,
            organisation_kind="trust",
        )
        submission_id = ingest_service.create_submission(
            ctx, actor=submitter, schema_name="nhs_episodes", upload_length=length
        ).id
        result["setup_seconds"] = time.perf_counter() - t0

        # Untimed: read, pseudonymise and seal the whole extract into prepared batches.
        log(f"{spec['backend']}: preparing {spec['rows']:,} rows (untimed)")
        t0 = time.perf_counter()
        schema = load_schemas(REPO / "datasets")["nhs_episodes"]
        reader = RecordReader(_file_chunks(path, CHUNK), upload_length=length)
        records = reader.records()
        first = next(records)
        header = first.fields
        processor = ingest_service.row_processor(
            ctx, submission_id, schema, schema.match_header(header), today=date.today()
        )

        prepare = ingest_service._BatchMaker(
            submission_id, processor, header, reader, seen=0, keys=store_keys(ctx)
        ).prepare

        prepared: list[Any] = []
        batch: list[Any] = []
        end_offset = first.end_offset
        for record in records:
            if not "".join(record.fields).strip():  # a blank row, skipped as _stream does
                end_offset = record.end_offset
                continue
            batch.append(record)
            if len(batch) >= size:
                prepared.append(prepare(batch))
                end_offset = batch[-1].end_offset
                batch = []
        # As one upload request: only the last batch commits durably.
        prepared.append(prepare(batch, last=True) if batch else prepare([], end_offset, last=True))
        rows = sum(p.accepted for p in prepared)
        result["prepare_seconds"] = time.perf_counter() - t0
        result["prepared_rows"] = rows
        result["prepared_refused"] = sum(p.refused for p in prepared)

        # Timed: the batch writes alone. The prepared batches (all rows at once, which the
        # service never holds) are frozen out of the collector's sight so that they do not
        # lengthen its full collections during the writes.
        sql = SqlStats(ctx.engine)
        gc.collect()
        gc.freeze()
        baseline_now, baseline_max = current_rss(), max_rss()
        log(f"{spec['backend']}: writing {len(prepared):,} batches ({rows:,} rows)")
        cpu = cpu_seconds()
        sql.active = True
        start = time.perf_counter()
        with ctx.engine.connect() as connection:  # one a stream, as the service does
            for item in prepared:
                ingest_service._write_batch(connection, submission_id, item)
        wall = time.perf_counter() - start
        sql.active = False
        cpu = cpu_seconds() - cpu
        gc.unfreeze()
        with ctx.reads() as session:
            sub = session.get(Submission, submission_id)
            assert sub is not None
            status, accepted, offset = sub.status, sub.rows_accepted, sub.upload_offset
        result.update(_store_size(ctx, submission_id))
        result.update(
            {
                "status": status,
                "batches": len(prepared),
                "rows_accepted": accepted,
                "upload_offset": offset,
                "seconds": wall,
                "cpu_seconds": cpu,
                "cpu_share": cpu / wall if wall else None,
                "rows_per_second": accepted / wall if wall else None,
                "mb_per_second": length / 1e6 / wall if wall else None,
                "baseline_rss_bytes": baseline_now,
                "baseline_max_rss_bytes": baseline_max,
                "peak_rss_bytes": max_rss(),
                "sql_statements": sql.statements,
                "sql_record_inserts": sql.record_inserts,
                "sql_seconds": sql.seconds,
                "sql_share": sql.seconds / wall if wall else None,
                "database_bytes": _database_bytes(ctx),
            }
        )
    finally:
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
        "e2e": worker_e2e,
        "db_ceiling": worker_db_ceiling,
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
    model, memory = cpu_model_and_memory()
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


def print_bloom_tables(sizes: list[int], proc: list[dict[str, Any] | None]) -> None:
    """Fill of the kernel's native Bloom q-gram tables after each reader + RowProcessor run."""
    done = [r for r in proc if r is not None and "rows" in r]
    if not done:
        return
    tables = [_get(r, "bloom_tables") for r in proc]
    names = sorted({name for t in tables if t for name in t})
    limit = next((r["memo_limit"] for r in done if r.get("memo_limit")), None)
    if names:
        rows: list[tuple[str, str, list[str]]] = []
        for name in names:
            items = [(t or {}).get(name) for t in tables]
            rows += [
                (
                    f"{name}: entries at the end (of the limit)",
                    "entries",
                    ["-" if i is None else f"{i['entries']:,} of {_n(i['limit'])}" for i in items],
                ),
                (
                    "  most seen at a batch end",
                    "entries",
                    [_n(None if i is None else i.get("most_seen")) for i in items],
                ),
                (
                    "  seen emptied (fill fell between batch ends)",
                    "times",
                    [_n(None if i is None else i.get("emptied_seen")) for i in items],
                ),
            ]
        _table(
            "Native Bloom q-gram tables after reader + RowProcessor (privacy._keyed.BloomMasks,"
            " one per field, keys.native_parts()[1][field]; emptied when the limit is reached)",
            [f"{s:,} rows" for s in sizes],
            rows,
        )
    for size, r, t in zip(sizes, proc, tables, strict=True):
        if r is not None and "rows" in r and t is None:
            print(
                f"  {size:,} rows: no native Bloom masks (the Bloom parameters need finishing"
                " steps): the kernel called PseudonymKeys.bloom; its caches are not counted here"
            )
    print(
        "  not measured: the RowKernel memo tables (one per identifier and kept attribute,"
        f" each emptied at memo_limit = {_n(limit)} entries) and its per-purpose token tables"
        " are cdef attributes, not reachable from Python. Whether memory stays bounded shows"
        " in the RSS at 10-75 % of the file and at the end (table 1)."
    )
    print()


def _ablation_figures(rows: int, runs: dict[str, Any]) -> dict[str, Any]:
    """Derived figures of the ablation runs (what ``print_ablation`` prints)."""
    cpu = {mode: (runs.get(mode) or {}).get("cpu_seconds") for mode in CORE_MODES}
    figures: dict[str, Any] = {
        "rows": rows,
        "runs": runs,
        "cpu_seconds": cpu,
        "rows_per_cpu_second": {m: rows / c if c else None for m, c in cpu.items()},
        "native_kernel": {m: (runs.get(m) or {}).get("native_kernel") for m in CORE_MODES},
        "reader_share_of_process": None,
        "kernel_speedup_excluding_reading": None,
    }
    reader, process, reference = cpu["reader"], cpu["process"], cpu["process-reference"]
    if reader is not None and process:
        figures["reader_share_of_process"] = reader / process
    sealing = cpu["process-seal"]
    figures["sealing_share_of_core_and_sealing"] = (
        (sealing - process) / sealing if sealing and process is not None else None
    )
    if None not in (reader, process, reference) and process - reader > 0:
        figures["kernel_speedup_excluding_reading"] = (reference - reader) / (process - reader)
    return figures


def print_ablation(ablation: dict[str, Any] | None) -> None:
    """CPU seconds of separate runs without a profiler: reader, native pass, reference."""
    if not ablation:
        return
    cpu, rate = ablation["cpu_seconds"], ablation["rows_per_cpu_second"]
    print(
        f"Native kernel against the Python reference loop ({ablation['rows']:,} rows; CPU"
        " seconds of separate runs in fresh processes, no profiler; small runs are noisy):"
    )
    for mode, label in CORE_MODES.items():
        if cpu.get(mode) is None:
            error = (ablation["runs"].get(mode) or {}).get("error", "not run")
            print(f"  {label:<62} {error}")
            continue
        print(f"  {label:<62} {cpu[mode]:7.2f} s {_n(rate[mode]):>10} rows per CPU second")
    native = ablation.get("native_kernel") or {}
    if native.get("process") is False:
        print("  WARNING: the process run did not use the native kernel (no native keys?)")
    if native.get("process-reference"):
        print("  WARNING: the process-reference run used the native kernel")
    sealing = ablation.get("sealing_share_of_core_and_sealing")
    label = "share of core + sealing spent sealing ((process-seal - process) / process-seal)"
    shown = f"{100 * sealing:7.1f} %" if sealing is not None else "not measured (a run failed)"
    print(f"  {label:<62} {shown}")
    share = ablation.get("reader_share_of_process")
    label = "share of the native pass spent reading CSV (reader / process)"
    shown = f"{100 * share:7.1f} %" if share is not None else "not measured (a run failed)"
    print(f"  {label:<62} {shown}")
    speedup = ablation.get("kernel_speedup_excluding_reading")
    label = "native kernel speed-up over the reference, reading excluded"
    if speedup is not None:
        shown = f"{speedup:7.1f} x"
    elif None in cpu.values():
        shown = "not measured (a run failed)"
    else:
        shown = "not measurable: the native pass took no more CPU than reading alone"
    print(f"  {label:<62} {shown}")
    print("    = (process-reference CPU - reader CPU) / (process CPU - reader CPU)")
    print()


def print_profile(profile: dict[str, Any] | None) -> None:
    if profile and "breakdown" in profile:
        print(
            f"Where the time goes: cProfile of reader + RowProcessor (native kernel) +"
            f" seal_record_columns on"
            f" {profile['rows']:,} rows ({profile['seconds']:.1f} s under the profiler,"
            f" {profile['rows_per_second_under_profiler']:,.0f} rows/s; the profiler slows"
            " Python calls, not native code, so compare shares, not seconds)"
        )
        total = profile["profiled_seconds"]
        for item in profile["breakdown"]:
            share = item["share"]
            shown = f"{100 * share:5.1f} %" if share is not None else ""
            print(f"  {item['label']:<68} {item['seconds']:7.2f} s {shown}")
            if item["label"].strip().startswith("Python fall-backs"):
                for f in profile.get("fallbacks", []):
                    print(f"      {f['function']:<64} {f['seconds']:7.3f} s {f['calls']:>9,} calls")
        print(f"  {'total profiled':<68} {total:7.2f} s")
        if not profile.get("fallbacks"):
            print("  (no Python fall-back was called from process_batch)")
        if profile.get("native_kernel") is False:
            print("  WARNING: this pass did not use the native kernel")
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


def print_core(report: dict[str, Any]) -> None:
    core = report["core"]
    if core:
        print_core_table(core)
    print_ablation(report.get("ablation"))
    print_profile(report.get("profile"))


def print_core_table(core: dict[str, Any]) -> None:
    sizes = sorted({int(k) for k in core})
    columns = [f"{s:,} rows" for s in sizes]
    reader = [core[str(s)].get("reader") for s in sizes]
    proc = [core[str(s)].get("process") for s in sizes]
    sealing = [core[str(s)].get("process-seal") for s in sizes]
    rows: list[tuple[str, str, list[str]]] = []
    for name, results in (
        ("reader alone", reader),
        ("core: reader + RowProcessor", proc),
        ("core + sealing (+ seal_record_columns)", sealing),
    ):
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
    rows.append(
        (
            "sealing: CPU per record (core + sealing - core)",
            "us",
            [
                _n(
                    (s["cpu_seconds"] - r["cpu_seconds"]) / s["rows"] * 1e6
                    if s and r and "cpu_seconds" in s and "cpu_seconds" in r and s["rows"]
                    else None,
                    "{:.2f}",
                )
                for s, r in zip(sealing, proc, strict=True)
            ],
        )
    )
    rows.append(
        (
            "sealed bytes per record (linkage + facts parts)",
            "bytes",
            [_n(_get(r, "sealed_bytes_per_record"), "{:,.0f}") for r in sealing],
        )
    )
    rows.append(("rows refused by RowProcessor", "rows", [_n(_get(r, "refused")) for r in proc]))
    rows.append(
        ("RowProcessor ran the native kernel", "", [_n(_get(r, "native_kernel")) for r in proc])
    )
    _table(
        "1. Pseudonymisation core (reader + RowProcessor), and with the sealing of its batches:"
        " one process, no database, 256 KiB chunks from a file",
        columns,
        rows,
    )
    print(
        "  The target (issue: core >= 100,000 rows per CPU second) is for reader +"
        " pseudonymiser, the core; sealing (Arrow columns + AES-256-GCM per batch, as"
        " _BatchMaker.prepare runs it) is new work per row, shown beside it."
    )
    if any(_get(r, "rss_during") and None in r["rss_during"].values() for r in proc):
        print(
            "  RSS at a fraction is sampled every 0.5 s: '-' where the pass ended before a"
            " sample (a short run)"
        )
    for size, r, sealed in zip(sizes, proc, sealing, strict=True):
        for name, got in (("core", r), ("core + sealing", sealed)):
            if got is None or "rows_per_cpu_second" not in got:
                print(f"  {name}, {size:,} rows: {got.get('error') if got else 'not run'}")
                continue
            rate = got["rows_per_cpu_second"] or 0.0
            if rate >= CORE_TARGET:
                print(
                    f"  {name}: target >= {CORE_TARGET:,} rows per CPU second at {size:,}"
                    f" rows: met ({rate:,.0f}; {got['rows_per_second']:,.0f} rows/s wall)"
                )
            else:
                print(
                    f"  {name}: TARGET MISSED at {size:,} rows: {rate:,.0f} rows per CPU"
                    f" second ({got['rows_per_second']:,.0f} rows/s wall) is"
                    f" {100 * (1 - rate / CORE_TARGET):.0f} % short of {CORE_TARGET:,}"
                )
        if r and r.get("native_kernel") is False:
            print(f"  WARNING at {size:,} rows: RowProcessor ran the Python reference loop")
    print()
    print_bloom_tables(sizes, proc)


def print_e2e(report: dict[str, Any]) -> None:
    results = report["end_to_end"]
    if not results:
        return
    columns = [f"{r['backend']} {r['rows']:,}" for r in results]

    def cells(key: str, fmt: str = "{:,.0f}", scale: float = 1.0) -> list[str]:
        return [_n(r.get(key), fmt, scale) for r in results]

    def during(fraction: str) -> list[str]:
        return [_n((r.get("rss_during") or {}).get(fraction), "{:.1f}", 1 / MIB) for r in results]

    def ceiling(key: str, fmt: str = "{:,.0f}", scale: float = 1.0) -> list[str]:
        return [_n((r.get("db_ceiling") or {}).get(key), fmt, scale) for r in results]

    def share_of_ceiling() -> list[str]:
        out = []
        for r in results:
            top = (r.get("db_ceiling") or {}).get("rows_per_second")
            rate = r.get("rows_per_second")
            out.append(_n(rate / top if rate and top else None, "{:.2f}"))
        return out

    rows = [
        ("submission status", "", cells("status", "{}")),
        ("rows accepted", "rows", cells("rows_accepted")),
        ("rows refused", "rows", cells("rows_rejected")),
        ("rows stored (sum of ingest_batches.rows)", "rows", cells("rows_stored")),
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
        (
            "store: sealed batches (linkage + facts parts)",
            "MiB",
            cells("sealed_bytes", "{:.1f}", 1 / MIB),
        ),
        ("  per record", "bytes", cells("sealed_bytes_per_record")),
        ("  linkage part per record", "bytes", cells("linkage_bytes_per_record")),
        ("  facts part per record", "bytes", cells("facts_bytes_per_record")),
        (
            "  ingest_batches on disk (PG; SQLite: file)",
            "MiB",
            cells("store_bytes_on_disk", "{:.1f}", 1 / MIB),
        ),
        ("  on disk per record", "bytes", cells("store_disk_bytes_per_record")),
        ("SQL statements during the upload", "count", cells("sql_statements")),
        ("  of which batch inserts into ingest_batches", "count", cells("sql_record_inserts")),
        (
            "  rows per batch insert (one sealed batch)",
            "rows",
            cells("rows_per_record_insert", "{:.1f}"),
        ),
        ("time inside the DBAPI cursor (driver + server)", "s", cells("sql_seconds", "{:.1f}")),
        ("  share of the upload wall", "", cells("sql_share", "{:.2f}")),
        ("resumed (connection retries)", "count", cells("resumed")),
        ("database write ceiling (batch writes alone)", "rows/s", ceiling("rows_per_second")),
        ("  rows written (sum of ingest_batches.rows)", "rows", ceiling("rows_stored")),
        ("  sealed bytes per record written", "bytes", ceiling("sealed_bytes_per_record")),
        ("  batches (one transaction each)", "count", ceiling("batches")),
        ("  wall of the batch writes", "s", ceiling("seconds", "{:.2f}")),
        ("  client CPU of the batch writes", "s", ceiling("cpu_seconds", "{:.2f}")),
        ("  time inside the DBAPI cursor / wall", "", ceiling("sql_share", "{:.2f}")),
        ("  end-to-end rate / ceiling", "", share_of_ceiling()),
    ]
    _table(
        "2. End to end: uvicorn + HTTP (POST, then one streamed PATCH), fresh store each",
        columns,
        rows,
    )
    for r in results:
        if "error" in r:
            print(f"  {r['backend']} {r['rows']:,}: ERROR {r['error']}")
        if "error" in (r.get("db_ceiling") or {}):
            print(f"  {r['backend']} {r['rows']:,} write ceiling: ERROR {r['db_ceiling']['error']}")
    print(
        "  database write ceiling: in another fresh store, the extract read and pseudonymised"
        " and sealed beforehand (untimed), then only the service's _write_batch for each"
        " batch, in order"
        " (one transaction each, as its writer thread runs them): no HTTP, no CSV parsing, no"
        " pseudonymisation in the timed part. Client CPU excludes the database server's."
    )
    pg = [r for r in results if r["backend"] == "postgresql" and "rows_per_second" in r]
    for r in pg:
        rate = r["rows_per_second"]
        verdict = (
            f"met ({rate:,.0f} rows/s)"
            if rate >= E2E_TARGET
            else f"MISSED: {rate:,.0f} rows/s is {100 * (1 - rate / E2E_TARGET):.0f} % short"
        )
        print(f"  target >= {E2E_TARGET:,} rows/s on PostgreSQL at {r['rows']:,} rows: {verdict}")
    for r in results:
        top = (r.get("db_ceiling") or {}).get("rows_per_second")
        if r["backend"] != "postgresql" or not top:
            continue
        reach = (
            "above the target: the database alone does not bound it here"
            if top >= E2E_TARGET
            else "BELOW the target: the database alone bounds it on this machine"
        )
        print(
            f"  database write ceiling on PostgreSQL at {r['rows']:,} rows:"
            f" {top:,.0f} rows/s, {reach}"
        )
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
            for mode in ("reader", "process", "process-seal"):
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
        if args.profile_rows:
            size = args.profile_rows
            done = report["core"].get(str(size), {})
            runs = {}
            for mode in CORE_MODES:
                runs[mode] = done.get(mode) or measured(
                    f"ablation {mode} {size:,}",
                    {
                        "kind": "core",
                        "mode": mode,
                        "path": str(extracts[size].path),
                        "chunk": CHUNK,
                    },
                )
            report["ablation"] = _ablation_figures(size, runs)
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
                # Each in its own fresh store (SQLite file or throw-away PostgreSQL database).
                results: dict[str, dict[str, Any]] = {}
                for kind, label in (("e2e", ""), ("db_ceiling", " write ceiling")):
                    store = workdir / f"store-{backend}-{rows}-{kind}"
                    url = pg.create() if backend == "postgresql" and pg else None
                    try:
                        database_url = url or f"sqlite:///{store / 'var' / 'hsclink.db'}"
                        results[kind] = measured(
                            f"{backend} {rows:,}{label}",
                            {
                                "kind": kind,
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
                report["end_to_end"].append(
                    {
                        "backend": backend,
                        "rows": rows,
                        **results["e2e"],
                        "db_ceiling": results["db_ceiling"],
                    }
                )
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
