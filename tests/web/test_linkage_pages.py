"""The linkage pages: runs, the start form, and the run report, in headless Chromium.

A small synthetic population (400 people, ``app.synth``) is submitted through the real
ingest service, once by the trust (hospital episodes) and once by the council (adult
social care), before the live server's pages are opened. Operators may start runs and
read reports; IG officers read reports only; nobody else sees the pages.
"""

from __future__ import annotations

import re
import time
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import ConsoleMessage, Page, expect
from sqlalchemy import select

from app.auth.actor import Actor
from app.db.models import LinkageRun, User
from app.services import identity, ingest, linkage
from app.services.context import ServiceContext
from app.synth import write_extracts
from tests.conftest import Person
from tests.web.test_pages import events_as_operator, sign_in

SCREENSHOT = Path("/tmp/hsclink-linkage-report.png")
COUNCIL_SUBMITTER = "test.council"
#: How long a run of a few hundred records may take in the background, at most.
RUN_TIMEOUT_MS = 30_000
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# --------------------------------------------------------------------------- data


def submit(ctx: ServiceContext, username: str, schema: str, path: Path) -> None:
    """Send an extract through the same service calls as an upload (one part)."""
    with ctx.sessions() as session:
        actor = identity.actor_for(
            session.scalars(select(User).where(User.username == username)).one()
        )
    created = ingest.create_submission(
        ctx, actor=actor, schema_name=schema, upload_length=path.stat().st_size
    )
    with path.open("rb") as handle:
        view = ingest.upload(
            ctx,
            actor=actor,
            submission_id=created.id,
            offset=0,
            chunks=iter(lambda: handle.read(256 * 1024), b""),
            today=date.today(),
        )
    assert view.status == "accepted", view.problem


@pytest.fixture
def population(ctx: ServiceContext, people: dict[str, Person], tmp_path: Path) -> None:
    """Hospital episodes (the trust) and social care clients (the council) of 400 people."""
    identity.create_user(
        ctx,
        actor=Actor.cli(),
        username=COUNCIL_SUBMITTER,
        role="submitter",
        organisation="E09000007",
        password="correct horse council battery",
    )
    write_extracts(tmp_path / "synth", persons=400, seed=3)
    submit(ctx, people["submitter"].username, "nhs_episodes", tmp_path / "synth/nhs_episodes.csv")
    submit(ctx, COUNCIL_SUBMITTER, "asc_clients", tmp_path / "synth/asc_clients.csv")


@pytest.fixture
def snapshot(ctx: ServiceContext, population: None) -> int:
    """A run made in the foreground, as ``hsclink link run`` would."""
    run = linkage.start_run(ctx, actor=Actor.cli())
    view = linkage.execute_run(ctx, run.id)
    assert view.snapshot_id is not None, view.problem
    return view.snapshot_id


def runs(ctx: ServiceContext) -> list[tuple[int, str, str, str]]:
    """(id, status, mode, started by) of every run, oldest first."""
    with ctx.sessions() as session:
        found = session.scalars(select(LinkageRun).order_by(LinkageRun.id)).all()
        return [(r.id, r.status, r.mode, r.started_by) for r in found]


# --------------------------------------------------------------------------- page helpers


def cell(value: object) -> str:
    """A controlled count as the report must show it: ``*`` as ``*``, never as 0."""
    return "*" if value == "*" else f"{value:,}"


def rate(value: object) -> str:
    return "*" if value == "*" else f"{value:g}%"


def body_rows(page: Page, test_id: str) -> list[list[str]]:
    """A table's body rows as their cells' text; a table folded away in a <details> (a
    long answer's) is unfolded first, as a reader clicks its summary to see it."""
    fold = page.locator(f"details:has([data-testid={test_id}]):not([open]) > summary")
    for summary in fold.all():
        summary.click()
    rows = page.get_by_test_id(test_id).locator("tbody tr").all()
    return [[c.strip() for c in row.locator("td").all_inner_texts()] for row in rows]


def console_errors(page: Page) -> list[str]:
    """Console errors seen by this page: Chromium reports every CSP violation there.

    The browser's own request for /favicon.ico (there is none: 404) is not the page's.
    """
    seen: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            seen.append(f"{message.location['url']}: {message.text}")

    page.on("console", keep)
    return seen


# --------------------------------------------------------------------------- operators


