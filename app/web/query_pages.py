"""The analyst's query page: compose a question, see its cost and accuracy, ask it.

    GET  /query            the form, and the analyst's privacy budget for this period
    POST /query/preview    the form again, with the plan's cost and accuracy (no charge)
    POST /query/ask        the form again, with the released answer and what it cost

``add_routes`` puts them on the pages' router. No script: the form's two buttons post the
same fields to two addresses (``formaction``), and each answer re-renders the page with
the fields as they were sent. :class:`QueryFields` turns the form into the structured
query of ``privacy.release.spec``, which the release services validate and answer; a
refusal is shown on the page in the service's own words (its ``safe_detail``, which
names a field, never a submitted value).

Only differentially private answers are shown: every declared cell, its noisy value and
its 95% interval, as the service returned them (``answer_view.AnswerView``). The chart
draws every cell (``answer_chart``: bars, a heat map, or small multiples) and the table
has them all; a warning says when most cells are smaller than their own noise. The
preview states the noise in plain words, with the mechanism and plan in a disclosure.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from app.api.deps import get_ctx
from app.api.problems import PROBLEMS
from app.errors import HsclinkError, InvalidRequest
from app.formatting import dimension_label, dimension_value
from app.services import web_auth
from app.services.context import ServiceContext
from app.services.release import budgets, queries
from app.services.release.ledger import BudgetView
from app.web.answer_view import AnswerRow, AnswerView
from app.web.pages import PageActor, allowed, check_csrf, render
from privacy.release.catalogue import (
    ADMISSION_TYPES,
    ASC,
    DATASETS,
    NHS,
    NUMERIC_DATASET,
    SUPPORT_TERMS,
    build_catalogue,
)

__all__ = [
    "MEASURES",
    "AnswerRow",
    "AnswerView",
    "QueryFields",
    "add_routes",
    "ask",
    "dimension_value",
    "preview",
    "query_page",
]

#: The measures the form offers: (value, label). ``sum:x``/``mean:x`` read attribute x.
MEASURES: tuple[tuple[str, str], ...] = (
    ("persons", "Number of people"),
    ("records", "Number of records"),
    ("mean:length_of_stay", "Mean length of stay (days, hospital)"),
    ("sum:length_of_stay", "Total length of stay (days, hospital)"),
    ("mean:weekly_cost", "Mean weekly cost (pounds, social care)"),
    ("sum:weekly_cost", "Total weekly cost (pounds, social care)"),
)
#: The datasets a count can read, in the catalogue's words (``privacy.release.labels``).
_DATASETS = (("", "any dataset"), *((d, dimension_value("dataset", d)) for d in DATASETS))
_COMBINES = (
    ("sum", "the total of their records"),
    ("mean", "the mean of their records"),
    ("max", "the largest of their records"),
)

QueryAsker = Annotated[web_auth.BrowserSession, Depends(PageActor("query.preview", "queries"))]
QueryRunner = Annotated[web_auth.BrowserSession, Depends(PageActor("query.run", "queries"))]


def add_routes(router: APIRouter) -> None:
    """Add these pages to the pages' router (``routes.router``), route by route, so the
    route-policy test sees each page's gate (see ``linkage_pages.add_routes``)."""
    router.get("/query", response_class=HTMLResponse)(query_page)
    router.post("/query/preview", response_class=HTMLResponse)(preview)
    router.post("/query/ask", response_class=HTMLResponse)(ask)


# --------------------------------------------------------------------------- the form


class QueryFields(BaseModel):
    """The form as posted. Every field is text; :meth:`to_query` gives it meaning."""

    csrf_token: str = Field(default="", max_length=100)
    measure: str = Field(default="persons", max_length=40)
    dataset: str = Field(default="", max_length=40)
    combine: str = Field(default="sum", max_length=10)
    has_nhs: str = Field(default="", max_length=10)
    has_asc: str = Field(default="", max_length=10)
    admission_type: str = Field(default="", max_length=40)
    support_term: str = Field(default="", max_length=40)
    period_from: str = Field(default="", max_length=10)
    period_to: str = Field(default="", max_length=10)
    group_1: str = Field(default="", max_length=40)
    group_2: str = Field(default="", max_length=40)
    by: str = Field(default="epsilon", max_length=10)
    epsilon: str = Field(default="0.5", max_length=30)
    half_width: str = Field(default="", max_length=30)
    project: str = Field(default="", max_length=40)

    def to_query(self) -> dict[str, Any]:
        """The structured query (see ``privacy/release/spec.py``) this form asks.

        Admission type and support term narrow the measured records when the measure
        reads that dataset, and otherwise ask that the person has such a record; the
        period applies to the measured records and to every "has" condition.
        """
        kind, _, attribute = self.measure.partition(":")
        if kind not in ("persons", "records", "sum", "mean") or bool(attribute) != (
            kind in ("sum", "mean")
        ):
            raise InvalidRequest("measure: choose one of the listed measures")
        measure: dict[str, Any] = {"kind": kind}
        if attribute:
            if attribute not in NUMERIC_DATASET:
                raise InvalidRequest("measure: choose one of the listed measures")
            measure |= {"attribute": attribute, "combine": self.combine or "sum"}
            measured: str | None = NUMERIC_DATASET[attribute]
        else:
            measured = self.dataset or None
            if measured is not None:
                measure["dataset"] = measured
        query: dict[str, Any] = {"measure": measure}

        group_by = [g for g in (self.group_1, self.group_2) if g]
        if len(group_by) == 2 and group_by[0] == group_by[1]:
            raise InvalidRequest("group by: choose two different dimensions")
        if group_by:
            query["group_by"] = group_by

        period = None
        if self.period_from or self.period_to:
            if not (self.period_from and self.period_to):
                raise InvalidRequest("period: give both its first and its last day")
            period = {"from": self.period_from, "to": self.period_to, "match": "start"}
            query["period"] = period

        records: list[dict[str, Any]] = []
        has: dict[str, list[dict[str, Any]]] = {}
        if self.has_nhs:
            has[NHS] = []
        if self.has_asc:
            has[ASC] = []
        for dataset, attribute_name, value in (
            (NHS, "admission_type", self.admission_type),
            (ASC, "support_term", self.support_term),
        ):
            if not value:
                continue
            condition = {"attribute": attribute_name, "in": [value]}
            if measured == dataset:
                records.append(condition)
            else:
                has.setdefault(dataset, []).append(condition)
        filters: dict[str, Any] = {}
        if records:
            filters["records"] = records
        if has:
            filters["exists"] = [
                {"dataset": dataset, "records": conditions} | ({"period": period} if period else {})
                for dataset, conditions in has.items()
            ]
        if filters:
            query["filters"] = filters

        if self.by == "target":
            query["target"] = {"half_width": _number(self.half_width, "target half-width")}
        else:
            query["epsilon"] = _number(self.epsilon, "epsilon")
        return query


