"""The witness: a small service, run on a host the log's operator does not control, that
cosigns a log's checkpoints only if each is consistent with the last it saw.

It speaks c2sp.org/tlog-witness (``POST /add-checkpoint``), so it can witness any
log that does, and any log's client can check its cosignatures. It shares no code
path with the service's database or keys: its own key file and SQLite file only.
"""
