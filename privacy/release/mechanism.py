"""Run a plan on a snapshot: bound each person's contribution, then one OpenDP measurement.

1. **Select** (Polars, exact): the persons meeting the person filters and the ``exists`` /
   ``not_exists`` conditions; their measured records (dataset, conditions, period).
2. **Aggregate to the person**: one row per (person, cell) — a 0/1 presence, a count of
   at most ``k`` records, or the person's combined value clipped to the policy bounds and
   rounded to the attribute's resolution (an exact integer of resolution units) — and at
   most ``cells_per_person`` cells per person (their first ones in cell order).
3. **Sum per cell** into a dense integer vector over *every* declared cell, empty or not.
4. **Measure**: OpenDP discrete Laplace on that vector, built for this plan, its privacy
   map at the plan's sensitivity checked against the plan's epsilon, invoked once.
   Quantiles: OpenDP's private quantile selection per cell over the declared candidates.
5. **Post-process** noisy values only into values and 95% intervals.

The release holds the plan id, the epsilon, and per cell the dimension values, the noisy
value and its interval: nothing else derived from the data (no true or group sizes, no
"empty" flags). Nothing here raises because of a data value.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from privacy.release import dp
from privacy.release.accuracy import ALPHA, discrete_laplace_half_width
from privacy.release.catalogue import (
    DATASETS,
    PERSON,
    Catalogue,
    admission_type,
    build_catalogue,
)
from privacy.release.data import CODED_COLUMNS, MONTH_INDEX, ReleaseData, code_column
from privacy.release.plan import Plan, loss_limit
from privacy.release.spec import InCondition, Period, RangeCondition, RecordSelection

__all__ = ["Release", "ReleasedCell", "cell_aggregates", "run"]


@dataclass(frozen=True)
class ReleasedCell:
    """One cell of a release: its dimension values, one statistic, the noisy value.

    ``low``/``high`` bound the 95% interval (None for quantiles, whose accuracy is stated
    in persons of rank by the plan).
    """

    key: tuple[str, ...]
    statistic: str
    value: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Release:
    plan_id: str
    epsilon: float
    dimensions: tuple[str, ...]
    cells: tuple[ReleasedCell, ...]


# --------------------------------------------------------------------------- expressions


def _positions(catalogue: Catalogue, name: str, values: Sequence[str]) -> pl.Expr:
    """The position of each row's ``name`` in ``values`` (UInt32), or null if not there."""
    where = {v: i for i, v in enumerate(values)}
    if name == "admission_type":
        types = [where.get(admission_type(m) or "") for m in CODED_COLUMNS["admission_method"]]
        return _looked_up(types, "admission_method")
    if name == "support_term":
        long = where.get("long_term")
        short = where.get("short_term")
        service = pl.col("service_type")
        return (
            pl.when(service.str.starts_with("Long Term Support"))
            .then(pl.lit(long, dtype=pl.UInt32))
            .when(service.str.starts_with("Short Term Support"))
            .then(pl.lit(short, dtype=pl.UInt32))
            .otherwise(pl.lit(None, dtype=pl.UInt32))
        )
    if name == "month":
        keys = {int(v[:4]) * 12 + int(v[5:]) - 1: i for i, v in enumerate(values)}
        raw = pl.col(MONTH_INDEX)  # Int32
        first = min(keys, default=0)
        if list(keys) == list(range(first, first + len(keys))):
            # Consecutive months (the usual domain): a subtraction, not a lookup per record.
            inside = (raw >= first) & (raw <= first + len(keys) - 1)
            return pl.when(inside).then(raw - first).cast(pl.UInt32)
        return raw.cast(pl.Int64).replace_strict(keys, default=None, return_dtype=pl.UInt32)
    if name == "financial_year":
        keys = {int(v[:4]): i for i, v in enumerate(values)}
        # April to March: the year of the month three months before.
        raw = (pl.col(MONTH_INDEX).cast(pl.Int64) - 3) // 12
        return raw.replace_strict(keys, default=None, return_dtype=pl.UInt32)
    if name not in catalogue.dimensions:
        raise KeyError(name)
    if name == "dataset":
        # ReleaseData holds the dataset as an Enum of DATASETS: map its codes, no strings.
        codes = {DATASETS.index(v): i for i, v in enumerate(values) if v in DATASETS}
        if codes == {i: i for i in range(len(DATASETS))}:
            return pl.col("dataset").to_physical().cast(pl.UInt32)  # 1 ms, not 50, at 6 M
        return (
            pl.col("dataset")
            .to_physical()
            .cast(pl.Int64)
            .replace_strict(codes, default=None, return_dtype=pl.UInt32)
        )
    coded = CODED_COLUMNS.get(name)
    if coded is not None and set(values) <= set(coded):
        return _looked_up([where.get(v) for v in coded], name)
    return pl.col(name).cast(pl.Enum(list(values)), strict=False).to_physical().cast(pl.UInt32)


