"""The upload page: a submitter sends an extract from the browser, in resumable parts.

Driven in headless Chromium against a live server, on SQLite and PostgreSQL. The
extract is synthetic (``app.synth``); the submitter's organisation (RAL) is a trust,
so it may submit hospital episodes.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect
from sqlalchemy import select

from app.db.models import Submission
from app.services.context import ServiceContext
from app.synth import write_extracts
from tests.conftest import Person
from tests.sealed import record_count
from tests.web.test_pages import events_as_operator, sign_in

SCREENSHOT = Path("/tmp/hsclink-upload.png")
OFFSET_TYPE = "application/offset+octet-stream"


@pytest.fixture
def extract(tmp_path: Path) -> Path:
    """Synthetic hospital episodes for 300 people (the same bytes every run)."""
    write_extracts(tmp_path / "synth", persons=300, seed=1)
    return tmp_path / "synth" / "nhs_episodes.csv"


def data_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f)) - 1


def submissions(ctx: ServiceContext) -> list[tuple[int, str, int, int, int]]:
    """(id, status, upload offset, rows accepted, records stored) for every submission."""
    with ctx.sessions() as session:
        rows = session.execute(select(Submission).order_by(Submission.id)).scalars().all()
        return [
            (
                s.id,
                s.status,
                s.upload_offset,
                s.rows_accepted,
                record_count(ctx, s.id),
            )
            for s in rows
        ]


def choose_and_upload(page: Page, extract: Path) -> None:
    page.get_by_label("Dataset").select_option("nhs_episodes")
    page.get_by_label("Extract file").set_input_files(extract)
    page.get_by_role("button", name="Upload").click()


def csrf_token_of(page: Page) -> str:
    token = page.locator("#upload-form").get_attribute("data-csrf-token")
    assert token
    return token


# --------------------------------------------------------------------------- uploading


def test_a_submitter_uploads_an_extract_from_their_home_page_and_sees_it_accepted_with_its_quality_report(  # noqa: E501
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person], extract: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    rows = data_rows(extract)
    assert rows > 100
    sign_in(page, live_server, people["submitter"])
    page.get_by_test_id("upload-link").click()
    expect(page).to_have_url(f"{live_server}/upload")
    expect(page.get_by_role("heading", level=1)).to_have_text("Submit an extract")
    # Only the schemas a trust submits are offered (not the councils' social care ones).
    options = page.get_by_label("Dataset").locator("option")
    expect(options).to_have_count(1)
    expect(options).to_have_attribute("value", "nhs_episodes")

    choose_and_upload(page, extract)

    expect(page.get_by_test_id("result-status")).to_have_text("accepted")
    expect(page.get_by_test_id("progress-bar")).to_have_js_property("value", 100)
    size = extract.stat().st_size
    expect(page.get_by_test_id("progress-text")).to_contain_text(
        re.compile(
            rf"of {size / 1024:.1f} KiB sent \(100%\) · {rows} rows read · about [\d,]+ rows/s"
        )
    )
    expect(page.get_by_test_id("result-accepted")).to_have_text(str(rows))
    expect(page.get_by_test_id("result-refused")).to_have_text("0")
    expect(page.get_by_test_id("upload-message")).to_be_hidden()
    quality = page.get_by_test_id("quality")
    expect(quality).to_be_visible()
    assert quality.locator("thead th").all_inner_texts() == [
        "Field",
        "Missing",
        "Invalid",
        "Normalised",
    ]
    by_field = {
        cells[0]: [int(c.replace(",", "")) for c in cells[1:]]
        for cells in (r.locator("td").all_inner_texts() for r in quality.locator("tbody tr").all())
    }
    assert {"nhs_number", "date_of_birth", "postcode"} <= by_field.keys()
    assert all(0 <= n <= rows for counts in by_field.values() for n in counts)
    # The stylesheet and the script both loaded under the CSP; nothing was inline.
    expect(page.locator("header.masthead")).to_have_css("background-color", "rgb(0, 94, 184)")
    # For a person to look at (not committed): the finished upload as the submitter sees it.
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000

    shown_id = int(page.get_by_test_id("result-id").inner_text())
    assert submissions(ctx) == [(shown_id, "accepted", size, rows, rows)]
    # The action filter is a prefix: the upload's start ("submission.upload-start") is
    # audited too, before its bytes are read.
    uploads = [
        e
        for e in events_as_operator(ctx, action="submission.upload")
        if e["action"] == "submission.upload"
    ]
    assert [(e["actor"], e["outcome"], e["details"]["status"]) for e in uploads] == [
        (people["submitter"].username, "allowed", "accepted")
    ]


def test_an_interrupted_upload_carries_on_from_the_services_offset_when_the_file_is_chosen_again(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person], extract: Path
) -> None:
    rows, size = data_rows(extract), extract.stat().st_size
    sign_in(page, live_server, people["submitter"])
    page.goto(f"{live_server}/upload")
    # Small parts (4 KiB) so the file goes in several requests; the connection drops on the third.
    page.locator("#upload-form").evaluate("form => { form.dataset.sliceBytes = '4096'; }")
    patches: list[str] = []

    def drop_the_third_part(route: Route) -> None:
        if route.request.method == "PATCH":
            patches.append(route.request.headers["upload-offset"])
            if len(patches) == 3:
                route.abort("connectionreset")
                return
        route.continue_()

    page.route(re.compile(r"/submissions/\d+$"), drop_the_third_part)
    choose_and_upload(page, extract)
    expect(page.get_by_test_id("upload-message")).to_contain_text(
        "The connection was lost while the file was being sent."
        " Choose the same file again and press Upload to carry on."
    )
    expect(page.get_by_test_id("upload-result")).to_be_hidden()
    [(sid, status, offset, _, _)] = submissions(ctx)
    assert status == "receiving"
    assert 4096 < offset <= 2 * 4096, "two parts were committed, each ending at a record"
    assert [int(o) for o in patches] == sorted({int(o) for o in patches})

    page.unroute(re.compile(r"/submissions/\d+$"))
    choose_and_upload(page, extract)
    expect(page.get_by_test_id("result-status")).to_have_text("accepted")
    expect(page.get_by_test_id("result-id")).to_have_text(str(sid))
    expect(page.get_by_test_id("result-accepted")).to_have_text(str(rows))
    expect(page.get_by_test_id("progress-bar")).to_have_js_property("value", 100)
    # Still one submission: the second attempt carried on, every row stored exactly once.
    assert submissions(ctx) == [(sid, "accepted", size, rows, rows)]


def test_refused_rows_are_listed_with_their_line_column_and_reason_and_the_rest_accepted(
    live_server: str,
    page: Page,
    ctx: ServiceContext,
    people: dict[str, Person],
    extract: Path,
    tmp_path: Path,
) -> None:
    with extract.open(newline="", encoding="utf-8") as f:
        records = list(csv.reader(f))
    header, data = records[0], records[1:]
    episode = header.index("episode_id")
    for line in (6, 11):  # file line numbers: the header is line 1
        data[line - 2][episode] = ""
    data[20 - 2] = data[20 - 2][:-1]  # one column short
    flawed = tmp_path / "flawed.csv"
    with flawed.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows([header, *data])

    sign_in(page, live_server, people["submitter"])
    page.goto(f"{live_server}/upload")
    choose_and_upload(page, flawed)

    expect(page.get_by_test_id("result-status")).to_have_text("accepted")
    expect(page.get_by_test_id("result-accepted")).to_have_text(str(len(data) - 3))
    expect(page.get_by_test_id("result-refused")).to_have_text("3")
    errors = page.get_by_test_id("row-errors")
    expect(errors).to_be_visible()
    assert [r.locator("td").all_inner_texts() for r in errors.locator("tbody tr").all()] == [
        ["6", "episode_id", "a record id is required"],
        ["11", "episode_id", "a record id is required"],
        ["20", "(row)", f"expected {len(header)} columns, found {len(header) - 1}"],
    ]
    expect(page.get_by_test_id("quality")).to_contain_text("episode_id")


def test_a_file_whose_header_does_not_match_the_schema_is_rejected_and_the_page_says_why(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person], tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("colour,shape\nred,square\n", encoding="utf-8")
    sign_in(page, live_server, people["submitter"])
    page.goto(f"{live_server}/upload")
    choose_and_upload(page, wrong)

    expect(page.get_by_test_id("result-status")).to_have_text("rejected")
    problem = page.get_by_test_id("result-problem")
    expect(problem).to_be_visible()
    expect(page.get_by_test_id("upload-message")).to_have_text(re.compile(r"^Invalid request: "))
    # The reason the page shows is the service's own, and the file can be sent no further.
    assert page.get_by_test_id("upload-message").inner_text().endswith(problem.inner_text())
    [(_, status, _, accepted, stored)] = submissions(ctx)
    assert (status, accepted, stored) == ("rejected", 0, 0)
    expect(page.get_by_role("button", name="Upload")).to_be_enabled()


# --------------------------------------------------------------------------- refusals


def test_an_analyst_sees_no_upload_link_and_is_refused_the_upload_page(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    analyst = people["analyst"]
    sign_in(page, live_server, analyst)
    expect(page.get_by_test_id("upload-link")).to_have_count(0)

    response = page.goto(f"{live_server}/upload")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not permitted")
    expect(page.locator("#upload-form")).to_have_count(0)
    refusals = events_as_operator(ctx, actor=analyst.username, action="submission.create")
    assert [(e["outcome"], e["role"]) for e in refusals] == [("refused", "analyst")]


def test_a_browser_upload_without_the_pages_csrf_header_is_refused_and_audited(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person], extract: Path
) -> None:
    with extract.open("rb") as f:
        body = f.readline()  # the header line alone
    sign_in(page, live_server, people["submitter"])
    page.goto(f"{live_server}/upload")
    token = csrf_token_of(page)

    start = {"Upload-Length": str(len(body)), "Content-Type": "application/json"}
    forged = page.request.post(
        f"{live_server}/submissions", headers=start, data='{"schema": "nhs_episodes"}'
    )
    assert forged.status == 403
    assert submissions(ctx) == []
    created = page.request.post(
        f"{live_server}/submissions",
        headers={**start, "X-CSRF-Token": token},
        data='{"schema": "nhs_episodes"}',
    )
    assert created.status == 201, created.text()
    sid = created.json()["id"]

    url = f"{live_server}/submissions/{sid}"
    patch = {"Upload-Offset": "0", "Content-Type": OFFSET_TYPE}
    missing = page.request.patch(url, headers=patch, data=body)
    assert missing.status == 403
    assert missing.json()["type"] == "/problems/csrf-failed"
    wrong = page.request.patch(url, headers={**patch, "X-CSRF-Token": "not-the-token"}, data=body)
    assert wrong.status == 403
    assert submissions(ctx) == [(sid, "receiving", 0, 0, 0)]

    refusals = events_as_operator(ctx, outcome="refused")
    assert [(e["action"], e["details"]["reason"]) for e in refusals] == [
        ("submission.upload", "csrf"),
        ("submission.upload", "csrf"),
        ("submission.create", "csrf"),
    ]
    assert {e["actor"] for e in refusals} == {people["submitter"].username}

    # With the page's token the same request goes through: the refusals above were the
    # CSRF check, not a missing session. (A header without rows: rejected, not refused.)
    sent = page.request.patch(url, headers={**patch, "X-CSRF-Token": token}, data=body)
    assert sent.status == 200, sent.text()
    assert (sent.json()["status"], sent.json()["problem"]) == (
        "rejected",
        "the file has a header but no rows",
    )
    status = page.request.get(f"{url}/status")
    assert status.status == 200
    assert status.json()["status"] == "rejected"


def test_the_browser_submission_endpoints_are_not_in_the_openapi_schema(
    live_server: str, page: Page
) -> None:
    schema = page.request.get(f"{live_server}/api/v1/openapi.json")
    assert schema.status == 200
    paths = set(schema.json()["paths"])
    assert "/api/v1/submissions/{submission_id}" in paths
    assert not {p for p in paths if not p.startswith("/api/")} - {"/health"}
