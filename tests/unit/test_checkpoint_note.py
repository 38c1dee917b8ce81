"""Signed notes, checkpoints and cosignatures, against the published example vectors.

Vectors: golang.org/x/mod/sumdb/note (the PeterNeumann signer and verifier keys and
its signed note; Ed25519 is deterministic, so signing must reproduce it byte for
byte), transparency-dev/formats note/note_cosigv1_test.go (verifier keys of types
0x01 and 0x04, and a cosignature whose timestamp is 1727964367), and the C2SP
tlog-cosignature example of the signed message.
"""

from __future__ import annotations

import base64
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit.note import (
    COSIGNATURE_V1,
    ED25519,
    Checkpoint,
    NoteError,
    NoteSignature,
    VerifierKey,
    cosign,
    cosignature_message,
    cosignature_timestamp,
    key_id,
    parse_note,
    render_note,
)
from app.audit.witness_config import WitnessConfigError, parse_witnesses

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_NOTE = (
    PETER_TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
#: transparency-dev/formats: an Ed25519 note key whose base64 holds a '+', and a
#: native cosignature/v1 (type 0x04) key.
PLUS_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
COSIGNER_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
COSIGNATURE_B64 = (
    "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFi"
    "EBYJXORmnFBOBA=="
)


def peter_private() -> Ed25519PrivateKey:
    raw = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert raw[0] == ED25519
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


@pytest.mark.parametrize("vkey", [PETER_VKEY, PLUS_VKEY, COSIGNER_VKEY])
def test_published_verifier_keys_parse_and_re_encode_byte_for_byte(vkey):
    assert VerifierKey.parse(vkey).encode() == vkey


def test_the_key_id_is_the_first_four_bytes_of_sha256_over_name_newline_type_and_key():
    key = VerifierKey.parse(COSIGNER_VKEY)
    assert key.sig_type == COSIGNATURE_V1
    assert key_id("remora.n621.de", COSIGNATURE_V1, key.public_key).hex() == "da77ade7"
    # The same key as a plain note key (type 0x01) has another ID.
    assert key_id("remora.n621.de", ED25519, key.public_key).hex() != "da77ade7"


def test_signing_the_go_example_reproduces_its_signed_note():
    key = VerifierKey.parse(PETER_VKEY)
    signature = peter_private().sign(PETER_TEXT.encode())
    assert render_note(PETER_TEXT, [NoteSignature(key.name, key.key_id, signature)]) == PETER_NOTE


def test_the_go_example_note_verifies_and_fails_once_one_letter_changes():
    key = VerifierKey.parse(PETER_VKEY)
    text, (signature,) = parse_note(PETER_NOTE)
    assert text == PETER_TEXT
    assert signature.verify(key, text.encode())
    forged = text.replace("cryptography", "cryptographY")
    assert not signature.verify(key, forged.encode())


@pytest.mark.parametrize(
    "mangled",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong hash
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",  # short key
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW=",  # bad padding
    ],
)
def test_mangled_verifier_keys_are_refused(mangled):
    with pytest.raises(NoteError):
        VerifierKey.parse(mangled)


def test_the_published_cosignature_carries_its_timestamp_big_endian_after_the_key_id():
    raw = base64.b64decode(COSIGNATURE_B64)
    signature = NoteSignature("witness.example", raw[:4], raw[4:])
    assert cosignature_timestamp(signature) == 1727964367
    assert len(signature.signature) == 8 + 64


def test_the_cosigned_message_is_the_spec_example():
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert cosignature_message(1679315147, text) == (
        b"cosignature/v1\ntime 1679315147\n"
        b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_a_cosignature_is_timestamp_then_ed25519_over_the_cosigned_message():
    private = Ed25519PrivateKey.generate()
    key = VerifierKey("witness.example/w1", COSIGNATURE_V1, private.public_key().public_bytes_raw())
    text = Checkpoint("example.com/log", 5, b"\x07" * 32).text()
    line = cosign(private, key, text, 1700000000)
    assert line.signature[:8] == struct.pack(">Q", 1700000000)
    private.public_key().verify(line.signature[8:], cosignature_message(1700000000, text))
    assert line.verify(key, text.encode())
    assert not line.verify(key, Checkpoint("example.com/log", 6, b"\x07" * 32).text().encode())
    # A note verifier with the same key as type 0x01 ignores it (another key ID).
    plain = VerifierKey(key.name, ED25519, key.public_key)
    assert not line.matches(plain)


def test_a_checkpoint_is_origin_size_and_base64_root_one_line_each():
    checkpoint = Checkpoint(
        "example.com/behind-the-sofa",
        20852163,
        base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="),
    )
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert checkpoint.text() == text
    assert Checkpoint.parse(text) == checkpoint


@pytest.mark.parametrize(
    "text",
    [
        "example.com/log\n012\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # leading zero
        "example.com/log\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",  # no final newline
        "example.com/log\n12\n\n",  # no root
        "example.com/log\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    ],
)
def test_malformed_checkpoints_are_refused(text):
    with pytest.raises(NoteError):
        Checkpoint.parse(text)


def test_the_text_of_a_note_ends_at_its_last_blank_line():
    text, signatures = parse_note("a\n\nb\n\n\u2014 k AAAAAAE=\n")
    assert text == "a\n\nb\n"
    assert signatures == [NoteSignature("k", b"\x00\x00\x00\x00", b"\x01")]


@pytest.mark.parametrize(
    "note",
    [
        "text\n\u2014 k AAAAAAE=\n",  # no blank line
        "text\n\n- k AAAAAAE=\n",  # a hyphen, not an em dash
        "text\n\n\u2014 k+1 AAAAAAE=\n",  # '+' in the key name
        "text\x07\n\n\u2014 k AAAAAAE=\n",  # a control character
        "text\n\n\u2014 k AAAA\n",  # shorter than a key ID and one byte
    ],
)
def test_malformed_notes_are_refused(note):
    with pytest.raises(NoteError):
        parse_note(note)


def test_witness_entries_name_a_url_and_a_cosignature_key_even_with_equals_signs():
    entries = parse_witnesses(
        f"ig=https://witness.example/w?x=1={COSIGNER_VKEY}, nhse=http://10.0.0.2:9000/={COSIGNER_VKEY}"
    )
    assert [(w.name, w.url) for w in entries] == [
        ("ig", "https://witness.example/w?x=1"),
        ("nhse", "http://10.0.0.2:9000"),
    ]
    assert entries[0].key == VerifierKey.parse(COSIGNER_VKEY)


def test_witness_entries_can_come_from_a_file_with_comments(tmp_path):
    path = tmp_path / "witnesses"
    path.write_text(f"# the IG team's witness\nig=https://w.example={COSIGNER_VKEY}\n\n")
    assert [w.name for w in parse_witnesses(str(path))] == ["ig"]


@pytest.mark.parametrize(
    "value",
    [
        f"ig=https://w.example={PETER_VKEY}",  # a note key, not a cosignature key
        f"ig=ftp://w.example={COSIGNER_VKEY}",
        "ig=https://w.example=remora.n621.de+da77ade8+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
        f"ig=https://a.example={COSIGNER_VKEY},ig=https://b.example={COSIGNER_VKEY}",
    ],
)
def test_bad_witness_entries_are_refused(value):
    with pytest.raises(WitnessConfigError):
        parse_witnesses(value)
