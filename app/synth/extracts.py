"""Write the two synthetic extracts and the truth file (``hsclink synth`` calls this).

Files are UTF-8 CSV with a header row, RFC 4180 quoting and "\\n" line ends,
written a person at a time (memory stays flat however many people) to
``*.partial`` names that are renamed only once every file is complete.
"""

from __future__ import annotations

import csv
import os
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from app.synth.generator import ASC_DATASET, NHS_DATASET, iter_households
from app.synth.render import ASC_HEADERS, NHS_HEADERS

__all__ = [
    "ASC_FILE",
    "NHS_FILE",
    "TRUTH_FILE",
    "TRUTH_HEADERS",
    "SynthReport",
    "write_extracts",
]

NHS_FILE = f"{NHS_DATASET}.csv"
ASC_FILE = f"{ASC_DATASET}.csv"
TRUTH_FILE = "truth.csv"
#: ``errors``: the record's error kinds (``noise.ERROR_KINDS``), sorted, ";"-joined.
TRUTH_HEADERS = ("dataset", "record_id", "person_key", "errors")


@dataclass(frozen=True)
class SynthReport:
    persons: int
    episodes: int
    asc_records: int
    files: tuple[Path, ...]

    def __post_init__(self) -> None:
        if min(self.persons, self.episodes, self.asc_records) < 0:
            raise ValueError("counts are non-negative")


def write_extracts(
    outdir: Path, *, persons: int, seed: int, reference_date: date = date(2026, 4, 1)
) -> SynthReport:
    """Generate ``persons`` people from ``seed`` and write the three files into ``outdir``.

    The same (persons, seed, reference_date) always gives the same bytes. Existing
    files of the same names are replaced.
    """
    if seed < 0:
        raise ValueError("seed must be non-negative")
    outdir.mkdir(parents=True, exist_ok=True)
    names = (NHS_FILE, ASC_FILE, TRUTH_FILE)
    headers = (NHS_HEADERS, ASC_HEADERS, TRUTH_HEADERS)
    finals = tuple(outdir / n for n in names)
    partials = tuple(p.with_name(p.name + ".partial") for p in finals)
    episodes = asc = 0
    try:
        with ExitStack() as stack:
            writers = []
            for path, header in zip(partials, headers, strict=True):
                f = stack.enter_context(path.open("w", encoding="utf-8", newline=""))
                writer = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
                writer.writeheader()
                writers.append(writer)
            nhs_out, asc_out, truth_out = writers
            rng = np.random.default_rng(seed)
            for records in iter_households(persons, rng, reference_date=reference_date):
                nhs_out.writerows(records.nhs_episodes)
                asc_out.writerows(records.asc_clients)
                truth_out.writerows(records.truth)
                episodes += len(records.nhs_episodes)
                asc += len(records.asc_clients)
    except BaseException:
        for path in partials:
            path.unlink(missing_ok=True)
        raise
    for partial, final in zip(partials, finals, strict=True):
        os.replace(partial, final)
    return SynthReport(persons=persons, episodes=episodes, asc_records=asc, files=finals)
