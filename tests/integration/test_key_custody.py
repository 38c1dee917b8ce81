"""The HSM custody, on a real SoftHSM2 token: keys made there never leave it, data keys
are wrapped there, the KEK rotates, and production refuses a token that lets keys out."""

from __future__ import annotations

import base64
import json

import pkcs11
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pkcs11 import Attribute, KeyType, MechanismFlag
from pkcs11.util.ec import encode_named_curve_parameters
from sqlalchemy import select
from typer.testing import CliRunner

from app.auth.actor import Actor
from app.cli.main import app as cli_app
from app.db.models import AuditEvent, KeyVersion
from app.errors import InvalidRequest
from app.keys.custody import (
    CustodyUnavailable,
    ExtractableKeys,
    KeyUnwrapFailed,
    WrappedKey,
    open_custody,
)
from app.keys.pinned import read_pinned_keys
from app.keys.store import AUDIT_SIGNING, DATA_SEAL, LINKAGE, PSEUDONYM_WRAP, DatabaseKeyStore
from app.services import audit, keys
from app.services.context import ServiceContext
from tests.hsm import SOFTHSM_MODULE, hsm_settings, initialised, make_token, session

SECRETS = (DATA_SEAL, LINKAGE, PSEUDONYM_WRAP)


@pytest.fixture
def token(tmp_path):
    return make_token(tmp_path / "hsm")


@pytest.fixture
def hsm_ctx(settings, token):
    with initialised(hsm_settings(settings, token)) as ctx:
        yield ctx


def data_keys(ctx: ServiceContext) -> dict[str, bytes]:
    with ctx.reads() as reads:
        store = DatabaseKeyStore(reads, ctx.master_key)
        return {purpose: store.secret(purpose)[1] for purpose in SECRETS}


def rows(ctx: ServiceContext) -> list[KeyVersion]:
    with ctx.reads() as reads:
        found = list(reads.scalars(select(KeyVersion).order_by(KeyVersion.id)))
        reads.expunge_all()
    return found


def test_init_makes_the_kek_and_signing_key_in_the_token_and_neither_can_leave_it(hsm_ctx, token):
    report = hsm_ctx.master_key.report()
    assert report.backend == "hsm" and report.location == token.label
    assert report.current_kek == "hsm:hsclink-kek-1"
    assert [(o.kind, o.contained) for o in report.objects] == [
        ("kek", True),
        ("signing-key", True),
    ]
    # Asked directly, the token refuses the value of either key.
    with session(token) as own:
        for obj in own.get_objects({Attribute.LABEL: report.objects[0].label}):
            with pytest.raises(pkcs11.exceptions.AttributeSensitive):
                obj[Attribute.VALUE]
    placed = {(r.purpose, r.kek, r.hsm_label is not None) for r in rows(hsm_ctx)}
    assert placed == {
        (AUDIT_SIGNING, None, True),  # held in the HSM: no wrapped copy anywhere
        (DATA_SEAL, "hsm:hsclink-kek-1", False),
        (LINKAGE, "hsm:hsclink-kek-1", False),
        (PSEUDONYM_WRAP, "hsm:hsclink-kek-1", False),
    }
    assert not hsm_ctx.settings.master_key_path.exists()


def test_data_keys_are_wrapped_in_the_hsm_and_bound_to_their_purpose_and_version(hsm_ctx):
    secrets = data_keys(hsm_ctx)
    assert [len(secrets[p]) for p in SECRETS] == [32, 32, 64]
    linkage_row = next(r for r in rows(hsm_ctx) if r.purpose == LINKAGE)
    assert linkage_row.wrapped_key is not None
    assert secrets[LINKAGE] not in linkage_row.wrapped_key
    wrapped = WrappedKey("hsm:hsclink-kek-1", linkage_row.wrapped_key)
    with pytest.raises(KeyUnwrapFailed):
        hsm_ctx.master_key.unwrap(wrapped, context=b"hsclink-key:data-seal:1")
    # A fresh process (a new custody, nothing in memory) unwraps the same keys.
    fresh = ServiceContext.build(hsm_ctx.settings)
    try:
        assert data_keys(fresh) == secrets
    finally:
        fresh.close()


def test_the_audit_signing_key_signs_pure_ed25519_in_the_hsm(hsm_ctx):
    message = b"hsclink.invalid/audit\n1\nroot\n"
    with hsm_ctx.reads() as reads:
        signature = DatabaseKeyStore(reads, hsm_ctx.master_key).sign(AUDIT_SIGNING, message)
    pinned = read_pinned_keys(hsm_ctx.settings.audit_public_key_path)
    assert signature.key_version == 1 and len(signature.value) == 64
    pinned[1].verify(signature.value, message)  # raises if not pure Ed25519 over message
    with pytest.raises(InvalidSignature):
        pinned[1].verify(signature.value, message + b"x")
    assert audit.sign_head_if_grown(hsm_ctx) is not None


