"""``hsclink upload`` as a submitter runs it: address and token from the environment, a
bar that fits 80 columns, and a file sent twice reported, not failed."""

from __future__ import annotations

import gzip
import json
import re

import pytest
from typer.testing import CliRunner

from app.cli.main import app
from tests.api.test_submissions import extract


@pytest.fixture
def hsclink(api_server, people, tmp_path):
    runner = CliRunner()
    env = {
        "HSCLINK_SERVER": api_server,
        "HSCLINK_TOKEN": people["submitter"].token,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "COLUMNS": "80",
    }

    def invoke(*args: str):
        return runner.invoke(app, ["upload", *args], env=env, catch_exceptions=False)

    return invoke


def test_an_upload_counts_data_rows_and_its_bar_fits_80_columns(hsclink, tmp_path):
    path = tmp_path / "episodes-of-care-from-the-royal-london-hospital.csv"
    path.write_bytes(extract(40))
    done = hsclink(str(path), "--dataset", "nhs_episodes")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    bar = next(line for line in lines if " rows " in line and "…" in line)
    assert re.search(r"\b40 rows\b", bar)  # the header is not a row
    assert re.search(r"submission \d+: accepted — 40 rows accepted, 0 refused", done.stdout)


def test_sending_an_accepted_file_again_says_where_it_is_and_exits_0(hsclink, tmp_path):
    path = tmp_path / "episodes.csv.gz"
    path.write_bytes(gzip.compress(extract(12)))
    first = json.loads(hsclink(str(path), "--dataset", "nhs_episodes", "--json").stdout)
    assert first["status"] == "accepted" and first["rows_accepted"] == 12

    again = hsclink(str(path), "--dataset", "nhs_episodes")
    assert again.exit_code == 0, again.output
    assert (
        f"already submitted as submission {first['id']} (accepted, 12 rows accepted);"
        " nothing was sent again"
    ) in again.stdout

    as_data = hsclink(str(path), "--dataset", "nhs_episodes", "--json")
    assert as_data.exit_code == 0
    record = json.loads(as_data.stdout)
    assert record["already_submitted"] is True and record["id"] == first["id"]


def test_a_refused_upload_still_exits_non_zero(hsclink, tmp_path):
    """Only "already submitted" is not a failure: other refusals keep their exit codes."""
    path = tmp_path / "episodes.csv"
    path.write_bytes(extract(3))
    refused = hsclink(str(path), "--dataset", "no_such_dataset")
    assert refused.exit_code == 1
    assert "Not found (404): no dataset schema of that name" in refused.output
