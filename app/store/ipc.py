"""Arrow tables to Arrow IPC stream bytes and back (uncompressed: tokens and Bloom
encodings are random bytes, and compression would run before encryption anyway)."""

from __future__ import annotations

import pyarrow as pa

__all__ = ["from_ipc", "to_ipc"]


def to_ipc(batch: pa.RecordBatch | pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        if isinstance(batch, pa.Table):
            writer.write_table(batch)
        else:
            writer.write_batch(batch)
    return bytes(sink.getvalue())


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()
