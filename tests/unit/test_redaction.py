"""Every type that carries raw cells prints ``[redacted]``, however it is printed.

"Printed" means ``repr``, ``str``, an f-string, ``logging`` with ``%s`` or ``%r``, and an
exception raised with the object among its args (its message and its formatted
traceback line). Tracebacks with locals are out of scope: the service never renders them.

Synthetic people count as raw identifiers. They look exactly like real ones (valid NHS
numbers, plausible names, real postcode districts), they stand in for real extracts in
demos and tests, and the canary tests search for them: a synthetic value in a log is
the same leak a real one would be, and nobody reading a log can tell the two apart.
"""

from __future__ import annotations

import dataclasses
import logging
import traceback
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import numpy as np
import pytest

from app.ingest.reader import Record, RecordReader
from app.synth import Person, PersonRecords, Synth, generate
from app.synth.hospital import Episode
from app.synth.people import Surname
from app.synth.pseudonymised import HandRow, PseudonymisedPopulation
from app.synth.render import SourceIdentity
from app.synth.social_care import AscService, CarePlan
from privacy.postcodes import Postcode, postcode

NHS_NUMBER = "9434765919"
GIVEN = "Zebedee"
FAMILY = "Quennell-Ashworth"
POSTCODE = "SW1A 1AA"
BORN = date(1951, 3, 14)


def _synth() -> Synth:
    return generate(4, np.random.default_rng(7), reference_date=date(2026, 4, 1))


def _record() -> Record:
    return Record(12, [NHS_NUMBER, GIVEN, FAMILY, BORN.isoformat(), POSTCODE], 99)


def _read_record() -> Record:
    """A record as the reader makes it (natively), not by the constructor."""
    data = f"nhs,given\n{NHS_NUMBER},{GIVEN}\n".encode()
    return list(RecordReader([data]).records())[1]


def _truth_row() -> object:
    from app.services.linkage.evaluate import TruthRow

    return TruthRow(dataset="nhs_episodes", record_id="RJ1-EP-0123456", person_key="P0000042")


def _person() -> Person:
    return Person(
        key="P0000042",
        nhs_number=NHS_NUMBER,
        given_names=(GIVEN, "Marmaduke"),
        family=Surname((FAMILY,)),
        sex="M",
        date_of_birth=BORN,
        origin="british",
        borough_code="E09000033",
        postcode=POSTCODE,
    )


def _source_identity() -> SourceIdentity:
    return SourceIdentity(
        nhs_number=NHS_NUMBER,
        given=GIVEN,
        family_now=FAMILY,
        family_before="Pemberton-Smythe",
        date_of_birth=BORN,
        sex="M",
        title="Mr",
        names_swapped=False,
        address_lag_days=0,
        name_lag_days=0,
    )


def _episode() -> Episode:
    return Episode(
        episode_id="RJ1-EP-0123456",
        provider_code="RJ1",
        admission_date=date(2025, 6, 1),
        discharge_date=date(2025, 6, 9),
        admission_method="21",
        diagnosis="I50.9",
    )


def _service() -> AscService:
    return AscService(
        client_id="E09000033-C-012345",
        la_code="E09000033",
        service_type="Home care",
        support_reason="Physical support",
        start=date(2025, 6, 10),
        end=None,
        weekly_cost=312.5,
    )


def _care_plan() -> CarePlan:
    return CarePlan(
        person=_person(), profile="older", services=(_service(),), discharged_on=date(2025, 6, 9)
    )


def _person_records() -> PersonRecords:
    synth = _synth()
    person = synth.people[0]
    ids = {t["record_id"] for t in synth.truth if t["person_key"] == person.key}
    nhs = tuple(r for r in synth.nhs_episodes if ids & set(r.values()))
    asc = tuple(r for r in synth.asc_clients if ids & set(r.values()))
    truth = tuple(t for t in synth.truth if t["person_key"] == person.key)
    return PersonRecords(person=person, nhs_episodes=nhs, asc_clients=asc, truth=truth)


def _hand_row() -> HandRow:
    row = {"nhs_number": NHS_NUMBER, "given_name": GIVEN, "family_name": FAMILY}
    return HandRow(dataset="nhs_episodes", row=row, person_key="P0000042")


def _population() -> PseudonymisedPopulation:
    import pandas as pd

    records = pd.DataFrame({"nhs_number": [b"token-of-9434765919"]})
    keys = np.asarray(["P0000042"], dtype=object)
    return PseudonymisedPopulation(records=records, person_keys=keys, twin_pairs=(), persons=1)


def _postcode() -> Postcode:
    parsed = postcode(POSTCODE)
    assert parsed is not None
    return parsed


#: name -> (factory, the parts its printout may show). Everything else it holds is raw.
CARRIERS: dict[str, tuple[Callable[[], object], frozenset[str]]] = {
    "Record": (_record, frozenset()),
    "Record from the reader": (_read_record, frozenset()),
    "TruthRow": (_truth_row, frozenset({"nhs_episodes"})),
    "Person": (_person, frozenset()),
    "Person (generated)": (lambda: _synth().people[0], frozenset()),
    "Surname": (lambda: Surname((FAMILY, "Pemberton")), frozenset()),
    "SourceIdentity": (_source_identity, frozenset()),
    "Episode": (_episode, frozenset()),
    "AscService": (_service, frozenset()),
    "CarePlan": (_care_plan, frozenset()),
    "PersonRecords": (_person_records, frozenset()),
    "Synth": (_synth, frozenset()),
    "HandRow": (_hand_row, frozenset({"nhs_episodes"})),
    "PseudonymisedPopulation": (_population, frozenset()),
    # A postcode shows its area and district (a deliberate choice of privacy/postcodes.py:
    # the district is the geography kept for analysis); never its sector or full form.
    "Postcode": (_postcode, frozenset({"SW", "SW1A"})),
}


