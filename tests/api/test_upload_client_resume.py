"""``hsclink upload`` carries on through requests the service time-boxes and connections
that drop; and it streams over a real TLS socket."""

from __future__ import annotations

import gzip
import ssl

import pytest
from sqlalchemy import select

from app.bootstrap import create_app
from app.cli.transport import SocketTransport
from app.cli.upload import CHUNK, Uploader
from app.db.models import AuditEvent
from tests.api.test_submissions import extract
from tests.asgi_transport import AsgiTransport
from tests.conftest import serve_live
from tests.integration.test_tls import self_signed
from tests.sealed import record_count


@pytest.mark.parametrize("compressed", [False, True], ids=["csv", "gzip"])
def test_the_client_resumes_each_time_boxed_request_until_the_file_is_in(
    api_server, ctx, settings, people, tmp_path, compressed
):
    """With no time allowed the service answers after every batch; the client sends the
    rest each time (a gzip file from its start) until the submission is decided."""
    ctx.settings = settings.model_copy(
        update={"ingest_batch_rows": 1000, "ingest_request_seconds": 0}
    )
    body = extract(3500)
    path = tmp_path / ("episodes.csv.gz" if compressed else "episodes.csv")
    path.write_bytes(gzip.compress(body) if compressed else body)
    pauses: list[float] = []
    client = Uploader(
        server=api_server,
        token=people["submitter"].token,
        state_file=tmp_path / "state.json",
        pause=pauses.append,
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
    assert pauses == []  # an answered request is carried on at once


def test_the_client_resumes_after_the_connection_drops_mid_file(
    api_server, in_process: AsgiTransport, ctx, settings, people, tmp_path
):
    """The connection fails part-way through the body (the client's send raises
    ``ConnectionResetError``, the service sees the client go): the client waits, asks
    where the committed rows end and sends the rest; every row is stored once."""
    ctx.settings = settings.model_copy(update={"ingest_batch_rows": 500})
    body = extract(8000)
    path = tmp_path / "episodes.csv"
    path.write_bytes(body)
    assert len(body) > 3 * CHUNK
    dropped = in_process.drop_next("PATCH", after=2 * CHUNK, path_prefix="/api/v1/submissions/")
    pauses: list[float] = []
    client = Uploader(
        server=api_server,
        token=people["submitter"].token,
        state_file=tmp_path / "state.json",
        pause=pauses.append,
    )
    resumed: list[int] = []
    result = client.upload(
        path, "nhs_episodes", on_bytes=lambda chunk: None, on_resume=resumed.append
    )
    assert dropped.done.is_set()
    assert (result["status"], result["rows_seen"], result["rows_accepted"]) == (
        "accepted",
        8000,
        8000,
    )
    assert pauses == [1]  # one wait after the drop
    assert resumed[0] == 0 < resumed[1] <= 2 * CHUNK  # from the last committed batch
    row_ends = {i + 1 for i, byte in enumerate(body) if byte == ord("\n")}
    assert resumed[1] in row_ends
    assert record_count(ctx) == 8000  # no row stored twice, none lost
    with ctx.reads() as session:
        outcomes = session.scalars(
            select(AuditEvent.outcome)
            .where(AuditEvent.action == "submission.upload")
            .order_by(AuditEvent.seq)
        ).all()
    assert outcomes == ["failed", "allowed"]  # the dropped request is audited too
    # The service saw the client go: the request's body stream raised (and, as under
    # uvicorn, the error was logged); nothing else escaped the app.
    assert [type(error).__name__ for error in in_process.errors] == ["ClientDisconnect"]
    in_process.errors.clear()


def test_the_client_streams_an_extract_over_tls_to_a_live_server(
    ctx, settings, people, tmp_path, monkeypatch
):
    """The socket path the CLI really takes: TLS (checked against the trust store),
    the body streamed and counted as it goes, the submission accepted."""
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the trust store http.client uses
    body = extract(3000)
    path = tmp_path / "episodes.csv"
    path.write_bytes(body)
    sent: list[int] = []
    resumed: list[int] = []
    with serve_live(create_app(settings, ctx=ctx), tls=(cert, key)) as base_url:
        assert base_url.startswith("https://localhost:")
        client = Uploader(
            server=base_url, token=people["submitter"].token, state_file=tmp_path / "s.json"
        )
        assert isinstance(client.transport, SocketTransport)
        result = client.upload(
            path,
            "nhs_episodes",
            on_bytes=lambda chunk: sent.append(len(chunk)),
            on_resume=resumed.append,
        )
        assert (result["status"], result["rows_accepted"]) == ("accepted", 3000)
        assert sum(sent) == len(body) and len(sent) > 1  # streamed in blocks, all of it
        assert resumed == [0]
        untrusted = Uploader(
            server=base_url, token=people["submitter"].token, state_file=tmp_path / "u.json"
        )
        monkeypatch.delenv("SSL_CERT_FILE")
        with pytest.raises(ssl.SSLCertVerificationError):
            untrusted._request("GET", "/api/v1/submissions")
