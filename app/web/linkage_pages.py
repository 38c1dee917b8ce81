"""Linkage pages: recent runs (and, for operators, a form to start one) and run reports.

    GET  /linkage                         recent runs; the start form if linkage.run is allowed
    POST /linkage/runs                    start a run as the API does, then back to /linkage
    GET  /linkage/snapshots/latest        the latest snapshot's run report
    GET  /linkage/snapshots/{id}          a snapshot's run report

``add_routes`` puts them on the pages' router. The report is the service's
``SnapshotReport`` as it stands: counts already under disclosure control (``*`` for a
suppressed count), shown as given and never as 0. Everything here only arranges and
formats; the match-weight chart is inline SVG drawn by ``charts.histogram_svg``. The
report opens with :func:`plain_summary`, sentences an IG officer can use, computed only
from the controlled counts and the model's estimates the report already shows.
No script: while a run is queued or running, the runs page asks the browser to reload
itself (``<meta http-equiv="refresh">``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from app.api.deps import RowId, get_ctx
from app.formatting import dimension_value
from app.jobs import run_in_background
from app.services import linkage, web_auth
from app.web.charts import histogram_svg
from app.web.pages import PageActor, allowed, check_csrf, render
from privacy.disclosure import SUPPRESSED
from privacy.release.catalogue import ASC, NHS

__all__ = [
    "REFRESH_SECONDS",
    "add_routes",
    "disclosure_rule",
    "latest_report_page",
    "linkage_page",
    "plain_summary",
    "report_page",
    "start_run",
]

#: How often the runs page reloads itself while a run is queued or running.
REFRESH_SECONDS = 2
RUNS_SHOWN = 50
_ACTIVE = ("queued", "running")

LinkageReader = Annotated[web_auth.BrowserSession, Depends(PageActor("linkage.read", "linkage"))]
LinkageRunner = Annotated[web_auth.BrowserSession, Depends(PageActor("linkage.run", "linkage"))]


def add_routes(router: APIRouter) -> None:
    """Add these pages to the pages' router (``routes.router``), where every page is listed.

    Added route by route rather than as an included router, so each is an ``APIRoute``
    of that router and the route-policy test sees its gate like any other page's.
    """
    router.get("/linkage", response_class=HTMLResponse)(linkage_page)
    router.post("/linkage/runs")(start_run)
    # "latest" before "{snapshot_id}": the integer path parameter would refuse it.
    router.get("/linkage/snapshots/latest", response_class=HTMLResponse)(latest_report_page)
    router.get("/linkage/snapshots/{snapshot_id}", response_class=HTMLResponse)(report_page)


# --------------------------------------------------------------------------- runs


def linkage_page(request: Request, browser: LinkageReader) -> Response:
    ctx = get_ctx(request)
    runs = linkage.list_runs(ctx, actor=browser.actor, limit=RUNS_SHOWN)
    active = next((run for run in runs if run.status in _ACTIVE), None)
    return render(
        request,
        "linkage.html",
        actor=browser.actor,
        csrf_token=browser.csrf_token,
        runs=runs,
        active=active,
        has_snapshot=any(run.snapshot_id is not None for run in runs),
        can_run=allowed(ctx, browser.actor, "linkage.run", "linkage"),
        refresh_seconds=REFRESH_SECONDS if active else None,
    )


def start_run(
    request: Request,
    browser: LinkageRunner,
    mode: Annotated[Literal["incremental", "full"], Form()] = "incremental",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """``POST /api/v1/linkage/runs`` for the runs page: queue, start the job, show the list."""
    ctx = get_ctx(request)
    check_csrf(ctx, browser, csrf_token, "linkage.run")
    view = linkage.start_run(ctx, actor=browser.actor, mode=mode)
    run_in_background(f"linkage-run-{view.id}", lambda: linkage.run_in_service(ctx, view.id))
    return RedirectResponse("/linkage", status_code=303)


# --------------------------------------------------------------------------- reports


def latest_report_page(request: Request, browser: LinkageReader) -> Response:
    return _report_page(request, browser, None)


def report_page(
    snapshot_id: RowId,
    request: Request,
    browser: LinkageReader,
) -> Response:
    return _report_page(request, browser, snapshot_id)


def _report_page(
    request: Request, browser: web_auth.BrowserSession, snapshot_id: int | None
) -> Response:
    report = linkage.snapshot_report(get_ctx(request), actor=browser.actor, snapshot_id=snapshot_id)
    return render(
        request,
        "linkage_report.html",
        actor=browser.actor,
        csrf_token=browser.csrf_token,
        report=report,
        view=ReportView.of(report),
    )


@dataclass(frozen=True)
class Grouping:
    key: str
    heading: str
    column: str
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class ReportView:
    """The report's parts that need arranging or formatting before a template shows them."""

    summary: str
    threshold: str
    threshold_weight: str
    threshold_probability: str
    disclosure: str
    chart: Markup
    bins: list[tuple[str, str, int | str]]
    comparisons: list[dict[str, Any]]
    estimates: list[tuple[str, str]]
    groupings: list[Grouping]
    timings: list[tuple[str, str]]
    prior: str
    em: str

    @classmethod
    def of(cls, report: linkage.SnapshotReport) -> ReportView:
        model = report.model
        edges, counts = report.histogram["edges"], report.histogram["counts"]
        weight = float(model["threshold_weight"])
        fixed = report.settings.get("threshold", "model") != "model"
        rule = str(model.get("threshold_rule", ""))
        iterations = model.get("em_iterations", [])
        return cls(
            summary=plain_summary(report),
            threshold=(
                "fixed in the linkage policy"
                if fixed
                else f"chosen by the model: the weight that maximises its expected F1 ({rule})"
            ),
            threshold_weight=f"{weight:.2f}",
            threshold_probability=f"{float(model['threshold_probability']):.6f}",
            disclosure=disclosure_rule(
                report.disclosure["suppress_below"], report.disclosure["round_to"]
            ),
            chart=histogram_svg(edges, counts, weight),
            bins=[
                (_decimal(edges[i]), _decimal(edges[i + 1]), count)
                for i, count in enumerate(counts)
            ],
            comparisons=[
                {
                    "name": c["name"],
                    "term_frequency": bool(c.get("term_frequency")),
                    "trained_by": list(c.get("trained_by", [])),
                    "levels": [
                        {
                            "label": "null (a value is missing)"
                            if level["label"] == "null"
                            else level["label"],
                            "m": _probability(level["m"]),
                            "u": _probability(level["u"]),
                            "weight": _weight(level["match_weight"]),
                        }
                        for level in c["levels"]
                    ],
                }
                for c in model["comparisons"]
            ],
            estimates=[
                (label, f"{100 * float(report.estimates[key]):.1f}%")
                for key, label in (("precision", "Precision"), ("recall", "Recall"), ("f1", "F1"))
                if key in report.estimates
            ],
            groupings=[
                Grouping(key, heading, column, _grouping_rows(key, report.link_rates.get(key, [])))
                for key, heading, column in _GROUPINGS
            ],
            timings=[
                (_STAGES.get(stage, stage), f"{float(seconds):.3f} s")
                for stage, seconds in sorted(
                    report.timings.items(), key=lambda item: _STAGE_ORDER.get(item[0], 99)
                )
            ],
            prior=f"{float(model['prior']):.3g} (weight {_weight(model['prior_weight'])})",
            em=("converged" if model.get("em_converged") else "did not converge")
            + (
                f"; iterations per blocking rule: {', '.join(map(str, iterations))}"
                if iterations
                else ""
            ),
        )


