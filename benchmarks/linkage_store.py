"""A linkage run as the service makes it, from the store: time, memory and store size.

``benchmarks/linkage.py`` measures the engine on an in-memory frame. This measures what
an operator waits for: ``hsclink link run`` on a store holding ``--persons`` synthetic
people's extracts, uploaded through the service's own ingest path (no HTTP) — reading
every accepted record from the store (opening the sealed batches), linking, and writing
the snapshot (sealing its assignment). Per run: the wall time of each stage the run
reports (loading records, linking, writing snapshot), the total, and the process's peak
RSS; and once: upload time and the bytes of the tables that hold patient data.

    .venv/bin/python benchmarks/linkage_store.py --persons 200000 --backend postgresql
    .venv/bin/python benchmarks/linkage_store.py --persons 200000 --backend sqlite --runs 3

Uses only service functions that the release before the sealed store also had, so the
same script measures both (run it with that release's tree first on ``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if sys.path[0] != str(REPO):
    sys.path.insert(0, str(REPO))

ADMIN_URL = "postgresql+psycopg://127.0.0.1:5432/test"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _patient_bytes(ctx: Any, backend: str, database: Path | None) -> dict[str, int]:
    from sqlalchemy import inspect, text

    names = [
        t
        for t in inspect(ctx.engine).get_table_names()
        if t.startswith(("ingest_records", "ingest_batches", "ingest_optout", "linkage_assign"))
    ]
    sizes: dict[str, int] = {}
    with ctx.engine.connect() as conn:
        for name in names:
            if backend == "postgresql":
                size = conn.execute(text(f"SELECT pg_total_relation_size('\"{name}\"')")).scalar()
            else:
                size = conn.execute(
                    text("SELECT SUM(pgsize) FROM dbstat WHERE name = :n"), {"n": name}
                ).scalar()
            sizes[name] = int(size or 0)
    return sizes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=ADMIN_URL)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep-data", type=Path, help="make or reuse the extracts here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from sqlalchemy import create_engine, select, text

    from app.auth.actor import Actor
    from app.config import Settings
    from app.db.models import User
    from app.services import identity, ingest, setup
    from app.services.context import ServiceContext
    from app.services.linkage import runs as linkage
    from app.synth import write_extracts

    work = Path(tempfile.mkdtemp(prefix="hsclink-bench-linkstore-"))
    database: Path | None = None
    admin = None
    if args.backend == "sqlite":
        database = work / "hsclink.db"
        url = f"sqlite:///{database}"
    else:
        name = f"hsclink_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = args.postgres_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        settings = Settings(
            data_dir=work / "var",
            database_url=url,
            audit_sign_interval_seconds=0,
            release_warm_cache=False,
        )
        ctx = ServiceContext.build(settings)
        cli = Actor.cli()
        setup.initialise(ctx, actor=cli)
        setup.ensure_operator_organisation(ctx, actor=cli, code="HSCOPS")
        for code, org_name, kind, user in (
            ("RAL", "Royal Free London NHS Foundation Trust", "trust", "bench.trust"),
            ("E09000007", "London Borough of Camden", "council", "bench.council"),
        ):
            identity.create_organisation(ctx, actor=cli, code=code, name=org_name, kind=kind)
            identity.create_user(ctx, actor=cli, username=user, role="submitter", organisation=code)
        extracts = args.keep_data or (work / "extracts")
        if not (extracts / "nhs_episodes.csv").exists():
            write_extracts(extracts, persons=args.persons, seed=args.seed)
        uploaded: dict[str, Any] = {}
        started = time.perf_counter()
        for schema, username in (("nhs_episodes", "bench.trust"), ("asc_clients", "bench.council")):
            with ctx.sessions() as session:
                user_row = session.scalar(select(User).where(User.username == username))
                assert user_row is not None
                actor = identity.actor_for(user_row, "bench")
            path = extracts / f"{schema}.csv"
            created = ingest.create_submission(
                ctx, actor=actor, schema_name=schema, upload_length=path.stat().st_size
            )
            with path.open("rb") as handle:
                view = ingest.upload(
                    ctx,
                    actor=actor,
                    submission_id=created.id,
                    offset=0,
                    chunks=iter(lambda h=handle: h.read(256 * 1024), b""),
                    today=date.today(),
                )
            uploaded[schema] = {"status": view.status, "rows": view.rows_accepted}
        upload_s = time.perf_counter() - started
        records = sum(u["rows"] for u in uploaded.values())
        runs = []
        for _ in range(args.runs):
            run = linkage.start_run(ctx, actor=cli, mode="full")
            marks: list[tuple[str, float]] = [("start", time.perf_counter())]
            view = linkage.execute_run(
                ctx, run.id, on_stage=lambda s, m=marks: m.append((s, time.perf_counter()))
            )
            marks.append(("end", time.perf_counter()))
            stages = {
                name: round(marks[i + 1][1] - at, 3)
                for i, (name, at) in enumerate(marks[:-1])
                if name != "start"
            }
            runs.append(
                {
                    "status": view.status,
                    "stages_s": stages,
                    "total_s": round(marks[-1][1] - marks[0][1], 3),
                    "peak_rss_mib": round(_peak_rss_mib()),
                }
            )
        # After the runs: each made a snapshot, whose assignment is patient-derived too.
        sizes = _patient_bytes(ctx, args.backend, database)
        result = {
            "persons": args.persons,
            "backend": args.backend,
            "records": records,
            "uploaded": uploaded,
            "upload_s": round(upload_s, 2),
            "patient_table_bytes": sizes,
            "bytes_per_record": round(
                sum(v for k, v in sizes.items() if not k.startswith("(")) / max(records, 1)
            ),
            "runs": runs,
        }
        ctx.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{result['persons']:,} persons, {records:,} records, {args.backend}: "
        f"upload {result['upload_s']} s; patient tables {result['bytes_per_record']:,} bytes"
        f" per record (with {len(runs)} snapshots)"
    )
    for table, size in sizes.items():
        print(f"  {table}: {size:,} bytes")
    for i, run in enumerate(runs, 1):
        stages = ", ".join(f"{k} {v}" for k, v in run["stages_s"].items())
        print(
            f"  run {i}: {run['status']}, total {run['total_s']} s ({stages});"
            f" peak RSS {run['peak_rss_mib']} MiB"
        )


if __name__ == "__main__":
    main()