def test_rotating_the_audit_signing_key_makes_the_new_one_in_the_hsm(hsm_ctx):
    info = keys.rotate_key(hsm_ctx, actor=Actor.cli(), purpose=AUDIT_SIGNING)
    assert info.version == 2 and info.public_key is not None
    held = [r.hsm_label for r in rows(hsm_ctx) if r.purpose == AUDIT_SIGNING]
    assert all(label and label.startswith("hsclink-audit-signing-") for label in held)
    with hsm_ctx.reads() as reads:
        signature = DatabaseKeyStore(reads, hsm_ctx.master_key).sign(AUDIT_SIGNING, b"m")
    Ed25519PublicKey.from_public_bytes(info.public_key).verify(signature.value, b"m")


def test_rotating_the_kek_rewraps_every_data_key_and_the_store_still_opens(hsm_ctx, token):
    before_keys, before_rows = data_keys(hsm_ctx), rows(hsm_ctx)
    result = keys.rotate_kek(hsm_ctx, actor=Actor.cli())
    assert result.kek == "hsm:hsclink-kek-2"
    assert result.rewrapped == {"hsm:hsclink-kek-1": 3}
    after_rows = rows(hsm_ctx)
    for old, new in zip(before_rows, after_rows, strict=True):
        if old.wrapped_key is None:  # the signing key is held in the HSM, not wrapped
            assert new.wrapped_key is None and new.hsm_label == old.hsm_label
        else:
            assert new.kek == "hsm:hsclink-kek-2" and new.wrapped_key != old.wrapped_key
    with hsm_ctx.reads() as reads:
        entry = reads.scalars(select(AuditEvent).where(AuditEvent.action == "key.kek_rotate")).one()
    assert entry.details == {"kek": result.kek, "rewrapped": 3, "from": ["hsm:hsclink-kek-1"]}
    # With the old KEK destroyed, a fresh process still opens every key: none needs it.
    with session(token) as own:
        own.get_key(label="hsclink-kek-1").destroy()
    fresh = ServiceContext.build(hsm_ctx.settings)
    try:
        assert data_keys(fresh) == before_keys
    finally:
        fresh.close()


def test_the_key_file_cannot_rotate_a_kek_and_says_so(ctx):
    with pytest.raises(InvalidRequest, match="HSM"):
        keys.rotate_kek(ctx, actor=Actor.cli())


def test_keys_move_from_a_key_file_into_the_hsm(ctx, settings, token):
    """A development store moved to an HSM: every key the file wrapped is wrapped again
    under the HSM's KEK, after which the key file is no longer needed."""
    before = data_keys(ctx)
    key_file = settings.master_key_path
    ctx.close()
    moved_settings = hsm_settings(settings, token)
    moved = ServiceContext.build(moved_settings)
    try:
        result = keys.init_hsm(moved, actor=Actor.cli(), from_key_file=key_file)
        assert result.created and result.moved_from_key_file == 4  # with the signing key
        assert {r.kek for r in rows(moved) if r.kek} == {"hsm:hsclink-kek-1"}
    finally:
        moved.close()
    key_file.unlink()
    reopened = ServiceContext.build(moved_settings)
    try:
        assert data_keys(reopened) == before
        assert audit.sign_head_if_grown(reopened) is not None  # the moved signing key signs
    finally:
        reopened.close()


