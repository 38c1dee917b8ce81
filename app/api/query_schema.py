"""The query language as typed JSON Schema: the shape ``privacy.release.spec`` parses.

These models publish the language (discriminated unions, names and declared values as
enums from ``privacy.release.catalogue``) in the OpenAPI document. They do not enforce
it: the route reads the JSON as sent and ``QuerySpec.from_json`` parses and validates it
inside the audited unit of work, as for the CLI, so a refused query is audited and each
rule has one definition. ``tests/api/test_openapi_contract.py`` holds the two together
(a model dumps back, by :meth:`Query.to_json`, to JSON the parser reads). Rules that
span fields (a dimension carried by the measured dataset, values in declared order,
epsilon within the policy's range...) are the parser's alone.

``month`` and ``financial_year`` values follow the policy in force
(``policies/release.toml``), so they are published as patterns, not enums.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from privacy.release.catalogue import DATASETS, NUMERIC_DATASET, PERSON, ReleasePolicy
from privacy.release.catalogue import build_catalogue as _build_catalogue
from privacy.release.spec import COMBINES, DATE_ATTRIBUTES, MAX_GROUP_BY, PERIOD_MATCHES

__all__ = ["Query"]

#: A date as ``YYYY-MM-DD`` only (not a timestamp), as the parser reads it.
#: (The parser checks it is a real date.)
IsoDate = Annotated[
    str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", json_schema_extra={"format": "date"})
]
_CATALOGUE = _build_catalogue(ReleasePolicy())
#: Dimensions whose domain the policy sets: a pattern, not the default policy's values.
_POLICY_DOMAINS = {"month": r"^\d{4}-\d{2}$", "financial_year": r"^\d{4}-\d{2}$"}
_MAX_RECORD_CONDITIONS = 20
_MAX_PERSON_CONDITIONS = 3
_MAX_SELECTIONS = 5

if TYPE_CHECKING:
    DatasetName = str
    DimensionName = str
    NumericName = str
    PersonCondition = dict[str, Any]
    RecordCondition = dict[str, Any]
else:
    DatasetName = Literal[DATASETS]
    DimensionName = Literal[tuple(_CATALOGUE.dimensions)]
    NumericName = Literal[tuple(NUMERIC_DATASET)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _in_condition(name: str) -> type[BaseModel]:
    """``{"attribute": name, "in": [...]}``: a model per dimension, its values an enum."""
    dimension = _CATALOGUE.dimensions[name]
    if name in _POLICY_DOMAINS:
        value: Any = Annotated[str, Field(pattern=_POLICY_DOMAINS[name])]
        values_note = "values as the policy declares them"
    else:
        value = Literal[dimension.values]
        values_note = "declared values, in declared order"
    level = "person" if dimension.level == PERSON else "record"
    tag: Any = Literal[name]
    title = "".join(part.title() for part in name.split("_")) + "In"
    return create_model(
        title,
        __base__=_Strict,
        __doc__=f"The {level}'s {name} is one of the listed values ({values_note}).",
        attribute=(tag, Field(description="The dimension")),
        in_=(
            list[value],
            Field(
                alias="in",
                min_length=1,
                max_length=len(dimension.values),
                description="One or more values, without repeats",
            ),
        ),
    )


class DateBetween(_Strict):
    """A record's start (``event_date``) or end (``end_date``) lies in a range of dates."""

    attribute: Literal[DATE_ATTRIBUTES] = Field(  # type: ignore[valid-type]
        description="The date attribute"
    )
    between: tuple[IsoDate, IsoDate] = Field(description="Low and high dates, both included")


class NumberBetween(_Strict):
    """A record's numeric attribute lies in a range (both ends included)."""

    attribute: NumericName = Field(description="The numeric attribute")
    between: tuple[float, float] = Field(description="Low and high numbers, both included")


_PERSON_MODELS = tuple(
    _in_condition(n) for n, d in _CATALOGUE.dimensions.items() if d.level == PERSON
)
_RECORD_MODELS = (
    *(_in_condition(n) for n, d in _CATALOGUE.dimensions.items() if d.level != PERSON),
    DateBetween,
    NumberBetween,
)
if not TYPE_CHECKING:
    PersonCondition = Annotated[Union[_PERSON_MODELS], Field(discriminator="attribute")]  # noqa: UP007
    RecordCondition = Annotated[Union[_RECORD_MODELS], Field(discriminator="attribute")]  # noqa: UP007


