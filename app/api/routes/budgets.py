"""Privacy budgets and projects.

    GET  /api/v1/budget                          the caller's own budgets (analysts), and
                                                 the linked data's global budget
    GET  /api/v1/budgets                         every budget of the period, and the global
                                                 budget (IG officers)
    PUT  /api/v1/budgets/global                  set or renew the global budget (IG officers)
    PUT  /api/v1/budgets/{kind}/{subject}        set a total (IG officers, within policy)
    POST /api/v1/projects                        create a project (IG officers)
    POST /api/v1/projects/{code}/members         add an analyst to a project (IG officers)

Amounts are in the ledger's unit (epsilon); each analyst's or project's budget belongs
to one period. The global budget (``kind`` "global", ``subject`` "lineage:<id>",
``period`` "G<generation>") has none: only an IG officer's renewal starts it afresh.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from app.api import API_PREFIX
from app.api.deps import Authorized, Ctx
from app.api.openapi import problems
from app.auth.actor import Actor
from app.services.release import budgets
from app.services.release.ledger import BudgetView

router = APIRouter(prefix=API_PREFIX)


class BudgetOut(BaseModel):
    """A privacy budget: its total, what is spent and what is left, in epsilon."""

    kind: str = Field(description="analyst, project or global (the linked data's)")
    subject: str = Field(
        description="The analyst's user name, the project's code, or lineage:<first snapshot "
        "id> for the global budget"
    )
    period: str = Field(
        description="The budget period, e.g. FY2025-26 or 2025-11; G<generation> for the "
        "global budget, which has none (G2 is its first renewal)"
    )
    total: float = Field(description="The total, in epsilon (kept to the micro-epsilon)")
    spent: float = Field(description="What releases have been charged, in epsilon")
    remaining: float = Field(description="total - spent, in epsilon")
    unit: str = Field(description="The unit of the amounts: epsilon")

    @classmethod
    def of(cls, view: BudgetView) -> BudgetOut:
        return cls(**view.__dict__)


class BudgetIn(BaseModel):
    """A budget's total for a period."""

    total: float = Field(
        ge=0,
        le=100,
        description="The total for the current period, in epsilon, rounded down to the "
        "micro-epsilon; within the policy's maximum and not below what is spent",
    )


class GlobalBudgetIn(BaseModel):
    """The global budget of the linked data."""

    total: float = Field(
        ge=0,
        le=100,
        description="The total, in epsilon, rounded down to the micro-epsilon; within the "
        "policy's maximum and, unless renewing, not below what is spent",
    )
    renew: bool = Field(
        default=False, description="Start a new generation with nothing spent (needs a reason)."
    )
    reason: str | None = Field(
        default=None,
        max_length=500,
        description="Why (10-500 characters when renewing; kept with the budget and audited)",
    )


class ProjectIn(BaseModel):
    """A new analysis project."""

    code: str = Field(
        min_length=2,
        max_length=40,
        description="A unique code: letters, digits, dashes and underscores, starting with a "
        "letter or digit",
    )
    name: str = Field(min_length=1, max_length=200, description="Its name")


class MemberIn(BaseModel):
    """An analyst to add to a project."""

    username: str = Field(min_length=1, max_length=64, description="The analyst's user name")


class ProjectOut(BaseModel):
    """An analysis project and its members."""

    code: str = Field(description="Its unique code")
    name: str = Field(description="Its name")
    members: list[str] = Field(description="Its analysts' user names")


@router.get("/budget", summary="Your own privacy budgets for this period (and your projects')")
def own_budget(
    ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("budget.read", "budget"))]
) -> list[BudgetOut]:
    """The caller's privacy budgets for this period, and those of their projects."""
    views = budgets.budgets_of(ctx, actor=actor, today=date.today(), with_global=True)
    return [BudgetOut.of(v) for v in views]


@router.get("/budgets", summary="Every privacy budget of this period")
def list_budgets(
    ctx: Ctx, actor: Annotated[Actor, Depends(Authorized("budget.list", "budgets"))]
) -> list[BudgetOut]:
    """Every analyst's and project's privacy budget of this period."""
    views = budgets.list_budgets(ctx, actor=actor, today=date.today(), with_global=True)
    return [BudgetOut.of(v) for v in views]


@router.put(
    "/budgets/global",
    summary="Set or renew the linked data's global budget",
    responses=problems(404, 409),
)
def set_global_budget(
    body: GlobalBudgetIn,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("budget.set", "budgets"))],
) -> BudgetOut:
    """Sets or renews the global budget of the linked data; never below what is spent."""
    view = budgets.set_global_budget(
        ctx, actor=actor, total=body.total, renew=body.renew, reason=body.reason
    )
    return BudgetOut.of(view)


@router.put(
    "/budgets/{kind}/{subject}",
    summary="Set an analyst's or a project's budget",
    responses=problems(409),
)
def set_budget(
    body: BudgetIn,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("budget.set", "budgets"))],
    kind: Annotated[
        Literal["analyst", "project"], Path(description="Whose budget: an analyst's or a project's")
    ],
    subject: Annotated[
        str,
        Path(min_length=1, max_length=64, description="The analyst's user name or project's code"),
    ],
) -> BudgetOut:
    """Sets an analyst's or a project's budget for a period; never below what is spent."""
    view = budgets.set_budget(
        ctx, actor=actor, kind=kind, subject=subject, total=body.total, today=date.today()
    )
    return BudgetOut.of(view)


@router.post(
    "/projects",
    status_code=201,
    summary="Create an analysis project",
    responses=problems(409),
)
def create_project(
    body: ProjectIn,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("project.manage", "projects"))],
) -> ProjectOut:
    """Creates an analysis project, whose members can charge a shared budget."""
    view = budgets.create_project(ctx, actor=actor, code=body.code, name=body.name)
    return ProjectOut(**view.__dict__)


@router.post(
    "/projects/{code}/members",
    summary="Add an analyst to a project",
    responses=problems(409),
)
def add_member(
    body: MemberIn,
    ctx: Ctx,
    actor: Annotated[Actor, Depends(Authorized("project.manage", "projects"))],
    code: Annotated[str, Path(min_length=2, max_length=40, description="The project's code")],
) -> ProjectOut:
    """Adds an analyst to a project."""
    view = budgets.add_project_member(ctx, actor=actor, code=code, username=body.username)
    return ProjectOut(**view.__dict__)
