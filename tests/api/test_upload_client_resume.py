"""``hsclink upload`` carries on through requests the service time-boxes."""

from __future__ import annotations

import gzip

import pytest

from app.cli.upload import Uploader
from tests.api.test_submissions import extract


@pytest.mark.parametrize("compressed", [False, True], ids=["csv", "gzip"])
def test_the_client_resumes_each_time_boxed_request_until_the_file_is_in(
    live_server, ctx, settings, people, tmp_path, compressed
):
    """With no time allowed the service answers after every batch; the client sends the
    rest each time (a gzip file from its start) until the submission is decided."""
    ctx.settings = settings.model_copy(
        update={"ingest_batch_rows": 1000, "ingest_request_seconds": 0}
    )
    body = extract(3500)
    path = tmp_path / ("episodes.csv.gz" if compressed else "episodes.csv")
    path.write_bytes(gzip.compress(body) if compressed else body)
    client = Uploader(
        server=live_server, token=people["submitter"].token, state_file=tmp_path / "state.json"
    )
    resumed: list[int] = []
    result = client.upload(
        path, "nhs_episodes", on_bytes=lambda chunk: None, on_resume=resumed.append, retries=2
    )
    assert (result["status"], result["rows_seen"], result["rows_accepted"]) == (
        "accepted",
        3500,
        3500,
    )
    assert len(resumed) >= 4  # one request a batch
    if not compressed:
        assert resumed == sorted(resumed) and resumed[0] == 0 < resumed[1]