class Period(_Strict):
    """Dates from ``from`` to ``to`` (both included), matched on a record's start, end or
    any overlap."""

    start: IsoDate = Field(alias="from", description="The first day")
    end: IsoDate = Field(alias="to", description="The last day (not before from)")
    match: Literal[PERIOD_MATCHES] = Field(  # type: ignore[valid-type]
        default="start", description="Which of a record's dates must fall in the period"
    )


class Selection(_Strict):
    """Records of a dataset (every dataset when omitted) meeting every condition."""

    dataset: DatasetName | None = Field(default=None, description="The dataset")
    records: list[RecordCondition] = Field(
        default=[], max_length=_MAX_RECORD_CONDITIONS, description="Conditions on the records"
    )
    period: Period | None = Field(default=None, description="The records' period")


class Filters(_Strict):
    """Which persons and records are counted."""

    persons: list[PersonCondition] = Field(
        default=[], max_length=_MAX_PERSON_CONDITIONS, description="Conditions on the person"
    )
    records: list[RecordCondition] = Field(
        default=[],
        max_length=_MAX_RECORD_CONDITIONS,
        description="Conditions on the measured records",
    )
    exists: list[Selection] = Field(
        default=[], max_length=_MAX_SELECTIONS, description="The person has such records"
    )
    not_exists: list[Selection] = Field(
        default=[], max_length=_MAX_SELECTIONS, description="The person has no such records"
    )


class CountMeasure(_Strict):
    """Count linked persons, or their records (at most the policy's k per person)."""

    kind: Literal["persons", "records"] = Field(description="What is counted")
    dataset: DatasetName | None = Field(
        default=None, description="Only this dataset's records (default: every dataset)"
    )


class NumericMeasure(_Strict):
    """Sum or mean of a numeric attribute, combined per person then clipped."""

    kind: Literal["sum", "mean"] = Field(description="The statistic")
    attribute: NumericName = Field(description="The numeric attribute")
    dataset: DatasetName | None = Field(
        default=None, description="The attribute's own dataset (it is implied)"
    )
    combine: Literal[COMBINES] = Field(  # type: ignore[valid-type]
        default="sum", description="How a person's records combine into one value"
    )


class QuantileMeasure(NumericMeasure):
    """Quantiles of a numeric attribute over persons."""

    kind: Literal["quantile"] = Field(description="The statistic")  # type: ignore[assignment]
    quantiles: list[Annotated[float, Field(gt=0, lt=1)]] = Field(
        min_length=1,
        description="Distinct quantiles strictly between 0 and 1 (at most the policy's number)",
    )


Measure = Annotated[CountMeasure | NumericMeasure | QuantileMeasure, Field(discriminator="kind")]


class Target(_Strict):
    """The wanted 95% half-width; the service finds the epsilon that gives it."""

    half_width: float = Field(gt=0, lt=1e12, description="In the measure's unit")
    cell_persons: int | None = Field(
        default=None,
        ge=1,
        le=10**9,
        description="Means only: the cell size the half-width is stated for",
    )


class Query(_Strict):
    """A structured, differentially private question (never code).

    Give exactly one of ``epsilon`` and ``target``.
    """

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["epsilon"]}, {"required": ["target"]}]}
    )

    measure: Measure = Field(description="What is measured")
    group_by: list[DimensionName] = Field(
        default=[],
        max_length=MAX_GROUP_BY,
        json_schema_extra={"uniqueItems": True},
        description="Up to three distinct dimensions; every cell of their domain is released",
    )
    period: Period | None = Field(default=None, description="The measured records' period")
    filters: Filters | None = Field(default=None, description="Which persons and records count")
    epsilon: float | None = Field(
        default=None, gt=0, le=1e6, description="The privacy cost to spend (within the policy)"
    )
    target: Target | None = Field(default=None, description="Or: the accuracy wanted")

    def to_json(self) -> dict[str, Any]:
        """The query as the analyst sent it, for ``QuerySpec.from_json``."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)
