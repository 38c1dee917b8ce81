"""The policy in force in plain words: what each role may do, the disclosure and budget
rules, the SHA-256 of what is in force, and its source files as an appendix.

What each role may do is read off the policy by asking Cedar (``app.policy.matrix``),
never from the Cedar text; the words come from ``policies/labels/labels.toml``
(``app.policy.labels``); the rules' sentences are built from the parsed TOML rules, so
the page says what the service enforces. One ``PlainPolicy`` feeds the page
(``/policy``) and ``hsclink policy show --plain`` alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.auth.actor import Actor
from app.policy.engine import SCHEMA_FILE, PolicySet
from app.policy.labels import Labels, load_labels
from app.policy.matrix import Cell, Matrix, policy_matrix
from app.policy.rules import Rules
from app.services.context import ServiceContext
from app.services.unit import unit_of_work

__all__ = [
    "PlainPolicy",
    "RoleText",
    "SourceFile",
    "TableGroup",
    "TableRow",
    "cell_text",
    "labels_of",
    "matrix_of",
    "plain_policy",
    "rule_sentences",
    "show_plain_policy",
]


@dataclass(frozen=True)
class RoleText:
    role: str
    title: str
    #: People holding the role, as a heading ("Submitters").
    plural: str
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class TableRow:
    action: str
    label: str
    #: One (text, allowed) per role, in the order of ``PlainPolicy.roles``.
    cells: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TableGroup:
    title: str
    rows: tuple[TableRow, ...]


@dataclass(frozen=True)
class SourceFile:
    name: str
    text: str


@dataclass(frozen=True)
class PlainPolicy:
    sha256: str
    general: tuple[str, ...]
    roles: tuple[RoleText, ...]
    table: tuple[TableGroup, ...]
    disclosure: tuple[str, ...]
    release: tuple[str, ...]
    linkage: tuple[str, ...]
    sources: tuple[SourceFile, ...]
    matrix: Matrix

    def text(self) -> str:
        """Every sentence, as ``hsclink policy show --plain`` prints it."""
        parts = ["The rules in force, in plain words", "", *self.general, ""]
        for role in self.roles:
            parts += [
                f"{role.title[0].upper()}{role.title[1:]}s ({role.role})",
                *role.sentences,
                "",
            ]
        parts += ["Disclosure control", *self.disclosure, ""]
        parts += ["Privacy budgets and questions", *self.release, ""]
        parts += ["Linkage", *self.linkage, ""]
        parts += [f"Policy SHA-256 {self.sha256}"]
        return "\n".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "general": list(self.general),
            "roles": {r.role: list(r.sentences) for r in self.roles},
            "disclosure": list(self.disclosure),
            "release": list(self.release),
            "linkage": list(self.linkage),
            **self.matrix.as_dict(),
        }


def labels_of(ctx: ServiceContext) -> Labels:
    """The labels, read once per service context."""
    cached = ctx.caches.get("policy-labels")
    if not isinstance(cached, Labels):
        cached = load_labels(ctx.settings.policy_dir)
        ctx.caches["policy-labels"] = cached
    return cached


def matrix_of(ctx: ServiceContext) -> Matrix:
    """The role x action matrix of the policy in force (asked once per policy hash)."""
    key = f"policy-matrix:{ctx.policy.sha256}"
    cached = ctx.caches.get(key)
    if not isinstance(cached, Matrix):
        cached = policy_matrix(ctx.policy)
        ctx.caches[key] = cached
    return cached


def show_plain_policy(ctx: ServiceContext, *, actor: Actor | None) -> PlainPolicy:
    """The policy in plain words; ``actor`` None is the CLI on the host (not audited)."""
    shown = plain_policy(ctx.policy, labels_of(ctx), matrix_of(ctx))
    if actor is not None:
        with unit_of_work(ctx, actor, "policy.read", target=f"policy:{ctx.policy.sha256[:16]}"):
            pass
    return shown


# --------------------------------------------------------------------------- roles


def _join(phrases: Sequence[str]) -> str:
    """``a, b and c``; with semicolons when a phrase has commas of its own."""
    if len(phrases) <= 2:
        return " and ".join(phrases)
    if any("," in p or "(" in p for p in phrases):
        return "; ".join(phrases[:-1]) + "; and " + phrases[-1]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _or(words: Sequence[str]) -> str:
    return " or ".join(words)


def _condition_words(condition: str, labels: Labels) -> str:
    parts = []
    for part in condition.split(";"):
        kind, _, value = part.partition(":")
        if kind == "own":
            parts.append(labels.own_records.get(value, "only their own records"))
        elif kind == "kinds":
            parts.append(f"only if their organisation is a {_or(value.split(','))}")
        elif kind == "never":
            parts.append(f"never on a single {value.lower()}")
        else:
            parts.append("under conditions the rules in the appendix state")
    return "; ".join(parts)


def cell_text(cell: Cell, labels: Labels) -> str:
    """A table cell: Yes, No, or the condition in a few words."""
    if cell.allowed == "always":
        return "Yes"
    if cell.allowed == "never":
        return "No"
    words = "; ".join(_condition_words(c, labels) for c in cell.conditions)
    return words[0].upper() + words[1:] if words else "Under conditions"


def _role_text(role: str, labels: Labels, matrix: Matrix) -> RoleText:
    known = labels.roles.get(role)
    sentences = [known.summary] if known else []
    by_area: dict[str, list[str]] = {}
    for action in matrix.actions:
        cell = matrix.cell(role, action)
        if cell.allowed == "never":
            continue
        label = labels.actions.get(action)
        phrase = label.sentence if label else f"do {action}"
        if cell.conditions:
            phrase += ", but " + "; ".join(_condition_words(c, labels) for c in cell.conditions)
        by_area.setdefault(label.area if label else "", []).append(phrase)
    for area in [*labels.areas, ""]:
        if area in by_area:
            intro = labels.areas[area].intro if area else "Also,"
            sentences.append(f"{intro} they may {_join(by_area[area])}.")
    sentences.append("They may do nothing else." if by_area else "The policy permits them nothing.")
    return RoleText(
        role, known.title if known else role, known.plural if known else role, tuple(sentences)
    )


def _table(labels: Labels, matrix: Matrix) -> tuple[TableGroup, ...]:
    rows: dict[str, list[TableRow]] = {}
    for action in matrix.actions:
        label = labels.actions.get(action)
        cells = tuple(
            (cell_text(matrix.cell(role, action), labels), matrix.cell(role, action).allowed)
            for role in matrix.roles
        )
        area = label.area if label else ""
        rows.setdefault(area, []).append(TableRow(action, label.label if label else action, cells))
    order = [a for a in labels.areas if a in rows] + ([""] if "" in rows else [])
    return tuple(
        TableGroup(labels.areas[a].title if a else "Other actions", tuple(rows[a])) for a in order
    )


def _general(matrix: Matrix, labels: Labels) -> tuple[str, ...]:
    sentences = [
        "Anything these rules do not permit is refused, and every refusal is audited.",
    ]
    if not matrix.disabled_allowed:
        sentences.append("A disabled account may do nothing at all.")
    else:
        pairs = ", ".join(
            f"{labels.role_title(r)}: {labels.actions[a].label if a in labels.actions else a}"
            for r, a in matrix.disabled_allowed
        )
        sentences.append(f"A disabled account may still do this: {pairs}.")
    return tuple(sentences)


# --------------------------------------------------------------------------- rules


def _n(value: float) -> str:
    return f"{value:g}"


_PERIODS = {
    "financial_year": ("financial year (1 April to 31 March)", "financial year"),
    "month": ("calendar month", "month"),
}


def rule_sentences(rules: Rules) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The disclosure, release and linkage rules (``policies/*.toml``) in sentences."""
    control = rules.disclosure
    if control.suppress_below > 1:
        small = (
            f"a count from 1 to {control.suppress_below - 1} is suppressed (shown as *),"
            " zero is shown as 0,"
        )
    else:
        small = "no count is suppressed,"
    places = "decimal place" if control.rate_digits == 1 else "decimal places"
    disclosure = (
        "Counts in reports that are not differentially private (the linkage run report) are "
        f"shown under disclosure control: {small} and every other count is rounded to the "
        f"nearest multiple of {control.round_to} (never down to zero).",
        f"Percentages are shown to {control.rate_digits} {places}, and are suppressed when "
        "their numerator, or the rest of their denominator, is a suppressed count.",
    )
    budget = rules.release
    mechanism = rules.release_policy
    period, each = _PERIODS.get(budget.period, (budget.period, budget.period))
    release = [
        "Analysts receive only differentially private answers. Each answer's cost in privacy "
        "(epsilon, ε) is charged to the analyst's budget, to the project's when the question "
        "names a project, and to the linked data's global budget; a question that would "
        "overspend any of them is refused.",
        f"One question costs at least ε {_n(budget.min_epsilon_per_query)} and at most "
        f"ε {_n(budget.max_epsilon_per_query)}; a question outside that range is refused "
        "before any work.",
        f"An IG officer may give an analyst at most ε {_n(budget.max_analyst_budget)} and a "
        f"project at most ε {_n(budget.max_project_budget)} per {period}; each {each} "
        "starts with nothing spent.",
        "An analyst or a project has no budget, and so cannot ask, until an IG officer sets one.",
        "The linked data's global budget, shared by every analyst and project, is at most "
        f"ε {_n(budget.max_global_budget)}. Until an IG officer sets it, it is "
        f"ε {_n(budget.max_global_budget)}. It never renews by itself: only an IG officer "
        "renews it, giving a reason that is audited.",
        f"Each person counts at most {mechanism.records_per_person} of their records in a "
        f"records count, and in at most {mechanism.cells_per_person} cells of a table "
        "grouped by a record-level dimension.",
        f"A question may have at most {mechanism.max_cells:,} cells and "
        f"{mechanism.max_quantiles} quantiles; months run from {mechanism.first_month} to "
        f"{mechanism.last_month}.",
    ]
    for attribute in mechanism.attributes:
        release.append(
            f"Each person's {attribute.name.replace('_', ' ')} is clipped to between "
            f"{_n(attribute.lower)} and {_n(attribute.upper)} and rounded to a multiple of "
            f"{_n(attribute.resolution)}."
        )
    threshold = rules.linkage.threshold_weight
    if threshold is None:
        linked = (
            "Two records are linked as the same person when their match weight reaches the "
            "threshold each run's model chooses (the one that maximises its own estimate of "
            "pairwise F1)."
        )
    else:
        linked = (
            "Two records are linked as the same person when their match weight is at least "
            f"{_n(threshold)} bits (a fixed threshold set by policy)."
        )
    linkage = (
        linked,
        "Changing the threshold is a policy change: audited, and recorded in every snapshot.",
    )
    return disclosure, tuple(release), linkage


# --------------------------------------------------------------------------- the whole


def plain_policy(policy: PolicySet, labels: Labels, matrix: Matrix) -> PlainPolicy:
    disclosure, release, linkage = rule_sentences(policy.rules)
    sources = (
        SourceFile(SCHEMA_FILE, policy.schema_text),
        *(SourceFile(f.name, f.text) for f in policy.files),
        *(SourceFile(d.name, d.text) for d in policy.documents),
    )
    return PlainPolicy(
        sha256=policy.sha256,
        general=_general(matrix, labels),
        roles=tuple(_role_text(role, labels, matrix) for role in matrix.roles),
        table=_table(labels, matrix),
        disclosure=disclosure,
        release=release,
        linkage=linkage,
        sources=sources,
        matrix=matrix,
    )
