"""Release latency through the API, at London scale: 1M persons, 5M records.

For each backend: a fresh store (SQLite in a temporary directory; PostgreSQL in a
throw-away database) is initialised with ``app.services.setup.initialise``, an analyst
with a budget, and a synthetic linked snapshot written straight into the tables a
linkage run fills (``ingest_records``, ``linkage_snapshots``, ``linkage_assignments``):
``--persons`` persons with borough, age band and sex, and about ``--records-per-person``
records each (80 % hospital episodes with admission method, diagnosis, dates; 20 % social
care events with service type, support reason and weekly cost). Ingest and linkage are
measured by their own benchmarks; this one starts where a release starts.

Then the real app (``create_app``) is served by uvicorn on 127.0.0.1 and queried with
``POST /api/v1/queries`` over HTTP:

1. the first query (cold: the snapshot's linked data is read from the database into the
   in-memory cache: a cost paid once per snapshot and opt-out list);
2. ``--queries`` grouped counts of persons by borough x age band x sex (33 x 19 x sex
   codes cells), each with a distinct epsilon so that none is a free repeat;
3. ``--queries`` means of weekly care cost by borough;
4. the mechanism alone on the same cached data (``privacy.release.run``), for comparison.

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
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ADMIN_URL = "postgresql+psycopg://127.0.0.1:5432/test"
BATCH = 50_000


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- data


def write_snapshot(ctx: Any, persons: int, per_person: float, seed: int) -> dict[str, Any]:
    """A linked population written straight into the tables (bulk, through the driver)."""
    from sqlalchemy import Table, select

    from app.db.bulk import bulk_insert
    from app.db.models import (
        IngestRecord,
        LinkageSnapshot,
        Organisation,
        PersonLink,
        Submission,
        User,
    )
    from privacy.normalise import AGE_BANDS, LONDON_BOROUGHS

    rng = np.random.default_rng(seed)
    boroughs = np.asarray(sorted(LONDON_BOROUGHS))
    bands = np.asarray(AGE_BANDS)
    person_borough = boroughs[rng.integers(0, len(boroughs), persons)]
    person_band = bands[rng.integers(0, len(bands), persons)]
    person_sex = np.asarray(["1", "2"])[rng.integers(0, 2, persons)]
    counts = 1 + rng.poisson(per_person - 1, persons)
    owner = np.repeat(np.arange(persons, dtype=np.int64), counts)
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
    with ctx.sessions() as session, session.begin():
        org = session.scalars(select(Organisation).where(Organisation.code == "RAL")).one()
        user = session.scalars(select(User)).first()
        sub = Submission(
            organisation_id=org.id,
            submitted_by=user.id,
            dataset="nhs_episodes",
            schema_name="nhs_episodes",
            upload_length=0,
            status="accepted",
        )
        session.add(sub)
        session.flush()
        sub_id = sub.id
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
    records = cast(Table, IngestRecord.__table__)
    links = cast(Table, PersonLink.__table__)
    columns = (
        "id",
        "submission_id",
        "line",
        "dataset",
        "linkage_key_version",
        "wrap_key_version",
        "tok_record_id",
        "sex",
        "age_band",
        "borough",
        "borough_source",
        "attributes",
    )
    started = time.perf_counter()
    for lo in range(0, n, BATCH):
        hi = min(n, lo + BATCH)
        rows = []
        link_rows = []
        for i in range(lo, hi):
            p = int(owner[i])
            day = start + timedelta(days=int(days[i]))
            if nhs[i]:
                attrs = {
                    "admission_date": day.isoformat(),
                    "discharge_date": (day + timedelta(days=int(stay[i]))).isoformat(),
                    "admission_method": str(method[i]),
                    "primary_diagnosis": str(diagnosis[i]),
                }
                dataset = "nhs_episodes"
            else:
                attrs = {
                    "event_start_date": day.isoformat(),
                    "event_end_date": None,
                    "service_type": str(service[i]),
                    "primary_support_reason": "Physical Support: Personal Care Support",
                    "weekly_cost": f"{cost[i]:.2f}",
                }
                dataset = "asc_clients"
            rows.append(
                (
                    i + 1,
                    sub_id,
                    i + 2,
                    dataset,
                    1,
                    1,
                    (i + 1).to_bytes(48, "big"),
                    str(person_sex[p]),
                    str(person_band[p]),
                    str(person_borough[p]),
                    "postcode_district",
                    attrs,
                )
            )
            link_rows.append((snapshot_id, i + 1, p, "exact"))
        with ctx.sessions() as session, session.begin():
            bulk_insert(session, records, columns, rows)
            bulk_insert(
                session, links, ("snapshot_id", "record_id", "person_id", "link_type"), link_rows
            )
        if hi == n or (hi // BATCH) % 20 == 0:
            log(f"  {hi:,} of {n:,} records written ({time.perf_counter() - started:.0f} s)")
    return {
        "persons": persons,
        "records": n,
        "snapshot_id": snapshot_id,
        "write_seconds": time.perf_counter() - started,
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


def measure(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from sqlalchemy import create_engine, text

    from app.auth.actor import Actor
    from app.bootstrap import create_app
    from app.config import Settings
    from app.logs import configure_logging
    from app.services import identity, setup
    from app.services.context import ServiceContext
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
        admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        dbname = f"hsclink_bench_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{dbname}"'))
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{dbname}"
    settings = Settings(
        data_dir=workdir / f"var-{backend}",
        database_url=url,
        policy_dir=REPO / "policies",
        dataset_dir=REPO / "datasets",
        audit_sign_interval_seconds=0,
    )
    ctx = ServiceContext.build(settings)
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
        log(f"{backend}: writing {args.persons:,} persons")
        result["data"] = write_snapshot(ctx, args.persons, args.records_per_person, args.seed)
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

        log(f"{backend}: first query (loads the snapshot into memory)")
        status, body, cold = post(port, token, "/api/v1/queries", {"query": grouped(0.1)})
        assert status == 200, body
        result["cells_grouped_count"] = len(body["cells"])
        result["cold_first_query_seconds"] = cold
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
            data = cache.get(session, result["data"]["snapshot_id"]).data
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--records-per-person", type=float, default=5.0)
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=7)
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
        d = r["data"]
        print(
            f"\n{r['backend']}: {d['persons']:,} persons, {d['records']:,} records "
            f"(written in {d['write_seconds']:.0f} s)"
        )
        print(
            f"  first query, cold (loads the snapshot): {r['cold_first_query_seconds']:.2f} s;"
            f" RSS {r['rss_after_load_mib']:.0f} MiB"
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
            f" peak RSS {r['peak_rss_mib']:.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
