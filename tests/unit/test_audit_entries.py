"""The canonical encoding that entries are hashed in, and what details may hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.audit.entries import (
    GENESIS_HASH,
    EntryBody,
    TreeHead,
    canonical_entry,
    entry_hash,
    format_time,
    parse_time,
)

MOMENT = datetime(2026, 11, 25, 8, 0, 0, 123456, tzinfo=UTC)


def body(**changes):
    fields = {
        "seq": 1,
        "occurred_at": MOMENT,
        "actor": "demo.ig",
        "role": "ig_officer",
        "organisation": "E09000007",
        "action": "audit.read",
        "target": "audit-log",
        "outcome": "allowed",
        "request_id": "abc",
        "details": {"b": 1, "a": ["x", None, True]},
    }
    fields.update(changes)
    return EntryBody(**fields)


def test_the_canonical_form_is_sorted_compact_json():
    encoded = canonical_entry(body(), GENESIS_HASH)
    assert encoded.startswith(b'{"action":"audit.read","actor":"demo.ig","details":{"a":')
    assert b" " not in encoded.replace(b"audit-log", b"")
    assert b'"prev_hash":"' + b"0" * 64 + b'"' in encoded
    assert b'"occurred_at":"2026-11-25T08:00:00.123456Z"' in encoded


def test_every_field_changes_the_hash():
    base = entry_hash(body(), GENESIS_HASH)
    for change in (
        {"seq": 2},
        {"actor": "someone"},
        {"role": "analyst"},
        {"organisation": "RAL"},
        {"action": "audit.verify"},
        {"target": "x"},
        {"outcome": "refused"},
        {"request_id": "abd"},
        {"details": {"b": 2, "a": ["x", None, True]}},
        {"occurred_at": MOMENT.replace(microsecond=123457)},
    ):
        assert entry_hash(body(**change), GENESIS_HASH) != base, change
    assert entry_hash(body(), b"\x01" * 32) != base


@pytest.mark.parametrize(
    "details",
    [
        {"x": 1.5},
        {"x": object()},
        {1: "a"},
        {"x": "y" * 501},
        {"a": {"b": {"c": {"d": {"e": [1]}}}}},
    ],
)
def test_details_refuse_what_cannot_be_encoded_canonically(details):
    with pytest.raises(ValueError):
        body(details=details)


@pytest.mark.parametrize(
    "change", [{"seq": 0}, {"outcome": "maybe"}, {"occurred_at": datetime(2026, 1, 1)}]
)
def test_an_entry_refuses_impossible_fields(change):
    with pytest.raises(ValueError):
        body(**change)


@given(st.datetimes(timezones=st.just(UTC)))
def test_times_round_trip_through_their_text_form(moment):
    assert parse_time(format_time(moment)) == moment


def test_a_tree_head_signs_its_size_root_and_time():
    head = TreeHead(10, b"\x02" * 32, MOMENT, key_version=1)
    assert head.signing_input() == (
        b'{"log":"hsclink-audit-v1","root_hash":"'
        + b"02" * 32
        + b'","signed_at":"2026-11-25T08:00:00.123456Z","tree_size":10}'
    )
