"""Answers that do not mislead, in headless Chromium (issue 15): every cell charted, a
warning when most cells are noise, the noise in plain words, epsilon rounded for reading,
names beside codes, the navigation bar, no sideways scrolling on a phone, and a linkage
report that opens with a sentence an IG officer can use.

The linked population is the prebuilt one (``tests/stores.py``), cloned for each test.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.auth.actor import Actor
from app.db.models import User
from app.services import identity, linkage
from app.services.context import ServiceContext
from app.services.release import budgets
from privacy.ages import AGE_BANDS
from tests.conftest import Person
from tests.stores import StoreTemplate, build_linked, build_population
from tests.web.test_linkage_pages import body_rows, console_errors
from tests.web.test_pages import sign_in

SCREENSHOT = Path("/tmp/hsclink-answer-heatmap.png")
PHONE_SCREENSHOT = Path("/tmp/hsclink-report-phone.png")
PHONE = {"width": 375, "height": 740}
SUMMARY = re.compile(
    r"^[\d,]+ records were linked into [\d,]+ people\. About \d+% of social-care clients"
    r" were found in hospital data \([\d,]+ of [\d,]+ people\)\. The model estimates its"
    r" false-match rate at (below 0\.1%|about \d+\.\d%) and that it found about \d+% of"
    r" true matches\.$"
)


@pytest.fixture
def linked(
    linked_store: StoreTemplate | None, ctx: ServiceContext, people: dict[str, Person], tmp_path
) -> int:
    """The prebuilt linked population's snapshot (built in place only if asked late)."""
    if linked_store is not None:
        return int(linked_store.facts["snapshot_id"])
    build_population(ctx, people, tmp_path)
    return int(build_linked(ctx, people, tmp_path)["snapshot_id"])


def give_budget(ctx: ServiceContext, people: dict[str, Person], total: str) -> None:
    with ctx.sessions() as session:
        officer = identity.actor_for(
            session.scalars(
                select(User).where(User.username == people["ig_officer"].username)
            ).one()
        )
    budgets.set_budget(
        ctx,
        actor=officer,
        kind="analyst",
        subject=people["analyst"].username,
        total=total,
        today=date.today(),
    )


