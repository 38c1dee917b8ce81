"""Audit log benchmarks: append rate, ``hsclink audit verify``, and Merkle proofs.

For each backend (SQLite in a temporary directory; PostgreSQL in a throw-away
database created and dropped through ``--postgres-url``) this script:

1. times audit appends: one entry per committed transaction (what every API
   request does, through ``unit_of_work``), and several threads appending
   concurrently, each in its own transactions; then checks the chain verifies;
2. fills the log to ``--entries`` entries (batched, many entries per transaction),
   signing a few tree heads on the way with ``AuditLog.root_of`` and ``store_head``, and times
   ``verify_database`` in-process and the real ``hsclink audit verify`` CLI as a
   subprocess, with their peak memory;
3. times an inclusion proof and a consistency proof at that size, the periodic
   tree-head signer, and appends on the full log;
4. (first) compares sequential appends without witnesses and with a real witness
   process (``hsclink witness serve``) cosigning in a background thread, alternated
   ``--witness-rounds`` times; ``--witnesses-only`` runs just that.

Run from the repository root::

    .venv/bin/python benchmarks/audit.py [--entries 100000] [--backends sqlite,postgresql]
                                         [--postgres-url URL] [--json]

Progress goes to standard error; the figures (a table, or JSON with ``--json``)
go to standard output.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import resource
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The repository first: run as a script, this directory (sys.path[0]) would otherwise
# lend its linkage.py to ``import linkage`` (app.store imports linkage.records).
REPO = Path(__file__).resolve().parent.parent
if sys.path[:1] != [str(REPO)]:
    sys.path.insert(0, str(REPO))

import sqlalchemy  # noqa: E402
from sqlalchemy import create_engine, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app import REPO_ROOT  # noqa: E402
from app.audit.entries import GENESIS_HASH, EntryBody, entry_hash  # noqa: E402
from app.audit.log import AuditLog, iter_entry_hashes, write_witness  # noqa: E402
from app.audit.merkle import (  # noqa: E402
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from app.auth.actor import Actor  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db.base import utcnow  # noqa: E402
from app.db.models import AuditEvent  # noqa: E402
from app.keys.store import DatabaseKeyStore  # noqa: E402
from app.services import audit as audit_service  # noqa: E402
from app.services import setup  # noqa: E402
from app.services.context import ServiceContext  # noqa: E402
from app.services.unit import unit_of_work  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql+psycopg://127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")


def log(message: str) -> None:
    """Progress, on standard error so that ``--json`` output stays parseable."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- stores


@dataclass
class Store:
    """One backend's throw-away store: settings for in-process use, env for the CLI."""

    backend: str
    settings: Settings
    server_version: str

    @property
    def cli_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HSCLINK_")}
        env["HSCLINK_DATA_DIR"] = str(self.settings.data_dir)
        env["HSCLINK_DATABASE_URL"] = self.settings.database_url
        return env


def _settings(data_dir: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        policy_dir=REPO_ROOT / "policies",
        audit_sign_interval_seconds=0,
    )


@contextlib.contextmanager
def sqlite_store() -> Iterator[Store]:
    with tempfile.TemporaryDirectory(prefix="hsclink-bench-sqlite-") as tmp:
        data_dir = Path(tmp) / "var"
        url = f"sqlite:///{data_dir / 'hsclink.db'}"
        yield Store("sqlite", _settings(data_dir, url), f"SQLite {sqlite3.sqlite_version}")


def _normalise_pg_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


