"""Structured JSON logs on stderr, one object per line, with the request id.

Only fields passed in ``extra`` from a fixed allow-list are emitted, so a careless
log call cannot leak a value through an unexpected attribute. Request bodies and
query strings are never logged; paths are logged as their route template.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

__all__ = ["JsonFormatter", "configure_logging"]

ALLOWED_EXTRA = (
    "request_id",
    "method",
    "path_template",
    "status",
    "duration_ms",
    "error_type",
    "tree_size",
    "policy_sha256",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ALLOWED_EXTRA:
            if hasattr(record, key):
                document[key] = getattr(record, key)
        if record.exc_info and record.exc_info[0] is not None:
            document["error_type"] = record.exc_info[0].__name__
        return json.dumps(document, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # uvicorn's access log prints raw paths with query strings: ours logs templates instead.
    logging.getLogger("uvicorn.access").disabled = True
