"""Read the CSV files shipped in ``app/synth/data`` (UTF-8, header row)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from importlib.resources import files

__all__ = ["read_data"]


def read_data(name: str) -> Iterator[dict[str, str]]:
    """Rows of one shipped CSV file, as dicts keyed by its header."""
    text = files("app.synth").joinpath("data").joinpath(name).read_text(encoding="utf-8")
    yield from csv.DictReader(io.StringIO(text, newline=""))