def _looked_up(positions: list[int | None], column: str) -> pl.Expr:
    """``positions[code]`` for each record's code of ``column`` (``ReleaseData.lazy_records``
    adds the codes): null where the code or its position is."""
    table = pl.Series(positions, dtype=pl.UInt32)
    return pl.lit(table).gather(pl.col(code_column(column)))


def _cell_expr(catalogue: Catalogue, plan: Plan, level: str, name: str = "cell") -> pl.Expr:
    """Row-major cell index over the plan's dimensions of one level (others count as 0)."""
    stride = 1
    total: pl.Expr = pl.lit(0, dtype=pl.Int64)
    for dim, domain in reversed(list(zip(plan.dimensions, plan.domains, strict=True))):
        if catalogue.dimensions[dim].level == level:
            total = total + _positions(catalogue, dim, domain).cast(pl.Int64) * stride
        stride *= len(domain)
    return total.alias(name)


def _in_period(period: Period) -> pl.Expr:
    start, end = pl.col("event_date"), pl.col("end_date")
    if period.match == "start":
        return start.is_between(period.start, period.end)
    if period.match == "end":
        return end.is_between(period.start, period.end)
    return (start <= period.end) & (end.is_null() | (end >= period.start))


def _selected(catalogue: Catalogue, selection: RecordSelection) -> pl.Expr:
    """Whether a record is in the selection (nulls and unknown values are not)."""
    keep: pl.Expr = pl.col("dataset").is_in(list(selection.datasets))
    for cond in selection.conditions:
        if isinstance(cond, InCondition):
            keep = keep & _positions(catalogue, cond.attribute, cond.values).is_not_null()
        else:
            assert isinstance(cond, RangeCondition)
            keep = keep & pl.col(cond.attribute).is_between(cond.low, cond.high)
    if selection.period is not None:
        keep = keep & _in_period(selection.period)
    return keep.fill_null(False)


def _record_mask(catalogue: Catalogue, selection: RecordSelection, data: ReleaseData) -> np.ndarray:
    """Per record of ``data``: whether it is in the selection (a boolean array)."""
    column = data.lazy_records().select(_selected(catalogue, selection).alias("in")).collect()
    return column["in"].to_numpy()


# --------------------------------------------------------------------------- aggregation


def _persons(plan: Plan, catalogue: Catalogue, data: ReleaseData) -> pl.LazyFrame:
    """One row per selected person: ``person_id``, their ``row`` in ``data.persons`` and
    ``pcell`` (person-level cell index).

    ``data.persons`` holds each person once (see :class:`ReleaseData`).
    """
    lazy = data.persons.lazy().with_row_index("row")
    for cond in plan.spec.person_filters:
        lazy = lazy.filter(_positions(catalogue, cond.attribute, cond.values).is_not_null())
    if plan.spec.exists:
        # Each condition marks the persons owning a selected record, by the record's person
        # row worked out once per snapshot: no set of ids to build and probe (0.86 -> 0.30 s
        # for social-care clients with an emergency admission at 6.3 M records).
        keep = np.ones(data.persons.height, dtype=bool)
        for condition in plan.spec.exists:
            owners = data.record_person_rows[_record_mask(catalogue, condition.selection, data)]
            present = np.zeros(data.persons.height, dtype=bool)
            present[owners[owners >= 0]] = True
            keep &= present if condition.present else ~present
        lazy = lazy.filter(pl.lit(pl.Series(keep)).gather(pl.col("row")))
    return lazy.select(
        "person_id", "row", _cell_expr(catalogue, plan, PERSON, "pcell")
    ).drop_nulls()