def _number(text: str, field: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise InvalidRequest(f"{field}: a number, such as 0.5") from None


# --------------------------------------------------------------------------- routes


def query_page(request: Request, browser: QueryAsker) -> Response:
    return _render(request, browser, QueryFields())


def preview(
    request: Request, browser: QueryAsker, fields: Annotated[QueryFields, Form()]
) -> Response:
    """Cost and accuracy of the form's query: no data read, nothing charged."""
    ctx = get_ctx(request)
    check_csrf(ctx, browser, fields.csrf_token, "query.preview")
    try:
        shown = queries.preview_query(ctx, actor=browser.actor, query=fields.to_query())
    except HsclinkError as error:
        return _render(request, browser, fields, error=error)
    return _render(request, browser, fields, preview=shown)


def ask(request: Request, browser: QueryRunner, fields: Annotated[QueryFields, Form()]) -> Response:
    """The release: charged (unless a repeat), answered once, stored, then shown."""
    ctx = get_ctx(request)
    check_csrf(ctx, browser, fields.csrf_token, "query.run")
    try:
        released = queries.run_query(
            ctx,
            actor=browser.actor,
            query=fields.to_query(),
            today=date.today(),
            project=fields.project or None,
        )
    except HsclinkError as error:
        return _render(request, browser, fields, error=error)
    max_epsilon = ctx.policy.rules.release.max_epsilon_per_query
    answer = AnswerView.of(released, max_epsilon=max_epsilon)
    return _render(request, browser, fields, answer=answer)


def _render(
    request: Request,
    browser: web_auth.BrowserSession,
    fields: QueryFields,
    *,
    error: HsclinkError | None = None,
    preview: queries.QueryPreview | None = None,
    answer: AnswerView | None = None,
) -> Response:
    ctx = get_ctx(request)
    own = _own_budgets(ctx, browser)
    status = 200
    if error is not None:
        status = next((PROBLEMS[c][0] for c in type(error).__mro__ if c in PROBLEMS), 400)
    catalogue = build_catalogue(ctx.policy.rules.release_policy)
    return render(
        request,
        "query.html",
        status,
        actor=browser.actor,
        csrf_token=browser.csrf_token,
        fields=fields,
        measures=MEASURES,
        datasets=_DATASETS,
        combines=_COMBINES,
        admission_types=ADMISSION_TYPES,
        support_terms=[(term, dimension_value("support_term", term)) for term in SUPPORT_TERMS],
        dimensions=[
            (name, dimension_label(name), _dimension_label(dim.datasets))
            for name, dim in catalogue.dimensions.items()
        ],
        max_epsilon=ctx.policy.rules.release.max_epsilon_per_query,
        reference_cell_persons=catalogue.policy.reference_cell_persons,
        budgets=None if own is None else [b for b in own if b.kind != "global"],
        global_budget=next((b for b in own or [] if b.kind == "global"), None),
        min_epsilon=ctx.policy.rules.release.min_epsilon_per_query,
        analyst_budget=next((b for b in own or [] if b.kind == "analyst"), None),
        projects=[b.subject for b in own or [] if b.kind == "project"],
        can_ask=allowed(ctx, browser.actor, "query.run", "queries"),
        error=error,
        preview=preview,
        answer=answer,
    )


def _own_budgets(ctx: ServiceContext, browser: web_auth.BrowserSession) -> list[BudgetView] | None:
    """The analyst's budgets (and their projects'), or None when the role may not read them."""
    if not allowed(ctx, browser.actor, "budget.read", "budget"):
        return None
    return budgets.budgets_of(ctx, actor=browser.actor, today=date.today(), with_global=True)


def _dimension_label(datasets: tuple[str, ...]) -> str:
    if datasets == (NHS,):
        return " (hospital)"
    if datasets == (ASC,):
        return " (social care)"
    return ""