@contextlib.contextmanager
def postgres_store(admin_url: str) -> Iterator[Store | None]:
    """A fresh database on the server behind ``admin_url``; None if it does not answer."""
    admin_url = _normalise_pg_url(admin_url)
    admin = create_engine(
        admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar())
    except Exception as error:
        admin.dispose()
        shown = make_url(admin_url).render_as_string(hide_password=True)
        log(f"PostgreSQL is not reachable at {shown} ({type(error).__name__}); skipping it")
        yield None
        return
    name = f"hsclink_bench_{uuid.uuid4().hex[:12]}"
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    log(f"created PostgreSQL database {name}")
    try:
        with tempfile.TemporaryDirectory(prefix="hsclink-bench-pg-") as tmp:
            yield Store("postgresql", _settings(Path(tmp) / "var", url), f"PostgreSQL {version}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        log(f"dropped PostgreSQL database {name}")


# --------------------------------------------------------------------------- helpers


def _request_actor() -> Actor:
    """An API-like actor: a user with a fresh request id (as the middleware makes)."""
    return Actor(
        name="bench.ig",
        role="ig_officer",
        organisation="E09000007",
        user_id=1,
        organisation_kind="council",
        request_id=secrets.token_hex(8),
    )


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _log_size(ctx: ServiceContext) -> int:
    with ctx.sessions() as session:
        return AuditLog(session).size()


@dataclass
class Timed:
    seconds: float
    cpu_seconds: float
    result: Any = None


def timed(fn: Callable[[], Any]) -> Timed:
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return Timed(time.perf_counter() - wall, time.process_time() - cpu, result)


def traced_peak(fn: Callable[[], Any]) -> int:
    """Peak Python heap allocated while ``fn`` runs (tracemalloc), in bytes."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------- 1. appends


def _append_one(ctx: ServiceContext, index: int) -> None:
    """What an API request's unit of work writes: one entry, one commit."""
    with unit_of_work(ctx, _request_actor(), "bench.append", target=f"bench:{index}") as uow:
        uow.details = {"n": index}


def append_sequential(ctx: ServiceContext, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        _append_one(ctx, len(latencies))
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    return {
        "entries": len(latencies),
        "seconds": elapsed,
        "entries_per_second": len(latencies) / elapsed,
        "latency_ms_p50": 1000 * _percentile(latencies, 0.50),
        "latency_ms_p99": 1000 * _percentile(latencies, 0.99),
        "latency_ms_max": 1000 * max(latencies, default=float("nan")),
    }


def append_concurrent(ctx: ServiceContext, threads: int, seconds: float) -> dict[str, Any]:
    barrier = threading.Barrier(threads + 1)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[str] = []
    stop_at = [0.0]

    def worker(slot: int) -> None:
        mine = latencies[slot]
        barrier.wait()
        while time.perf_counter() < stop_at[0]:
            t0 = time.perf_counter()
            try:
                _append_one(ctx, slot * 1_000_000 + len(mine))
            except Exception as error:
                errors.append(f"{type(error).__name__}: {error}"[:200])
                continue
            mine.append(time.perf_counter() - t0)

    before = _log_size(ctx)
    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    start = time.perf_counter()
    stop_at[0] = start + seconds
    barrier.wait()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - start
    all_latencies = [x for per_thread in latencies for x in per_thread]
    written = _log_size(ctx) - before
    report = timed(lambda: audit_service.verify_database(ctx)).result
    return {
        "threads": threads,
        "entries": len(all_latencies),
        "entries_in_log": written,
        "per_thread": [len(x) for x in latencies],
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": elapsed,
        "entries_per_second": len(all_latencies) / elapsed,
        "latency_ms_p50": 1000 * _percentile(all_latencies, 0.50),
        "latency_ms_p99": 1000 * _percentile(all_latencies, 0.99),
        "latency_ms_max": 1000 * max(all_latencies, default=float("nan")),
        "chain_verifies": report.ok and written == len(all_latencies),
        "verify_entries_checked": report.entries_checked,
        "verify_problem": report.problem,
    }


# --------------------------------------------------------------------------- 2. fill


def _bulk_rows(session: Any, count: int) -> list[dict[str, Any]]:
    """The next ``count`` entries, built exactly as ``AuditLog.record`` builds one."""
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.entry_hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq, prev = (last[0], last[1]) if last else (0, GENESIS_HASH)
    rows = []
    for _ in range(count):
        seq += 1
        actor = _request_actor()
        body = EntryBody(
            seq=seq,
            occurred_at=utcnow(),
            actor=actor.name,
            role=actor.role,
            organisation=actor.organisation,
            action="bench.fill",
            target=f"bench:{seq}",
            outcome="allowed",
            request_id=actor.request_id,
            details={"n": seq},
        )
        digest = entry_hash(body, prev)
        rows.append(
            {
                "seq": seq,
                "occurred_at": body.occurred_at,
                "actor": body.actor,
                "role": body.role,
                "organisation": body.organisation,
                "action": body.action,
                "target": body.target,
                "outcome": body.outcome,
                "request_id": body.request_id,
                "details": body.details,
                "prev_hash": prev,
                "entry_hash": digest,
            }
        )
        prev = digest
    return rows


def fill(
    ctx: ServiceContext, target: int, head_sizes: list[int], batch: int, mode: str
) -> dict[str, Any]:
    """Grow the log to ``target`` entries, signing a head (and witnessing it) at each size."""
    size = _log_size(ctx)
    pending = sorted(h for h in set(head_sizes) if size < h <= target)
    signed: list[dict[str, Any]] = []
    added = 0
    start = time.perf_counter()
    sign_seconds = 0.0
    while size < target:
        stop = min(target, size + batch, *(pending[:1] or [target]))
        head = None
        with ctx.sessions() as session, session.begin():
            if mode == "record":
                audit_log = AuditLog(session)
                for seq in range(size + 1, stop + 1):
                    audit_log.record(
                        _request_actor(), "bench.fill", target=f"bench:{seq}", details={"n": seq}
                    )
            else:
                session.execute(insert(AuditEvent), _bulk_rows(session, stop - size))
            if pending and stop == pending[0]:
                pending.pop(0)
                t0 = time.perf_counter()
                signer = AuditLog(session)
                keys = DatabaseKeyStore(session, ctx.master_key)
                head = signer.store_head(
                    stop, signer.root_of(stop), keys, origin=ctx.settings.audit_log_origin
                )
                took = time.perf_counter() - t0
                sign_seconds += took
        if head is not None:
            write_witness(ctx.settings.audit_witness_path, head)
            signed.append({"tree_size": head.tree_size, "sign_head_seconds": took})
        added += stop - size
        size = stop
        if added % (batch * 5) == 0 or size == target:
            log(f"  filled to {size:,} entries")
    elapsed = time.perf_counter() - start
    return {
        "mode": mode,
        "entries_added": added,
        "seconds": elapsed,
        "entries_per_second": added / (elapsed - sign_seconds) if added else 0.0,
        "heads": signed,
    }


# --------------------------------------------------------------------------- 2. verify


#: Runs a command and writes its wall time and resource usage (wait4) to a JSON file.
#: A small process of its own, because Linux counts the address space a child had before
#: exec (a copy of its parent's, or with vfork the parent's itself) in the child's
#: ru_maxrss: spawned straight from this large benchmark process, every child would
#: report at least this process's peak RSS.
_LAUNCHER = """
import json, os, subprocess, sys, time
report, command = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
proc = subprocess.Popen(command)
_, status, usage = os.wait4(proc.pid, 0)
elapsed = time.perf_counter() - start
with open(report, "w") as handle:
    json.dump({"seconds": elapsed, "cpu_seconds": usage.ru_utime + usage.ru_stime,
               "max_rss_kib": usage.ru_maxrss}, handle)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_cli(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run the real CLI: its wall time, CPU time and peak RSS (of that process alone)."""
    with tempfile.TemporaryDirectory(prefix="hsclink-bench-cli-") as tmp:
        report = Path(tmp) / "usage.json"
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(report), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        usage = json.loads(report.read_text())
    return {
        "seconds": usage["seconds"],
        "cpu_seconds": usage["cpu_seconds"],
        "max_rss_bytes": usage["max_rss_kib"] * 1024,  # Linux reports KiB
        "exit_code": done.returncode,
        "output": done.stdout.decode(errors="replace"),
    }


def hsclink_command() -> list[str]:
    script = Path(sys.executable).parent / "hsclink"
    if script.exists():
        return [str(script)]
    found = shutil.which("hsclink")
    if found:
        return [found]
    return [sys.executable, "-c", "from app.cli.main import main; main()"]


def verify(ctx: ServiceContext, store: Store, expected: int) -> dict[str, Any]:
    run = timed(lambda: audit_service.verify_database(ctx))
    report = run.result
    if not report.ok or report.entries_checked != expected:
        raise RuntimeError(f"verification failed: {report.as_dict()}")
    log(f"  in-process verify_database: {run.seconds:.2f} s")
    peak = traced_peak(lambda: audit_service.verify_database(ctx))

    command = hsclink_command()
    startup = run_cli([*command, "audit", "verify", "--help"], store.cli_env)
    cli = run_cli([*command, "audit", "verify", "--json"], store.cli_env)
    if cli["exit_code"] != 0:
        raise RuntimeError(f"hsclink audit verify failed:\n{cli['output']}")
    cli_report = json.loads(cli["output"])
    if not cli_report["ok"] or cli_report["entries_checked"] != expected:
        raise RuntimeError(f"hsclink audit verify disagrees: {cli_report}")
    log(f"  hsclink audit verify: {cli['seconds']:.2f} s")
    return {
        "entries": report.entries_checked,
        "heads_checked": report.heads_checked,
        "in_process_seconds": run.seconds,
        "in_process_cpu_seconds": run.cpu_seconds,
        "in_process_entries_per_second": report.entries_checked / run.seconds,
        "in_process_traced_peak_bytes": peak,
        "cli_command": " ".join([*command, "audit", "verify", "--json"]),
        "cli_seconds": cli["seconds"],
        "cli_cpu_seconds": cli["cpu_seconds"],
        "cli_max_rss_bytes": cli["max_rss_bytes"],
        "cli_startup_seconds": startup["seconds"],
        "cli_startup_max_rss_bytes": startup["max_rss_bytes"],
        "cli_heads_checked": cli_report["heads_checked"],
    }


# --------------------------------------------------------------------------- 3. proofs


def proofs(ctx: ServiceContext, heads: list[int], repeat: int) -> dict[str, Any]:
    actor = Actor.cli()
    second = heads[-1]
    first = heads[len(heads) // 2 - 1] if len(heads) > 1 else second
    seq = max(1, second // 3)

    def inclusion() -> dict[str, Any]:
        return audit_service.inclusion(ctx, actor=actor, seq=seq, tree_size=second)

    def consistency() -> dict[str, Any]:
        return audit_service.consistency(ctx, actor=actor, first=first, second=second)

    inc_runs = [timed(inclusion) for _ in range(repeat)]
    con_runs = [timed(consistency) for _ in range(repeat)]
    inc, con = inc_runs[-1].result, con_runs[-1].result
    inc_ok = verify_inclusion(
        seq - 1,
        second,
        bytes.fromhex(inc["entry_hash"]),
        [bytes.fromhex(p) for p in inc["audit_path"]],
        bytes.fromhex(inc["tree_head"]["root_hash"]),
    )
    con_ok = verify_consistency(
        first,
        second,
        bytes.fromhex(con["first"]["root_hash"]),
        bytes.fromhex(con["second"]["root_hash"]),
        [bytes.fromhex(p) for p in con["proof"]],
    )

    # Where the time goes: loading every leaf hash, then hashing in memory.
    with ctx.sessions() as session:
        load = timed(lambda: list(iter_entry_hashes(session, upto=second)))
    leaves = load.result
    inc_compute = timed(lambda: inclusion_proof(seq - 1, leaves))
    con_compute = timed(lambda: consistency_proof(first, leaves))
    inc_peak = traced_peak(inclusion)
    return {
        "tree_size": second,
        "inclusion_seq": seq,
        "consistency_first": first,
        "inclusion_seconds_median": statistics.median(r.seconds for r in inc_runs),
        "inclusion_path_length": len(inc["audit_path"]),
        "inclusion_verifies": inc_ok,
        "inclusion_traced_peak_bytes": inc_peak,
        "consistency_seconds_median": statistics.median(r.seconds for r in con_runs),
        "consistency_proof_length": len(con["proof"]),
        "consistency_verifies": con_ok,
        "load_leaf_hashes_seconds": load.seconds,
        "inclusion_compute_seconds": inc_compute.seconds,
        "consistency_compute_seconds": con_compute.seconds,
        "repeat": repeat,
    }


def interference(ctx: ServiceContext, name: str, task: Callable[[], Any]) -> dict[str, Any]:
    """Append (one entry per transaction) while ``task`` runs in another thread.

    If the task holds the log's write lock (the advisory lock on PostgreSQL, the
    ``BEGIN IMMEDIATE`` reserved lock on SQLite), appends stall for its duration:
    the worst append latency then approaches the task's own duration.
    """
    finished = threading.Event()
    outcome: dict[str, Any] = {}

    def background() -> None:
        t0 = time.perf_counter()
        try:
            task()
        except Exception as error:
            outcome["error"] = f"{type(error).__name__}: {error}"[:200]
        outcome["seconds"] = time.perf_counter() - t0
        finished.set()

    latencies: list[float] = []
    errors: list[str] = []
    thread = threading.Thread(target=background, daemon=True)
    thread.start()
    while not finished.is_set():
        t0 = time.perf_counter()
        try:
            _append_one(ctx, len(latencies))
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}"[:200])
            continue
        latencies.append(time.perf_counter() - t0)
    thread.join()
    return {
        "task": name,
        "task_seconds": outcome["seconds"],
        "task_error": outcome.get("error"),
        "appends_during": len(latencies),
        "append_errors": len(errors),
        "first_append_error": errors[0] if errors else None,
        "append_latency_ms_p50": 1000 * _percentile(latencies, 0.50),
        "append_latency_ms_max": 1000 * max(latencies, default=float("nan")),
    }


def interferences(ctx: ServiceContext, heads: list[int]) -> dict[str, Any]:
    """Appends while the periodic signer, a verification and an inclusion proof run."""
    results = {}
    _append_one(ctx, -1)  # the log grew, so the periodic signer has work to do
    results["periodic_signer"] = interference(
        ctx, "sign_head_if_grown", lambda: audit_service.sign_head_if_grown(ctx)
    )
    results["verify"] = interference(
        ctx, "verify_database", lambda: audit_service.verify_database(ctx)
    )
    results["inclusion"] = interference(
        ctx,
        "inclusion",
        lambda: audit_service.inclusion(
            ctx, actor=Actor.cli(), seq=max(1, heads[-1] // 3), tree_size=heads[-1]
        ),
    )
    return results


# --------------------------------------------------------------------------- one backend


def run_backend(store: Store, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"backend": store.backend, "server": store.server_version}
    result["load_average_before"] = os.getloadavg()
    backend_start = time.perf_counter()
    ctx = ServiceContext.build(store.settings)
    try:
        setup.initialise(ctx, actor=Actor.cli())

        log(f"{store.backend}: appends with and without a witness ({args.witness_rounds} rounds)")
        result["witnesses"] = witness_overhead(ctx, args)
        if args.witnesses_only:
            return result

        log(f"{store.backend}: sequential appends ({args.append_seconds:g} s)")
        result["append_sequential"] = append_sequential(ctx, args.append_seconds)
        log(f"{store.backend}: {args.threads} concurrent appenders ({args.append_seconds:g} s)")
        result["append_concurrent"] = append_concurrent(ctx, args.threads, args.append_seconds)

        n = args.entries
        size = _log_size(ctx)
        if size >= n:
            raise SystemExit(
                f"--entries {n} is too small: the append tests already wrote {size} entries"
            )
        planned = {max(1, n * i // args.heads) for i in range(1, args.heads + 1)}
        heads = sorted(h for h in planned if h > size)
        log(f"{store.backend}: filling the log to {n:,} entries ({args.fill_mode})")
        result["fill"] = fill(ctx, n, heads, args.fill_batch, args.fill_mode)

        log(f"{store.backend}: verifying {n:,} entries")
        result["verify"] = verify(ctx, store, n)

        log(f"{store.backend}: proofs at {n:,} entries")
        result["proofs"] = proofs(ctx, heads, args.proof_repeat)
        log(f"{store.backend}: appends while the signer, verify and a proof run")
        result["interference"] = interferences(ctx, heads)

        log(f"{store.backend}: sequential appends on the full log ({args.append_seconds:g} s)")
        result["append_sequential_full"] = append_sequential(ctx, args.append_seconds)
        result["append_sequential_full"]["log_size"] = _log_size(ctx)
        final = timed(lambda: audit_service.verify_database(ctx))
        result["final_verify"] = {
            "ok": final.result.ok,
            "entries": final.result.entries_checked,
            "heads_checked": final.result.heads_checked,
            "seconds": final.seconds,
            "problem": final.result.problem,
        }
    finally:
        ctx.close()
    result["backend_seconds"] = time.perf_counter() - backend_start
    result["load_average_after"] = os.getloadavg()
    return result


# --------------------------------------------------------------------------- 4. witnesses


@contextlib.contextmanager
def witness_process(data_dir: Path, log_vkey: str) -> Iterator[tuple[str, str]]:
    """The real ``hsclink witness serve`` on a free port; yields (url, its verifier key)."""
    from app.audit.note import VerifierKey
    from app.witness.store import WitnessStore

    WitnessStore(data_dir).trust(VerifierKey.parse(log_vkey))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", "from app.cli.main import main; main()", "witness"]
    process = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--data", str(data_dir), "--name", "bench/w"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the witness did not start")
            try:
                with opener.open(f"{url}/health", timeout=1) as response:
                    vkey = response.read().decode().strip()
                    break
            except OSError:
                time.sleep(0.1)
        yield url, vkey
    finally:
        process.terminate()
        process.wait(timeout=15)


def witness_overhead(ctx: ServiceContext, args: argparse.Namespace) -> dict[str, Any]:
    """Sequential appends while a background thread signs a head every ``--cosign-interval``
    seconds (as the service's periodic signer does, in a thread beside the requests):
    without witnesses, and with a real witness cosigning after each signing; alternated
    (ABBA) ``--witness-rounds`` times so that the growing log and load from other work
    fall on both alike."""
    from app.audit.log import log_verifier_key
    from app.keys.pinned import read_pinned_keys
    from app.services.audit_witnesses import cosign_latest

    pinned = read_pinned_keys(ctx.settings.audit_public_key_path)
    origin = ctx.settings.audit_log_origin
    log_vkey = log_verifier_key(origin, pinned[max(pinned)].public_bytes_raw()).encode()
    plain = ctx.settings
    rates: dict[str, list[float]] = {"without": [], "with": []}
    cosign_seconds: list[float] = []
    failures: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="hsclink-bench-witness-") as tmp,
        witness_process(Path(tmp), log_vkey) as (url, vkey),
    ):
        witnessed = plain.model_copy(
            update={
                "audit_witnesses": f"bench={url}={vkey}",
                "audit_sign_interval_seconds": 300,
            }
        )
        modes = [("without", plain), ("with", witnessed)]
        for round_ in range(args.witness_rounds):
            # ABBA order: the log grows through the run and signing costs grow with it.
            for mode, settings in modes if round_ % 2 == 0 else modes[::-1]:
                ctx.settings = settings
                stop = threading.Event()

                def background(stop: threading.Event = stop, mode: str = mode) -> None:
                    while not stop.wait(args.cosign_interval):
                        t0 = time.perf_counter()
                        audit_service.sign_head_if_grown(ctx)
                        if mode == "with":
                            outcomes = cosign_latest(ctx)
                            cosign_seconds.append(time.perf_counter() - t0)
                            failures.extend(o.detail for o in outcomes if not o.cosigned)

                thread = threading.Thread(target=background, name=f"bench-signer-{mode}")
                thread.start()
                try:
                    result = append_sequential(ctx, args.append_seconds)
                    rates[mode].append(result["entries_per_second"])
                finally:
                    stop.set()
                    thread.join()
        ctx.settings = witnessed
        audit_service.sign_head_if_grown(ctx)
        cosign_latest(ctx)
        report = audit_service.verify_database(ctx)
        ctx.settings = plain
    without = statistics.median(rates["without"])
    with_ = statistics.median(rates["with"])
    return {
        "rates_without": rates["without"],
        "rates_with": rates["with"],
        "entries_per_second_without": without,
        "entries_per_second_with": with_,
        "ratio": with_ / without,
        "cosign_rounds": len(cosign_seconds),
        "sign_and_cosign_ms_p50": 1000 * _percentile(cosign_seconds, 0.5),
        "sign_and_cosign_ms_max": 1000 * max(cosign_seconds, default=float("nan")),
        "cosign_failures": failures[:3],
        "verify_ok": report.ok,
        "verify_problem": report.problem,
        "witnessed_size": report.witnesses[0].get("tree_size") if report.witnesses else None,
    }


# --------------------------------------------------------------------------- reporting


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
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model,
        "memory_bytes": memory,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "sqlalchemy": sqlalchemy.__version__,
        "sqlite": sqlite3.sqlite_version,
        "max_rss_bytes_of_this_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


@dataclass
class Row:
    label: str
    unit: str
    path: tuple[str, ...]
    fmt: str = "{:,.0f}"
    scale: float = 1.0
    section: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


MIB = 1 / (1024 * 1024)


def rows(entries: int, threads: int) -> list[tuple[str, list[Row]]]:
    n = f"{entries:,}"
    return [
        (
            "1. Audit append (each a committed transaction through unit_of_work)",
            [
                Row("sequential: appends", "entries", ("append_sequential", "entries")),
                Row("sequential: rate", "entries/s", ("append_sequential", "entries_per_second")),
                Row(
                    "sequential: latency p50",
                    "ms",
                    ("append_sequential", "latency_ms_p50"),
                    "{:.2f}",
                ),
                Row(
                    "sequential: latency p99",
                    "ms",
                    ("append_sequential", "latency_ms_p99"),
                    "{:.2f}",
                ),
                Row(
                    "sequential: latency max",
                    "ms",
                    ("append_sequential", "latency_ms_max"),
                    "{:.1f}",
                ),
                Row(f"{threads} threads: appends", "entries", ("append_concurrent", "entries")),
                Row(
                    f"{threads} threads: rate",
                    "entries/s",
                    ("append_concurrent", "entries_per_second"),
                ),
                Row(
                    f"{threads} threads: latency p50",
                    "ms",
                    ("append_concurrent", "latency_ms_p50"),
                    "{:.2f}",
                ),
                Row(
                    f"{threads} threads: latency p99",
                    "ms",
                    ("append_concurrent", "latency_ms_p99"),
                    "{:.2f}",
                ),
                Row(
                    f"{threads} threads: latency max",
                    "ms",
                    ("append_concurrent", "latency_ms_max"),
                    "{:.1f}",
                ),
                Row(f"{threads} threads: errors", "count", ("append_concurrent", "errors")),
                Row(
                    f"{threads} threads: chain verifies",
                    "",
                    ("append_concurrent", "chain_verifies"),
                    "{}",
                ),
                Row(
                    f"sequential on the full log: rate (log ~{n})",
                    "entries/s",
                    ("append_sequential_full", "entries_per_second"),
                ),
                Row(
                    "sequential on the full log: latency p50",
                    "ms",
                    ("append_sequential_full", "latency_ms_p50"),
                    "{:.2f}",
                ),
            ],
        ),
        (
            f"2. Verify {n} entries",
            [
                Row("fill rate (setup, batched)", "entries/s", ("fill", "entries_per_second")),
                Row("fill total incl. signing", "s", ("fill", "seconds"), "{:.1f}"),
                Row(
                    "distinct signed heads checked (every copy of each)",
                    "count",
                    ("verify", "heads_checked"),
                ),
                Row("verify_database() wall", "s", ("verify", "in_process_seconds"), "{:.2f}"),
                Row("verify_database() CPU", "s", ("verify", "in_process_cpu_seconds"), "{:.2f}"),
                Row(
                    "verify_database() rate",
                    "entries/s",
                    ("verify", "in_process_entries_per_second"),
                ),
                Row(
                    "verify_database() peak Python heap (tracemalloc)",
                    "MiB",
                    ("verify", "in_process_traced_peak_bytes"),
                    "{:.1f}",
                    MIB,
                ),
                Row("`hsclink audit verify` wall", "s", ("verify", "cli_seconds"), "{:.2f}"),
                Row("`hsclink audit verify` CPU", "s", ("verify", "cli_cpu_seconds"), "{:.2f}"),
                Row(
                    "`hsclink audit verify` peak RSS",
                    "MiB",
                    ("verify", "cli_max_rss_bytes"),
                    "{:.1f}",
                    MIB,
                ),
                Row(
                    "`hsclink audit verify --help` (startup)",
                    "s",
                    ("verify", "cli_startup_seconds"),
                    "{:.2f}",
                ),
                Row(
                    "  startup peak RSS",
                    "MiB",
                    ("verify", "cli_startup_max_rss_bytes"),
                    "{:.1f}",
                    MIB,
                ),
                Row("log verifies again after all the tests", "", ("final_verify", "ok"), "{}"),
                Row("  entries in the log by then", "entries", ("final_verify", "entries")),
            ],
        ),
        (
            f"3. Proofs and signing at {n} entries",
            [
                Row(
                    "inclusion() (service, median)",
                    "ms",
                    ("proofs", "inclusion_seconds_median"),
                    "{:.1f}",
                    1000,
                ),
                Row("  audit path length", "hashes", ("proofs", "inclusion_path_length")),
                Row("  proof verifies", "", ("proofs", "inclusion_verifies"), "{}"),
                Row(
                    "  peak Python heap (tracemalloc)",
                    "MiB",
                    ("proofs", "inclusion_traced_peak_bytes"),
                    "{:.1f}",
                    MIB,
                ),
                Row(
                    "consistency() (service, median)",
                    "ms",
                    ("proofs", "consistency_seconds_median"),
                    "{:.1f}",
                    1000,
                ),
                Row("  proof length", "hashes", ("proofs", "consistency_proof_length")),
                Row("  proof verifies", "", ("proofs", "consistency_verifies"), "{}"),
                Row(
                    "  of which: load all leaf hashes",
                    "ms",
                    ("proofs", "load_leaf_hashes_seconds"),
                    "{:.1f}",
                    1000,
                ),
                Row(
                    "  of which: inclusion_proof() hashing",
                    "ms",
                    ("proofs", "inclusion_compute_seconds"),
                    "{:.1f}",
                    1000,
                ),
                Row(
                    "  of which: consistency_proof() hashing",
                    "ms",
                    ("proofs", "consistency_compute_seconds"),
                    "{:.1f}",
                    1000,
                ),
            ],
        ),
        (
            "4. Appends while a long task runs in another thread (does it block the log?)",
            [
                *(
                    row
                    for key, name in (
                        ("periodic_signer", "sign_head_if_grown() (periodic signer)"),
                        ("verify", "verify_database()"),
                        ("inclusion", "inclusion() proof"),
                    )
                    for row in (
                        Row(
                            f"{name}: duration",
                            "ms",
                            ("interference", key, "task_seconds"),
                            "{:.0f}",
                            1000,
                        ),
                        Row(
                            "  appends completed meanwhile",
                            "entries",
                            ("interference", key, "appends_during"),
                        ),
                        Row(
                            "  worst append latency meanwhile",
                            "ms",
                            ("interference", key, "append_latency_ms_max"),
                            "{:.0f}",
                        ),
                        Row(
                            "  append errors meanwhile",
                            "count",
                            ("interference", key, "append_errors"),
                        ),
                    )
                ),
            ],
        ),
    ]


def _lookup(result: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = result
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _format(row: Row, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int | float):
        return row.fmt.format(value * row.scale)
    return str(value)


def print_table(report: dict[str, Any], args: argparse.Namespace) -> None:
    info = report["machine"]
    results = report["results"]
    print("hsclink audit log benchmark")
    memory = f", {info['memory_bytes'] / 2**30:.1f} GiB RAM" if info["memory_bytes"] else ""
    print(f"  date:     {info['date']}")
    print(f"  machine:  nproc {info['nproc']}, {info['cpu']}{memory}")
    print(f"  python:   {info['implementation']} {info['python']} on {info['platform']}")
    print(f"  stack:    SQLAlchemy {info['sqlalchemy']}, SQLite {info['sqlite']}")
    load = "/".join(f"{x:.2f}" for x in info["load_average_at_start"])
    print(f"  load:     {load} (1/5/15-minute load average at start; other work skews figures)")
    for result in results:
        print(f"  {result['backend']}: {result['server']}")
    for note in report["notes"]:
        print(f"  note: {note}")
    print(f"  command:  {report['command']}")
    print()
    if not results:
        print("no backend ran")
        return
    for result in results:
        w = result["witnesses"]
        print(
            f"{result['backend']}: appends/s without witnesses"
            f" {w['entries_per_second_without']:,.0f},"
            f" with a witness (signing, and cosigning, every {args.cosign_interval:g} s)"
            f" {w['entries_per_second_with']:,.0f} (ratio {w['ratio']:.3f}; medians of"
            f" {args.witness_rounds} rounds of {args.append_seconds:g} s);"
            f" {w['cosign_rounds']} sign+cosign rounds, p50 {w['sign_and_cosign_ms_p50']:.0f} ms;"
            f" verify with the witness ok: {w['verify_ok']} (witnessed size {w['witnessed_size']})"
        )
    if args.witnesses_only:
        return
    print()
    names = [r["backend"] for r in results]
    label_width = 52
    col = 14
    header = f"{'figure':<{label_width}} {'unit':<10}" + "".join(f"{b:>{col}}" for b in names)
    for title, section in rows(args.entries, args.threads):
        print(title)
        print(header)
        print("-" * len(header))
        for row in section:
            cells = "".join(f"{_format(row, _lookup(r, row.path)):>{col}}" for r in results)
            print(f"{row.label:<{label_width}} {row.unit:<10}{cells}")
        print()
    for result in results:
        fill_info = result.get("fill", {})
        heads = ", ".join(
            f"{h['tree_size']:,} in {1000 * h['sign_head_seconds']:.0f} ms"
            for h in fill_info.get("heads", [])
        )
        print(f"{result['backend']}: sign_head during the fill: {heads}")
        concurrent = result.get("append_concurrent", {})
        print(
            f"{result['backend']}: concurrent appends per thread: {concurrent.get('per_thread')}"
            + (
                f"; first error: {concurrent['first_error']}"
                if concurrent.get("first_error")
                else ""
            )
        )
        before = "/".join(f"{x:.2f}" for x in result["load_average_before"])
        after = "/".join(f"{x:.2f}" for x in result["load_average_after"])
        print(
            f"{result['backend']}: backend total {result['backend_seconds']:.0f} s;"
            f" load average (1/5/15 min) before {before}, after {after}"
        )
    print(f"total run time: {report['total_seconds']:.0f} s")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000, help="log size to verify/prove")
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="admin connection used to CREATE and DROP the throw-away database",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--json-file", type=Path, help="also write the figures as JSON to this file"
    )
    parser.add_argument(
        "--append-seconds", type=float, default=5.0, help="duration of each append test"
    )
    parser.add_argument("--threads", type=int, default=4, help="concurrent appenders")
    parser.add_argument("--heads", type=int, default=4, help="tree heads signed during the fill")
    parser.add_argument("--fill-batch", type=int, default=5000, help="entries per fill transaction")
    parser.add_argument(
        "--fill-mode",
        choices=("bulk", "record"),
        default="bulk",
        help="bulk: precomputed chain, one multi-row INSERT per batch (fast);"
        " record: AuditLog.record per entry (the app's path, ~10x slower)",
    )
    parser.add_argument("--proof-repeat", type=int, default=3, help="runs per proof (median)")
    parser.add_argument(
        "--witness-rounds", type=int, default=3, help="alternating without/with-witness runs"
    )
    parser.add_argument(
        "--cosign-interval",
        type=float,
        default=1.0,
        help="seconds between signing (and cosigning) rounds during the witness comparison",
    )
    parser.add_argument(
        "--witnesses-only", action="store_true", help="only the with/without-witness appends"
    )
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if args.entries < 10 or args.heads < 1 or args.threads < 1 or args.fill_batch < 1:
        parser.error("--entries >= 10, --heads >= 1, --threads >= 1, --fill-batch >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    load_at_start = os.getloadavg()
    notes: list[str] = []
    results: list[dict[str, Any]] = []
    for backend in args.backends:
        factory = sqlite_store() if backend == "sqlite" else postgres_store(args.postgres_url)
        with factory as store:
            if store is None:
                notes.append("PostgreSQL skipped: not reachable at --postgres-url")
                continue
            results.append(run_backend(store, args))
    report = {
        "command": " ".join([os.path.relpath(sys.executable), *sys.argv]),
        "machine": {**machine(), "load_average_at_start": load_at_start},
        "options": {k: v for k, v in vars(args).items() if k not in ("json", "json_file")},
        "notes": notes,
        "results": results,
        "total_seconds": time.perf_counter() - start,
    }
    document = json.dumps(report, indent=2, default=str)
    if args.json_file:
        args.json_file.write_text(document + "\n")
    if args.json:
        print(document)
    else:
        print_table(report, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
