"""Release latency through the API, at London scale: 1M persons, 5M records.

For each backend: a fresh store (SQLite in a temporary directory; PostgreSQL in a
throw-away database) is initialised with ``app.services.setup.initialise``, an analyst
with a budget, and a synthetic linked snapshot written through the sealed store's own
functions (``app/store``): two accepted submissions (hospital episodes, social-care
events) whose records, rows in ``RECORD_COLUMNS`` order as the row kernel gives them, are
sealed with ``seal_record_rows`` in batches of ``ingest_batch_rows`` and stored with
``insert_record_batch``; a ``linkage_snapshots`` row and its assignment
(``write_assignment``). ``--persons`` persons with borough, age band and sex, and about
``--records-per-person`` records each (80 % hospital episodes with admission method,
diagnosis, dates; 20 % social care events with service type, support reason and weekly
cost); random 48-byte tokens and 128-byte Bloom encodings, so the sealed batches are the
size real ones are. Ingest and linkage are measured by their own benchmarks; this one
starts where a release starts. The writing runs in a child process.

Then:

1. ``load_linked_data`` alone (what a release reads: the assignment, every accepted
   facts part, the opt-out list), in a fresh child process: wall and CPU seconds, and
   the process's peak RSS. Target: <= 10 s and <= 2.5 GiB at 1M persons / 5M records;
2. the real app (``create_app``) served by uvicorn on 127.0.0.1, queried with
   ``POST /api/v1/queries`` over HTTP: the first query (cold: the server reads the
   snapshot's linked data into its in-memory cache, once per snapshot and opt-out list);
   ``--queries`` grouped counts of persons by borough x age band x sex (33 x 19 x sex
   codes cells), each with a distinct epsilon so that none is a free repeat; ``--queries``
   means of weekly care cost by borough;
3. the mechanism alone on the same cached data (``privacy.release.run``), for comparison.

Latency is wall time per request (median, 95th percentile, max). Target: <= 0.5 s per
query through the API. Run from the repository root::

    .venv/bin/python benchmarks/release_api.py [--persons 1000000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ADMIN_URL = "postgresql+psycopg://127.0.0.1:5432/test"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- data

#: Each bytes column of the linkage part, and its size (the tokens are 48-byte wrapped
#: HMACs, the Bloom encodings 128 bytes: as ``RowProcessor`` makes them).
_TOKEN_BYTES = 48
_BLOOM_BYTES = 128


def _attribute_typer(fields: Any) -> dict[str, Any]:
    """Per attribute, the typed value of a cell (``attribute_value``, as ingest keeps it),
    memoised: the synthetic cells come from small vocabularies."""
    from app.ingest.attributes import attribute_value

    typers: dict[str, Any] = {}
    for field in fields:
        memo: dict[str, Any] = {}

        def typed(cell: str, field: Any = field, memo: dict[str, Any] = memo) -> Any:
            if cell not in memo:
                value, reason = attribute_value(field, cell)
                if reason is not None:
                    raise ValueError(f"synthetic {field.name} refused: {reason}")
                memo[cell] = value
            return memo[cell]

        typers[field.name] = typed
    return typers


def write_snapshot(
    ctx: Any, persons: int, per_person: float, seed: int, optout_share: float
) -> dict[str, Any]:
    """A linked population written through the sealed store's own functions.

    Two accepted submissions (hospital episodes from ``RAL``, social-care events from
    Camden), their records as rows in ``RECORD_COLUMNS`` order (the row kernel's layout:
    random 48-byte tokens and 128-byte Bloom encodings, the person's NHS-number token
    shared by their records; borough, age band and sex; the dataset's attributes typed
    by ``attribute_value``), sealed in batches of ``ingest_batch_rows`` with
    ``seal_record_rows`` and stored with ``insert_record_batch``; a ``linkage_snapshots``
    row and its sealed assignment (``write_assignment``); optionally an opt-out list of
    ``optout_share`` of the persons (``replace_optouts``)."""
    from sqlalchemy import select

    from app.db.models import LinkageSnapshot, Organisation, Submission, User
    from app.ingest.schema import load_schemas
    from app.services.store import store_keys
    from app.store import (
        insert_record_batch,
        record_key,
        replace_optouts,
        seal_record_rows,
        write_assignment,
    )
    from app.store.records import RECORD_COLUMNS
    from privacy.normalise import AGE_BANDS, LONDON_BOROUGHS

    rng = np.random.default_rng(seed)
    boroughs = np.asarray(sorted(LONDON_BOROUGHS))
    bands = np.asarray(AGE_BANDS)
    person_borough = boroughs[rng.integers(0, len(boroughs), persons)]
    person_band = bands[rng.integers(0, len(bands), persons)]
    person_sex = np.asarray(["1", "2"])[rng.integers(0, 2, persons)]
    person_nhs = rng.bytes(persons * _TOKEN_BYTES)
    counts = 1 + rng.poisson(per_person - 1, persons)
    owner = np.repeat(np.arange(persons, dtype=np.int64), counts)
    rng.shuffle(owner)  # a person's records are spread over the extracts, as in life
    n = len(owner)
    nhs = rng.random(n) < 0.8
    start = date(2023, 4, 1)
    days = rng.integers(0, 3 * 365, n)
    stay = rng.geometric(0.3, n) - 1
    methods = np.asarray(["11", "12", "21", "22", "28", "31", "81"])
    method = methods[rng.integers(0, len(methods), n)]
    diagnoses = np.asarray(["I50.9", "J18.9", "S72.0", "N39.0", "E11.9", "F03", "C34.9", "R69"])
    diagnosis = diagnoses[rng.integers(0, len(diagnoses), n)]
    services = np.asarray(
        [
            "Long Term Support: Community: Home Care",
            "Long Term Support: Residential",
            "Short Term Support: Reablement",
        ]
    )
    service = services[rng.integers(0, len(services), n)]
    cost = np.round(rng.gamma(2.0, 300.0, n), 2)

    schemas = load_schemas(REPO / "datasets")
    keys = store_keys(ctx)
    batch_rows = ctx.settings.ingest_batch_rows
    at = {name: i for i, name in enumerate(RECORD_COLUMNS)}
    tokens = [c for c in RECORD_COLUMNS if c.startswith("tok_") and c != "tok_nhs_number"]
    blooms = [c for c in RECORD_COLUMNS if c.startswith("bloom_")]
    started = time.perf_counter()
    written = 0
    record_keys: list[np.ndarray] = []
    record_owners: list[np.ndarray] = []
    for dataset, org_code, chosen in (
        ("nhs_episodes", "RAL", np.flatnonzero(nhs)),
        ("asc_clients", "E09000007", np.flatnonzero(~nhs)),
    ):
        schema = schemas[dataset]
        typed = _attribute_typer(schema.attributes)
        with ctx.sessions() as session, session.begin():
            org = session.scalars(select(Organisation).where(Organisation.code == org_code)).one()
            user = session.scalars(select(User)).first()
            assert user is not None
            sub = Submission(
                organisation_id=org.id,
                submitted_by=user.id,
                dataset=dataset,
                schema_name=schema.name,
                upload_length=0,
                status="receiving",
            )
            session.add(sub)
            session.flush()
            sub_id = sub.id
        lines = np.arange(2, len(chosen) + 2, dtype=np.int64)  # line 1 is the header
        record_keys.append(np.asarray(record_key(sub_id, lines), dtype=np.int64))
        record_owners.append(owner[chosen])
        for lo in range(0, len(chosen), batch_rows):
            index = chosen[lo : lo + batch_rows]
            m = len(index)
            random_tokens = {c: rng.bytes(m * _TOKEN_BYTES) for c in tokens}
            random_tokens |= {c: rng.bytes(m * _BLOOM_BYTES) for c in blooms}
            rows = []
            for j, i in enumerate(index):
                p = int(owner[i])
                day = start + timedelta(days=int(days[i]))
                if dataset == "nhs_episodes":
                    attrs = {
                        "admission_date": typed["admission_date"](day.isoformat()),
                        "discharge_date": typed["discharge_date"](
                            (day + timedelta(days=int(stay[i]))).isoformat()
                        ),
                        "admission_method": typed["admission_method"](str(method[i])),
                        "primary_diagnosis": typed["primary_diagnosis"](str(diagnosis[i])),
                    }
                else:
                    attrs = {
                        "event_start_date": typed["event_start_date"](day.isoformat()),
                        "service_type": typed["service_type"](str(service[i])),
                        "primary_support_reason": typed["primary_support_reason"](
                            "Physical Support: Personal Care Support"
                        ),
                        "weekly_cost": typed["weekly_cost"](f"{cost[i]:.2f}"),
                    }
                row: list[Any] = [None] * len(RECORD_COLUMNS)
                row[at["line"]] = int(lines[lo + j])
                row[at["linkage_key_version"]] = 1
                row[at["wrap_key_version"]] = 1
                row[at["tok_nhs_number"]] = person_nhs[p * _TOKEN_BYTES : (p + 1) * _TOKEN_BYTES]
                for c in tokens:
                    row[at[c]] = random_tokens[c][j * _TOKEN_BYTES : (j + 1) * _TOKEN_BYTES]
                for c in blooms:
                    row[at[c]] = random_tokens[c][j * _BLOOM_BYTES : (j + 1) * _BLOOM_BYTES]
                row[at["age_band"]] = str(person_band[p])
                row[at["sex"]] = str(person_sex[p])
                row[at["borough"]] = str(person_borough[p])
                row[at["borough_source"]] = "postcode_district"
                row[at["attributes"]] = attrs
                rows.append(tuple(row))
            sealed = seal_record_rows(
                rows, schema.attributes, keys, submission_id=sub_id, first_line=rows[0][0]
            )
            with ctx.engine.begin() as connection:
                insert_record_batch(connection, sub_id, sealed)
            written += m
            if written == n or (written // batch_rows) % 100 == 0:
                log(
                    f"  {written:,} of {n:,} records sealed and written"
                    f" ({time.perf_counter() - started:.0f} s)"
                )
        with ctx.sessions() as session, session.begin():
            sub = session.get(Submission, sub_id)
            assert sub is not None
            sub.rows_seen = sub.rows_accepted = len(chosen)
            sub.next_line = len(chosen) + 2
            sub.status = "accepted"
    records_seconds = time.perf_counter() - started
    started = time.perf_counter()
    keys_all = np.concatenate(record_keys)
    persons_all = np.concatenate(record_owners)
    with ctx.sessions() as session, session.begin():
        snapshot = LinkageSnapshot(
            code_version="bench",
            settings={},
            records=n,
            persons=persons,
            next_person_id=persons,
            summary={},
            report={},
        )
        session.add(snapshot)
        session.flush()
        snapshot_id = snapshot.id
        write_assignment(
            session,
            keys,
            snapshot_id,
            keys_all,
            persons_all,
            np.full(n, "exact", dtype=object),
        )
        opted_out = 0
        if optout_share > 0:
            chosen_persons = rng.choice(persons, int(persons * optout_share), replace=False)
            replace_optouts(
                session,
                keys,
                [person_nhs[p * _TOKEN_BYTES : (p + 1) * _TOKEN_BYTES] for p in chosen_persons],
                linkage_key_version=1,
                wrap_key_version=1,
            )
            opted_out = len(chosen_persons)
    return {
        "persons": persons,
        "records": n,
        "optouts": opted_out,
        "snapshot_id": snapshot_id,
        "write_seconds": records_seconds,
        "assignment_seconds": time.perf_counter() - started,
        **store_size(ctx),
    }


def store_size(ctx: Any) -> dict[str, Any]:
    """Bytes of the sealed record batches, and of ``ingest_batches`` on disk (PostgreSQL:
    ``pg_total_relation_size``; SQLite: the database file, everything in it)."""
    from sqlalchemy import func, select, text

    from app.db.models import RecordBatch

    with ctx.reads() as session:
        length = func.length if ctx.settings.is_sqlite else func.octet_length
        records, linkage, facts = session.execute(
            select(
                func.coalesce(func.sum(RecordBatch.rows), 0),
                func.coalesce(func.sum(length(RecordBatch.linkage_part)), 0),
                func.coalesce(func.sum(length(RecordBatch.facts_part)), 0),
            )
        ).one()
        if ctx.settings.is_sqlite:
            db = Path(ctx.settings.database_url.removeprefix("sqlite:///"))
            on_disk = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
        else:
            on_disk = session.scalar(text("SELECT pg_total_relation_size('ingest_batches')"))
    return {
        "stored_records": int(records),
        "sealed_linkage_bytes": int(linkage),
        "sealed_facts_bytes": int(facts),
        "store_bytes_on_disk": int(on_disk or 0),
    }


# --------------------------------------------------------------------------- serving


def serve(app: Any) -> tuple[Any, threading.Thread, int]:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, access_log=False, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.02)
    return server, thread, port


def post(port: int, token: str, path: str, body: Any) -> tuple[int, Any, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    payload = json.dumps(body).encode()
    started = time.perf_counter()
    connection.request(
        "POST",
        path,
        body=payload,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    data = json.loads(response.read() or b"null")
    elapsed = time.perf_counter() - started
    connection.close()
    return response.status, data, elapsed


def summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max": ordered[-1],
        "n": len(ordered),
    }


# --------------------------------------------------------------------------- workers

RESULT_MARK = "@@release-api-result@@ "


def _context(spec: dict[str, Any]) -> Any:
    from app.config import Settings
    from app.services.context import ServiceContext

    return ServiceContext.build(
        Settings(
            data_dir=Path(spec["data_dir"]),
            database_url=spec["database_url"],
            policy_dir=REPO / "policies",
            dataset_dir=REPO / "datasets",
            audit_sign_interval_seconds=0,
        )
    )


def worker_write(spec: dict[str, Any]) -> dict[str, Any]:
    """Write the linked population (in its own process: the server's RSS stays its own)."""
    ctx = _context(spec)
    try:
        return write_snapshot(
            ctx, spec["persons"], spec["per_person"], spec["seed"], spec["optout_share"]
        )
    finally:
        ctx.close()


def worker_load(spec: dict[str, Any]) -> dict[str, Any]:
    """``load_linked_data`` alone, timed, in a fresh process: its wall and CPU seconds,
    and the process's peak RSS (``ru_maxrss``) against the RSS before it. The store's
    keys are unwrapped beforehand (untimed; the service does it once per load)."""
    import gc

    from app.services.release.data import load_linked_data
    from app.services.store import store_keys

    ctx = _context(spec)
    try:
        keys = store_keys(ctx)
        gc.collect()
        before_max, before = peak_rss_mib(), current_rss_mib()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        with ctx.reads() as session:
            started = time.perf_counter()
            linked = load_linked_data(session, spec["snapshot_id"], keys)
            seconds = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "seconds": seconds,
            "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu,
            "rss_before_mib": before,
            "peak_rss_before_mib": before_max,
            "peak_rss_mib": peak_rss_mib(),
            "rss_after_mib": current_rss_mib(),
            "persons": linked.data.persons.height,
            "records": linked.data.records.height,
            "excluded_persons": linked.excluded_persons,
        }
    finally:
        ctx.close()