def cell_aggregates(plan: Plan, data: ReleaseData) -> list[np.ndarray]:
    """The exact, contribution-bounded aggregates the measurement is applied to.

    One integer vector per released statistic group, in cell order (for ``mean``: the
    centred sums then the scaled counts; for quantiles: one array of values per cell).
    Exposed for tests of the contribution bounds; never released.
    """
    catalogue = build_catalogue(plan.policy)
    n = plan.n_cells
    persons = _persons(plan, catalogue, data)
    kind = plan.spec.measure.kind
    if not plan.reads_records:
        cells = persons.select(pl.col("pcell").alias("cell")).collect()["cell"].to_numpy()
        return [np.bincount(cells, minlength=n).astype(np.int64)]
    selected = data.lazy_records().filter(_selected(catalogue, plan.spec.records))
    if all(catalogue.dimensions[d].level == PERSON for d in plan.dimensions):
        # Every cell is a person's cell: aggregate each person's records first (sorted
        # keys), then give the person their cell.
        return _person_cell_aggregates(plan, catalogue, selected, persons)
    rows = _record_rows(plan, catalogue, data, persons)
    capped = plan.cells_per_person < _record_cells(plan, catalogue)
    if kind == "persons":
        # One (person, cell) pair per key; a person's cells in cell order are their keys
        # in order (keys sort by person row, then cell).
        keys = np.unique(rows.person * n + rows.cell)
        if capped:
            first = _among_first(keys // n, plan.cells_per_person)
            keys = keys if first is None else keys[first]
        return [np.bincount(keys % n, minlength=n).astype(np.int64)]
    if kind == "records":
        return [_first_record_counts(rows, data, plan.policy.records_per_person, n)]
    # Each (person, cell)'s records combined, as for person-level cells: each record
    # clipped first (no sum of values, four of 1.7e308 say, can overflow into an infinity
    # or a NaN), then a sequential pass per run of the stably sorted keys (a Polars
    # group-by's float sums vary in their last bits with its threads; these do not).
    attribute = plan.spec.measure.attribute or ""
    column = rows.columns[attribute]
    has = (column.is_not_null() & column.is_finite()).fill_null(False).to_numpy()
    keys = rows.person * n + rows.cell
    values = column.to_numpy().astype(np.float64)
    if not bool(has.all()):
        keys, values = keys[has], values[has]
    bounds = plan.policy.attribute(attribute)
    np.clip(values, bounds.lower, bounds.upper, out=values)
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    combined, starts = _combine_runs(keys, values, plan.spec.measure.combine or "sum")
    keys = keys[starts]
    if capped:
        first = _among_first(keys // n, plan.cells_per_person)
        if first is not None:
            keys, combined = keys[first], combined[first]
    return _numeric_aggregates(plan, catalogue, keys % n, np.asarray(combined, dtype=np.float64))


def _combine_runs(
    keys: np.ndarray, values: np.ndarray, combine: str
) -> tuple[np.ndarray, np.ndarray]:
    """The values of each run of equal (sorted) ``keys`` combined; the runs' starts."""
    if not keys.size:
        return values[:0], keys[:0].astype(np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    if combine == "max":
        return np.maximum.reduceat(values, starts), starts
    combined = np.add.reduceat(values, starts)
    if combine == "mean":
        combined = combined / np.diff(np.r_[starts, keys.size])
    return combined, starts


@dataclass(frozen=True)
class _Rows:
    """The selected records of persons selected, in a cell, in record order (so sorted by
    person): their row, their person's row in ``data.persons``, their cell (Int64 numpy
    arrays) and any attribute the measure reads.

    Keys ``person * n_cells + cell`` and ``date rank * n_cells + cell`` fit in Int64:
    rows are below 2**32 (Polars) and ``max_cells`` at most 10**7 (the policy's limit)."""

    row: np.ndarray
    person: np.ndarray
    cell: np.ndarray
    columns: dict[str, pl.Series]


def _record_rows(
    plan: Plan, catalogue: Catalogue, data: ReleaseData, persons: pl.LazyFrame
) -> _Rows:
    """Each selected record with its person's cell added to its own: the inner join on
    ``person_id`` done as a lookup of the person rows worked out once per snapshot.

    Two shortcuts, each taken only where it gives what the general path gives: a plan
    that selects every person into one person cell (no person dimension, filter or
    ``exists``) needs no per-person cell table (every person in the snapshot is in cell 0),
    and when every selected record is kept nothing is copied to drop the others (at 6.3 M
    records the two saved about 0.1 s of a query)."""
    attribute = plan.spec.measure.attribute
    frame = (
        data.lazy_records()
        .with_row_index("row")
        .filter(_selected(catalogue, plan.spec.records))
        .select(
            "row",
            _cell_expr(catalogue, plan, "record", "rcell"),
            *([attribute] if attribute is not None else []),
        )
        .collect()
    )
    row = frame["row"].to_numpy()
    person = data.record_person_rows[row].astype(np.int64)
    if _every_person_in_one_cell(plan, catalogue):
        keep = person >= 0
        pcell: np.ndarray | int = 0
    else:
        # Every person's cell (-1: not selected, or no cell), one more slot for "no person".
        people = persons.collect()
        pcells = np.full(data.persons.height + 1, -1, dtype=np.int64)
        pcells[people["row"].to_numpy()] = people["pcell"].to_numpy()
        pcell = pcells[person]
        keep = pcell >= 0
    rcell = frame["rcell"]
    if rcell.null_count():
        keep &= rcell.is_not_null().to_numpy()
        rcell = rcell.fill_null(0)
    cell = rcell.to_numpy().astype(np.int64, copy=False) + pcell
    row = row.astype(np.int64)
    if bool(keep.all()):
        columns = {} if attribute is None else {attribute: frame[attribute]}
        return _Rows(row, person, cell, columns)
    mask = pl.Series(keep)
    columns = {} if attribute is None else {attribute: frame[attribute].filter(mask)}
    return _Rows(row[keep], person[keep], cell[keep], columns)


def _every_person_in_one_cell(plan: Plan, catalogue: Catalogue) -> bool:
    """Whether ``_persons`` selects every person, each into person cell 0."""
    spec = plan.spec
    return not (spec.person_filters or spec.exists) and all(
        catalogue.dimensions[d].level != PERSON for d in plan.dimensions
    )


def _among_first(groups: np.ndarray, k: int) -> np.ndarray | None:
    """Whether each element is among the first ``k`` of its run of equal ``groups``
    (which are sorted); None when no run is longer than ``k`` (every element is).

    In a sorted array an element is ``k`` or more places into its run just where it
    equals the element ``k`` places before it: one comparison, not a rank per element."""
    if groups.size <= k:
        return None
    later = groups[k:] == groups[:-k]
    if not bool(later.any()):
        return None
    first = np.ones(groups.size, dtype=bool)
    np.logical_not(later, out=first[k:])
    return first


def _first_record_counts(rows: _Rows, data: ReleaseData, k: int, n: int) -> np.ndarray:
    """Per cell, the records that are among their person's first ``k`` by event date
    (then cell): the sort by person, event date and cell is one of precomputed date ranks
    and cells, and only for persons with more than ``k`` records."""
    person, cell = rows.person, rows.cell
    if not person.size:
        return np.zeros(n, dtype=np.int64)
    new = np.r_[True, person[1:] != person[:-1]]
    starts = np.flatnonzero(new)
    sizes = np.diff(np.r_[starts, person.size])
    over = np.repeat(sizes > k, sizes)
    counts = np.bincount(cell[~over], minlength=n).astype(np.int64)
    if over.any():
        # Date ranks are equal within a (person, event date) run and increase with the
        # person then the date: keys sort as (person, event date, cell).
        keys = np.sort(data.record_date_ranks[rows.row[over]].astype(np.int64) * n + cell[over])
        owners = person[over]  # sorted: the same persons, each run unchanged in length
        among = _among_first(owners, k)
        first = keys if among is None else keys[among]
        counts += np.bincount(first % n, minlength=n).astype(np.int64)
    return counts


def _counts(frame: pl.LazyFrame, n: int) -> np.ndarray:
    cells = frame.select("cell").collect()["cell"].to_numpy()
    return np.bincount(cells, minlength=n).astype(np.int64)


def _has_value(plan: Plan) -> pl.Expr:
    """Records whose attribute is a finite number (a person with none has no value)."""
    value = pl.col(plan.spec.measure.attribute or "")
    return (value.is_not_null() & value.is_finite()).fill_null(False)


def _person_cell_aggregates(
    plan: Plan, catalogue: Catalogue, selected: pl.LazyFrame, persons: pl.LazyFrame
) -> list[np.ndarray]:
    kind, n = plan.spec.measure.kind, plan.n_cells
    if kind == "persons":
        ids = selected.select(pl.col("person_id").unique(maintain_order=True))
        cells = persons.join(ids, on="person_id", how="semi").select(pl.col("pcell").alias("cell"))
        return [_counts(cells, n)]
    if kind == "records":
        k = plan.policy.records_per_person
        per_person = selected.group_by("person_id", maintain_order=True).agg(
            pl.len().clip(0, k).cast(pl.Int64).alias("records")
        )
        frame = per_person.join(persons, on="person_id", how="inner").collect()
        weights = frame["records"].to_numpy()
        return [_exact_bincount(frame["pcell"].to_numpy(), weights, n)]
    attribute = plan.spec.measure.attribute or ""
    frame = selected.filter(_has_value(plan)).select("person_id", attribute).collect()
    keys, values = frame["person_id"].to_numpy(), frame[attribute].to_numpy()
    bounds = plan.policy.attribute(attribute)
    # Each record clipped before combining: a person's total is finite whatever the data.
    values = np.clip(values.astype(np.float64), bounds.lower, bounds.upper)
    # ReleaseData hands records over sorted by person, as the reduceat below needs: this
    # sort guards against a loader that one day does not, and is never taken today.
    if keys.size > 1 and not bool(np.all(keys[1:] >= keys[:-1])):  # pragma: no cover
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], values[order]
    # Records are sorted by person (ReleaseData): each person's run is one reduceat slice.
    combined, starts = _combine_runs(keys, values, plan.spec.measure.combine or "sum")
    owners = keys[starts]
    people = persons.collect()
    person_ids, person_cells = people["person_id"].to_numpy(), people["pcell"].to_numpy()
    at = np.searchsorted(person_ids, owners).clip(0, max(person_ids.size - 1, 0))
    known = person_ids[at] == owners if person_ids.size else np.zeros(owners.size, dtype=bool)
    cells = person_cells[at[known]].astype(np.int64)
    return _numeric_aggregates(plan, catalogue, cells, combined[known].astype(np.float64))


def _record_cells(plan: Plan, catalogue: Catalogue) -> int:
    sizes = [
        len(domain)
        for dim, domain in zip(plan.dimensions, plan.domains, strict=True)
        if catalogue.dimensions[dim].level != PERSON
    ]
    return int(np.prod(sizes)) if sizes else 1


def _numeric_aggregates(
    plan: Plan, catalogue: Catalogue, cells: np.ndarray, combined: np.ndarray
) -> list[np.ndarray]:
    """Per-cell integer aggregates of one value per (person, cell) (``cells`` and
    ``combined``, aligned), clipped and rounded (half to even) to resolution units.

    In NumPy, in place where it can be: these are the query's largest arrays (2.8 M
    values for London's length of stay by ICD-10 chapter), so each pass saved counts."""
    measure = plan.spec.measure
    assert measure.attribute is not None and plan.resolution is not None
    bounds = catalogue.numeric[measure.attribute].policy
    resolution = bounds.resolution
    low, high = round(bounds.lower / resolution), round(bounds.upper / resolution)
    # Combined values are finite (records are clipped first); a non-finite one would still
    # be bounded: an infinity clips to a bound, and NaN counts as the lower bound (fmax
    # and fmin return the number where the other operand is NaN).
    units = np.fmin(np.fmax(combined, bounds.lower), bounds.upper)
    units /= resolution
    np.rint(units, out=units)
    # Clipped again in whole units (exact in float64): the bound holds whatever the
    # rounding of the division.
    np.clip(units, low, high, out=units)
    n = plan.n_cells
    if measure.kind == "quantile":
        # A quantile query has few cells: NumPy's stable sort of 8- or 16-bit integers is
        # a radix sort, linear (for 2.8 M values: 14 ms as uint8, 25 as uint16, 64 as
        # int64), and each cell's slice ends where the counts of the cells up to it do.
        narrow = np.uint8 if n <= 1 << 8 else np.uint16 if n <= 1 << 16 else np.int64
        order = np.argsort(cells.astype(narrow), kind="stable")
        splits = np.cumsum(np.bincount(cells, minlength=n))[:-1]
        ordered = units[order]
        ordered *= resolution
        return [np.split(ordered, splits)]  # type: ignore[list-item]
    values = units.astype(np.int64)
    if measure.kind == "sum":
        return [_exact_bincount(cells, values, n)]
    # mean: centred (doubled, to stay integral) values in [-R, R], R = high - low; counts * R.
    centred = 2 * values - (low + high)
    sums = _exact_bincount(cells, centred, n)
    counts = np.bincount(cells, minlength=n).astype(np.int64) * (high - low)
    return [sums, counts]


def _exact_bincount(cells: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Per-cell integer sums, exact (float64 bincount is exact below 2**53 in magnitude)."""
    total = np.bincount(cells, weights=weights, minlength=n)
    if np.abs(weights).sum() >= 2**53:  # pragma: no cover - far beyond any snapshot
        total = np.zeros(n, dtype=object)
        np.add.at(total, cells, weights.astype(object))
    return np.asarray(total).round().astype(np.int64)


# --------------------------------------------------------------------------- release


def _measurement(plan: Plan) -> object:
    measurement = (
        dp.quantile_selection(plan.candidates, plan.spec.measure.quantiles, plan.scale)
        if plan.spec.measure.kind == "quantile"
        else dp.integer_laplace(plan.scale)
    )
    loss = plan.parts * dp.privacy_loss(measurement, plan.sensitivity)
    if not loss <= loss_limit(plan.epsilon):
        raise ArithmeticError("the measurement would spend more than the plan's epsilon")
    return measurement


def run(plan: Plan, data: ReleaseData) -> Release:
    """Release the plan's answer on ``data``: every declared cell, noisy, with intervals."""
    aggregates = cell_aggregates(plan, data)
    measurement = _measurement(plan)
    kind = plan.spec.measure.kind
    cells = plan.cells
    out: list[ReleasedCell] = []
    if kind == "quantile":
        labels = [f"q{q:g}" for q in plan.spec.measure.quantiles]
        answers = _per_cell(measurement, list(aggregates[0]))
        for key, answer in zip(cells, answers, strict=True):
            out.extend(
                ReleasedCell(key, label, a, None, None)
                for label, a in zip(labels, answer, strict=True)
            )
        return Release(plan.plan_id, plan.epsilon, plan.dimensions, tuple(out))
    vector = np.concatenate(aggregates).tolist()
    noisy = np.asarray(measurement(vector), dtype=np.float64)  # type: ignore[operator]
    if kind == "mean":
        out = _mean_cells(plan, cells, noisy)
    else:
        res = plan.resolution or 1.0
        t = discrete_laplace_half_width(plan.scale) * res
        values = noisy * res
        out = [
            ReleasedCell(key, kind, float(v), float(v - t), float(v + t))
            for key, v in zip(cells, values.tolist(), strict=True)
        ]
    return Release(plan.plan_id, plan.epsilon, plan.dimensions, tuple(out))


def _per_cell(measurement: Any, cells: Sequence[np.ndarray]) -> list[list[float]]:
    """The measurement invoked on each cell's values (its answers as a list), in order.

    Each float64 array goes to OpenDP as one buffer (a list would be checked and cast a
    value at a time in Python: 2 s for 3 M persons, against 0.13 s). OpenDP's library is
    called through ctypes, which lets go of the interpreter lock, so the cells are scored
    on every core.
    """

    def invoke(values: np.ndarray) -> list[float]:
        answer = measurement(np.ascontiguousarray(values, dtype=np.float64))
        return [float(a) for a in (answer if isinstance(answer, list) else [answer])]

    workers = min(len(cells), os.cpu_count() or 1)
    if workers <= 1:
        return [invoke(values) for values in cells]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="quantile") as pool:
        return list(pool.map(invoke, cells))


def _mean_cells(
    plan: Plan, cells: Sequence[tuple[str, ...]], noisy: np.ndarray
) -> list[ReleasedCell]:
    """Mean = midpoint + noisy centred sum / noisy count, with a 95% (Bonferroni) interval."""
    assert plan.spec.measure.attribute is not None and plan.resolution is not None
    bounds = plan.policy.attribute(plan.spec.measure.attribute)
    res = plan.resolution
    low, high = round(bounds.lower / res), round(bounds.upper / res)
    r = high - low
    n = plan.n_cells
    sums, counts = noisy[:n], noisy[n:] / r
    t = discrete_laplace_half_width(plan.scale, ALPHA / 2)
    s_low, s_high = sums - t, sums + t
    n_low, n_high = counts - t / r, counts + t / r
    mid = (bounds.lower + bounds.upper) / 2
    half = res / 2  # a centred, doubled unit in the attribute's unit
    with np.errstate(divide="ignore", invalid="ignore"):
        value = mid + half * sums / np.maximum(counts, 1.0)
        lo = mid + half * np.where(s_low >= 0, s_low / n_high, s_low / n_low)
        hi = mid + half * np.where(s_high >= 0, s_high / n_low, s_high / n_high)
    unknown = n_low <= 0
    value = np.clip(value, bounds.lower, bounds.upper)
    lo = np.where(unknown, bounds.lower, np.clip(lo, bounds.lower, bounds.upper))
    hi = np.where(unknown, bounds.upper, np.clip(hi, bounds.lower, bounds.upper))
    return [
        ReleasedCell(key, "mean", float(v), float(a), float(b))
        for key, v, a, b in zip(cells, value.tolist(), lo.tolist(), hi.tolist(), strict=True)
    ]
