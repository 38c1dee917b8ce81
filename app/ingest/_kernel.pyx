# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The row loop of ``RowProcessor.process_batch`` in native code.

``RowProcessor._process_batch_reference`` (app/ingest/rows.py) is the definition: this
computes the same rows, problems and quality counts (``tests/unit/test_row_kernel.py``
checks it on random rows), about ten times faster. The loop, the memo tables and the
common shapes of each identifier are handled here:

* NHS number: ASCII input (whitespace and hyphens ignored, Modulus 11, no repeated digit);
* postcode: ASCII input, upper-cased and re-spaced, checked by ``privacy.postcodes``'
  own compiled pattern;
* date of birth: ``yyyy-mm-dd`` and ``dd/mm/yyyy``;
* names: ASCII input (apostrophes dropped, ``[a-z]+`` parts, titles and suffixes from
  ``privacy.names``' own sets; Metaphone from jellyfish, as ``privacy.names.phonetic``);

and everything else (non-ASCII text, other date shapes, sex codes, boroughs and the kept
attributes, whose distinct values are few) goes to the pure-Python functions of
``privacy.normalise`` and ``app.ingest.rows``. Tokens and Bloom encodings come from
``privacy._keyed``. Raw values live only in local variables and as keys of the bounded
memo tables (``app.ingest._memo.MemoTable``, emptied when ``memo_limit`` is reached, key
bytes wiped), as in the reference; the next row's slots are prefetched a row ahead.

Accepted rows come out column by column (``app.store.records.RecordColumns``: a list per
``VALUE_COLUMNS`` name and per kept attribute), which the upload turns into Arrow arrays
and seals (``app/store``): no tuple a row, no dict of attributes a row, and nothing to
transpose (the row tuples were a fifth of the upload's interpreter time, made, turned
into columns and freed).
"""

import os

from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport PyObject, Py_INCREF
from cpython.tuple cimport PyTuple_GET_SIZE, PyTuple_New, PyTuple_SET_ITEM
from cpython.unicode cimport PyUnicode_FromStringAndSize
from libc.stdlib cimport free, malloc
from libc.stdint cimport uint64_t
from libc.string cimport memset

from app.ingest._memo cimport MemoTable
from privacy._keyed cimport BloomMasks, Token


cdef extern from "Python.h":
    void Py_SET_SIZE(object op, Py_ssize_t size)
    void PyObject_GC_UnTrack(void *op)
    bint PyUnicode_IS_ASCII(object)
    void *PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)


DEF OK = 0
DEF MISSING = 1
DEF INVALID = 2
DEF NORMALISED = 3
DEF MAX_NAME = 512
DEF GIL_EVERY = 16
DEF TOKEN_MEMO = 8192
DEF VALUE_COLUMNS = 25  # len(app.store.records.VALUE_COLUMNS)



cdef inline bint _space(unsigned char c) noexcept:
    """Python's str.split()/str.strip() whitespace, within ASCII."""
    return c == 32 or 9 <= c <= 13 or 28 <= c <= 31


cdef int _outcome(str raw, bint valid, object normalised) except -1:
    """``app.ingest.rows._outcome``."""
    if not raw.strip():
        return MISSING
    if not valid:
        return INVALID
    if normalised is not None and normalised != raw:
        return NORMALISED
    return OK


cdef inline int _days_in_month(int year, int month) noexcept:
    if month == 2:
        return 29 if (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)) else 28
    if month == 4 or month == 6 or month == 9 or month == 11:
        return 30
    return 31


