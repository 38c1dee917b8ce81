"""The native memo table (app/ingest/_memo.pyx) behaves as a bounded dict, and owns its values.

The definition is ``BoundedDict`` below: a ``dict`` emptied when a store of a new key would
exceed the limit, keyed by the ``str`` or by the ``(key, salt)`` tuple. Keys are drawn to
hit the table's edge cases: ASCII and non-ASCII (1, 2 and 4 bytes a character, lone
surrogates), shared prefixes, empty strings, keys longer than a slot holds inline, and
pairs whose bytes run together the same way.
"""

from __future__ import annotations

import copy
import gc
import pickle
import sys
import weakref

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.ingest._memo import MemoTable

SEED = bytes(range(16))


class BoundedDict:
    """The definition the table is checked against."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.entries: dict[str | tuple[str, str], object] = {}

    def lookup(self, key: str, salt: str | None = None) -> object:
        return self.entries.get(key if salt is None else (key, salt))

    def store(self, key: str, value: object, salt: str | None = None) -> None:
        full_key = key if salt is None else (key, salt)
        if not self.limit:
            return
        if full_key not in self.entries and len(self.entries) >= self.limit:
            self.entries.clear()
        self.entries[full_key] = value


class Value:
    """A value whose release can be seen (through a weak reference)."""


ascii_text = st.text(st.characters(max_codepoint=127), max_size=20)
keys = st.one_of(
    ascii_text,
    st.text(st.characters(max_codepoint=255), max_size=12),  # Latin-1: one byte each
    st.text(st.characters(exclude_categories=()), max_size=12),  # any, lone surrogates too
    st.text(st.characters(max_codepoint=127), min_size=41, max_size=120),  # not inline
    st.builds(lambda stem, tail: stem + tail, st.sampled_from(["", "Smith", "SW1A"]), ascii_text),
)
SALTS = ("", "1957", "1958", "é", "\u0100", "Smith")


@given(
    data=st.data(),
    limit=st.integers(0, 6) | st.integers(7, 40),  # emptied often, or grown
    seed=st.binary(min_size=16, max_size=24),
)
def test_behaves_as_a_bounded_dict(data: st.DataObject, limit: int, seed: bytes) -> None:
    table, model = MemoTable(limit, seed), BoundedDict(limit)
    pool = data.draw(st.lists(keys, min_size=1, max_size=16))
    operations = data.draw(
        st.lists(
            st.tuples(st.booleans(), st.sampled_from(pool), st.none() | st.sampled_from(SALTS)),
            max_size=100,
        )
    )
    for n, (is_store, key, salt) in enumerate(operations):
        if is_store:
            value = (n,)
            table.store(key, value, salt=salt)
            model.store(key, value, salt=salt)
        else:
            assert table.lookup(key, salt=salt) is model.lookup(key, salt=salt)
        assert len(table) == len(model.entries)
    for key in pool:
        for salt in (None, *SALTS):
            assert table.lookup(key, salt=salt) is model.lookup(key, salt=salt)


def test_a_pair_never_equals_a_single_key_or_another_split() -> None:
    table = MemoTable(16, SEED)
    spellings: list[tuple[str, str | None]] = [
        ("abc", None),
        ("ab", "c"),
        ("a", "bc"),
        ("abc", ""),
        ("", "abc"),
        ("abc\x00", None),
    ]
    for n, (key, salt) in enumerate(spellings):
        table.store(key, n, salt=salt)
    assert len(table) == len(spellings)
    for n, (key, salt) in enumerate(spellings):
        assert table.lookup(key, salt=salt) == n


def test_keys_of_different_widths_with_the_same_bytes_differ() -> None:
    # "\u0100" is stored as the bytes 00 01 (2 bytes a character), as is "\x00\x01" (1).
    table = MemoTable(16, SEED)
    spellings = ["\x00\x01", "\u0100", "\x00\x00\x01\x00", "\U00010000", "\xe9", "\u00e9\u0100"]
    for n, key in enumerate(spellings):
        table.store(key, n)
    assert len(table) == len(spellings)
    for n, key in enumerate(spellings):
        assert table.lookup(key) == n
    assert table.lookup("é") == 4  # the same string, however it was built
    assert table.lookup("\x00\x01", salt="") is None


def test_every_key_up_to_the_limit_is_kept_then_the_table_starts_again() -> None:
    limit = 5000
    table = MemoTable(limit, SEED)
    for n in range(limit):
        table.store(f"{n:08d}", n)
    assert len(table) == limit
    assert all(table.lookup(f"{n:08d}") == n for n in range(limit))
    table.store("00004999", -1)  # an existing key: replaced, nothing emptied
    assert len(table) == limit
    table.store("one more", 1)
    assert len(table) == 1
    assert table.lookup("00000000") is None
    assert table.lookup("one more") == 1


def test_limit_zero_stores_nothing() -> None:
    table = MemoTable(0, SEED)
    value = Value()
    released = weakref.ref(value)
    table.store("Mohammed", value)
    table.store("Mohammed", value, salt="1957")
    del value
    assert released() is None
    assert len(table) == 0
    assert table.lookup("Mohammed") is None


def test_references_are_counted() -> None:
    table = MemoTable(8, SEED)
    value = Value()
    before = sys.getrefcount(value)
    table.store("12/03/1957", value)
    table.store("12/03/1957", value, salt="1957")
    table.store("x" * 100, value)
    assert sys.getrefcount(value) == before + 3
    table.store("x" * 100, None)
    assert sys.getrefcount(value) == before + 2
    table.clear()
    assert sys.getrefcount(value) == before


def test_a_value_is_released_when_replaced() -> None:
    table = MemoTable(8, SEED)
    first = Value()
    released = weakref.ref(first)
    table.store("SW1A 1AA", first)
    del first
    assert released() is not None
    table.store("SW1A 1AA", Value())
    assert released() is None


def test_values_are_released_when_the_table_is_emptied_full() -> None:
    table = MemoTable(2, SEED)
    values = [Value(), Value()]
    released = [weakref.ref(v) for v in values]
    table.store("a", values[0])
    table.store("b", values[1], salt="1957")
    del values
    assert all(r() is not None for r in released)
    table.store("c", Value())
    assert all(r() is None for r in released)
    assert len(table) == 1


def test_values_are_released_on_clear_and_on_deletion() -> None:
    table = MemoTable(8, SEED)
    kept = Value()
    released = weakref.ref(kept)
    table.store("Mohammed", kept)
    table.store("y" * 64, kept, salt="1957")
    del kept
    table.clear()
    assert released() is None
    assert len(table) == 0
    assert table.lookup("Mohammed") is None
    table.store("Mohammed", 1)  # usable again
    assert table.lookup("Mohammed") == 1

    table = MemoTable(8, SEED)
    kept = Value()
    released = weakref.ref(kept)
    table.store("z" * 64, kept)
    del kept, table
    assert released() is None


def test_a_release_that_stores_again_leaves_a_consistent_table() -> None:
    table = MemoTable(8, SEED)
    value = Value()
    late = Value()
    table.store("Mohammed", value)
    watcher = weakref.ref(value, lambda _ref: table.store("late", late))
    del value
    table.clear()
    assert watcher() is None
    assert len(table) == (1 if table.lookup("late") is late else 0)


def test_the_cyclic_collector_does_not_see_the_values() -> None:
    table = MemoTable(8, SEED)
    value = [Value()]  # a tracked container, as a value the collector would traverse
    table.store("Mohammed", value)
    assert not gc.is_tracked(table)
    assert not any(referent is value for referent in gc.get_referents(table))


def test_not_picklable_and_repr_hides_keys() -> None:
    table = MemoTable(8, SEED)
    table.store("Mohammed", (1,), salt="1957")
    with pytest.raises(TypeError):
        pickle.dumps(table)
    with pytest.raises(TypeError):
        copy.copy(table)
    shown = repr(table)
    assert "Mohammed" not in shown
    assert "1957" not in shown
    assert shown == "MemoTable(limit=8, entries=1)"


def test_no_subclass() -> None:
    # A subclass could add fields (a __dict__) that the cyclic collector must see.
    with pytest.raises(TypeError):
        type("Sub", (MemoTable,), {})


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        MemoTable(8, b"short")
    with pytest.raises(ValueError):
        MemoTable(-1, SEED)
    table = MemoTable(8, SEED)
    with pytest.raises(TypeError):
        table.store(1, "value")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        table.lookup(b"Mohammed")  # type: ignore[arg-type]
