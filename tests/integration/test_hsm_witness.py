"""The two halves of issue 13 together: checkpoints signed inside the HSM are cosigned by
a real witness process, and a rollback with full access to the database and the data
dir (no key is there to take) still fails verify."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.audit.log import log_verifier_key
from app.db.models import KeyVersion
from app.keys.pinned import read_pinned_keys
from app.keys.store import AUDIT_SIGNING
from app.services import audit
from app.services.audit_witnesses import cosign_latest
from tests.hsm import hsm_settings, initialised, make_token
from tests.integration.audit_helpers import append_events, drop_guards, execute
from tests.witnesses import running_witness


@pytest.fixture
def hsm_ctx(settings, tmp_path):
    with initialised(hsm_settings(settings, make_token(tmp_path / "hsm"))) as ctx:
        yield ctx


def test_hsm_signed_checkpoints_are_cosigned_and_a_rollback_fails_verify(
    hsm_ctx, admin_engine, tmp_path
):
    ctx = hsm_ctx
    with ctx.reads() as reads:
        signing = reads.scalar(
            select(KeyVersion).where(
                KeyVersion.purpose == AUDIT_SIGNING, KeyVersion.status == "active"
            )
        )
        assert signing is not None
        assert signing.wrapped_key is None and signing.hsm_label, "held in the token only"
    pinned = read_pinned_keys(ctx.settings.audit_public_key_path)
    log_key = log_verifier_key(
        ctx.settings.audit_log_origin, pinned[max(pinned)].public_bytes_raw()
    )
    with running_witness(tmp_path / "ig-host", "ig.example/witness", trust=[log_key.encode()]) as w:
        ctx.settings = ctx.settings.model_copy(
            update={"audit_witnesses": w.entry("ig"), "audit_sign_interval_seconds": 300}
        )
        append_events(ctx, 12)
        assert audit.sign_head_if_grown(ctx) is not None
        outcomes = cosign_latest(ctx)
        assert outcomes and all(o.cosigned for o in outcomes), outcomes
        assert audit.verify_database(ctx).ok

        # Everything on the host but the token: cut the log, its heads, the copies of the
        # cosignatures and the local witness file back to five entries.
        drop_guards(admin_engine)
        execute(admin_engine, "DELETE FROM audit_events WHERE seq > 5")
        execute(admin_engine, "DELETE FROM audit_tree_heads")
        execute(admin_engine, "DELETE FROM audit_cosignatures")
        ctx.settings.audit_witness_path.write_text("")

        report = audit.verify_database(ctx)
        assert not report.ok
        assert "log truncated" in (report.problem or "")
        assert "witness ig" in (report.problem or "")