def plain_summary(report: linkage.SnapshotReport) -> str:
    """The report in a few sentences: how many records became how many people, the share
    of social-care clients found in hospital data, and the model's own error estimates.

    Only what the report shows is used: counts under disclosure control (a share of two
    rounded counts is about right, and none is given where a count is suppressed) and
    the model's estimates of precision and recall (pairwise, not from a gold standard).
    """
    linked = f"{_count(report.records)} records were linked into {_count(report.persons)} people."
    sentences = [linked[0].upper() + linked[1:]]
    by_name = {str(d["dataset"]): d for d in report.datasets}
    several = report.persons_in_several_datasets
    if set(by_name) == {ASC, NHS}:
        clients = by_name[ASC]["persons"]
        share = _share(several, clients)
        if share is None:
            sentences.append(
                "Too few social-care clients were linked to say what share were found in"
                " hospital data."
            )
        else:
            sentences.append(
                f"About {share} of social-care clients were found in hospital data"
                f" ({_count(several)} of {_count(clients)} people)."
            )
    elif report.datasets:
        sentences.append(f"{_count(several)} people have records in more than one dataset.")
    precision, recall = report.estimates.get("precision"), report.estimates.get("recall")
    if precision is not None:
        false = max(0.0, 1.0 - float(precision))
        rate = "below 0.1%" if false < 0.001 else f"about {100 * false:.1f}%"
        sentence = f"The model estimates its false-match rate at {rate}"
        if recall is not None:
            sentence += f" and that it found about {100 * float(recall):.0f}% of true matches"
        sentences.append(sentence + ".")
    return " ".join(sentences)


