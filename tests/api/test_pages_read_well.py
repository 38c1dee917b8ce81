"""The oversight pages read well (issue 15): every page names an organisation or a
borough beside its code, and a stored answer (a register entry, the public register)
reads exactly as a fresh one does on the query page.

One linked store per backend carries everything the pages show: submissions of the
trust (RAL) and the council, a linkage report, and one released answer too large to
chart (5,643 cells) whose small epsilon makes it mostly noise with negative counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db.models import Organisation, RegisterEntry, Submission
from app.services.context import ServiceContext
from app.services.release import public_register, register
from app.web.answer_chart import MAX_CHART_CELLS
from tests.api.test_page_views import sign_in
from tests.api.test_queries_api import give_budget, officer
from tests.conftest import Person

TRUST = "Royal Free London NHS Foundation Trust (RAL)"
COUNCIL = "London Borough of Camden (E09000007)"
#: Grouped by all three, the answer has 33 x 9 x 19 = 5,643 cells: more than a chart draws.
LARGE = {
    "measure": {"kind": "persons", "dataset": "asc_clients"},
    "group_by": ["borough", "service_type", "age_band"],
    "epsilon": 0.05,
}
CELLS = 33 * 9 * 19
#: Codes the pages might show bare: the test organisations' and any London borough's.
CODE = re.compile(r"\b(?:RAL|HSCOPS|E09\d{6})\b")


@dataclass(frozen=True)
class Stored:
    entry_id: int
    snapshot_id: int
    trust_submission: int


@pytest.fixture
def stored(
    client: TestClient, ctx: ServiceContext, people: dict[str, Person], linked: int
) -> Stored:
    """The large answer released, published, and the public register switched on."""
    assert CELLS > MAX_CHART_CELLS
    give_budget(ctx, 1)
    asked = client.post(
        "/api/v1/queries",
        json={"query": LARGE},
        headers={"Authorization": f"Bearer {people['analyst'].token}"},
    )
    assert asked.status_code == 200, asked.text
    boss = officer(ctx)
    with ctx.sessions() as session:
        entry_id = session.scalars(
            select(RegisterEntry.id).where(
                RegisterEntry.release_id == asked.json()["release_id"],
                RegisterEntry.status == "released",
            )
        ).one()
        trust_submission = session.scalars(
            select(Submission.id)
            .join(Organisation, Submission.organisation_id == Organisation.id)
            .where(Organisation.code == "RAL")
            .limit(1)
        ).one()
    register.publish(ctx, actor=boss, entry_id=entry_id, published=True)
    public_register.configure(ctx, actor=boss, public=True)
    return Stored(entry_id, linked, trust_submission)


class _MainText(HTMLParser):
    """The text a person reads in ``<main>``: not attributes, and not the technical
    blocks (``<code>``, ``<pre>``: a structured query, an action's name) nor charts."""

    SKIP = frozenset({"code", "pre", "svg", "script", "style"})

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.skipping = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.depth += tag == "main"
        self.skipping += tag in self.SKIP

    def handle_endtag(self, tag: str) -> None:
        self.depth -= tag == "main"
        self.skipping -= tag in self.SKIP

    def handle_data(self, data: str) -> None:
        if self.depth and not self.skipping:
            self.parts.append(data)


def main_text(html: str) -> str:
    parser = _MainText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def bare_codes(text: str) -> list[str]:
    """Each code in ``text`` that is not in brackets after its name."""
    return [
        text[max(0, m.start() - 30) : m.end() + 5]
        for m in CODE.finditer(text)
        if not (text[m.start() - 1 : m.start()] == "(" and text[m.end() : m.end() + 1] == ")")
    ]


def page_as(client: TestClient, person: Person | None, path: str) -> str:
    if person is None:
        client.cookies.clear()
    else:
        sign_in(client, person)
    response = client.get(path)
    assert response.status_code == 200, (path, response.text[:500])
    return response.text


# --------------------------------------------------------------------------- names


def test_every_page_names_organisations_and_boroughs_beside_their_codes(
    client: TestClient, people: dict[str, Person], stored: Stored
) -> None:
    #: (who opens it, the page, a name it must show beside its code; None: no code on it)
    pages: list[tuple[str | None, str, str | None]] = [
        ("ig_officer", "/submissions", TRUST),
        ("ig_officer", "/submissions", COUNCIL),
        ("ig_officer", f"/submissions/{stored.trust_submission}", TRUST),
        ("submitter", "/submissions", TRUST),
        ("submitter", "/upload", TRUST),
        ("ig_officer", "/audit?organisation=RAL", TRUST),
        ("operator", "/admin/users", TRUST),
        ("operator", "/admin/tokens", TRUST),
        ("analyst", "/", COUNCIL),
        ("ig_officer", f"/linkage/snapshots/{stored.snapshot_id}", "Camden (E09000007)"),
        ("analyst", f"/releases/{stored.entry_id}", "City of London (E09000001)"),
        ("ig_officer", f"/releases/{stored.entry_id}", "Westminster (E09000033)"),
        (None, "/register", "City of London (E09000001)"),
        ("ig_officer", "/releases", None),
        ("ig_officer", "/budgets", None),
        ("ig_officer", "/linkage", None),
        ("analyst", "/query", None),
        ("operator", "/admin/keys", None),
    ]
    for role, path, named in pages:
        text = main_text(page_as(client, None if role is None else people[role], path))
        if named is not None:
            assert named in text, (role, path, named)
        assert bare_codes(text) == [], (role, path)


def test_the_audit_filter_offers_organisations_by_name_and_keeps_the_one_chosen(
    client: TestClient, people: dict[str, Person], stored: Stored
) -> None:
    html = page_as(client, people["ig_officer"], "/audit?organisation=RAL")
    assert f'<option value="RAL" selected>{TRUST}</option>' in html
    assert f'<option value="E09000007" >{COUNCIL}</option>' in html
    rows = re.findall(r'<tr class="outcome-[a-z]+">(.*?)</tr>', html, re.S)
    assert rows and all(f"<td>{TRUST}</td>" in row for row in rows)


def test_the_organisations_register_shows_each_code_beside_its_name(
    client: TestClient, people: dict[str, Person], stored: Stored
) -> None:
    html = page_as(client, people["operator"], "/admin/organisations")
    assert "<td>RAL</td><td>Royal Free London NHS Foundation Trust</td>" in html


# --------------------------------------------------------------------------- answers


def answer_checks(section: str, note_id: str) -> None:
    """What the query page shows of an answer (``_answer.html``), in one page's section."""
    text = main_text(f"<main>{section}</main>")
    assert 'data-testid="noise-warning"' in section
    assert "Most of this answer is noise" in text
    assert f"This answer has {CELLS:,} cells, too many to chart" in text
    assert "The chart shows the first" not in text
    negatives = section.count('class="value negative"')
    assert negatives > 0
    assert f'id="{note_id}" data-testid="negative-note">† {negatives:,}' in section
    assert section.count(f'aria-describedby="{note_id}"') == negatives
    assert "Each count may be off by up to about" in text
    body = section.split('data-testid="answer-table"', 1)[1]
    assert body.count("<tr>") == CELLS + 1  # the heading row and every cell


def test_a_register_entry_shows_its_answer_as_the_query_page_does(
    client: TestClient, people: dict[str, Person], stored: Stored
) -> None:
    html = page_as(client, people["ig_officer"], f"/releases/{stored.entry_id}")
    section = html.split('data-testid="answer"', 1)[1].split("</section>", 1)[0]
    answer_checks(section, "negative-note")


def test_the_public_register_shows_a_published_answer_as_the_query_page_does(
    client: TestClient, stored: Stored
) -> None:
    html = page_as(client, None, "/register")
    section = html.split(f'id="answer-{stored.entry_id}"', 1)[1].split("</section>", 1)[0]
    answer_checks(section, f"negative-note-{stored.entry_id}")
