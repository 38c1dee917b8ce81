#!/usr/bin/env bash
# Build hsclink's image with podman and run the smoke flow against a running container:
# `init --demo` (development custody, the key file in a host directory mounted at run
# time), `serve` with a read-only root filesystem, /health and the image's HEALTHCHECK, a
# small synthetic extract uploaded through the API, `link run`, one charged DP query, and
# the audit log signed, cosigned by a witness container and verified. The witness is wired
# as compose.yaml wires it (witness key, then init, then the witness trusts the log's key).
# Exits non-zero at the first step that fails; prints each step's time at the end.
#
#   deploy/container_smoke.sh            # as root, on a machine set up per ../shared/CONTAINERS.md
#
# Not part of `make test` (a build takes minutes). Settings (environment):
#   HSCLINK_SMOKE_IMAGE  the tag to build and run (default localhost/hsclink:smoke)
#   HSCLINK_SMOKE_PORT   the port the service listens on, host network (default 18014;
#                        the witness listens on the next one)
#   HSCLINK_SMOKE_DATABASE_URL   an empty PostgreSQL database to use instead of SQLite in
#                        the data volume, e.g. postgresql://postgres@127.0.0.1/hsclink_smoke
#   HSCLINK_SMOKE_CUSTODY=hsm   keys in a SoftHSM2 token (the host's softhsm2 package) made
#                        in a host directory, its PKCS#11 module, token directory and PIN
#                        file mounted into the container, instead of a key file
#   HSCLINK_BUILD_CA     CA bundle the build trusts (default the host's; "" for none)
#   HSCLINK_SMOKE_NO_BUILD=1   run the flow against an image built already
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${HSCLINK_SMOKE_IMAGE:-localhost/hsclink:smoke}
PORT=${HSCLINK_SMOKE_PORT:-18014}
BUILD_CA=${HSCLINK_BUILD_CA-/etc/ssl/certs/ca-certificates.crt}
BASE=docker.io/library/debian:bookworm-slim
# runc: crun refuses these machines' hybrid cgroup layout (CONTAINERS.md).
PODMAN=(podman --runtime /usr/sbin/runc)
NAME=hsclink-smoke-$$
VOLUME=hsclink-smoke-data-$$
SERVER=http://127.0.0.1:$PORT
WITNESS_PORT=$((PORT + 1))
WITNESS=hsclink-smoke-witness-$$
WITNESS_VOLUME=hsclink-smoke-witness-$$

timings=()
step_started=0
step() { step_started=$(date +%s.%N); echo "== $1" >&2; }
took() { timings+=("$(printf '%-28s %6.1f s' "$1" "$(echo "$(date +%s.%N) - $step_started" | bc)")"); }
fail() { echo "container smoke FAILED: $*" >&2; exit 1; }
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
# Poll URL until it answers (at most a minute) while container NAME runs.
wait_healthy() {
  for _ in $(seq 1 120); do
    if curl -fsS "$1" >/dev/null 2>&1; then return 0; fi
    [ "$("${PODMAN[@]}" inspect --format '{{.State.Running}}' "$2")" = true ] || break
    sleep 0.5
  done
  "${PODMAN[@]}" logs "$2" 2>&1 | tail -20 >&2
  return 1
}

work=$(mktemp -d)
cleanup() {
  "${PODMAN[@]}" rm --force --volumes --time 10 "$NAME" "$WITNESS" >/dev/null 2>&1 || true
  "${PODMAN[@]}" volume rm --force "$VOLUME" "$WITNESS_VOLUME" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- the base image: Debian's bookworm, made locally when no registry is reachable ------
if ! "${PODMAN[@]}" image exists "$BASE"; then
  step "base image ($BASE) with debootstrap"
  debootstrap --variant=minbase bookworm "$work/rootfs" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
  tar -C "$work/rootfs" -c . | "${PODMAN[@]}" import - "$BASE" >/dev/null
  rm -rf "$work/rootfs"
  took "base image (debootstrap)"
fi

# --- the build, trusting the host's CA bundle (a TLS-inspecting proxy's CA is in it) ------
if [ "${HSCLINK_SMOKE_NO_BUILD:-0}" != 1 ]; then
  step "build $IMAGE"
  secret=()
  [ -n "$BUILD_CA" ] && secret=(--secret "id=build-ca,src=$BUILD_CA")
  # --format docker: the OCI image format has no HEALTHCHECK (podman would drop it).
  "${PODMAN[@]}" build --format docker --network host "${secret[@]}" -t "$IMAGE" . \
    >"$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log" >&2; fail "the image did not build"; }
  took "image build"
fi

step "image checks: non-root user, no key material, no build CA"
user=$("${PODMAN[@]}" image inspect --format '{{.Config.User}}' "$IMAGE")
case "${user%%:*}" in "" | root | 0) fail "the image runs as root" ;; esac
found=$("${PODMAN[@]}" run --rm --network none --no-healthcheck --user 0 \
  --entrypoint sh "$IMAGE" -c \
  'find / -xdev \( -name "master.key" -o -name "*.pin" -o -name "hsclink-build-ca.crt" \
    -o -name "pip-ca.pem" \) -print; find /var/lib/hsclink -type f -print')
