"""The witness process speaks c2sp.org/tlog-witness and never rolls a log back.

A log is played here by an Ed25519 key and a list of leaves; the witness is the real
``hsclink witness serve`` process. Every answer is checked as the specification
words it (status, ``text/x.tlog.size`` body, cosignature bytes).
"""

from __future__ import annotations

import base64
import stat
import struct
import urllib.error
import urllib.request

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit.merkle import consistency_proof, leaf_hash, root_hash
from app.audit.note import (
    ED25519,
    Checkpoint,
    NoteSignature,
    VerifierKey,
    parse_note,
    render_note,
)
from app.audit.witness_client import add_checkpoint, latest_checkpoint
from tests.witnesses import hsclink, running_witness

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
ORIGIN = "log.example/audit"
LEAVES = [leaf_hash(b"entry %d" % i) for i in range(40)]


class Log:
    """A log that signs checkpoints over prefixes of LEAVES (or over a forked history)."""

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.key = VerifierKey(ORIGIN, ED25519, self.private.public_key().public_bytes_raw())

    def note(self, size: int, leaves: list[bytes] = LEAVES, origin: str = ORIGIN) -> str:
        text = Checkpoint(origin, size, root_hash(leaves[:size])).text()
        key = VerifierKey(origin, ED25519, self.key.public_key)
        signature = NoteSignature(key.name, key.key_id, self.private.sign(text.encode()))
        return render_note(text, [signature])


@pytest.fixture
def log():
    return Log()


@pytest.fixture
def witness(tmp_path, log):
    with running_witness(tmp_path / "witness", "w1.example/witness", trust=[log.key.encode()]) as w:
        yield w


def submit(witness, old, size, note, leaves=LEAVES):
    proof = consistency_proof(old, leaves[:size]) if 0 < old < size else []
    return add_checkpoint(witness.url, old, proof, note, timeout=10)


def test_a_first_checkpoint_is_cosigned_with_a_timestamped_cosignature_v1(witness, log):
    note = log.note(10)
    answer = submit(witness, 0, 10, note)
    assert answer.status == 200
    (line,) = answer.body.splitlines()
    assert line.startswith("\u2014 w1.example/witness ")
    raw = base64.b64decode(line.split(" ")[2])
    key = VerifierKey.parse(witness.vkey)
    assert raw[:4] == key.key_id and len(raw) == 4 + 8 + 64
    (timestamp,) = struct.unpack(">Q", raw[4:12])
    text = Checkpoint(ORIGIN, 10, root_hash(LEAVES[:10])).text()
    message = b"cosignature/v1\ntime %d\n" % timestamp + text.encode()
    key.ed25519().verify(raw[12:], message)


def test_a_consistent_larger_checkpoint_is_cosigned_from_the_old_size(witness, log):
    assert submit(witness, 0, 10, log.note(10)).status == 200
    assert submit(witness, 10, 25, log.note(25)).status == 200
    latest = latest_checkpoint(witness.url, ORIGIN, timeout=10)
    text, lines = parse_note(latest.body)
    assert Checkpoint.parse(text).size == 25
    assert any(s.matches(log.key) and s.verify(log.key, text.encode()) for s in lines)
    witness_key = VerifierKey.parse(witness.vkey)
    assert any(s.matches(witness_key) and s.verify(witness_key, text.encode()) for s in lines)


def test_a_stale_old_size_gets_409_with_the_witness_size_as_text_x_tlog_size(witness, log):
    assert submit(witness, 0, 20, log.note(20)).status == 200
    answer = submit(witness, 0, 30, log.note(30))
    assert (answer.status, answer.content_type, answer.body) == (409, "text/x.tlog.size", "20\n")
    assert answer.conflict_size == 20
    assert submit(witness, 20, 30, log.note(30)).status == 200


