"""The sealed store: pseudonymised data at rest as encrypted columnar batches.

Every per-record value the service keeps (a submission's tokens, Bloom encodings and
typed attributes; a snapshot's record -> person assignment; the opt-out list) is written
as an Apache Arrow IPC stream of thousands of records, encrypted with AES-256-GCM under
the data-seal key (a fresh random nonce per batch; the batch's table, owner, number,
part and key version as associated data). The database keeps per batch only what is
needed to find and verify it: owner, number, row count, key versions, ciphertext and
SHA-256 digest. A copy of the database without the keys shows counts and sizes only.

Modules, one job each:

- ``seal``: the AEAD and the keys (``SealKeys``), and the associated data of a batch;
- ``ipc``: Arrow tables to IPC bytes and back;
- ``records``: the columns of a record batch (linkage part and facts part);
- ``batches``: writing and reading sealed batches in the database.
"""

from app.store.batches import (
    ASSIGNMENT_BATCH_ROWS,
    SealedRecordBatch,
    accepted_record_parts,
    delete_submission_batches,
    insert_record_batch,
    latest_optouts,
    read_assignment,
    record_key,
    replace_optouts,
    write_assignment,
)
from app.store.records import FACTS, LINKAGE_PART, seal_record_rows
from app.store.seal import SealError, SealKeys, seal_keys

__all__ = [
    "ASSIGNMENT_BATCH_ROWS",
    "FACTS",
    "LINKAGE_PART",
    "SealError",
    "SealKeys",
    "SealedRecordBatch",
    "accepted_record_parts",
    "delete_submission_batches",
    "insert_record_batch",
    "latest_optouts",
    "read_assignment",
    "record_key",
    "replace_optouts",
    "seal_keys",
    "seal_record_rows",
    "write_assignment",
]