def test_key_where_shows_what_is_where_and_is_audited_without_material(
    hsm_ctx, token, database_url
):
    env = {
        "HSCLINK_DATA_DIR": str(hsm_ctx.settings.data_dir),
        "HSCLINK_DATABASE_URL": database_url,
        "HSCLINK_KEY_CUSTODY": "hsm",
        "HSCLINK_HSM_MODULE": str(SOFTHSM_MODULE),
        "HSCLINK_HSM_TOKEN_LABEL": token.label,
        "HSCLINK_HSM_PIN_FILE": str(token.pin_file),
        "HSCLINK_AUDIT_SIGN_INTERVAL_SECONDS": "0",
    }
    result = CliRunner().invoke(cli_app, ["key", "where", "--json"], env=env)
    assert result.exit_code == 0, result.output
    where = json.loads(result.stdout)
    assert where["custody"]["backend"] == "hsm"
    assert where["custody"]["current_kek"] == "hsm:hsclink-kek-1"
    assert [(o["kind"], o["contained"]) for o in where["custody"]["objects"]] == [
        ("kek", True),
        ("signing-key", True),
    ]
    assert {k["purpose"]: k["kek"] or "in-hsm" for k in where["keys"]} == {
        AUDIT_SIGNING: "in-hsm",
        DATA_SEAL: "hsm:hsclink-kek-1",
        LINKAGE: "hsm:hsclink-kek-1",
        PSEUDONYM_WRAP: "hsm:hsclink-kek-1",
    }
    human = CliRunner().invoke(cli_app, ["key", "where"], env=env)
    assert "contained" in human.stdout and "CAN LEAVE" not in human.stdout
    pin = token.pin_file.read_text().strip()
    for secret in [*data_keys(hsm_ctx).values(), pin.encode()]:
        for form in (secret, secret.hex().encode(), base64.b64encode(secret)):
            assert form.decode("latin-1") not in result.stdout + human.stdout
    with hsm_ctx.reads() as reads:
        actions = list(reads.scalars(select(AuditEvent.action)))
    assert actions.count("key.where") == 2


def test_a_wrong_pin_or_an_absent_token_is_refused_without_showing_the_pin(
    settings, token, tmp_path
):
    wrong = tmp_path / "wrong.pin"
    wrong.write_text("not-the-pin-4711\n")
    for bad in (
        hsm_settings(settings, token, hsm_pin_file=wrong),
        hsm_settings(settings, token, hsm_token_label="no-such-token"),
    ):
        with pytest.raises(CustodyUnavailable) as caught:
            open_custody(bad)
        assert "4711" not in str(caught.value)


# --------------------------------------------------------------------------- production


def extractable_kek(own) -> None:
    own.generate_key(
        KeyType.AES,
        256,
        label="hsclink-kek-7",
        store=True,
        capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
        template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: True},
    )


def readable_kek(own) -> None:
    own.generate_key(
        KeyType.AES,
        256,
        label="hsclink-kek-7",
        store=True,
        capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
        template={Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: False},
    )


def once_extractable_kek(own) -> None:
    """Made extractable, then locked: it may have been copied in between."""
    key = own.generate_key(
        KeyType.AES,
        256,
        label="hsclink-kek-7",
        store=True,
        capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
        template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: True},
    )
    key[Attribute.EXTRACTABLE] = False
    assert key[Attribute.EXTRACTABLE] is False


def extractable_signing_key(own) -> None:
    params = own.create_domain_parameters(
        KeyType.EC_EDWARDS,
        {Attribute.EC_PARAMS: encode_named_curve_parameters("1.3.101.112")},
        local=True,
    )
    params.generate_keypair(
        label="hsclink-audit-signing-9-00000000",
        store=True,
        private_template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: True},
    )


@pytest.mark.parametrize(
    "plant",
    [extractable_kek, readable_kek, once_extractable_kek, extractable_signing_key],
    ids=["extractable-kek", "readable-kek", "once-extractable-kek", "extractable-signing-key"],
)
def test_production_refuses_a_token_that_lets_a_key_leave_it(hsm_ctx, token, plant):
    production = hsm_ctx.settings.model_copy(update={"environment": "production"})
    open_custody(production).close()  # the keys hsclink made are contained
    with session(token) as own:
        plant(own)
    with pytest.raises(ExtractableKeys) as caught:
        open_custody(production)
    assert "hsclink-kek-7" in str(caught.value) or "hsclink-audit-signing-9" in str(caught.value)
    open_custody(hsm_ctx.settings).close()  # development still opens, and `where` shows it
    assert any(not o.contained for o in hsm_ctx.master_key.report().objects)


def test_no_hsclink_process_starts_in_production_with_a_key_file(tmp_path):
    env = {
        "HSCLINK_ENVIRONMENT": "production",
        "HSCLINK_DATA_DIR": str(tmp_path / "prod"),
        "HSCLINK_DATABASE_URL": "postgresql+psycopg://127.0.0.1:5432/absent",
        "HSCLINK_KEY_CUSTODY": "key-file",
    }
    result = CliRunner().invoke(cli_app, ["init"], env=env)
    assert result.exit_code == 6
    assert "HSCLINK_KEY_CUSTODY must be hsm in production" in result.output
    assert not (tmp_path / "prod-keys").exists()


def test_the_custody_prints_as_secure_and_shows_no_pin(hsm_ctx, token):
    shown = repr(hsm_ctx.master_key) + repr(hsm_ctx) + str(hsm_ctx.settings)
    assert "[secure]" in repr(hsm_ctx.master_key)
    assert token.pin_file.read_text().strip() not in shown
