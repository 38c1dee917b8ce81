"""Key versions are wrapped under the master key (here the development key file); none is
readable without it. ``test_key_custody.py`` runs the same properties on an HSM."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth.actor import Actor
from app.db.models import AuditEvent, KeyVersion
from app.keys.custody import KEY_FILE_KEK, KeyFileCustody, KeyUnwrapFailed, WrappedKey
from app.keys.master import MasterKey
from app.keys.pinned import read_pinned_keys
from app.keys.store import (
    AUDIT_SIGNING,
    DATA_SEAL,
    LINKAGE,
    PSEUDONYM_WRAP,
    DatabaseKeyStore,
    KeyNotFound,
)
from app.services import audit, keys


def test_initialisation_creates_a_pinned_signing_key_and_the_pseudonym_keys(ctx):
    with ctx.sessions() as session:
        store = DatabaseKeyStore(session, ctx.master_key)
        infos = store.list()
        assert len(store.secret(LINKAGE)[1]) == 32
        assert len(store.secret(PSEUDONYM_WRAP)[1]) == 64
        assert len(store.secret(DATA_SEAL)[1]) == 32  # AES-256-GCM: the sealed store
    assert [(k.purpose, k.version, k.status) for k in infos] == [
        (AUDIT_SIGNING, 1, "active"),
        (DATA_SEAL, 1, "active"),
        (LINKAGE, 1, "active"),
        (PSEUDONYM_WRAP, 1, "active"),
    ]
    assert list(read_pinned_keys(ctx.settings.audit_public_key_path)) == [1]


def test_rotation_keeps_old_versions_to_verify_what_they_signed(ctx):
    from tests.integration.audit_helpers import fill_log

    fill_log(ctx, total=6, signed_at=5)
    info = keys.rotate_key(ctx, actor=Actor.cli(), purpose=AUDIT_SIGNING)
    assert info.version == 2
    assert audit.sign_head_if_grown(ctx) is not None
    report = audit.verify_database(ctx)
    assert report.ok and report.heads_checked >= 2
    assert sorted(read_pinned_keys(ctx.settings.audit_public_key_path)) == [1, 2]
    with ctx.sessions() as session:
        statuses = {
            k.version: k.status
            for k in DatabaseKeyStore(session, ctx.master_key).list()
            if k.purpose == AUDIT_SIGNING
        }
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert statuses == {1: "retired", 2: "active"}
    assert last is not None


def test_key_rotation_is_audited(ctx):
    keys.rotate_key(ctx, actor=Actor.cli(), purpose=LINKAGE)
    with ctx.sessions() as session:
        entry = session.scalars(select(AuditEvent).where(AuditEvent.action == "key.rotate")).one()
    assert entry.details == {"purpose": LINKAGE, "version": 2}
    assert entry.actor.startswith("cli:")


def test_stored_key_material_is_ciphertext_bound_to_its_purpose_and_version(ctx):
    keys.rotate_key(ctx, actor=Actor.cli(), purpose=LINKAGE)
    with ctx.sessions() as session:
        store = DatabaseKeyStore(session, ctx.master_key)
        _, secret = store.secret(LINKAGE)
        row = session.scalars(
            select(KeyVersion).where(KeyVersion.purpose == LINKAGE, KeyVersion.status == "active")
        ).one()
        assert row.wrapped_key is not None and secret not in row.wrapped_key
        assert row.kek == KEY_FILE_KEK and row.hsm_label is None
        with pytest.raises(KeyUnwrapFailed):
            ctx.master_key.unwrap(
                WrappedKey(KEY_FILE_KEK, row.wrapped_key), context=b"hsclink-key:audit-signing:1"
            )


def test_another_master_key_cannot_unwrap_anything(ctx, tmp_path):
    path = tmp_path / "other.key"
    other = KeyFileCustody(MasterKey.create(path), path)
    with ctx.sessions() as session, pytest.raises(KeyUnwrapFailed) as caught:
        DatabaseKeyStore(session, other).sign(AUDIT_SIGNING, b"message")
    assert "other.key" in str(caught.value)


def test_unknown_purposes_and_missing_versions_are_refused(ctx):
    with ctx.sessions() as session:
        store = DatabaseKeyStore(session, ctx.master_key)
        with pytest.raises(KeyNotFound):
            store.create("everything")
        with pytest.raises(KeyNotFound):
            store.secret(LINKAGE, version=9)