def _count(value: object) -> str:
    """A controlled count in a sentence: ``*`` reads as a small number, never as 0."""
    if value == SUPPRESSED:
        return "a few (suppressed)"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _share(part: object, whole: object) -> str | None:
    """``part`` of ``whole`` as a whole percentage (at most 100%), or None if either
    count is suppressed or the whole is 0."""
    if not isinstance(part, int) or not isinstance(whole, int) or whole <= 0:
        return None
    return f"{min(100, round(100 * part / whole))}%"


def disclosure_rule(suppress_below: int, round_to: int) -> str:
    """The disclosure-control rule in words, as the report applies it to every count."""
    if suppress_below <= 1:
        suppressed = "no count is suppressed"
    elif suppress_below == 2:
        suppressed = "a count of 1 is suppressed (*)"
    else:
        suppressed = f"counts from 1 to {suppress_below - 1} are suppressed (*)"
    rounded = (
        "others shown exactly" if round_to <= 1 else f"others rounded to the nearest {round_to}"
    )
    return f"{suppressed}, {rounded}"


_GROUPINGS = (
    ("borough", "By borough", "Borough"),
    ("age_band", "By age band", "Age band"),
    ("sex", "By sex", "Sex"),
)
_STAGES = {
    "prepare": "Preparing records",
    "blocking": "Blocking",
    "comparison": "Comparing pairs",
    "em": "Training (EM)",
    "clustering": "Clustering",
    "total": "Total",
}
_STAGE_ORDER = {stage: index for index, stage in enumerate(_STAGES)}
_LEADING_NUMBER = re.compile(r"^\d+")


def _grouping_rows(key: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in natural order (age band 5-9 before 10-14; "unknown" last), values labelled."""

    def order(row: dict[str, Any]) -> tuple[int, int, str]:
        value = str(row["value"])
        number = _LEADING_NUMBER.match(value)
        if value == "unknown":
            return (2, 0, value)
        return (0, int(number.group()), value) if number else (1, 0, value)

    labelled = []
    for row in sorted(rows, key=order):
        value = str(row["value"])
        labelled.append({**row, "label": dimension_value(key, value)})
    return labelled


def _decimal(value: float) -> str:
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _weight(value: float) -> str:
    """A match weight in bits with its sign; a rounding-level value is 0.00, not -0.00."""
    value = float(value)
    return "0.00" if abs(value) < 0.005 else f"{value:+.2f}"


def _probability(value: float) -> str:
    value = float(value)
    return f"{value:.1e}" if 0 < value < 0.001 else f"{value:.4f}"