cdef class RowKernel:
    """Bound to one ``RowProcessor``: its column positions, keys and memo tables."""

    cdef Py_ssize_t width
    cdef Py_ssize_t i_record, i_nhs, i_dob, i_sex, i_pc, i_given, i_family
    cdef str record_field
    cdef Token t_record, t_nhs, t_dob, t_dob_year, t_dob_md, t_sex
    cdef Token t_pc, t_sector, t_district, t_given, t_given_ph, t_family, t_family_ph
    cdef object bloom            # PseudonymKeys.bloom (used when no native masks)
    cdef BloomMasks b_dob, b_pc, b_given, b_family
    cdef bint native_bloom
    # Memo tables by raw cell (MemoTable: app/ingest/_memo.pyx), and by normalised value
    # (spellings share); the council-and-district table is keyed by values that may be None.
    cdef MemoTable memo_dob, memo_sex, memo_given, memo_family
    cdef MemoTable memo_pc_keyed, memo_family_keyed
    cdef dict memo_borough
    cdef Py_ssize_t n_attributes
    cdef Py_ssize_t *attr_index  # column of each attribute, -1 when not in the file
    cdef bint *attr_required
    cdef list attr_names, attr_memos, attr_compute
    cdef Py_ssize_t memo_limit
    cdef object linkage_version, wrap_version
    cdef int today_y, today_m, today_d, ref_y, ref_m, ref_d
    cdef tuple age_bands
    # Python definitions, for what the native paths do not handle
    cdef object py_nhs, py_birth_date, py_postcode, py_name_parts, py_sex_miss, py_borough
    cdef object compact_pattern, always_drop, leading_titles, trailing_suffixes
    cdef dict given_equivalents
    cdef object metaphone
    cdef object problem          # RowProblem
    cdef Py_ssize_t slots        # quality counters: 7 identifier slots + attributes
    cdef object today
    cdef dict token_memo         # Token -> MemoTable {normalised value: token}, common values
    cdef bytes seed              # the memo tables' hash key
    cdef Py_ssize_t la_code      # the attribute whose value names a council, or -1

    def __init__(self, *, width, positions, record_field, tokens, bloom, masks,
                 attributes, memo_limit, versions, today, reference_date, python):
        cdef dict p = positions
        self.width = width
        self.i_record = p["record_id"]
        self.i_nhs = p["nhs_number"]
        self.i_dob = p["birth_date"]
        self.i_sex = p["sex"]
        self.i_pc = p["postcode"]
        self.i_given = p["given_name"]
        self.i_family = p["family_name"]
        self.record_field = record_field
        self.t_record = tokens["record_id"]
        self.t_nhs = tokens["nhs_number"]
        self.t_dob = tokens["dob"]
        self.t_dob_year = tokens["dob_year"]
        self.t_dob_md = tokens["dob_month_day"]
        self.t_sex = tokens["sex"]
        self.t_pc = tokens["postcode"]
        self.t_sector = tokens["postcode_sector"]
        self.t_district = tokens["postcode_district"]
        self.t_given = tokens["given_name"]
        self.t_given_ph = tokens["given_phonetic"]
        self.t_family = tokens["family_name"]
        self.t_family_ph = tokens["family_phonetic"]
        self.bloom = bloom
        self.native_bloom = masks is not None
        if masks is not None:
            self.b_dob = masks["dob"]
            self.b_pc = masks["postcode"]
            self.b_given = masks["given_name"]
            self.b_family = masks["family_name"]
        self.seed = seed = os.urandom(16)  # nobody can choose cells that collide
        self.memo_dob, self.memo_sex, self.memo_given, self.memo_pc_keyed = [
            MemoTable(memo_limit, seed) for _ in range(4)
        ]
        # Postcodes are memoised by their normalised value only: the cells of an address
        # column are mostly distinct (64,000 in 100,000 rows of the synthetic extract), so
        # a table by cell missed two times in three. Its room goes to the family-name
        # tables, keyed with the family-name salt (once the year of birth, now empty): the
        # most distinct keys, the dearest misses (benchmarks/ingest.py at 1,000,000 rows,
        # when salted: +3-5 % for +20 MiB).
        self.memo_family, self.memo_family_keyed = [
            MemoTable(2 * memo_limit, seed) for _ in range(2)
        ]
        self.memo_borough = {}
        self.slots = 7 + len(attributes)
        self.n_attributes = len(attributes)
        self.attr_index = <Py_ssize_t *>malloc(max(1, self.n_attributes) * sizeof(Py_ssize_t))
        self.attr_required = <bint *>malloc(max(1, self.n_attributes) * sizeof(bint))
        if self.attr_index == NULL or self.attr_required == NULL:
            raise MemoryError()
        for a, (_name, required, index, _compute) in enumerate(attributes):
            self.attr_index[a] = -1 if index is None else index
            self.attr_required[a] = bool(required)
        self.attr_names = [attr[0] for attr in attributes]
        self.attr_memos = [MemoTable(memo_limit, seed) for _ in attributes]
        self.attr_compute = [attr[3] for attr in attributes]
        self.memo_limit = memo_limit
        self.token_memo = {}
        self.linkage_version, self.wrap_version = versions
        self.today = today
        self.today_y, self.today_m, self.today_d = today.year, today.month, today.day
        self.ref_y, self.ref_m, self.ref_d = (
            reference_date.year, reference_date.month, reference_date.day
        )
        self.age_bands = tuple(python["age_bands"])
        self.py_nhs = python["nhs_number"]
        self.py_birth_date = python["birth_date"]
        self.py_postcode = python["postcode"]
        self.py_name_parts = python["name_parts"]
        self.py_sex_miss = python["sex_miss"]
        self.py_borough = python["borough_miss"]
        self.compact_pattern = python["postcode_pattern"]
        self.always_drop = python["always_drop"]
        self.leading_titles = python["leading_titles"]
        self.trailing_suffixes = python["trailing_suffixes"]
        self.given_equivalents = dict(python["given_equivalents"])
        self.metaphone = python["metaphone"]
        self.problem = python["problem"]
        self.la_code = self.attr_names.index("la_code") if "la_code" in self.attr_names else -1

    # -- memo tables ------------------------------------------------------------------

    cdef inline void _remember(self, dict memo, object key, object value):
        # Memo keys and values hold only strings, bytes, numbers and None: nothing the
        # cyclic collector needs to see (CPython would untrack them itself, but only after
        # scanning them in a collection: the cost this avoids).
        # (Only tuples: a string is no GC object and has no header to clear.)
        if type(value) is tuple:
            PyObject_GC_UnTrack(<void *>value)
        if type(key) is tuple:
            PyObject_GC_UnTrack(<void *>key)
        if self.memo_limit:
            if len(memo) >= self.memo_limit:
                memo.clear()
            memo[key] = value

    cdef inline int _keep(self, MemoTable memo, str key, tuple value) except -1:
        """``memo[key] = value`` (the table empties itself at ``memo_limit``)."""
        PyObject_GC_UnTrack(<void *>value)  # see _remember
        return memo.put(key, value)

    cdef inline int _keep_pair(self, MemoTable memo, str key, str salt, tuple value) except -1:
        PyObject_GC_UnTrack(<void *>value)
        return memo.put_pair(key, salt, value)

    cdef bytes _common_token(self, Token token, str value):
        """The token of a value that many rows share (a year, a sector, a phonetic code):
        kept in a small table per purpose, emptied beyond ``TOKEN_MEMO`` entries."""
        cdef MemoTable memo = self.token_memo.get(token)
        cdef PyObject *cached
        if memo is None:
            memo = self.token_memo[token] = MemoTable(TOKEN_MEMO, self.seed)
        cached = memo.get(value)
        if cached != NULL:
            return <bytes>cached
        made = token.of_str(value)
        memo.put(value, made)
        return made

    # -- the batch --------------------------------------------------------------------

    def run(self, rows):
        """(values, attributes, accepted count, problems, refused count,
        counts[slot][outcome]) for a batch: ``values`` holds a list per
        ``VALUE_COLUMNS`` name, ``attributes`` a list per kept attribute."""
        cdef list batch = rows if type(rows) is list else list(rows)
        cdef Py_ssize_t r, i, total = len(batch)
        # Each column is made as long as the batch and cut to the records accepted.
        cdef list values = [_column_of(total) for _ in range(VALUE_COLUMNS)]
        cdef list attr_columns = [_column_of(total) for _ in range(self.n_attributes)]
        cdef PyObject *out[VALUE_COLUMNS]
        cdef PyObject **attr_out = <PyObject **>malloc(
            max(1, self.n_attributes) * sizeof(PyObject *)
        )
        cdef list problems = []
        cdef Py_ssize_t refused_rows = 0
        cdef Py_ssize_t accepted = 0
        cdef Py_ssize_t seen = 0
        cdef list attr_values = [None] * self.n_attributes
        cdef long long *counts = <long long *>malloc(self.slots * 4 * sizeof(long long))
        cdef list cells
        cdef str blank = ""
        cdef str cell
        cdef bint refused
        cdef Py_ssize_t n
        cdef int outcome
        cdef tuple dob, sex, pc, given, family, borough, attr
        cdef Py_ssize_t a, k
        cdef object tok_record, tok_nhs, nhs, key, value, line, spec_memo, item, la_code
        cdef PyObject *found
        cdef str record_id
        if counts == NULL or attr_out == NULL:
            free(counts)
            free(attr_out)
            raise MemoryError()
        memset(counts, 0, self.slots * 4 * sizeof(long long))
        for k in range(VALUE_COLUMNS):
            out[k] = <PyObject *>values[k]
        for a in range(self.n_attributes):
            attr_out[a] = <PyObject *>attr_columns[a]
        # Hashes of the next row's cells, whose memo slots are prefetched a row ahead: a
        # lookup in a large table is a cache miss, overlapped this way with a row's work.
        cdef uint64_t ahead_dob = 0, ahead_given = 0
        cdef uint64_t at_dob, at_given
        try:
            for r in range(total):
                item = batch[r]
                at_dob, at_given = ahead_dob, ahead_given
                ahead_dob = ahead_given = 0
                if r + 1 < total:
                    ahead = batch[r + 1][1]
                    if type(ahead) is list and len(<list>ahead) == self.width:
                        ahead_dob = _prefetch(self.memo_dob, <list>ahead, self.i_dob)
                        ahead_given = _prefetch(self.memo_given, <list>ahead, self.i_given)
                line = item[0]
                cells = item[1]
                seen += 1
                if seen % GIL_EVERY == 0:
                    # Native code never passes through the interpreter's switch check: let
                    # a waiting thread (the upload's database writer) run now and then.
                    with nogil:
                        pass
                n = len(cells)
                if n != self.width:
                    problems.append(
                        self.problem(line, "(row)", f"expected {self.width} columns, found {n}")
                    )
                    refused_rows += 1
                    continue
                refused = False
                # record id: required, tokenised, never memoised (slot 0)
                record_id = cells[self.i_record].strip() if self.i_record >= 0 else blank
                tok_record = None
                if not record_id:
                    problems.append(self.problem(line, self.record_field, "a record id is required"))
                    counts[0 * 4 + MISSING] += 1
                    refused = True
                elif len(record_id) > 100:
                    problems.append(
                        self.problem(line, self.record_field, "longer than 100 characters")
                    )
                    counts[0 * 4 + INVALID] += 1
                    refused = True
                else:
                    tok_record = self.t_record.of_str(record_id)
                # NHS number: never memoised (slot 1)
                cell = cells[self.i_nhs] if self.i_nhs >= 0 else blank
                tok_nhs = self._nhs_token(cell, &outcome)
                counts[1 * 4 + outcome] += 1
                # date of birth (slot 2)
                cell = cells[self.i_dob] if self.i_dob >= 0 else blank
                found = self.memo_dob.get_hashed(cell, at_dob)
                if found == NULL:
                    value = self._dob(cell)
                    self._keep(self.memo_dob, cell, value)
                else:
                    value = <object>found
                dob = <tuple>value
                counts[2 * 4 + <int>dob[0]] += 1
                # sex (slot 3)
                cell = cells[self.i_sex] if self.i_sex >= 0 else blank
                found = self.memo_sex.get(cell)
                if found == NULL:
                    value = tuple(self.py_sex_miss(cell))
                    self._keep(self.memo_sex, cell, value)
                else:
                    value = <object>found
                sex = <tuple>value
                counts[3 * 4 + <int>sex[0]] += 1
                # postcode (slot 4), memoised by its normalised value (in _postcode)
                cell = cells[self.i_pc] if self.i_pc >= 0 else blank
                pc = self._postcode(cell)
                counts[4 * 4 + <int>pc[0]] += 1
                # given name (slot 5)
                cell = cells[self.i_given] if self.i_given >= 0 else blank
                found = self.memo_given.get_hashed(cell, at_given)
                if found == NULL:
                    value = self._given(cell)
                    self._keep(self.memo_given, cell, value)
                else:
                    value = <object>found
                given = <tuple>value
                counts[5 * 4 + <int>given[0]] += 1
                # family name (slot 6), with its salt (none: rows.FAMILY_SALT)
                cell = cells[self.i_family] if self.i_family >= 0 else blank
                found = self.memo_family.get_pair(cell, <str>dob[6])
                if found == NULL:
                    value = self._family(cell, <str>dob[6])
                    self._keep_pair(self.memo_family, cell, <str>dob[6], value)
                else:
                    value = <object>found
                family = <tuple>value
                counts[6 * 4 + <int>family[0]] += 1
                # kept attributes: (value, outcome, reason refused[, its JSON member])
                la_code = None
                for a in range(self.n_attributes):
                    cell = cells[self.attr_index[a]] if self.attr_index[a] >= 0 else blank
                    spec_memo = self.attr_memos[a]
                    found = (<MemoTable>spec_memo).get(cell)
                    if found == NULL:
                        value = tuple(self.attr_compute[a](cell))
                        self._keep(<MemoTable>spec_memo, cell, value)
                    else:
                        value = <object>found
                    attr_values[a] = value
                    counts[(7 + a) * 4 + <int>(<tuple>value)[1]] += 1
                    if (<tuple>value)[2] is not None and self.attr_required[a]:
                        problems.append(self.problem(line, self.attr_names[a], (<tuple>value)[2]))
                        refused = True
                    if a == self.la_code:
                        la_code = (<tuple>value)[0]
                if refused:
                    refused_rows += 1
                    continue
                key = (la_code, pc[5])
                value = self.memo_borough.get(key)
                if value is None:
                    value = tuple(self.py_borough(key))
                    self._remember(self.memo_borough, key, value)
                borough = <tuple>value
                i = accepted
                accepted += 1
                k = _set(out, 0, i, line)
                k = _set(out, k, i, self.linkage_version)
                k = _set(out, k, i, self.wrap_version)
                k = _set(out, k, i, tok_record)
                k = _set(out, k, i, tok_nhs)
                for a in range(1, 6):
                    k = _set(out, k, i, dob[a])
                k = _set(out, k, i, sex[1])
                k = _set(out, k, i, sex[2])
                for a in range(1, 5):
                    k = _set(out, k, i, pc[a])
                for a in range(1, 5):
                    k = _set(out, k, i, given[a])
                for a in range(1, 4):
                    k = _set(out, k, i, family[a])
                k = _set(out, k, i, borough[0])
                k = _set(out, k, i, borough[1])
                for a in range(self.n_attributes):
                    _set(attr_out, a, i, (<tuple>attr_values[a])[0])
            result = [[counts[s * 4 + o] for o in range(4)] for s in range(self.slots)]
        finally:
            free(counts)
            free(attr_out)
            for column in values:
                _cut(<list>column, accepted)
            for column in attr_columns:
                _cut(<list>column, accepted)
        return values, attr_columns, accepted, problems, refused_rows, result

    # -- NHS number -------------------------------------------------------------------

    cdef object _nhs_token(self, str raw, int *outcome):
        """The NHS number's token, or None when it is missing or invalid."""
        cdef Py_ssize_t n, i
        cdef const unsigned char *data
        cdef char digits[10]
        cdef int count = 0, visible = 0, total = 0, check
        cdef bint bad = False
        cdef unsigned char c
        if not PyUnicode_IS_ASCII(raw):
            nhs = self.py_nhs(raw)
            outcome[0] = _outcome(raw, nhs is not None, nhs)
            return self.t_nhs.of_str(nhs) if nhs is not None else None
        n = PyUnicode_GET_LENGTH(raw)
        data = <const unsigned char *>PyUnicode_DATA(raw)
        for i in range(n):
            c = data[i]
            if _space(c):
                continue
            visible += 1
            if c == 45:  # "-"
                continue
            if 48 <= c <= 57 and count < 10:
                digits[count] = <char>c
                count += 1
            else:
                bad = True
        if visible == 0:
            outcome[0] = MISSING
            return None
        if bad or count != 10:
            outcome[0] = INVALID
            return None
        for i in range(1, 10):
            if digits[i] != digits[0]:
                break
        else:
            outcome[0] = INVALID
            return None
        for i in range(9):
            total += (10 - i) * (digits[i] - 48)
        check = 11 - total % 11
        if check == 11:
            check = 0
        if check == 10 or check != digits[9] - 48:
            outcome[0] = INVALID
            return None
        outcome[0] = OK if n == 10 else NORMALISED
        return self.t_nhs.of_utf8(<const unsigned char *>digits, 10)

    # -- date of birth ----------------------------------------------------------------

    cdef tuple _dob(self, str raw):
        """(outcome, tok_dob, tok_dob_year, tok_dob_month_day, bloom_dob, age_band, salt)."""
        cdef int year = 0, month = 0, day = 0, age
        cdef bint parsed = False
        cdef Py_ssize_t n, start, end
        cdef const unsigned char *d
        cdef str iso
        if PyUnicode_IS_ASCII(raw):
            n = PyUnicode_GET_LENGTH(raw)
            d = <const unsigned char *>PyUnicode_DATA(raw)
            start, end = 0, n
            while start < end and _space(d[start]):
                start += 1
            while end > start and _space(d[end - 1]):
                end -= 1
            if end - start == 10 and _digits(d + start, 4) and d[start + 4] == 45 and d[start + 7] == 45 \
                    and _digits(d + start + 5, 2) and _digits(d + start + 8, 2):
                year = _number(d + start, 4)
                month = _number(d + start + 5, 2)
                day = _number(d + start + 8, 2)
                parsed = True
            elif end - start == 10 and _digits(d + start, 2) and d[start + 2] == 47 and d[start + 5] == 47 \
                    and _digits(d + start + 3, 2) and _digits(d + start + 6, 4):
                day = _number(d + start, 2)
                month = _number(d + start + 3, 2)
                year = _number(d + start + 6, 4)
                parsed = True
        if parsed:
            if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)) or year < 1890 \
                    or (year, month, day) > (self.today_y, self.today_m, self.today_d):
                return (_outcome(raw, False, None), None, None, None, None, None, "")
            iso = f"{year:04d}-{month:02d}-{day:02d}"
        else:
            born = self.py_birth_date(raw, today=self.today)
            if born is None:
                return (_outcome(raw, False, None), None, None, None, None, None, "")
            iso = born.isoformat()
            year, month, day = born.year, born.month, born.day
        if (year, month, day) <= (self.ref_y, self.ref_m, self.ref_d):
            age = self.ref_y - year - ((self.ref_m, self.ref_d) < (month, day))
            band = self.age_bands[min(age // 5, len(self.age_bands) - 1)]
        else:
            band = None
        return (
            _outcome(raw, True, iso),
            self.t_dob.of_str(iso),
            self._common_token(self.t_dob_year, iso[:4]),
            self._common_token(self.t_dob_md, iso[5:]),
            self._bloom(self.b_dob, "dob", iso, ""),
            band,
            "",  # the family-name salt: none (app.ingest.rows.FAMILY_SALT)
        )

    cdef object _bloom(self, BloomMasks masks, str field, str value, str salt):
        if self.native_bloom:
            return masks.packed(value, salt)
        return self.bloom(field, value, salt=salt)

    # -- postcode ---------------------------------------------------------------------

    cdef tuple _postcode(self, str raw):
        """(outcome, tok_postcode, tok_sector, tok_district, bloom_postcode, district[, the
        COPY fields of the four keyed values])."""
        cdef Py_ssize_t n, i, size = 0
        cdef const unsigned char *d
        cdef char compact[16]
        cdef unsigned char c
        cdef str full, outward
        cdef PyObject *hit
        if not PyUnicode_IS_ASCII(raw):
            found = self.py_postcode(raw)
            if found is None:
                return self._no_postcode(raw)
            full, sector, outward = found.full, found.sector, found.district
        else:
            n = PyUnicode_GET_LENGTH(raw)
            d = <const unsigned char *>PyUnicode_DATA(raw)
            for i in range(n):
                c = d[i]
                if _space(c):
                    continue
                if size == 8:  # no postcode is longer than 7 characters
                    size = 9
                    break
                compact[size] = <char>(c - 32 if 97 <= c <= 122 else c)
                size += 1
            if size < 5 or size > 8:
                return self._no_postcode(raw)
            text = PyUnicode_FromStringAndSize(compact, size)
            if self.compact_pattern.fullmatch(text) is None:
                return self._no_postcode(raw)
            outward = text[:-3]
            full = outward + " " + text[-3:]
            sector = full[:-2]
        hit = self.memo_pc_keyed.get(full)  # one postcode, many spellings
        if hit == NULL:
            keyed = (
                self.t_pc.of_str(full),
                self._common_token(self.t_sector, sector),
                self._common_token(self.t_district, outward),
                self._bloom(self.b_pc, "postcode", full, ""),
                outward,
            )
            self._keep(self.memo_pc_keyed, full, keyed)
        else:
            keyed = <object>hit
        return _joined((_outcome(raw, True, full),), <tuple>keyed, None)

    cdef tuple _no_postcode(self, str raw):
        """A missing or invalid postcode: no keyed values."""
        return (_outcome(raw, False, None), None, None, None, None, None)

    # -- names ------------------------------------------------------------------------

    cdef tuple _parts(self, str raw):
        """``privacy.names.name_parts``: ASCII here, anything else there."""
        cdef Py_ssize_t n, i, start, end
        cdef const unsigned char *d
        cdef char buffer[MAX_NAME]
        cdef Py_ssize_t size = 0, run
        cdef unsigned char c
        cdef list parts = []
        if not PyUnicode_IS_ASCII(raw) or PyUnicode_GET_LENGTH(raw) >= MAX_NAME:
            return self.py_name_parts(raw)
        n = PyUnicode_GET_LENGTH(raw)
        d = <const unsigned char *>PyUnicode_DATA(raw)
        for i in range(n):  # apostrophes and backticks go; letters lower-cased
            c = d[i]
            if c == 39 or c == 96:
                continue
            buffer[size] = <char>(c + 32 if 65 <= c <= 90 else c)
            size += 1
        i = 0
        while i < size:
            if 97 <= <unsigned char>buffer[i] <= 122:
                run = i
                while i < size and 97 <= <unsigned char>buffer[i] <= 122:
                    i += 1
                part = PyUnicode_FromStringAndSize(buffer + run, i - run)
                if part not in self.always_drop:
                    parts.append(part)
            else:
                i += 1
        start, end = 0, len(parts)
        while end - start > 1 and parts[start] in self.leading_titles:
            start += 1
        while end - start > 1 and parts[end - 1] in self.trailing_suffixes:
            end -= 1
        return tuple(parts[start:end])

    cdef str _phonetic(self, str part):
        """``privacy.names.phonetic`` of an ``[a-z]+`` part."""
        code = self.metaphone(part)
        return code if code else part[0].upper()

    cdef tuple _given(self, str raw):
        """(outcome, tok_given_name, tok_given_name_2, tok_given_phonetic, bloom_given_name)."""
        cdef tuple parts = self._parts(raw)
        outcome = _outcome(raw, len(parts) > 0, " ".join(parts))
        if not parts:
            return (outcome, None, None, None, None)
        canonical = [self.given_equivalents.get(p, p) for p in parts]
        first = <str>canonical[0]
        return (
            outcome,
            self._common_token(self.t_given, first),
            self._common_token(self.t_given, <str>canonical[1]) if len(canonical) > 1 else None,
            self._common_token(self.t_given_ph, self._phonetic(first)),
            self._bloom(self.b_given, "given_name", " ".join(canonical), ""),
        )

    cdef tuple _family(self, str raw, str salt):
        """(outcome, tok_family_name, tok_family_phonetic, bloom_family_name)."""
        cdef tuple parts = self._parts(raw)
        cdef PyObject *found
        cdef str joined
        outcome = _outcome(raw, len(parts) > 0, " ".join(parts))
        if not parts:
            return (outcome, None, None, None)
        joined = "".join(parts)
        # Raw spellings differ ("SMITH", "Smith ") where the keyed values do not: about a
        # third of the family-name misses of a synthetic extract. Keyed by the name as
        # normalised, with its salt.
        found = self.memo_family_keyed.get_pair(joined, salt)
        if found == NULL:
            keyed = (
                self.t_family.of_str(joined),
                self._common_token(self.t_family_ph, self._phonetic(joined)),
                self._bloom(self.b_family, "family_name", joined, salt),
            )
            self._keep_pair(self.memo_family_keyed, joined, salt, keyed)
        else:
            keyed = <object>found
        return _joined((outcome,), <tuple>keyed, None)

    def clear(self):
        """Empty every memo table (and the raw values they are keyed by)."""
        for memo in (self.memo_dob, self.memo_sex, self.memo_given,
                     self.memo_family, self.memo_borough, self.token_memo,
                     self.memo_pc_keyed, self.memo_family_keyed):
            memo.clear()  # a MemoTable also wipes its keys' bytes
        for memo in self.attr_memos:
            memo.clear()

    def __dealloc__(self):
        free(self.attr_index)
        free(self.attr_required)

    def __reduce__(self):
        raise TypeError("a row kernel holds keys and cannot be pickled")


def untracked(list fields):
    """``fields`` (a list of strings from the CSV reader) taken off the cyclic collector's
    books: a list of strings is in no reference cycle, and a file's worth of them made
    the collector's scans a tenth of the core's time. Returns ``fields``."""
    for cell in fields:
        if type(cell) is not str:
            raise TypeError("only a list of strings can be untracked")
    PyObject_GC_UnTrack(<void *>fields)
    return fields


cdef tuple _joined(tuple head, tuple tail, object last):
    """``head + tail``, and ``last`` after them unless it is None: one new tuple, where
    ``+`` would make two (memo misses build a few per row)."""
    cdef Py_ssize_t n = PyTuple_GET_SIZE(head), m = PyTuple_GET_SIZE(tail), i, k = 0
    cdef tuple out = PyTuple_New(n + m + (last is not None))
    for i in range(n):
        k = _put(out, k, head[i])
    for i in range(m):
        k = _put(out, k, tail[i])
    if last is not None:
        _put(out, k, last)
    return out


cdef inline uint64_t _prefetch(MemoTable memo, list cells, Py_ssize_t i):
    """``memo.prefetch`` of the cell at ``i`` (0: no such cell, or not text)."""
    if i < 0:
        return 0
    cell = cells[i]
    return memo.prefetch(<str>cell) if type(cell) is str else 0


cdef list _column_of(Py_ssize_t size):
    """A list of ``size`` empty slots, filled in order by ``_set`` and cut to the slots
    filled by ``_cut``: an empty slot never reaches Python."""
    return PyList_New(size)


cdef inline Py_ssize_t _set(PyObject **columns, Py_ssize_t k, Py_ssize_t i, object value) noexcept:
    """Put ``value`` in slot ``i`` (still empty) of the ``k``-th column; the next column."""
    Py_INCREF(value)
    PyList_SET_ITEM(<list>columns[k], i, value)
    return k + 1


cdef inline void _cut(list column, Py_ssize_t filled) noexcept:
    """Keep the first ``filled`` slots. Those after were never set and are never read:
    a list reads and releases only the items its length covers."""
    Py_SET_SIZE(column, filled)


cdef inline Py_ssize_t _put(tuple row, Py_ssize_t k, object value):
    """Put ``value`` at position ``k`` of a new tuple; the next position."""
    Py_INCREF(value)
    PyTuple_SET_ITEM(row, k, value)
    return k + 1


cdef inline bint _digits(const unsigned char *d, int n) noexcept:
    cdef int i
    for i in range(n):
        if not 48 <= d[i] <= 57:
            return False
    return True


cdef inline int _number(const unsigned char *d, int n) noexcept:
    cdef int i, value = 0
    for i in range(n):
        value = value * 10 + (d[i] - 48)
    return value