def _leaves(value: Any) -> Iterator[str]:
    """Every text a value holds, however deep (dataclass fields, tuples, dicts, frames)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, date):
        yield value.isoformat()
        yield str(value)
    elif isinstance(value, bytes):
        yield value.decode("latin-1")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _leaves(getattr(value, f.name))
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(k)
            yield from _leaves(v)
    elif isinstance(value, (tuple, list, np.ndarray)):
        for item in value:
            yield from _leaves(item)
    elif hasattr(value, "to_numpy"):  # a DataFrame
        yield from _leaves(list(value.to_numpy().ravel()))


def _raw_values(obj: object, shown: frozenset[str]) -> set[str]:
    """The values that must not print: each leaf of 3 characters or more, not shown."""
    raw = {leaf for leaf in _leaves(obj) if len(leaf) >= 3 and leaf not in shown}
    assert raw, "the factory holds no raw value: the test would prove nothing"
    return raw


def _printouts(obj: object, caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    """The object as each way of printing it gives it."""
    log = logging.getLogger("hsclink.test_redaction")
    with caplog.at_level(logging.INFO, logger=log.name):
        caplog.clear()
        log.info("row %s", obj)
        log.info("row %r", obj)
        log.info("rows %s", [obj])
        logged = caplog.text
    single, several = ValueError(obj), ValueError("bad row", obj)
    return {
        "repr": repr(obj),
        "str": str(obj),
        "f-string": f"{obj} {obj!r} {obj!s}",
        "format()": format(obj, ""),
        "in a container": repr([obj, (obj,), {"row": obj}]),
        "logging": logged,
        "exception message": f"{single} | {several}",
        "formatted exception": "".join(
            traceback.format_exception_only(single) + traceback.format_exception_only(several)
        ),
    }


@pytest.mark.parametrize("name", sorted(CARRIERS))
def test_a_type_holding_raw_cells_prints_redacted_every_way(name, caplog):
    factory, shown = CARRIERS[name]
    obj = factory()
    raw = _raw_values(obj, shown)
    for way, text in _printouts(obj, caplog).items():
        leaked = sorted(value for value in raw if value in text)
        assert not leaked, f"{name} prints {len(leaked)} raw value(s) through {way}"
        if name != "Postcode" and name != "PseudonymisedPopulation":
            assert "[redacted]" in text, f"{name} does not say [redacted] through {way}"


def test_a_record_still_shows_its_line_and_keeps_its_cells_for_the_code():
    record = _record()
    assert repr(record) == str(record) == "Record(line=12, [redacted])"
    assert record.fields[0] == NHS_NUMBER and record == (12, record.fields, 99)
    assert isinstance(record, tuple) and record._fields == ("line", "fields", "end_offset")


def test_the_reader_makes_records_of_the_redacting_type():
    record = _read_record()
    assert type(record) is Record and repr(record) == "Record(line=2, [redacted])"


def test_the_checker_finds_a_leak_when_a_type_prints_its_cells(caplog):
    """The companion: a plain named tuple is caught, so the test above can fail."""
    from typing import NamedTuple

    class Leaky(NamedTuple):
        line: int
        fields: list[str]

    printouts = _printouts(Leaky(3, [NHS_NUMBER]), caplog)
    assert all(NHS_NUMBER in text for text in printouts.values())


def test_synthetic_generator_errors_name_the_rule_not_the_record():
    with pytest.raises(ValueError) as caught:
        Episode(
            episode_id="RJ1-EP-0123456",
            provider_code="RJ1",
            admission_date=date(2025, 6, 9),
            discharge_date=date(2025, 6, 1),
            admission_method="21",
            diagnosis="I50.9",
        )
    assert "RJ1-EP" not in str(caught.value)
    with pytest.raises(ValueError) as caught:
        dataclasses.replace(_person(), postcode="not a postcode")
    assert "P0000042" not in str(caught.value)


def test_credential_holders_print_secure():
    from app.cli.upload import Uploader
    from app.synth.pseudonymised import synthetic_keys

    uploader = Uploader(server="https://hsclink.example", token="hsc_s3cr3t-token-value")
    assert "s3cr3t" not in repr(uploader) and "[secure]" in repr(uploader)
    assert "[secure]" in repr(synthetic_keys(1))


def test_the_row_kernel_outputs_print_no_token_or_filter():
    from app.ingest.rows import Batch, ProcessedRow
    from app.store.records import RECORD_COLUMNS, RecordColumns

    token = bytes(range(48))
    record = tuple(token if c.startswith("tok_") else 1 for c in RECORD_COLUMNS[:-1])
    columns = RecordColumns.from_rows([(*record, {"note": token})], ["note"])
    batch = Batch(columns)
    row = ProcessedRow(2, {"tok_nhs_number": token})
    for text in (
        repr(batch),
        str(batch),
        repr(columns),
        repr(row),
        f"{row}",
        repr([row, batch, columns]),
    ):
        assert repr(token)[2:20] not in text
        assert "[pseudonymised]" in text
