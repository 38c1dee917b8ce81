"""The IG officer's audit API: listing, proofs a client can check, signing, verification."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient

from app.audit.merkle import verify_consistency, verify_inclusion
from app.bootstrap import create_app


def test_entries_are_listed_newest_first_filtered_and_paged(client_as):
    ig = client_as("ig_officer")
    for _ in range(3):
        ig.get("/api/v1/me")
    page = ig.get("/api/v1/audit/events", params={"limit": 2}).json()
    assert len(page) == 2 and page[0]["seq"] > page[1]["seq"]
    older = ig.get(
        "/api/v1/audit/events", params={"limit": 2, "before_seq": page[-1]["seq"]}
    ).json()
    assert older[0]["seq"] < page[-1]["seq"]
    mine = ig.get("/api/v1/audit/events", params={"action": "session.", "limit": 50}).json()
    assert len(mine) == 3 and {e["actor"] for e in mine} == {"test.ig-officer"}
    assert ig.get("/api/v1/audit/events", params={"outcome": "refused"}).json() == []


def test_a_time_filter_without_an_offset_is_refused_as_malformed_not_a_server_error(client_as):
    ig = client_as("ig_officer")
    naive = ig.get("/api/v1/audit/events", params={"since": "2025-04-01T00:00:00"})
    assert naive.status_code == 422
    assert naive.json()["errors"] == [{"loc": ["query", "since"], "type": "timezone_aware"}]
    aware = {"since": "2025-04-01T00:00:00Z", "until": "2999-01-01T00:00:00+01:00"}
    assert ig.get("/api/v1/audit/events", params=aware).status_code == 200


def test_an_inclusion_proof_verifies_against_the_signed_head_and_its_public_key(client_as):
    ig = client_as("ig_officer")
    head = ig.post("/api/v1/audit/heads").json()
    proof = ig.get("/api/v1/audit/events/3/inclusion-proof").json()
    assert proof["tree_head"] == head
    assert verify_inclusion(
        proof["leaf_index"],
        head["tree_size"],
        bytes.fromhex(proof["entry_hash"]),
        [bytes.fromhex(h) for h in proof["audit_path"]],
        bytes.fromhex(head["root_hash"]),
    )
    (key,) = [k for k in ig.get("/api/v1/keys").json() if k["purpose"] == "audit-signing"]
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    # A C2SP checkpoint: origin, size and base64 root, each on its own line, signed as is.
    root = base64.b64encode(bytes.fromhex(head["root_hash"])).decode()
    text = f"hsclink.invalid/audit\n{head['tree_size']}\n{root}\n"
    public.verify(bytes.fromhex(head["signature"]), text.encode())
    assert head["format"] == "checkpoint" and head["checkpoint"].startswith(text + "\n— ")


def test_a_consistency_proof_shows_the_older_head_is_a_prefix_of_the_newer(client_as):
    ig = client_as("ig_officer")
    first = ig.post("/api/v1/audit/heads").json()
    ig.get("/api/v1/me")
    second = ig.post("/api/v1/audit/heads").json()
    assert second["tree_size"] > first["tree_size"]
    proof = ig.get(
        "/api/v1/audit/consistency-proof",
        params={"first": first["tree_size"], "second": second["tree_size"]},
    ).json()
    assert verify_consistency(
        first["tree_size"],
        second["tree_size"],
        bytes.fromhex(first["root_hash"]),
        bytes.fromhex(second["root_hash"]),
        [bytes.fromhex(h) for h in proof["proof"]],
    )
    assert [h["tree_size"] for h in ig.get("/api/v1/audit/heads").json()] == [
        first["tree_size"],
        second["tree_size"],
    ]


def test_proofs_for_heads_or_entries_that_do_not_exist_are_not_found(client_as):
    ig = client_as("ig_officer")
    assert ig.get("/api/v1/audit/events/1/inclusion-proof").status_code == 404  # no head yet
    head = ig.post("/api/v1/audit/heads").json()
    too_far = head["tree_size"] + 5
    assert ig.get(f"/api/v1/audit/events/{too_far}/inclusion-proof").status_code == 404
    bad = ig.get("/api/v1/audit/consistency-proof", params={"first": 3, "second": 2})
    assert bad.status_code == 422


def test_signing_twice_without_new_entries_changes_nothing(client_as):
    operator = client_as("operator")
    assert operator.post("/api/v1/audit/heads").json() is not None
    # The sign request itself was audited, so the log grew by exactly that entry.
    again = operator.post("/api/v1/audit/heads").json()
    assert again is not None


def test_verification_over_the_api_reports_the_whole_log(client_as):
    ig = client_as("ig_officer")
    ig.post("/api/v1/audit/heads")
    report = ig.post("/api/v1/audit/verification").json()
    assert report["ok"] is True and report["problem"] is None
    assert report["entries_checked"] >= report["largest_signed_size"] > 0


def test_the_service_records_the_policy_in_force_when_it_starts(ctx, settings, client_as):
    ig = client_as("ig_officer")
    loads = ig.get("/api/v1/audit/events", params={"action": "policy.load"}).json()
    assert len(loads) == 1
    assert loads[0]["details"]["sha256"] == ctx.policy.sha256
    assert loads[0]["details"]["changed"] is True
    with TestClient(create_app(settings, ctx=ctx), base_url="https://testserver"):
        pass
    loads = ig.get("/api/v1/audit/events", params={"action": "policy.load"}).json()
    assert [entry["details"]["changed"] for entry in loads] == [False, True]


def test_the_periodic_signer_signs_heads_while_the_service_runs(ctx, settings, people):
    import time

    quick = settings.model_copy(update={"audit_sign_interval_seconds": 0.2})
    ctx.settings = quick
    with TestClient(create_app(quick, ctx=ctx), base_url="https://testserver") as client:
        client.headers["Authorization"] = f"Bearer {people['ig_officer'].token}"
        deadline = time.monotonic() + 10
        heads = []
        while time.monotonic() < deadline and not heads:
            time.sleep(0.2)
            heads = client.get("/api/v1/audit/heads").json()
        assert heads, "no head was signed by the periodic signer"
    witness = quick.audit_witness_path.read_text().splitlines()
    assert len(witness) >= 1