def no_sideways_scrolling(page: Page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


def nav_labels(page: Page) -> list[str]:
    return page.get_by_test_id("site-nav").locator("a").all_inner_texts()


# --------------------------------------------------------------------------- the query page


def test_a_two_way_answer_charts_all_76_cells_and_warns_that_it_is_mostly_noise(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person], linked: int
) -> None:
    give_budget(ctx, people, "1")
    page.set_viewport_size({"width": 1280, "height": 900})
    errors = console_errors(page)
    sign_in(page, live_server, people["analyst"])
    expect(page.get_by_test_id("who")).to_have_text(
        "test.analyst · Council analyst · London Borough of Camden (E09000007)"
    )
    assert nav_labels(page) == ["Home", "Ask a question", "Releases"]
    page.get_by_test_id("site-nav").get_by_role("link", name="Ask a question").click()
    expect(page).to_have_url(f"{live_server}/query")
    expect(page.locator(".site-nav a[aria-current=page]")).to_have_text("Ask a question")

    form = page.get_by_test_id("query-form")
    form.get_by_label("Measure").select_option("persons")
    form.get_by_label("Group by").select_option("age_band")
    form.get_by_label("Then by").select_option("sex")
    form.get_by_label("Epsilon", exact=True).fill("0.05")
    form.get_by_role("button", name="Preview").click()

    # The preview: the noise in plain words; mechanism and plan behind a disclosure.
    stated = page.get_by_test_id("preview-half-width").inner_text()
    half_width = int(re.fullmatch(r"± (\d+) persons", stated).group(1))  # type: ignore[union-attr]
    expect(page.get_by_test_id("preview-noise")).to_have_text(
        f"Each count may be off by up to about {half_width} people, 19 times out of 20. A group"
        f" of fewer than about {half_width} people may be mostly noise, and noise can make a"
        " small count negative."
    )
    expect(page.get_by_test_id("preview-cells")).to_have_text(
        "76 (age band \N{MULTIPLICATION SIGN} sex)"
    )
    expect(page.get_by_test_id("preview-plan")).to_be_hidden()
    expect(page.get_by_test_id("preview-mechanism")).to_be_hidden()
    expect(page.get_by_test_id("preview")).not_to_contain_text(
        "discrete Laplace", use_inner_text=True
    )
    page.get_by_text("Technical details").click()
    expect(page.get_by_test_id("preview-mechanism")).to_contain_text("discrete Laplace, scale 20")
    expect(page.get_by_test_id("preview-plan")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))

    # The answer: every cell in the chart and the table, and the warning.
    page.get_by_test_id("query-form").get_by_role("button", name="Ask").click()
    answer = page.get_by_test_id("answer")
    expect(answer).to_be_visible()
    rows = body_rows(page, "answer-table")
    assert len(rows) == 76
    chart = answer.locator("svg.chart.heatmap")
    expect(chart).to_have_count(1)
    expect(chart.locator("rect.cell")).to_have_count(76)
    expect(
        page.get_by_role("img", name="Released values (persons) by age band and sex")
    ).to_be_visible()
    expect(chart.locator("text.row-label")).to_have_text(list(AGE_BANDS))
    expect(page.get_by_test_id("chart-note")).to_contain_text("Every one of the 76 cells")
    warning = page.get_by_test_id("noise-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("Most of this answer is noise")
    expect(warning).to_contain_text(re.compile(r"In \d+ of 76 cells"))
    expect(warning).to_contain_text("fewer groups")
    expect(warning).to_contain_text("more epsilon")
    # Whole numbers, and a negative count (if noise made one) explained, never hidden.
    values = [int(r[2].replace(",", "")) for r in rows]
    assert all(re.fullmatch(r"-?[\d,]+", r[2]) for r in rows)
    negatives = sum(1 for v in values if v < 0)
    expect(page.get_by_test_id("negative-note")).to_have_count(1 if negatives else 0)
    expect(answer.locator("td.value.negative")).to_have_count(negatives)
    # Epsilon for reading: 1 - 0.05 left, the full value in the title.
    remaining = page.locator("[data-testid=own-budgets] tr[data-kind=analyst] td.remaining")
    expect(remaining).to_have_text("0.95")
    expect(remaining.locator("span.epsilon")).to_have_attribute("title", "0.95")
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # On a phone: the page itself never scrolls sideways (tables scroll in their cards).
    page.set_viewport_size(PHONE)
    no_sideways_scrolling(page)
    assert errors == []


# --------------------------------------------------------------------------- narrow screens


def test_the_linkage_report_opens_with_a_plain_summary_and_nothing_scrolls_sideways_on_a_phone(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person], linked: int
) -> None:
    give_budget(ctx, people, "0.946004")
    page.set_viewport_size(PHONE)
    errors = console_errors(page)
    sign_in(page, live_server, people["ig_officer"])
    no_sideways_scrolling(page)

    page.goto(f"{live_server}/linkage/snapshots/{linked}")
    first = page.locator("main p").first
    expect(first).to_have_attribute("data-testid", "summary")
    expect(first).to_have_text(SUMMARY)
    page.screenshot(path=str(PHONE_SCREENSHOT))  # the top, for a person to look at
    report = linkage.snapshot_report(ctx, actor=Actor.cli(), snapshot_id=linked)
    clients = next(d for d in report.datasets if d["dataset"] == "asc_clients")["persons"]
    expect(first).to_contain_text(f"({report.persons_in_several_datasets:,} of {clients:,} people)")
    # m and u are kept, below, behind a disclosure.
    expect(page.get_by_test_id("parameters")).to_be_hidden()
    page.get_by_text("Comparison levels: m and u").click()
    expect(page.get_by_test_id("parameters")).to_be_visible()
    no_sideways_scrolling(page)

    page.get_by_test_id("site-nav").get_by_role("link", name="Budgets").click()
    expect(page).to_have_url(f"{live_server}/budgets")
    total = page.locator("[data-testid=budgets] tr[data-kind=analyst] td").nth(3)
    expect(total).to_have_text("0.946")
    expect(total.locator("span.epsilon")).to_have_attribute("title", "0.946004")
    no_sideways_scrolling(page)
    assert errors == []
