"""London, end to end, on one machine: generate, upload, link, release, query; time and RSS.

For each of ``--persons`` residents (London: 9 million), in a fresh PostgreSQL database
(``hsclink_bench_<random>``, dropped at the end) and a temporary directory (removed):

1. **generate**: synthetic extracts written as CSV, streamed a household at a time from
   ``app.synth.iter_households`` (never the population in memory). The generator's own
   rates (about 0.49 episode rows and 0.02 social-care rows a person) are not London's
   (6 M episodes over three financial years and 300 k social-care rows for 9 M
   residents), so it is run for enough synthetic people to give the social-care volume,
   and whole people's rows are kept by a running quota (a person with social care keeps
   every episode) until each extract holds its London share of the residents;
2. **upload**: both extracts through the real app (``create_app`` under uvicorn on
   127.0.0.1) with ``app.cli.upload.Uploader``, as ``hsclink upload`` sends them, from a
   process of its own (``--client-in-process``: a thread of the server's process);
3. **link**: ``app.services.linkage.runs.start_run`` + ``execute_run`` (``hsclink link
   run``): read every accepted sealed batch, link, write the snapshot;
4. **release read**: the app again, and the first ``POST /api/v1/queries``, which reads
   the snapshot's frames into the server's cache;
5. **queries**: six typical questions, each asked once to warm up and then
   ``--queries`` times with distinct epsilons (none a free repeat);
6. **store size**: ``pg_database_size``, the sealed batches' bytes and the tables on disk.

Each stage runs in a fresh child process (this script with ``--worker``), so its peak RSS
(``ru_maxrss``) is its own; the RSS before the stage's work is printed too. With three or
more sizes, each figure is extrapolated to London and England by ``value = c * x^k``
fitted on log-log (x: synthetic people for generation, stored records otherwise).

    .venv/bin/python benchmarks/london.py --persons 50000,200000,500000 [--json]

``--extracts DIR`` keeps each size's extracts under ``DIR`` and a later run with the same
residents, rates and seed uploads those instead of generating them again (its generate
figures are the first run's); ``--stop-after STAGE`` ends each size after that stage.
Together they time one stage again on the same data, e.g. an upload A/B:

    .venv/bin/python benchmarks/london.py --persons 9000000 --extracts ~/london --stop-after upload

Progress goes to standard error; the figures (a table, or JSON) to standard output.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if sys.path[:1] != [str(REPO)]:  # this directory's linkage.py must not shadow the package
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
RESULT_MARK = "@@london-benchmark-result@@ "
MIB = 1024 * 1024
GIB = 1024 * MIB

LONDON_RESIDENTS = 9_000_000
LONDON_EPISODES = 6_000_000  # hospital episodes, three financial years
LONDON_ASC_ROWS = 300_000  # social-care rows, three financial years
ENGLAND_RESIDENTS = 57_000_000
ENGLAND_EPISODES = 3 * 20_000_000
#: Social-care rows per resident as in London (no national figure used here).
ENGLAND_ASC_ROWS = round(ENGLAND_RESIDENTS * LONDON_ASC_ROWS / LONDON_RESIDENTS)
#: The generator's social-care rows per synthetic person is about 0.0195 (seed-dependent):
#: ask for a margin so that the quota, not the generator, sets the volume.
SYNTH_ASC_PER_PERSON = 0.0185

TARGETS = {
    "ingest_rows_per_second": 50_000.0,
    "link_seconds": 600.0,
    "release_read_seconds": 60.0,
    "query_seconds": 0.5,
    "peak_rss_bytes": 12.0 * GIB,
}
STAGES = ("generate", "upload", "link", "release")

TRUST = ("RAL", "Royal Free London NHS Foundation Trust", "trust", "bench.trust")
COUNCIL = ("E09000007", "London Borough of Camden", "council", "bench.council")
ANALYST = "bench.analyst"


def worker_generate(spec: dict[str, Any]) -> dict[str, Any]:
    """Both extracts for ``residents`` at London's rates, streamed to CSV.

    Whole people are kept by a running quota: after the i-th of ``synth`` synthetic
    people, at most ``rate * residents * i / synth`` rows of each extract. A person with
    kept social-care rows keeps every episode (the links that matter most are kept).
    """
    import numpy as np

    from app.synth import iter_households
    from app.synth.render import ASC_HEADERS, NHS_HEADERS

    residents = int(spec["residents"])
    episodes_per = float(spec["episodes_per_resident"])
    asc_per = float(spec["asc_per_resident"])
    synth = math.ceil(residents * asc_per / SYNTH_ASC_PER_PERSON)
    outdir = Path(spec["outdir"])
    outdir.mkdir(parents=True, exist_ok=True)
    baseline = max_rss()
    episodes = asc = seen = generated_episodes = generated_asc = 0
    started = time.perf_counter()
    cpu = cpu_seconds()
    with (
        (outdir / "nhs_episodes.csv").open("w", encoding="utf-8", newline="") as nhs_file,
        (outdir / "asc_clients.csv").open("w", encoding="utf-8", newline="") as asc_file,
    ):
        nhs_out = csv.DictWriter(nhs_file, fieldnames=NHS_HEADERS, lineterminator="\n")
        asc_out = csv.DictWriter(asc_file, fieldnames=ASC_HEADERS, lineterminator="\n")
        nhs_out.writeheader()
        asc_out.writeheader()
        rng = np.random.default_rng(int(spec["seed"]))
        reference = date.fromisoformat(spec["reference_date"])
        for records in iter_households(synth, rng, reference_date=reference):
            seen += 1
            share = residents * seen / synth
            generated_episodes += len(records.nhs_episodes)
            generated_asc += len(records.asc_clients)
            care = len(records.asc_clients)
            kept_care = care > 0 and asc + care <= asc_per * share
            if kept_care:
                asc_out.writerows(records.asc_clients)
                asc += care
            n = len(records.nhs_episodes)
            if n and (kept_care or episodes + n <= episodes_per * share):
                nhs_out.writerows(records.nhs_episodes)
                episodes += n
            if seen % 200_000 == 0:
                log(f"  generate: {seen:,} of {synth:,} synthetic people")
    seconds = time.perf_counter() - started
    sizes = {
        name: (outdir / f"{name}.csv").stat().st_size for name in ("nhs_episodes", "asc_clients")
    }
    return {
        "residents": residents,
        "synth_persons": synth,
        "generated_episodes": generated_episodes,
        "generated_asc_rows": generated_asc,
        "episodes": episodes,
        "asc_rows": asc,
        "rows": episodes + asc,
        "bytes": sizes,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds() - cpu,
        "synth_persons_per_second": synth / seconds if seconds else None,
        "baseline_rss_bytes": baseline,
        "peak_rss_bytes": max_rss(),
    }


# --------------------------------------------------------------------------- the store


def _context(spec: dict[str, Any]) -> Any:
    from app.config import Settings
    from app.services.context import ServiceContext

    settings = Settings(
        data_dir=Path(spec["data_dir"]),
        database_url=spec["database_url"],
        policy_dir=REPO / "policies",
        dataset_dir=REPO / "datasets",
        audit_sign_interval_seconds=0,
        release_warm_cache=False,  # the first query reads the snapshot: stage 4 times it
    )
    return ServiceContext.build(settings)


def worker_setup(spec: dict[str, Any]) -> dict[str, Any]:
    """Initialise the store: a trust and a council submitter, an analyst with a budget."""
    from app.auth.actor import Actor
    from app.services import identity, setup
    from app.services.release import budgets

    ctx = _context(spec)
    try:
        cli = Actor.cli()
        started = time.perf_counter()
        setup.initialise(ctx, actor=cli)
        setup.ensure_operator_organisation(ctx, actor=cli, code="HSCOPS")
        for code, name, kind, user in (TRUST, COUNCIL):
            identity.create_organisation(ctx, actor=cli, code=code, name=name, kind=kind)
            identity.create_user(ctx, actor=cli, username=user, role="submitter", organisation=code)
        identity.create_user(
            ctx, actor=cli, username=ANALYST, role="analyst", organisation=COUNCIL[0]
        )
        budgets.set_budget(
            ctx, actor=cli, kind="analyst", subject=ANALYST, total=5, today=date.today()
        )
        return {"seconds": time.perf_counter() - started}
    finally:
        ctx.close()


def _token(ctx: Any, username: str) -> str:
    from app.auth.actor import Actor
    from app.services import identity

    return str(identity.issue_token(ctx, actor=Actor.cli(), username=username).token)


@contextlib.contextmanager
def _served(ctx: Any) -> Iterator[int]:
    from app.bootstrap import create_app

    server, thread, port = serve(create_app(ctx.settings, ctx=ctx))
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=60)


# --------------------------------------------------------------------------- 2. upload


def worker_upload(spec: dict[str, Any]) -> dict[str, Any]:
    """Both extracts over HTTP, one after the other, to one server in this process. The
    client (``Uploader``, as ``hsclink upload`` runs it) is a process of its own, as it is
    on a submitter's machine; with ``client_in_process`` it runs here, in a thread beside
    the server, sharing its interpreter lock (the first London runs measured so)."""
    from app.logs import configure_logging

    configure_logging("WARNING")
    ctx = _context(spec)
    result: dict[str, Any] = {"files": {}, "client_in_process": bool(spec["client_in_process"])}
    try:
        tokens = {"nhs_episodes": _token(ctx, TRUST[3]), "asc_clients": _token(ctx, COUNCIL[3])}
        with _served(ctx) as port:
            baseline = max_rss()
            cpu = cpu_seconds()
            for schema, token in tokens.items():
                path = Path(spec["outdir"]) / f"{schema}.csv"
                log(f"  upload: {schema} ({path.stat().st_size / MIB:,.1f} MiB)")
                client = {
                    "url": f"http://127.0.0.1:{port}",
                    "token": token,
                    "path": str(path),
                    "schema": schema,
                    "state_file": str(Path(spec["data_dir"]) / f"client-{schema}.json"),
                }
                if spec["client_in_process"]:
                    sent = worker_upload_client(client)
                else:
                    sent = run_worker("upload-client", client, float(spec["timeout"]))
                answer = sent["answer"]
                accepted = int(answer.get("rows_accepted") or 0)
                sending = float(sent["upload_seconds"])
                result["files"][schema] = {
                    "status": answer.get("status"),
                    "rows_accepted": accepted,
                    "rows_rejected": answer.get("rows_rejected"),
                    "bytes": path.stat().st_size,
                    "client_sha256_seconds": sent["sha256_seconds"],
                    "upload_seconds": sending,
                    "rows_per_second": accepted / sending if sending else None,
                    "client_cpu_seconds": sent.get("cpu_seconds"),
                }
                if answer.get("status") != "accepted":
                    raise RuntimeError(f"{schema} upload ended {answer.get('status')}")
            files = result["files"].values()
            rows = sum(f["rows_accepted"] for f in files)
            seconds = sum(f["upload_seconds"] for f in files)
            result.update(
                {
                    "rows_accepted": rows,
                    "seconds": seconds,
                    "rows_per_second": rows / seconds if seconds else None,
                    "cpu_seconds": cpu_seconds() - cpu,
                    "baseline_rss_bytes": baseline,
                    "peak_rss_bytes": max_rss(),
                }
            )
    finally:
        ctx.close()
    return result


# --------------------------------------------------------------------------- 3. link


class StagePeaks:
    """The highest current RSS seen in each named stage, sampled every ``interval`` s by a
    thread (``ru_maxrss`` gives only the process's peak, not the stage it came in)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.stage = "start"
        self.peaks: dict[str, int] = {}
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def sample(self) -> None:
        stage, rss = self.stage, current_rss()
        self.peaks[stage] = max(self.peaks.get(stage, 0), rss)

    def enter(self, stage: str) -> None:
        self.sample()  # the end of the previous stage
        self.stage = stage

    def __enter__(self) -> StagePeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def worker_link(spec: dict[str, Any]) -> dict[str, Any]:
    """A full linkage run as ``hsclink link run`` makes it, each stage timed, with the
    highest RSS sampled in each."""
    from sqlalchemy import select

    from app.auth.actor import Actor
    from app.db.models import LinkageSnapshot
    from app.logs import configure_logging
    from app.services.linkage import runs

    configure_logging("WARNING")
    ctx = _context(spec)
    try:
        run = runs.start_run(ctx, actor=Actor.cli(), mode="full")
        baseline = max_rss()
        cpu = cpu_seconds()
        marks: list[tuple[str, float]] = [("queued", time.perf_counter())]
        with StagePeaks() as peaks:

            def on_stage(name: str) -> None:
                marks.append((name, time.perf_counter()))
                peaks.enter(name)

            view = runs.execute_run(ctx, run.id, on_stage=on_stage)
            marks.append(("end", time.perf_counter()))
        if view.status != "succeeded" or view.snapshot_id is None:
            raise RuntimeError(f"linkage run ended {view.status}: {view.problem}")
        stages = {name: marks[i + 1][1] - at for i, (name, at) in enumerate(marks[:-1]) if i > 0}
        with ctx.reads() as session:
            snapshot = session.scalar(
                select(LinkageSnapshot).where(LinkageSnapshot.id == view.snapshot_id)
            )
            persons = None if snapshot is None else snapshot.persons
        return {
            "status": view.status,
            "records": view.records,
            "persons": persons,
            "snapshot_id": view.snapshot_id,
            "stages": stages,
            "stage_peak_rss_bytes": {k: v for k, v in peaks.peaks.items() if k in stages},
            "seconds": marks[-1][1] - marks[0][1],
            "cpu_seconds": cpu_seconds() - cpu,
            "baseline_rss_bytes": baseline,
            "peak_rss_bytes": max_rss(),
        }
    finally:
        ctx.close()


# --------------------------------------------------------------------------- 4-5. release


def typical_queries() -> dict[str, dict[str, Any]]:
    """Typical questions (README, "Asking questions"); the epsilon is set per request."""
    emergency = {"attribute": "admission_type", "in": ["emergency"]}
    return {
        "persons by borough x age band": {
            "measure": {"kind": "persons"},
            "group_by": ["borough", "age_band"],
        },
        "persons by borough x age band x sex": {
            "measure": {"kind": "persons"},
            "group_by": ["borough", "age_band", "sex"],
        },
        "social-care clients with an emergency admission, by borough": {
            "measure": {"kind": "persons"},
            "group_by": ["borough"],
            "filters": {
                "exists": [
                    {"dataset": "asc_clients", "records": []},
                    {"dataset": "nhs_episodes", "records": [emergency]},
                ]
            },
        },
        "mean weekly cost by support reason": {
            "measure": {"kind": "mean", "dataset": "asc_clients", "attribute": "weekly_cost"},
            "group_by": ["support_reason"],
        },
        "records by month x dataset": {
            "measure": {"kind": "records"},
            "group_by": ["month", "dataset"],
        },
        "emergency length of stay, median and p90, by ICD-10 chapter": {
            "measure": {
                "kind": "quantile",
                "dataset": "nhs_episodes",
                "attribute": "length_of_stay",
                "quantiles": [0.5, 0.9],
            },
            "group_by": ["icd10_chapter"],
            "filters": {"records": [emergency]},
        },
    }


def _post(port: int, token: str, body: Any) -> tuple[int, Any, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    payload = json.dumps(body).encode()
    started = time.perf_counter()
    try:
        connection.request(
            "POST",
            "/api/v1/queries",
            body=payload,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        data = json.loads(response.read() or b"null")
    finally:
        connection.close()
    return response.status, data, time.perf_counter() - started


def worker_release(spec: dict[str, Any]) -> dict[str, Any]:
    """The first query (the server reads the snapshot's frames), then the typical queries:
    one warm-up each, then ``repeats`` timed with distinct epsilons (none a free repeat)."""
    from app.logs import configure_logging

    configure_logging("WARNING")
    ctx = _context(spec)
    repeats = int(spec["repeats"])
    result: dict[str, Any] = {"queries": {}}
    try:
        token = _token(ctx, ANALYST)
        with _served(ctx) as port:
            queries = typical_queries()
            first = next(iter(queries.values()))
            baseline, baseline_now = max_rss(), current_rss()
            cpu = cpu_seconds()
            status, body, cold = _post(port, token, {"query": {**first, "epsilon": 0.1}})
            if status != 200:
                raise RuntimeError(f"the first query answered {status}: {_problem(body)}")
            result.update(
                {
                    "read_seconds": cold,
                    "read_cpu_seconds": cpu_seconds() - cpu,
                    "baseline_rss_bytes": baseline,
                    "baseline_current_rss_bytes": baseline_now,
                    "rss_after_read_bytes": current_rss(),
                    "peak_rss_after_read_bytes": max_rss(),
                }
            )
            log(f"  release: first query (reads the snapshot) {cold:.2f} s")
            step = 0
            for name, query in queries.items():
                seconds: list[float] = []
                cells = 0
                for i in range(repeats + 1):
                    step += 1
                    epsilon = round(0.01 + 0.0001 * step, 6)
                    status, body, elapsed = _post(
                        port, token, {"query": {**query, "epsilon": epsilon}}
                    )
                    if status != 200 or body.get("repeat"):
                        raise RuntimeError(f"{name}: answered {status}: {_problem(body)}")
                    cells = len(body.get("cells") or ())
                    if i:  # the first is the warm-up
                        seconds.append(elapsed)
                result["queries"][name] = {
                    "cells": cells,
                    "median": statistics.median(seconds),
                    "max": max(seconds),
                    "n": len(seconds),
                }
                log(f"  release: {name}: median {1000 * statistics.median(seconds):.0f} ms")
            result["peak_rss_bytes"] = max_rss()
    finally:
        ctx.close()
    return result


def _problem(body: Any) -> str:
    if isinstance(body, dict):
        return f"{body.get('type')}: {str(body.get('detail'))[:200]}"
    return "no problem body"


# --------------------------------------------------------------------------- 6. size


def worker_size(spec: dict[str, Any]) -> dict[str, Any]:
    """The database, the sealed batches (linkage + facts parts) and the tables on disk."""
    from sqlalchemy import func, select, text

    from app.db.models import RecordBatch

    ctx = _context(spec)
    try:
        with ctx.reads() as session:
            records, linkage, facts = session.execute(
                select(
                    func.coalesce(func.sum(RecordBatch.rows), 0),
                    func.coalesce(func.sum(func.octet_length(RecordBatch.linkage_part)), 0),
                    func.coalesce(func.sum(func.octet_length(RecordBatch.facts_part)), 0),
                )
            ).one()
            database = session.scalar(text("SELECT pg_database_size(current_database())"))
            tables = {
                name: int(session.scalar(text(f"SELECT pg_total_relation_size('{name}')")) or 0)
                for name in ("ingest_batches", "linkage_assignment_batches", "audit_events")
            }
        records = int(records)
        return {
            "records": records,
            "database_bytes": int(database or 0),
            "sealed_linkage_bytes": int(linkage),
            "sealed_facts_bytes": int(facts),
            "sealed_bytes": int(linkage) + int(facts),
            "sealed_bytes_per_record": (int(linkage) + int(facts)) / records if records else None,
            "table_bytes": tables,
            "database_bytes_per_record": int(database or 0) / records if records else None,
        }
    finally:
        ctx.close()


def worker_upload_client(spec: dict[str, Any]) -> dict[str, Any]:
    """One file sent by ``Uploader``: the server's answer, the seconds of the client's
    SHA-256 pass and of sending (from the first byte offered to the answer)."""
    from app.cli.upload import Uploader

    uploader = Uploader(spec["url"], spec["token"], state_file=Path(spec["state_file"]))
    marks: dict[str, float] = {}

    def on_bytes(chunk: bytes) -> None:
        return None

    def on_resume(offset: int) -> None:
        marks.setdefault("resume", time.perf_counter())

    cpu = cpu_seconds()
    start = time.perf_counter()
    answer = uploader.upload(
        Path(spec["path"]), spec["schema"], on_bytes=on_bytes, on_resume=on_resume
    )
    end = time.perf_counter()
    return {
        "answer": answer,
        "sha256_seconds": marks.get("resume", start) - start,
        "upload_seconds": end - marks.get("resume", start),
        "cpu_seconds": cpu_seconds() - cpu,
    }


# --------------------------------------------------------------------------- workers

WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "generate": worker_generate,
    "setup": worker_setup,
    "upload": worker_upload,
    "upload-client": worker_upload_client,
    "link": worker_link,
    "release": worker_release,
    "size": worker_size,
}


def run_worker(kind: str, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """This script in a child process; its last stdout line marked RESULT_MARK is the result.
    The wall time includes the child's imports; each stage's own ``seconds`` does not."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, json.dumps(spec)]
    started = time.perf_counter()
    completed = subprocess.run(
        command, stdout=subprocess.PIPE, text=True, timeout=timeout, check=False, cwd=REPO
    )
    wall = time.perf_counter() - started
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result = dict(json.loads(line[len(RESULT_MARK) :]))
            if "error" in result:
                raise RuntimeError(f"the {kind} worker failed: {result['error']}")
            result["process_seconds"] = wall
            return result
    raise RuntimeError(f"the {kind} worker failed (exit status {completed.returncode})")


def worker_main(kind: str, raw: str) -> int:
    try:
        result = WORKERS[kind](json.loads(raw))
    except Exception as error:
        import traceback

        traceback.print_exc()
        result = {"error": f"{type(error).__name__}: {str(error)[:300]}"}
    result["load_average_after"] = os.getloadavg()
    print(RESULT_MARK + json.dumps(result, default=str), flush=True)
    return 0


# --------------------------------------------------------------------------- one size


def measure_size(
    residents: int, args: argparse.Namespace, pg: Postgres, workdir: Path
) -> dict[str, Any]:
    """Every stage at one size, each in a fresh child process, in a fresh database."""
    url = pg.create()
    generation = {
        "residents": residents,
        "episodes_per_resident": args.episodes_per_resident,
        "asc_per_resident": args.asc_per_resident,
        "seed": args.seed,
        "reference_date": "2026-04-01",
    }
    kept = _kept_extracts(args.extracts, generation) if args.extracts else None
    base: dict[str, Any] = {
        "data_dir": str(workdir / "var"),
        "database_url": url,
        "outdir": str(kept or workdir / "extracts"),
    }
    result: dict[str, Any] = {"residents": residents}
    made = None if kept is None else kept / "generate.json"
    stop = STAGES.index(args.stop_after) if args.stop_after else len(STAGES)
    try:
        if made is not None and made.exists():
            log(f"{residents:,} residents: the extracts kept in {kept}")
            result["generate"] = {**json.loads(made.read_text()), "reused": str(kept)}
        else:
            log(f"{residents:,} residents: generate")
            result["generate"] = run_worker("generate", {**base, **generation}, args.timeout)
            if made is not None:
                made.write_text(json.dumps(result["generate"], indent=2) + "\n")
        g = result["generate"]
        log(f"  {g['episodes']:,} episodes, {g['asc_rows']:,} social-care rows")
        if stop < 1:
            return result
        result["setup"] = run_worker("setup", base, args.timeout)
        log(f"{residents:,} residents: upload")
        upload = {**base, "client_in_process": args.client_in_process, "timeout": args.timeout}
        result["upload"] = run_worker("upload", upload, args.timeout)
        if kept is None:
            shutil.rmtree(workdir / "extracts", ignore_errors=True)  # uploaded: not needed
        if stop < 2:
            return result
        log(f"{residents:,} residents: link")
        result["link"] = run_worker("link", base, args.timeout)
        if stop < 3:
            return result
        log(f"{residents:,} residents: release")
        result["release"] = run_worker("release", {**base, "repeats": args.queries}, args.timeout)
        result["size"] = run_worker("size", base, args.timeout)
    finally:
        pg.drop(url)
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _kept_extracts(root: Path, generation: dict[str, Any]) -> Path:
    """The folder under ``root`` that holds (or will hold) the extracts of these
    generation settings: a run with the same settings reuses them."""
    key = "-".join(f"{k}={v}" for k, v in sorted(generation.items()))
    return root.resolve() / key.replace("/", "_")


# --------------------------------------------------------------------------- extrapolation


def fit(xs: list[float], ys: list[float]) -> float | None:
    """k of ``y = c * x^k``, least squares on log-log (None if fewer than two points)."""
    pairs = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(pairs) < 2:
        return None
    mx = statistics.fmean(p[0] for p in pairs)
    my = statistics.fmean(p[1] for p in pairs)
    sxx = sum((p[0] - mx) ** 2 for p in pairs)
    return sum((p[0] - mx) * (p[1] - my) for p in pairs) / sxx if sxx else None


def _figures(r: dict[str, Any]) -> dict[str, tuple[str, float | None]]:
    """Per size, each extrapolated figure: (the x it scales with, its value)."""
    out: dict[str, tuple[str, float | None]] = {
        "generate seconds": ("synth", r["generate"]["seconds"]),
        "upload seconds": ("records", r["upload"]["seconds"]),
        "link seconds": ("records", r["link"]["seconds"]),
        "release read seconds": ("records", r["release"]["read_seconds"]),
        "store bytes (database)": ("records", r["size"]["database_bytes"]),
    }
    for stage in STAGES:
        s = r[stage]
        growth = s["peak_rss_bytes"] - s["baseline_rss_bytes"]
        out[f"{stage} RSS growth bytes"] = ("synth" if stage == "generate" else "records", growth)
    for name, q in r["release"]["queries"].items():
        out[f"query: {name}"] = ("records", q["median"])
    return out


def extrapolate(results: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """``value = c * x^k`` per figure, k fitted over every size (the fit over the two
    largest is shown too); also with k at least 1 (a bound: fixed costs flatten small runs)."""
    done = [r for r in results if "error" not in r and {*STAGES, "size"} <= r.keys()]
    if len(done) < 2:
        return {}
    done.sort(key=lambda r: r["size"]["records"])
    last = done[-1]
    london_records = LONDON_EPISODES + LONDON_ASC_ROWS
    england_records = ENGLAND_EPISODES + ENGLAND_ASC_ROWS
    # Synthetic people needed per resident, from the largest run.
    synth_per = last["generate"]["synth_persons"] / last["residents"]
    targets = {
        "london": {"records": london_records, "synth": LONDON_RESIDENTS * synth_per},
        "england": {"records": england_records, "synth": ENGLAND_RESIDENTS * synth_per},
    }
    per_size = [_figures(r) for r in done]
    xs_of = {
        "records": [float(r["size"]["records"]) for r in done],
        "synth": [float(r["generate"]["synth_persons"]) for r in done],
    }
    out: dict[str, Any] = {
        "from_records": int(xs_of["records"][-1]),
        "london": {"residents": LONDON_RESIDENTS, "records": london_records},
        "england": {"residents": ENGLAND_RESIDENTS, "records": england_records},
        "figures": {},
    }
    for figure, (axis, _value) in per_size[-1].items():
        ys = [f.get(figure, (axis, None))[1] for f in per_size]
        if any(y is None or y <= 0 for y in ys):
            continue
        values = [float(y) for y in ys if y is not None]
        xs = xs_of[axis]
        k_all = fit(xs, values)
        k_top = fit(xs[-2:], values[-2:])
        # Over every size: the two largest alone swing with the machine's load.
        k = k_all if k_all is not None else k_top
        if k is None:
            continue
        entry: dict[str, Any] = {"axis": axis, "k_all": k_all, "k_top_two": k_top, "k": k}
        for place, x in targets.items():
            scale = x[axis] / xs[-1]
            entry[place] = values[-1] * scale**k
            entry[f"{place}_k_at_least_1"] = values[-1] * scale ** max(k, 1.0)
        out["figures"][figure] = entry
    # Peak RSS: the baseline at the largest size plus the extrapolated growth.
    for stage in STAGES:
        growth = out["figures"].get(f"{stage} RSS growth bytes")
        if growth is None:
            continue
        baseline = last[stage]["baseline_rss_bytes"]
        for place in targets:
            growth[f"{place}_peak_rss"] = baseline + growth[place]
            growth[f"{place}_peak_rss_k_at_least_1"] = baseline + growth[f"{place}_k_at_least_1"]
    return out


# --------------------------------------------------------------------------- printing


def _get(r: dict[str, Any], path: str) -> Any:
    """``r["a"]["b"]`` for ``"a.b"``; None where a key is missing."""
    value: Any = r
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


#: The per-size table: (label, unit, path into a size's result, scale, format).
ROWS: tuple[tuple[str, str, str, float, str], ...] = (
    ("synthetic people generated", "", "generate.synth_persons", 1, "{:,.0f}"),
    ("hospital episode rows written", "rows", "generate.episodes", 1, "{:,.0f}"),
    ("social-care rows written", "rows", "generate.asc_rows", 1, "{:,.0f}"),
    ("records stored (accepted)", "rows", "size.records", 1, "{:,.0f}"),
    ("persons in the snapshot", "", "link.persons", 1, "{:,.0f}"),
    ("1. generate: time (streamed CSV)", "s", "generate.seconds", 1, "{:,.1f}"),
    ("   peak RSS", "MiB", "generate.peak_rss_bytes", MIB, "{:,.0f}"),
    ("   RSS before (imports)", "MiB", "generate.baseline_rss_bytes", MIB, "{:,.0f}"),
    ("2. upload over HTTP: time (both extracts)", "s", "upload.seconds", 1, "{:,.1f}"),
    ("   rows/s, both extracts", "rows/s", "upload.rows_per_second", 1, "{:,.0f}"),
    (
        "   rows/s, hospital episodes",
        "rows/s",
        "upload.files.nhs_episodes.rows_per_second",
        1,
        "{:,.0f}",
    ),
    ("   rows/s, social care", "rows/s", "upload.files.asc_clients.rows_per_second", 1, "{:,.0f}"),
    ("   peak RSS (server, client if in it)", "MiB", "upload.peak_rss_bytes", MIB, "{:,.0f}"),
    ("   RSS before (server started)", "MiB", "upload.baseline_rss_bytes", MIB, "{:,.0f}"),
    ("3. link: time (full run)", "s", "link.seconds", 1, "{:,.1f}"),
    ("   loading records", "s", "link.stages.loading records", 1, "{:,.1f}"),
    ("   linking", "s", "link.stages.linking", 1, "{:,.1f}"),
    ("   writing snapshot", "s", "link.stages.writing snapshot", 1, "{:,.1f}"),
    (
        "   highest RSS sampled: loading records",
        "MiB",
        "link.stage_peak_rss_bytes.loading records",
        MIB,
        "{:,.0f}",
    ),
    ("   ... linking", "MiB", "link.stage_peak_rss_bytes.linking", MIB, "{:,.0f}"),
    (
        "   ... writing snapshot",
        "MiB",
        "link.stage_peak_rss_bytes.writing snapshot",
        MIB,
        "{:,.0f}",
    ),
    ("   peak RSS", "MiB", "link.peak_rss_bytes", MIB, "{:,.0f}"),
    ("   RSS before", "MiB", "link.baseline_rss_bytes", MIB, "{:,.0f}"),
    ("4. release read: first query", "s", "release.read_seconds", 1, "{:,.2f}"),
    ("   server peak RSS after it", "MiB", "release.peak_rss_after_read_bytes", MIB, "{:,.0f}"),
    ("   RSS before (server started)", "MiB", "release.baseline_rss_bytes", MIB, "{:,.0f}"),
    ("   server peak RSS, whole release stage", "MiB", "release.peak_rss_bytes", MIB, "{:,.0f}"),
    ("6. store: pg_database_size", "MiB", "size.database_bytes", MIB, "{:,.0f}"),
    ("   per record", "bytes", "size.database_bytes_per_record", 1, "{:,.0f}"),
    ("   sealed batches (linkage + facts parts)", "MiB", "size.sealed_bytes", MIB, "{:,.0f}"),
    ("   per record", "bytes", "size.sealed_bytes_per_record", 1, "{:,.0f}"),
    ("   ingest_batches on disk", "MiB", "size.table_bytes.ingest_batches", MIB, "{:,.0f}"),
    (
        "   linkage_assignment_batches on disk",
        "MiB",
        "size.table_bytes.linkage_assignment_batches",
        MIB,
        "{:,.1f}",
    ),
)


def _line(label: str, unit: str, cells: list[str]) -> str:
    return f"  {label[:52]:<52} {unit:>6} " + " ".join(f"{c:>11}" for c in cells)


def print_sizes(results: list[dict[str, Any]]) -> None:
    done = [r for r in results if "error" not in r]
    if not done:
        return
    print(_line("residents", "", [f"{r['residents']:,}" for r in done]))
    rows = list(ROWS)
    at = next(i for i, row in enumerate(rows) if row[0].startswith("6."))
    queries = [
        (f"5. {name}" if i == 0 else f"   {name}", "ms", f"release.queries.{name}.median", 1e-3)
        for i, name in enumerate(_get(done[-1], "release.queries") or ())
    ]
    rows[at:at] = [(*q, "{:,.0f}") for q in queries]
    for label, unit, path, scale, form in rows:
        # Query names hold no dots; a path is split on them.
        values = [_get(r, path) for r in done]
        print(_line(label, unit, ["" if v is None else form.format(v / scale) for v in values]))


def print_extrapolation(ex: dict[str, Any]) -> None:
    if not ex:
        print("  (needs at least two sizes; three for a fit worth reading)")
        return
    print(
        f"  value = c * x^k from the largest run ({ex['from_records']:,} records); x = records"
        " stored (synthetic people for generation); k fitted over every size ('k top': over"
        " the two largest, for comparison); 'k>=1': k at least 1 (fixed costs flatten small runs)"
    )
    print(
        f"  London: {ex['london']['residents']:,} residents, {ex['london']['records']:,}"
        f" records; England: {ex['england']['residents']:,} residents,"
        f" {ex['england']['records']:,} records"
    )
    heads = ("k all", "k top", "London", "(k>=1)", "England", "(k>=1)")
    print(f"  {'figure':<52} " + " ".join(f"{h:>9}" for h in heads))
    for figure, e in ex["figures"].items():
        keys = ("london", "london_k_at_least_1", "england", "england_k_at_least_1")
        if figure.endswith("RSS growth bytes"):
            label, scale, form = figure.replace("RSS growth bytes", "peak RSS, GiB"), GIB, "{:,.1f}"
            keys = (
                "london_peak_rss",
                "london_peak_rss_k_at_least_1",
                "england_peak_rss",
                "england_peak_rss_k_at_least_1",
            )
        elif figure.startswith("store"):
            label, scale, form = "store size (database), GiB", GIB, "{:,.1f}"
        elif figure.startswith("query"):
            label, scale, form = f"{figure}, s", 1, "{:,.2f}"
        else:
            label, scale, form = figure.replace(" seconds", ", s"), 1, "{:,.0f}"
        ks = ["" if e[k] is None else f"{e[k]:.2f}" for k in ("k_all", "k_top_two")]
        cells = ks + [form.format(e[k] / scale) for k in keys]
        print(f"  {label[:52]:<52} " + " ".join(f"{c:>9}" for c in cells))


def verdicts(results: list[dict[str, Any]], ex: dict[str, Any]) -> list[str]:
    """Each target at the largest size measured, and extrapolated to London with the
    fitted k and with k at least 1."""
    done = [r for r in results if "error" not in r]
    if not done:
        return []
    last, f, lines = done[-1], ex.get("figures", {}), []

    def say(name: str, form: str, measured: float, london: tuple[float, float] | None) -> None:
        def ok(v: float) -> str:
            if name.startswith("ingest"):
                return "met" if v >= TARGETS["ingest_rows_per_second"] else "UNMET"
            limit = float(name.rsplit("<= ", 1)[1].split()[0])
            return "met" if v <= limit else "UNMET"

        there = ""
        if london is not None:
            fitted, bound = (f"{form.format(v)} {ok(v)}" for v in london)
            there = f"; London: fitted k {fitted}, k>=1 {bound}"
        lines.append(f"{name}: measured {form.format(measured)} {ok(measured)}{there}")

    def london(figure: str, key: str = "london", scale: float = 1) -> tuple[float, float] | None:
        e = f.get(figure)
        if e is None:
            return None
        return e[key] / scale, e[f"{key}_k_at_least_1"] / scale

    up = london("upload seconds")
    rates = (
        None if up is None else (ex["london"]["records"] / up[0], ex["london"]["records"] / up[1])
    )
    if "upload" in last:
        say("ingest >= 50000 rows/s", "{:,.0f}", last["upload"]["rows_per_second"], rates)
    if "link" in last:
        say("linkage <= 600 s", "{:,.0f} s", last["link"]["seconds"], london("link seconds"))
    if "release" in last:
        say(
            "release read <= 60 s",
            "{:,.1f} s",
            last["release"]["read_seconds"],
            london("release read seconds"),
        )
        for name, q in last["release"]["queries"].items():
            say(f"{name} <= 0.5 s", "{:,.2f} s", q["median"], london(f"query: {name}"))
    for stage in (s for s in STAGES if s in last and "peak_rss_bytes" in last[s]):
        say(
            f"{stage} peak RSS <= 12 GiB",
            "{:,.1f} GiB",
            last[stage]["peak_rss_bytes"] / GIB,
            london(f"{stage} RSS growth bytes", "london_peak_rss", GIB),
        )
    return lines


def _git() -> str:
    def git(*command: str) -> str:
        run = subprocess.run(
            ["git", *command], capture_output=True, text=True, cwd=REPO, check=False
        )
        return run.stdout.strip()

    dirty = git("status", "--porcelain", "--", "app", "linkage", "privacy", "datasets")
    return git("rev-parse", "--short", "HEAD") + (" (with uncommitted changes)" if dirty else "")


def machine() -> dict[str, Any]:
    model, memory = cpu_model_and_memory()
    return {
        "cpu": model,
        "memory_bytes": memory or 0,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": _git(),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def print_report(report: dict[str, Any]) -> None:
    info, o = report["machine"], report["options"]
    load = "/".join(f"{x:.2f}" for x in info["load_average_at_start"])
    print("hsclink London end-to-end benchmark")
    print(f"  date:     {info['date']}; code: git {info['git'] or 'unknown'}")
    print(f"  machine:  nproc {info['nproc']}, {info['cpu']}, {info['memory_bytes'] / GIB:.1f} GiB")
    print(f"  python:   {info['python']}; PostgreSQL {report.get('postgresql_server')}")
    print(f"  load:     {load} (1/5/15-minute average at start; other work skews figures)")
    print(
        f"  data:     app.synth, seed {o['seed']}: {o['episodes_per_resident']:.4f} episodes and"
        f" {o['asc_per_resident']:.4f} social-care rows a resident (London's three years)"
    )
    print(f"  command:  {report['command']}")
    for note in report["notes"]:
        print(f"  note:     {note}")
    for r in report["results"]:
        after = [
            f"{s} {r[s]['load_average_after'][0]:.1f}"
            for s in STAGES
            if s in r and r[s].get("load_average_after")
        ]
        if after:
            print(f"  load:     after each stage at {r['residents']:,}: {', '.join(after)}")
    print()
    print("Per stage, each in a fresh process (peak RSS: its ru_maxrss):")
    print_sizes(report["results"])
    print()
    print("Extrapolation:")
    print_extrapolation(report["extrapolation"])
    print()
    print("Targets (at the largest size measured, and extrapolated to London):")
    for line in report["verdicts"]:
        print(f"  {line}")
    print(f"total run time: {report['total_seconds']:.0f} s")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--persons",
        default="50000,200000,500000",
        help="residents per run, comma-separated (London: 9000000)",
    )
    parser.add_argument(
        "--episodes-per-resident", type=float, default=LONDON_EPISODES / LONDON_RESIDENTS
    )
    parser.add_argument(
        "--asc-per-resident", type=float, default=LONDON_ASC_ROWS / LONDON_RESIDENTS
    )
    parser.add_argument("--queries", type=int, default=5, help="timed repeats of each query")
    parser.add_argument(
        "--client-in-process",
        action="store_true",
        help="run the upload client in the server's process (the first runs did)",
    )
    parser.add_argument(
        "--extracts",
        type=Path,
        help="keep the generated extracts under this folder, and reuse them when a later"
        " run asks for the same residents, rates and seed (generate is then not timed)",
    )
    parser.add_argument(
        "--stop-after", choices=STAGES, help="stop after this stage (the store is dropped)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds per stage")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--json-file", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    args.persons = sorted({int(v.replace("_", "")) for v in args.persons.split(",") if v.strip()})
    if not args.persons or min(args.persons) < 1000 or args.queries < 1:
        parser.error("--persons >= 1000 each, --queries >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    if len(raw) == 3 and raw[0] == "--worker":
        return worker_main(raw[1], raw[2])
    args = parse_args(argv)
    start = time.perf_counter()
    notes: list[str] = []
    report: dict[str, Any] = {
        "command": shlex.join([os.path.relpath(sys.executable), *sys.argv]),
        "machine": machine(),
        "options": {k: v for k, v in vars(args).items() if k not in ("json", "json_file")},
        "notes": notes,
        "results": [],
    }
    pg = Postgres(args.postgres_url)
    report["postgresql_server"] = pg.version
    try:
        for residents in args.persons:
            workdir = Path(tempfile.mkdtemp(prefix="hsclink-bench-london-"))
            try:
                report["results"].append(measure_size(residents, args, pg, workdir))
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                notes.append(f"{residents:,} residents failed: {type(error).__name__}: {error}")
                log(notes[-1])
                report["results"].append({"residents": residents, "error": str(error)})
    finally:
        pg.close()
    report["extrapolation"] = extrapolate(report["results"], args)
    report["verdicts"] = verdicts(report["results"], report["extrapolation"])
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
