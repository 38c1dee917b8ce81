"""The rules in force, in plain words, in a real Chromium: sentences and a role x action
table first, the source files only in a collapsed appendix, and a page of sensible length."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from app.policy.matrix import declared_actions
from app.services.context import ServiceContext
from tests.conftest import Person
from tests.web.test_pages import sign_in

SCREENSHOT = Path("/tmp/hsclink-policy.png")
#: The raw-Cedar-and-TOML page was about 6,700 px tall at this width (31 actions). The
#: plain page grows by a table row and a phrase per action: about 45 px.
RAW_PAGE_PX = 6_700
BASE_PX, PER_ACTION_PX = 3_000, 45
#: What raw Cedar or TOML looks like; none of it may appear outside the appendix.
SOURCE_MARKS = re.compile(
    r"permit\s*\(|forbid\s*\(|Hsclink::|@id\(|appliesTo|principal\b|resource\b|"
    r"when\s*\{|unless\s*\{|\bentity\b|^\s*\w+\s*=\s*\S|\[attributes",
    re.M,
)


def test_an_ig_officer_reads_the_policy_in_sentences_with_the_source_only_in_the_appendix(
    live_server: str, page: Page, ctx: ServiceContext, people: dict[str, Person]
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, people["ig_officer"])
    page.get_by_role("link", name="Authorisation rules in force").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The rules in force, in plain words")
    expect(page.get_by_test_id("policy-hash")).to_have_text(ctx.policy.sha256)

    submitters = page.get_by_test_id("role-submitter")
    expect(submitters).to_contain_text(
        "upload or resume an extract's bytes, but only their own organisation's submissions"
    )
    expect(page.get_by_test_id("role-analyst")).to_contain_text("They may do nothing else.")
    expect(page.get_by_text("A disabled account may do nothing at all.")).to_be_visible()
    expect(page.get_by_text("a count from 1 to 7 is suppressed")).to_be_visible()
    expect(page.get_by_text("at least ε 0.001 and at most ε 1")).to_be_visible()

    matrix = page.get_by_test_id("matrix")
    actions = matrix.locator("tr[data-action]")
    expect(actions).to_have_count(len(declared_actions(ctx.policy.schema_text)))
    headings = matrix.locator("thead th").all_inner_texts()
    assert headings == ["Action", "Council analyst", "IG officer", "Submitter", "Operator"]
    audit_row = matrix.locator("tr[data-action='audit.read'] td").all_inner_texts()
    assert audit_row == ["No", "Yes", "No", "No"]
    upload_row = matrix.locator("tr[data-action='submission.upload'] td").all_inner_texts()
    assert upload_row == ["No", "No", "Only their own organisation's submissions", "No"]

    # The source files are there, collapsed: none is open, none of their text shows.
    appendix = page.get_by_test_id("appendix")
    names = appendix.locator("summary").all_inner_texts()
    assert names[0] == "schema.cedarschema" and "40-analyst.cedar" in names
    assert appendix.locator("details[open]").count() == 0
    expect(appendix.locator("pre").first).to_be_hidden()
    # No raw Cedar or TOML anywhere else on the page.
    outside = page.evaluate(
        """() => {
            const main = document.querySelector("main").cloneNode(true);
            main.querySelector("#appendix").remove();
            return main.innerText;
        }"""
    )
    assert not SOURCE_MARKS.search(outside), SOURCE_MARKS.search(outside)

    height = page.evaluate("document.documentElement.scrollHeight")
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    actions = len(declared_actions(ctx.policy.schema_text))
    assert height < min(RAW_PAGE_PX, BASE_PX + PER_ACTION_PX * actions), (height, actions)

    # Opening a file shows its text.
    appendix.get_by_text("30-submitter.cedar").click()
    expect(appendix.locator("details[open] pre")).to_contain_text(
        "submitters-continue-and-read-their-own-submissions"
    )