def test_an_operator_starts_a_run_from_the_linkage_page_sees_it_finish_and_reads_its_report(
    live_server: str,
    page: Page,
    ctx: ServiceContext,
    people: dict[str, Person],
    population: None,
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    errors = console_errors(page)
    operator = people["operator"]
    sign_in(page, live_server, operator)
    page.get_by_test_id("linkage-link").click()
    expect(page).to_have_url(f"{live_server}/linkage")
    expect(page.get_by_role("heading", level=1)).to_have_text("Linkage")
    expect(page.get_by_test_id("runs")).to_contain_text("No linkage run yet.")
    expect(page.get_by_test_id("latest-report")).to_have_count(0)

    form = page.get_by_test_id("start-run")
    form.get_by_label("Mode").select_option("full")
    form.get_by_role("button", name="Start a linkage run").click()
    expect(page).to_have_url(f"{live_server}/linkage")
    [(run_id, _, mode, started_by)] = runs(ctx)
    assert (mode, started_by) == ("full", operator.username)
    row = page.locator(f"tr[data-run='{run_id}']")
    expect(row.locator("td")).to_have_count(9)
    # The page reloads itself while the run is active: no script, no manual refresh.
    expect(row.locator("td.status")).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("meta[http-equiv=refresh]")).to_have_count(0)
    expect(page.get_by_test_id("active-run")).to_have_count(0)
    expect(row.locator("td.stage")).to_have_text("done")
    cells = row.locator("td").all_inner_texts()
    assert cells[3:5] == ["full", operator.username]
    assert re.fullmatch(r"[\d,]+", cells[5]) and int(cells[5].replace(",", "")) > 100
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", cells[7])
    [(_, status, _, _)] = runs(ctx)
    assert status == "succeeded"

    row.get_by_test_id("report-link").click()
    with ctx.sessions() as session:
        snapshot_id = session.get(LinkageRun, run_id).snapshot_id  # type: ignore[union-attr]
    expect(page).to_have_url(f"{live_server}/linkage/snapshots/{snapshot_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Linkage report: snapshot {snapshot_id}"
    )
    report = linkage.snapshot_report(ctx, actor=Actor.cli(), snapshot_id=snapshot_id)
    sdc = ctx.policy.rules.disclosure
    expect(page.get_by_test_id("run-id")).to_have_text(str(run_id))
    expect(page.get_by_test_id("mode")).to_have_text("full")
    expect(page.get_by_test_id("threshold")).to_contain_text(
        f"match weight {report.model['threshold_weight']:.2f} bits"
    )
    expect(page.get_by_test_id("disclosure")).to_contain_text(
        f"counts from 1 to {sdc.suppress_below - 1} are suppressed (*),"
        f" others rounded to the nearest {sdc.round_to}"
    )

    # Per dataset: exactly the service's controlled counts and rates.
    assert body_rows(page, "datasets") == [
        [
            d["dataset"],
            cell(d["records"]),
            cell(d["persons"]),
            cell(d["exact"]),
            rate(d["exact_rate"]),
            cell(d["probabilistic"]),
            rate(d["probabilistic_rate"]),
            cell(d["singleton"]),
        ]
        for d in report.datasets
    ]
    assert [r[0] for r in body_rows(page, "datasets")] == ["asc_clients", "nhs_episodes"]

    # The chart: an image with a name, bars from the counts, the threshold as a line.
    chart = page.locator("svg.chart")
    expect(chart).to_be_visible()
    expect(chart).to_have_attribute("role", "img")
    expect(
        page.get_by_role("img", name="Match weights of the record pairs compared")
    ).to_be_visible()
    expect(chart.locator("line.threshold")).to_have_count(1)
    counts = report.histogram["counts"]
    expect(chart.locator("rect.bar:not(.suppressed)")).to_have_count(
        sum(1 for c in counts if c != "*" and c > 0)
    )
    expect(chart.locator("rect.bar.suppressed")).to_have_count(counts.count("*"))
    assert counts.count("*") + sum(1 for c in counts if c != "*" and c > 0) > 0
    # Its table fallback, behind a disclosure widget.
    table = page.get_by_test_id("histogram-table")
    expect(table).to_be_hidden()
    page.get_by_text("The chart as a table").click()
    expect(table).to_be_visible()
    assert [r[2] for r in body_rows(page, "histogram-table")] == [cell(c) for c in counts]

    # Link rates by borough, age band and sex, with "*" where the service suppressed.
    shown_anywhere = []
    for grouping in ("borough", "age_band", "sex"):
        expect(page.get_by_test_id(f"rates-{grouping}")).to_be_visible()
        rows = body_rows(page, f"rates-{grouping}")
        expected = report.link_rates[grouping]
        assert len(rows) == len(expected) > 0
        by_value = {
            str(r["value"]): [
                cell(r["records"]),
                rate(r["linked_rate"]),
                rate(r["probabilistic_rate"]),
            ]
            for r in expected
        }
        for label, *numbers in rows:
            [value] = [
                v
                for v in by_value
                if label == v or label.endswith(f"({v})") or label.startswith(f"{v} ·")
            ]
            assert numbers == by_value[value], (grouping, label)
            shown_anywhere += numbers
    assert "*" in shown_anywhere, "a small population must show some suppressed rates"
    ages = [r[0] for r in body_rows(page, "rates-age_band")]
    known = [a for a in ages if a[0].isdigit()]
    assert known == sorted(known, key=lambda a: int(re.match(r"\d+", a).group()))  # type: ignore[union-attr]

    # The model's parameters and estimates, the blocking rules and the stage timings.
    parameters = body_rows(page, "parameters")
    assert len(parameters) == sum(len(c["levels"]) for c in report.model["comparisons"])
    expect(page.get_by_test_id("estimates")).to_contain_text("Precision")
    expect(page.get_by_test_id("estimates")).to_contain_text("Recall")
    assert [r[0] for r in body_rows(page, "blocking")] == [
        r["name"] for r in report.blocking["rules"]
    ]
    expect(page.get_by_test_id("timings")).to_contain_text("Total")

    # Styled by the stylesheet, and nothing was blocked by the CSP.
    expect(page.locator("header.masthead")).to_have_css("background-color", "rgb(0, 94, 184)")
    assert errors == []
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    starts = events_as_operator(ctx, action="linkage.run")
    assert [(e["actor"], e["outcome"], e["target"]) for e in starts] == [
        (operator.username, "allowed", f"linkage-run:{run_id}")
    ]
    [made] = events_as_operator(ctx, action="linkage.snapshot")
    assert made["target"] == f"linkage-snapshot:{snapshot_id}"