def test_a_rollback_to_a_smaller_checkpoint_is_refused(witness, log):
    assert submit(witness, 0, 20, log.note(20)).status == 200
    assert submit(witness, 20, 12, log.note(12)).status == 400  # old size above the new
    rolled_back = submit(witness, 0, 12, log.note(12))
    assert (rolled_back.status, rolled_back.body) == (409, "20\n")
    latest = latest_checkpoint(witness.url, ORIGIN, timeout=10)
    assert Checkpoint.parse(parse_note(latest.body)[0]).size == 20


def test_an_inconsistent_history_is_refused_with_422(witness, log):
    assert submit(witness, 0, 20, log.note(20)).status == 200
    forked = [*LEAVES[:7], leaf_hash(b"forged"), *LEAVES[8:]]
    answer = submit(witness, 20, 30, log.note(30, forked), forked)
    assert answer.status == 422
    # And the honest continuation is still accepted: the refusal changed nothing.
    assert submit(witness, 20, 30, log.note(30)).status == 200


def test_another_root_at_the_size_already_cosigned_is_a_409_conflict(witness, log):
    assert submit(witness, 0, 20, log.note(20)).status == 200
    forked = [leaf_hash(b"forged"), *LEAVES[1:]]
    answer = submit(witness, 20, 20, log.note(20, forked), forked)
    assert answer.status == 409
    # The same checkpoint again is cosigned afresh (how the log keeps a cosignature recent).
    assert submit(witness, 20, 20, log.note(20)).status == 200


def test_a_checkpoint_signed_by_an_untrusted_key_is_forbidden(witness):
    stranger = Log()
    assert submit(witness, 0, 10, stranger.note(10)).status == 403


def test_a_log_the_witness_does_not_follow_is_not_found(witness, log):
    assert submit(witness, 0, 10, log.note(10, origin="other.example/log")).status == 404


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with NO_PROXY.open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize(
    "head",
    [
        "old 010\n",  # a leading zero
        "old x\n",
        "old 5\nAAAA\n",  # a proof hash that is not 32 bytes
        "old 0\n" + base64.b64encode(bytes(32)).decode() + "\n",  # a proof from size 0
        "",  # no old size line
    ],
)
def test_malformed_requests_are_bad_requests(witness, log, head):
    assert post(f"{witness.url}/add-checkpoint", (head + "\n" + log.note(10)).encode()) == 400


def test_the_witness_remembers_across_restarts_and_keeps_its_key(tmp_path, log):
    data = tmp_path / "witness"
    with running_witness(data, "w1.example/witness", trust=[log.key.encode()]) as first:
        assert submit(first, 0, 20, log.note(20)).status == 200
    with running_witness(data, "w1.example/witness", trust=[]) as second:
        assert second.vkey == first.vkey
        assert submit(second, 0, 12, log.note(12)).body == "20\n"
    assert stat.S_IMODE((data / "witness.key").stat().st_mode) == 0o600


def test_trusting_a_log_by_its_verifier_key_lets_the_witness_cosign_it(tmp_path, log):
    data = tmp_path / "witness"
    refused = hsclink("witness", "trust", "not-a-key", "--data", str(data))
    assert refused.returncode != 0
    trusted = hsclink("witness", "trust", log.key.encode(), "--data", str(data))
    assert trusted.returncode == 0, trusted.stderr
    with running_witness(data, "w1.example/witness", trust=[]) as witness:
        assert submit(witness, 0, 5, log.note(5)).status == 200
    listed = hsclink("witness", "logs", "--data", str(data), "--json")
    assert '"size": 5' in listed.stdout and ORIGIN in listed.stdout


def test_the_witness_key_command_prints_the_same_verifier_key_every_time(tmp_path):
    data = str(tmp_path / "witness")
    first = hsclink("witness", "key", "--data", data, "--name", "ig.example/witness")
    again = hsclink("witness", "key", "--data", data)
    assert first.returncode == again.returncode == 0
    assert first.stdout == again.stdout
    key = VerifierKey.parse(first.stdout.strip())
    assert (key.name, key.sig_type) == ("ig.example/witness", 0x04)
    renamed = hsclink("witness", "key", "--data", data, "--name", "other.example/witness")
    assert renamed.returncode != 0
