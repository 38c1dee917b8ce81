"""The store as a database administrator sees it: what repeats, what is plaintext, how big.

The scan of ``tests/api/test_store_attack.py`` (``tests/store_scan.py``) on a bigger
population: a fresh store (SQLite in a temporary directory, or a throw-away PostgreSQL
database), both synthetic extracts of ``--persons`` people uploaded through the real app
(``create_app`` under Starlette's test client), linked, and an opt-out list of 1 % of
the NHS numbers loaded. Then, per table that holds patient-derived data: rows, bytes,
values of 8+ bytes, how many of them are distinct and how many repeat, the largest
repeat count, and plaintext hits by kind; and the store's size per record.

Run from the repository root::

    .venv/bin/python benchmarks/store_attack.py [--persons 20000]
        [--backend sqlite|postgresql] [--postgres-url URL] [--keep]

``--keep`` leaves the store (its directory or database) for a look with other tools.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere: import the repository's app
    sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.auth.actor import Actor  # noqa: E402
from app.bootstrap import create_app  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db.engine import make_engine  # noqa: E402
from app.db.migrate import upgrade  # noqa: E402
from app.services import identity, linkage, setup  # noqa: E402
from app.services.context import ServiceContext  # noqa: E402
from app.synth import write_extracts  # noqa: E402
from tests.api.uploads import upload  # noqa: E402
from tests.store_scan import format_scan, scan_store  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://127.0.0.1:5432/test"


def log(message: str) -> None:
    print(f"[store_attack] {message}", file=sys.stderr, flush=True)


def _people(ctx: ServiceContext) -> dict[str, str]:
    """A trust submitter, a council submitter and an operator: their API tokens."""
    cli = Actor.cli()
    setup.initialise(ctx, actor=cli)
    setup.ensure_operator_organisation(ctx, actor=cli, code="HSCOPS")
    for code, name, kind in (
        ("RAL", "Royal Free London NHS Foundation Trust", "trust"),
        ("E09000007", "London Borough of Camden", "council"),
    ):
        identity.create_organisation(ctx, actor=cli, code=code, name=name, kind=kind)
    tokens = {}
    for username, role, org in (
        ("bench.trust", "submitter", "RAL"),
        ("bench.council", "submitter", "E09000007"),
        ("bench.operator", "operator", "HSCOPS"),
    ):
        identity.create_user(ctx, actor=cli, username=username, role=role, organisation=org)
        tokens[username] = identity.issue_token(ctx, actor=cli, username=username).token
    return tokens


def run(persons: int, backend: str, pg_url: str, keep: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="hsclink-store-attack-"))
    database = None
    admin = None
    try:
        if backend == "sqlite":
            url = f"sqlite:///{workdir / 'hsclink.db'}"
        else:
            admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
            database = f"hsclink_bench_{uuid.uuid4().hex[:12]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{database}"'))
            url = make_url(pg_url).set(database=database).render_as_string(hide_password=False)
        settings = Settings(
            data_dir=workdir / "var",
            database_url=url,
            policy_dir=REPO / "policies",
            dataset_dir=REPO / "datasets",
            audit_sign_interval_seconds=0,
            release_warm_cache=False,
        )
        owner = make_engine(settings, privileged=True)
        upgrade(owner, app_role="hsclink_app" if backend == "postgresql" else None)
        ctx = ServiceContext.build(settings)
        tokens = _people(ctx)

        t0 = time.perf_counter()
        write_extracts(workdir / "extracts", persons=persons, seed=20260401)
        episodes = workdir / "extracts" / "nhs_episodes.csv"
        clients = workdir / "extracts" / "asc_clients.csv"
        log(f"made the extracts of {persons} people in {time.perf_counter() - t0:.1f} s")
        with TestClient(create_app(settings, ctx=ctx), base_url="https://testserver") as client:
            t0 = time.perf_counter()
            results = [
                upload(client, tokens["bench.trust"], episodes, "nhs_episodes"),
                upload(client, tokens["bench.council"], clients, "asc_clients"),
            ]
            records = sum(int(r["rows_accepted"]) for r in results)
            log(f"uploaded {records} records in {time.perf_counter() - t0:.1f} s")
            t0 = time.perf_counter()
            done = linkage.execute_run(ctx, linkage.start_run(ctx, actor=Actor.cli()).id)
            log(f"linked ({done.status}) in {time.perf_counter() - t0:.1f} s")
            with episodes.open(encoding="utf-8", newline="") as handle:
                numbers = [row["nhs_number"] for row in csv.DictReader(handle)]
            listed = numbers[: max(1, len(numbers) // 100)]
            body = io.StringIO()
            body.write("nhs_number\n" + "\n".join(listed) + "\n")
            loaded = client.put(
                "/api/v1/optouts",
                content=body.getvalue().encode(),
                headers={
                    "Authorization": f"Bearer {tokens['bench.operator']}",
                    "Content-Type": "text/plain",
                },
            )
            log(f"opt-out list of {len(listed)} numbers: HTTP {loaded.status_code}")
        ctx.close()

        t0 = time.perf_counter()
        scan = scan_store(owner)
        seconds = time.perf_counter() - t0
        owner.dispose()
        print(f"store attack: {persons} persons, {records} records, {backend}")
        for line in format_scan(scan, records):
            print(line)
        findings = scan.findings()
        print(f"findings: {len(findings)} (scan took {seconds:.1f} s)")
        for finding in findings:
            print(f"  {finding}")
        if keep:
            print(f"kept: {workdir}" + (f" and database {database}" if database else ""))
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
            if admin is not None and database is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        if admin is not None:
            admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument("--keep", action="store_true", help="leave the store for inspection")
    args = parser.parse_args()
    run(args.persons, args.backend, args.postgres_url, args.keep)


if __name__ == "__main__":
    main()