# --------------------------------------------------------------------------- IG officers


def test_an_ig_officer_reads_the_report_but_gets_no_start_form_and_a_start_is_refused_and_audited(
    live_server: str,
    page: Page,
    ctx: ServiceContext,
    people: dict[str, Person],
    snapshot: int,
) -> None:
    officer = people["ig_officer"]
    sign_in(page, live_server, officer)
    page.get_by_test_id("linkage-link").click()
    expect(page).to_have_url(f"{live_server}/linkage")
    expect(page.get_by_test_id("start-run")).to_have_count(0)
    expect(page.get_by_role("button", name="Start a linkage run")).to_have_count(0)
    expect(page.locator("tr[data-run] td.status")).to_have_text(["succeeded"])

    page.get_by_test_id("latest-report").click()
    expect(page).to_have_url(f"{live_server}/linkage/snapshots/latest")
    expect(page.get_by_test_id("snapshot-id")).to_have_text(str(snapshot))
    expect(page.locator("svg.chart line.threshold")).to_have_count(1)
    for grouping in ("borough", "age_band", "sex"):
        expect(page.get_by_test_id(f"rates-{grouping}")).to_be_visible()

    # A start sent anyway (with the session's own CSRF token) is refused by policy.
    token = page.locator("form[action='/logout'] input[name=csrf_token]").input_value()
    refused = page.request.post(
        f"{live_server}/linkage/runs", form={"mode": "full", "csrf_token": token}
    )
    assert refused.status == 403
    assert "Not permitted" in refused.text()
    assert [(status, started_by) for _, status, _, started_by in runs(ctx)] == [
        ("succeeded", Actor.cli().name)
    ]
    refusals = events_as_operator(ctx, action="linkage.run", outcome="refused")
    assert [(e["actor"], e["role"]) for e in refusals] == [(officer.username, "ig_officer")]

    missing = page.goto(f"{live_server}/linkage/snapshots/{snapshot + 100}")
    assert missing is not None and missing.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")


# --------------------------------------------------------------------------- everyone else


@pytest.mark.parametrize("role", ["analyst", "submitter"])
def test_other_roles_see_no_linkage_link_and_are_refused_the_linkage_pages_and_audited(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person], role: str
) -> None:
    person = people[role]
    sign_in(page, live_server, person)
    expect(page.get_by_test_id("linkage-link")).to_have_count(0)
    for path in ("/linkage", "/linkage/snapshots/latest"):
        response = page.goto(f"{live_server}{path}")
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text("Not permitted")
        expect(page.get_by_test_id("runs")).to_have_count(0)
    refusals = events_as_operator(ctx, actor=person.username, action="linkage.read")
    assert [(e["outcome"], e["role"]) for e in refusals] == [("refused", role)] * 2


# --------------------------------------------------------------------------- CSRF (no browser)


def test_a_start_form_without_the_sessions_csrf_token_is_refused_audited_and_starts_nothing(
    client: TestClient, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    operator = people["operator"]
    login = client.get("/login")
    signed_in = client.post(
        "/login",
        data={
            "username": operator.username,
            "password": operator.password,
            "csrf_token": CSRF.search(login.text).group(1),  # type: ignore[union-attr]
        },
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    page = client.get("/linkage")
    assert page.status_code == 200
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]

    for form in ({"mode": "full"}, {"mode": "full", "csrf_token": "not-the-session-token"}):
        refused = client.post("/linkage/runs", data=form, follow_redirects=False)
        assert refused.status_code == 403
        assert "Form expired or forged" in refused.text
    assert runs(ctx) == []
    refusals = events_as_operator(ctx, action="linkage.run")
    assert [(e["actor"], e["outcome"], e["details"]["reason"]) for e in refusals] == [
        (operator.username, "refused", "csrf")
    ] * 2

    # The page's own token goes through (so the refusals were the token, not the session).
    started = client.post(
        "/linkage/runs", data={"mode": "full", "csrf_token": token}, follow_redirects=False
    )
    assert (started.status_code, started.headers["location"]) == (303, "/linkage")
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while runs(ctx)[0][1] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)
    [(_, status, mode, started_by)] = runs(ctx)
    assert status in ("succeeded", "failed")  # an empty store: either is a finished run
    assert (mode, started_by) == ("full", operator.username)