def current_rss_mib() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_worker(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """This script in a child process; its last stdout line marked RESULT_MARK is the result."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, json.dumps(spec)]
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False, cwd=REPO)
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result = dict(json.loads(line[len(RESULT_MARK) :]))
            if "error" in result:
                raise RuntimeError(f"the {kind} worker failed: {result['error']}")
            return result
    raise RuntimeError(f"the {kind} worker failed (exit status {completed.returncode})")


def worker_main(kind: str, raw: str) -> int:
    from app.logs import configure_logging

    configure_logging("WARNING")
    work = {"write": worker_write, "load": worker_load}[kind]
    try:
        result = work(json.loads(raw))
    except Exception as error:
        import traceback

        traceback.print_exc()
        result = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
    print(RESULT_MARK + json.dumps(result, default=str), flush=True)
    return 0


# --------------------------------------------------------------------------- measuring


def measure(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from sqlalchemy import create_engine, text

    from app.auth.actor import Actor
    from app.bootstrap import create_app
    from app.logs import configure_logging
    from app.services import identity, setup
    from app.services.release import budgets
    from app.services.release.data import ReleaseDataCache
    from privacy.release import run as run_plan
    from privacy.release.plan import compile_plan
    from privacy.release.spec import QuerySpec

    configure_logging("WARNING")
    admin = None
    dbname = None
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
    else:
        admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
        dbname = f"hsclink_bench_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{dbname}"'))
        url = args.postgres_url.rsplit("/", 1)[0] + f"/{dbname}"
    spec: dict[str, Any] = {"data_dir": str(workdir / f"var-{backend}"), "database_url": url}
    ctx = _context(spec)
    settings = ctx.settings
    result: dict[str, Any] = {"backend": backend}
    server = None
    try:
        cli = Actor.cli()
        setup.initialise(ctx, actor=cli)
        setup.ensure_operator_organisation(ctx, actor=cli, code="HSCOPS")
        identity.create_organisation(ctx, actor=cli, code="RAL", name="A trust", kind="trust")
        identity.create_organisation(
            ctx, actor=cli, code="E09000007", name="Camden", kind="council"
        )
        identity.create_user(
            ctx, actor=cli, username="bench.analyst", role="analyst", organisation="E09000007"
        )
        token = identity.issue_token(ctx, actor=cli, username="bench.analyst").token
        budgets.set_budget(
            ctx, actor=cli, kind="analyst", subject="bench.analyst", total=5, today=date.today()
        )
        log(f"{backend}: writing {args.persons:,} persons (sealed batches)")
        result["data"] = run_worker(
            "write",
            {
                **spec,
                "persons": args.persons,
                "per_person": args.records_per_person,
                "seed": args.seed,
                "optout_share": args.optout_share,
            },
        )
        snapshot_id = result["data"]["snapshot_id"]
        loads = []
        for i in range(args.load_repeats):
            log(f"{backend}: load_linked_data in a fresh process ({i + 1}/{args.load_repeats})")
            loads.append(run_worker("load", {**spec, "snapshot_id": snapshot_id}))
            log(
                f"{backend}: loaded in {loads[-1]['seconds']:.2f} s,"
                f" peak RSS {loads[-1]['peak_rss_mib']:,.0f} MiB"
            )
        result["load"] = min(loads, key=lambda r: r["seconds"])
        result["load_runs"] = loads
        server, thread, port = serve(create_app(settings, ctx=ctx))

        def grouped(eps: float) -> dict[str, Any]:
            return {
                "measure": {"kind": "persons"},
                "group_by": ["borough", "age_band", "sex"],
                "epsilon": round(eps, 6),
            }

        def mean(eps: float) -> dict[str, Any]:
            return {
                "measure": {"kind": "mean", "dataset": "asc_clients", "attribute": "weekly_cost"},
                "group_by": ["borough"],
                "epsilon": round(eps, 6),
            }

        log(f"{backend}: first query (loads the snapshot into the server's memory)")
        rss_before = peak_rss_mib()
        status, body, cold = post(port, token, "/api/v1/queries", {"query": grouped(0.1)})
        assert status == 200, body
        result["cells_grouped_count"] = len(body["cells"])
        result["cold_first_query_seconds"] = cold
        result["server_peak_rss_before_load_mib"] = rss_before
        result["rss_after_load_mib"] = peak_rss_mib()
        for name, make in (("grouped_count", grouped), ("mean_weekly_cost", mean)):
            seconds = []
            for i in range(args.queries):
                status, body, elapsed = post(
                    port, token, "/api/v1/queries", {"query": make(0.01 + 0.0001 * (i + 1))}
                )
                assert status == 200 and not body["repeat"], body
                seconds.append(elapsed)
            result[f"api_{name}"] = summary(seconds)
            log(f"{backend}: {name} median {result[f'api_{name}']['median'] * 1000:.0f} ms")
        cache: ReleaseDataCache = ctx.caches["release_data"]
        with ctx.reads() as session:
            data = cache.get(session, snapshot_id, ctx.master_key).data
        policy = ctx.policy.rules.release_policy
        for name, make in (("grouped_count", grouped), ("mean_weekly_cost", mean)):
            seconds = []
            for i in range(args.queries):
                plan = compile_plan(
                    QuerySpec.from_json(make(0.02 + 0.0001 * i), policy=policy), policy
                )
                started = time.perf_counter()
                run_plan(plan, data)
                seconds.append(time.perf_counter() - started)
            result[f"mechanism_{name}"] = summary(seconds)
        result["peak_rss_mib"] = peak_rss_mib()
    finally:
        if server is not None:
            server.should_exit = True
            thread.join(timeout=30)
        ctx.close()
        if admin is not None and dbname is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
            admin.dispose()
    return result


LOAD_SECONDS_TARGET = 10.0
LOAD_RSS_TARGET_MIB = 2.5 * 1024


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    if len(raw) == 3 and raw[0] == "--worker":
        return worker_main(raw[1], raw[2])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--records-per-person", type=float, default=5.0)
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=ADMIN_URL)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--optout-share",
        type=float,
        default=0.0,
        help="share of the persons on the opt-out list (default 0: none)",
    )
    parser.add_argument(
        "--load-repeats",
        type=int,
        default=1,
        help="load_linked_data runs (each in a fresh process; the fastest is reported)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        workdir = Path(tempfile.mkdtemp(prefix="hsclink-bench-release-"))
        try:
            results.append(measure(backend, args, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    report = {
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": os.getloadavg(),
        },
        "results": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"release latency through the API (load average {os.getloadavg()[0]:.2f})")
    for r in results:
        d, load = r["data"], r["load"]
        stored = d["stored_records"] or 1
        sealed = d["sealed_linkage_bytes"] + d["sealed_facts_bytes"]
        disk = "pg_total_relation_size" if r["backend"] == "postgresql" else "the database file"
        print(
            f"\n{r['backend']}: {d['persons']:,} persons, {d['records']:,} records,"
            f" {d['optouts']:,} opted out (sealed and written in {d['write_seconds']:.0f} s,"
            f" assignment {d['assignment_seconds']:.1f} s)"
        )
        print(
            f"  store: sealed batches {sealed / 2**20:,.0f} MiB ({sealed / stored:,.0f} bytes a"
            f" record: linkage {d['sealed_linkage_bytes'] / stored:,.0f},"
            f" facts {d['sealed_facts_bytes'] / stored:,.0f}); on disk ({disk})"
            f" {d['store_bytes_on_disk'] / 2**20:,.0f} MiB"
            f" ({d['store_bytes_on_disk'] / stored:,.0f} bytes a record)"
        )
        seconds_ok = load["seconds"] <= LOAD_SECONDS_TARGET
        rss_ok = load["peak_rss_mib"] <= LOAD_RSS_TARGET_MIB
        print(
            f"  load_linked_data (fresh process): {load['seconds']:.2f} s"
            f" ({load['cpu_seconds']:.1f} CPU s), peak RSS {load['peak_rss_mib']:,.0f} MiB"
            f" (RSS before {load['rss_before_mib']:,.0f} MiB);"
            f" {load['persons']:,} persons, {load['records']:,} records"
            f" ({load['excluded_persons']:,} persons opted out)"
        )
        print(
            f"    target <= {LOAD_SECONDS_TARGET:.0f} s: {'met' if seconds_ok else 'MISSED'};"
            f" peak RSS <= {LOAD_RSS_TARGET_MIB / 1024:.1f} GiB:"
            f" {'met' if rss_ok else 'MISSED'}"
            + ("" if d["persons"] >= 1_000_000 else " (below 1M persons: not the target size)")
        )
        print(
            f"  first query, cold (the server loads the snapshot): "
            f"{r['cold_first_query_seconds']:.2f} s; server peak RSS"
            f" {r['server_peak_rss_before_load_mib']:.0f} -> {r['rss_after_load_mib']:.0f} MiB"
        )
        for name in ("grouped_count", "mean_weekly_cost"):
            api, mech = r[f"api_{name}"], r[f"mechanism_{name}"]
            print(
                f"  {name:<17} API median {api['median'] * 1000:6.0f} ms  p95 "
                f"{api['p95'] * 1000:6.0f} ms | mechanism alone median "
                f"{mech['median'] * 1000:6.0f} ms"
            )
        print(
            f"  cells in the grouped count: {r['cells_grouped_count']:,};"
            f" server peak RSS {r['peak_rss_mib']:.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
