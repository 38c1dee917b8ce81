"""The native binary COPY encoder (app/db/_copy.pyx): its JSON is json.dumps', byte for byte,
and its framing is PostgreSQL's (checked against psycopg's own row writer)."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.db._copy import HEADER, KINDS, TRAILER, binary_copy

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)


def _json_field(payload: bytes) -> bytes:
    """The one json value of a one-row, one-column stream."""
    body = payload[len(SIGNATURE) :]
    (count,) = struct.unpack(">h", body[:2])
    (size,) = struct.unpack(">i", body[2:6])
    assert count == 1 and body[6 + size :] == b"\xff\xff"
    return body[6 : 6 + size]


@given(st.dictionaries(st.text(), st.one_of(st.none(), st.text())))
def test_dicts_of_strings_encode_exactly_as_json_dumps(value):
    payload = binary_copy([(value,)], [KINDS["json"]], ["attributes"])
    assert _json_field(payload) == json.dumps(value).encode("utf-8")


@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text()),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    )
)
def test_any_other_json_value_goes_through_json_dumps(value):
    if value is None:  # a None column value is SQL NULL, not JSON null
        return
    payload = binary_copy([(value,)], [KINDS["json"]], ["attributes"])
    assert json.loads(_json_field(payload)) == value


def test_rows_are_framed_as_postgresql_binary_copy():
    rows = [(1, 2**40, "é", b"\x00\x01", None), (-5, -1, "", b"", {"a": None})]
    kinds = [KINDS[k] for k in ("int4", "int8", "text", "bytea", "json")]
    payload = binary_copy(rows, kinds, ["a", "b", "c", "d", "e"])
    expected = SIGNATURE
    expected += struct.pack(">hii", 5, 4, 1) + struct.pack(">iq", 8, 2**40)
    expected += struct.pack(">i", 2) + "é".encode() + struct.pack(">i", 2) + b"\x00\x01"
    expected += struct.pack(">i", -1)
    expected += struct.pack(">hii", 5, 4, -5) + struct.pack(">iq", 8, -1)
    expected += struct.pack(">i", 0) + struct.pack(">i", 0)
    expected += struct.pack(">i", 11) + b'{"a": null}'
    expected += b"\xff\xff"
    assert payload == expected


@pytest.mark.parametrize(
    ("kind", "value"),
    [("int4", "1"), ("int4", 2**31), ("text", b"x"), ("bytea", "x"), ("int8", 1.5)],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_column_only(kind, value):
    with pytest.raises((TypeError, OverflowError)) as caught:
        binary_copy([(value,)], [KINDS[kind]], ["tok_secret_column"])
    assert "tok_secret_column" in str(caught.value)
    assert repr(value) not in str(caught.value)


def test_rows_of_the_wrong_width_are_refused():
    with pytest.raises(ValueError):
        binary_copy([(1, 2)], [KINDS["int4"]], ["a"])


@given(
    st.lists(
        st.tuples(st.integers(-(2**31), 2**31 - 1), st.none() | st.text(), st.binary()),
        max_size=5,
    )
)
def test_unframed_data_is_the_stream_without_its_header_and_trailer(rows):
    kinds = [KINDS["int4"], KINDS["text"], KINDS["bytea"]]
    names = ["n", "t", "b"]
    tuples = binary_copy(rows, kinds, names, framed=False)
    assert HEADER + tuples + TRAILER == binary_copy(rows, kinds, names)
    assert (HEADER, TRAILER) == (SIGNATURE, b"\xff\xff")