[ -z "$found" ] || fail "the image holds key material or the build CA: $found"
took "image checks"

# --- the run: read-only root, /tmp a tmpfs, data in a volume, the key file from the host ---
install -d -m 0700 "$work/keys"
chown 10001:10001 "$work/keys"  # the image's hsclink user
"${PODMAN[@]}" volume create "$VOLUME" >/dev/null
"${PODMAN[@]}" volume create "$WITNESS_VOLUME" >/dev/null
confined=(
  --network host --read-only --tmpfs "/tmp:rw,nosuid,nodev,size=256m"
  --cap-drop ALL --security-opt no-new-privileges
)
# Only the service runs the image's HEALTHCHECK, and only when asked (`podman healthcheck
# run`): podman schedules periodic ones with systemd timers, which containers lack.
witness_args=("${confined[@]}" --no-healthcheck -v "$WITNESS_VOLUME:/var/lib/hsclink/witness")

step "witness key"
witness_key=$("${PODMAN[@]}" run --rm "${witness_args[@]}" "$IMAGE" \
  witness key --name witness.localhost/witness) || fail "witness key"
took "witness key"

# The periodic signer is off (interval 0): the flow signs once, explicitly, at the end.
run_args=(
  "${confined[@]}"
  -v "$VOLUME:/var/lib/hsclink/data"
  -v "$work/keys:/var/lib/hsclink/data-keys"
  -e HSCLINK_PORT="$PORT" -e HSCLINK_HOST=127.0.0.1 -e HSCLINK_AUDIT_SIGN_INTERVAL_SECONDS=0
  -e HSCLINK_AUDIT_LOG_ORIGIN=hsclink.localhost/audit
  -e "HSCLINK_AUDIT_WITNESSES=local=http://127.0.0.1:$WITNESS_PORT=$witness_key"
)
if [ -n "${HSCLINK_SMOKE_DATABASE_URL:-}" ]; then
  run_args+=(-e "HSCLINK_DATABASE_URL=$HSCLINK_SMOKE_DATABASE_URL")
fi
CUSTODY=${HSCLINK_SMOKE_CUSTODY:-key-file}
if [ "$CUSTODY" = hsm ]; then
  # A token made on the host, in a directory of its own; the module is the host's (the
  # image has none), as a vendor's would be mounted. Throwaway PINs for a throwaway token.
  module=$(readlink -f /usr/lib/softhsm/libsofthsm2.so)
  install -d -m 0700 "$work/hsm/tokens"
  printf 'directories.tokendir = %s/\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$work/hsm/tokens" >"$work/hsm/host.conf"
  printf 'directories.tokendir = /var/lib/hsclink/hsm/tokens/\nobjectstore.backend = file\n' \
    >"$work/hsm/softhsm2.conf"
  SOFTHSM2_CONF=$work/hsm/host.conf softhsm2-util --init-token --free --label hsclink \
    --so-pin 87654321 --pin 12345678 >/dev/null || fail "softhsm2-util --init-token"
  (umask 077; printf 12345678 >"$work/hsm/pin")
  chown -R 10001:10001 "$work/hsm/tokens" "$work/hsm/pin"
  run_args+=(
    -v "$module:/opt/hsm/libsofthsm2.so:ro" -v "$work/hsm/tokens:/var/lib/hsclink/hsm/tokens"
    -v "$work/hsm/softhsm2.conf:/etc/hsclink-hsm/softhsm2.conf:ro"
    -e SOFTHSM2_CONF=/etc/hsclink-hsm/softhsm2.conf -v "$work/hsm/pin:/run/secrets/hsm.pin:ro"
    -e HSCLINK_KEY_CUSTODY=hsm -e HSCLINK_HSM_MODULE=/opt/hsm/libsofthsm2.so
    -e HSCLINK_HSM_PIN_FILE=/run/secrets/hsm.pin
  )
fi

step "hsclink init --demo"
"${PODMAN[@]}" run --rm --no-healthcheck "${run_args[@]}" "$IMAGE" init --demo --json >"$work/init.json" \
  || fail "init --demo"
if [ "$CUSTODY" = hsm ]; then
  [ ! -e "$work/keys/master.key" ] || fail "a key file was made under HSM custody"
  "${PODMAN[@]}" run --rm --no-healthcheck "${run_args[@]}" "$IMAGE" key where --json \
    >"$work/where.json" || fail "key where"
  [ "$(json 'd["custody"]["backend"]' <"$work/where.json")" = hsm ] || fail "custody is not the HSM"
else
  [ -s "$work/keys/master.key" ] || fail "no key file in the mounted key directory"
fi
token_of() { json "[u['token'] for u in d['demo_users'] if u['username'] == '$1'][0]" \
  <"$work/init.json"; }
TRUST_TOKEN=$(token_of demo.submitter)  # an NHS trust's submitter
COUNCIL_TOKEN=$(token_of demo.council)  # a council's
ANALYST_TOKEN=$(token_of demo.analyst)
took "init --demo"

step "witness trusts the log's key, serves"
log_key=$("${PODMAN[@]}" run --rm --no-healthcheck "${run_args[@]}" "$IMAGE" audit key | tail -n 1)
"${PODMAN[@]}" run --rm "${witness_args[@]}" "$IMAGE" witness trust "$log_key" >/dev/null \
  || fail "witness trust"
"${PODMAN[@]}" run -d --name "$WITNESS" "${witness_args[@]}" -e HSCLINK_PORT="$WITNESS_PORT" \
  "$IMAGE" witness serve --port "$WITNESS_PORT" >/dev/null
wait_healthy "http://127.0.0.1:$WITNESS_PORT/health" "$WITNESS" || fail "the witness's /health"
took "witness up"

step "hsclink serve until /health answers"
"${PODMAN[@]}" run -d --name "$NAME" "${run_args[@]}" "$IMAGE" serve >/dev/null 2>"$work/run.err" \
  || { cat "$work/run.err" >&2; fail "podman run serve"; }
wait_healthy "$SERVER/health" "$NAME" || fail "/health"
"${PODMAN[@]}" healthcheck run "$NAME" >/dev/null || fail "the image's HEALTHCHECK"
took "serve to healthy"

step "read-only root filesystem"
if "${PODMAN[@]}" exec "$NAME" sh -c 'touch /opt/hsclink/x' 2>/dev/null; then
  fail "the root filesystem is writable"
fi
took "read-only check"

step "upload a small synthetic extract (hsclink upload in the container)"
"${PODMAN[@]}" exec "$NAME" hsclink synth /tmp/smoke --persons 300 --seed 14 --json >/dev/null
# Tokens go in through env files (mode 0600), never on a command line.
umask 077
printf 'HSCLINK_TOKEN=%s\n' "$TRUST_TOKEN" >"$work/nhs_episodes.env"
printf 'HSCLINK_TOKEN=%s\n' "$COUNCIL_TOKEN" >"$work/asc_clients.env"
printf 'HSCLINK_SERVER=%s\nHSCLINK_TOKEN=%s\n' "$SERVER" "$ANALYST_TOKEN" >"$work/analyst.env"
for dataset in nhs_episodes asc_clients; do
  "${PODMAN[@]}" exec --env-file "$work/$dataset.env" "$NAME" \
    hsclink upload "/tmp/smoke/$dataset.csv" --dataset "$dataset" --server "$SERVER" --json \
    >"$work/upload.json" \
    || fail "upload $dataset"
  status=$(json 'd["status"]' <"$work/upload.json")
  [ "$status" = accepted ] || fail "upload $dataset: $status"
done
"${PODMAN[@]}" exec "$NAME" rm -r /tmp/smoke
took "upload (2 extracts)"

step "hsclink link run"
"${PODMAN[@]}" exec "$NAME" hsclink link run --json >"$work/link.json" || fail "link run"
[ "$(json 'd["status"]' <"$work/link.json")" = succeeded ] || fail "link run did not succeed"
took "link run"

step "one charged DP query (hsclink query as the demo analyst)"
"${PODMAN[@]}" exec --env-file "$work/analyst.env" "$NAME" \
  hsclink query --group-by borough --epsilon 0.1 --json >"$work/query.json" || fail "query"
charged=$(json 'd["charged"] if not d["repeat"] else 0' <"$work/query.json")
python3 -c "import sys; sys.exit(0 if float('$charged') > 0 else 1)" || fail "query not charged"
took "charged query"

step "audit log signed, cosigned by the witness, verified"
"${PODMAN[@]}" exec "$NAME" hsclink audit sign --json >"$work/sign.json" \
  || { cat "$work/sign.json" >&2; fail "audit sign (and the witness's cosignature)"; }
"${PODMAN[@]}" exec "$NAME" hsclink audit verify --json >"$work/verify.json" \
  || { cat "$work/verify.json" >&2; fail "audit verify"; }
took "audit sign, cosign, verify"

step "no token in the service's logs"
"${PODMAN[@]}" logs "$NAME" >"$work/service.log" 2>&1
for token in "$TRUST_TOKEN" "$COUNCIL_TOKEN" "$ANALYST_TOKEN"; do
  ! grep -qF "$token" "$work/service.log" || fail "a token is in the service's logs"
done
"${PODMAN[@]}" stop --time 20 "$NAME" >/dev/null 2>&1 || fail "podman stop"
took "logs and stop"

echo "container smoke passed ($IMAGE, $CUSTODY custody):"
printf '  %s\n' "${timings[@]}"
