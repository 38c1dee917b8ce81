"""HSM custody costs: start-up (unwrapping data keys) and per operation, against SoftHSM2.

In a temporary SoftHSM2 token directory (removed afterwards) this script:

1. opens the custody (loads the PKCS#11 module, logs in) and makes a KEK;
2. times the start-up unwrap of N data keys in the HSM (``--keys``, default 1,000;
   a store holds 3 wrapped keys plus one per rotation), and the same keys again from
   the in-memory copy the custody keeps;
3. times single operations: AES-GCM wrap in the HSM, Ed25519 signing in the HSM, and
   the key-file equivalents (AES-GCM unwrap, unwrap + Ed25519 sign in process);
4. on a real SQLite store initialised with HSM custody, times ``check_ready`` (the
   service's start: schema check and every data key unwrapped) and ``seal_keys`` (what
   a request that reads the sealed store pays), and the same with the key file.

SoftHSM2 is software: a hardware HSM answers each call over PCIe or the network,
typically 0.1 to 5 ms, so start-up grows with the number of keys, while requests do not
(they use the unwrapped copy). Run from the repository root::

    .venv/bin/python benchmarks/hsm.py [--keys 1000] [--repeat 2000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if sys.path[:1] != [str(REPO)]:
    sys.path.insert(0, str(REPO))

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")


def softhsm(root: Path) -> tuple[str, Path]:
    """A token in ``root``; SOFTHSM2_CONF is set before the module is first loaded."""
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    pin = secrets.token_hex(8)
    subprocess.run(
        [
            *("softhsm2-util", "--init-token", "--free", "--label", "bench"),
            *("--so-pin", secrets.token_hex(8), "--pin", pin),
        ],
        check=True,
        capture_output=True,
    )
    pin_file = root / "pin"
    pin_file.write_text(pin)
    pin_file.chmod(0o600)
    return "bench", pin_file


def per_call(fn: Callable[[], object], repeat: int) -> dict[str, float]:
    """Microseconds per call: median and p99 of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e6)
    times.sort()
    return {"median_us": statistics.median(times), "p99_us": times[int(len(times) * 0.99) - 1]}


def run(keys: int, repeat: int, root: Path) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from app.auth.actor import Actor
    from app.config import Settings
    from app.keys.custody import KeyFileCustody, WrappedKey
    from app.keys.hsm import HsmCustody
    from app.keys.master import MasterKey
    from app.services import setup
    from app.services.context import ServiceContext
    from app.store.seal import seal_keys

    label, pin_file = softhsm(root)
    figures: dict[str, Any] = {"keys": keys, "repeat": repeat}

    start = time.perf_counter()
    hsm = HsmCustody.open(MODULE, label, pin_file.read_text())
    figures["open_ms"] = (time.perf_counter() - start) * 1e3
    hsm.create_kek()

    material = [secrets.token_bytes(32) for _ in range(keys)]
    contexts = [f"hsclink-key:bench:{i}".encode() for i in range(keys)]
    wrapped = [hsm.wrap(m, context=c) for m, c in zip(material, contexts, strict=True)]
    fresh = HsmCustody.open(MODULE, label, pin_file.read_text())
    start = time.perf_counter()
    for w, c in zip(wrapped, contexts, strict=True):
        fresh.unwrap(w, context=c)
    elapsed = time.perf_counter() - start
    figures["startup_unwrap"] = {"total_ms": elapsed * 1e3, "per_key_us": elapsed / keys * 1e6}
    start = time.perf_counter()
    for w, c in zip(wrapped, contexts, strict=True):
        fresh.unwrap(w, context=c)
    elapsed = time.perf_counter() - start
    figures["held_unwrap_per_key_us"] = elapsed / keys * 1e6
    fresh.close()

    signer = f"hsclink-audit-signing-1-{secrets.token_hex(4)}"
    hsm.create_signing_key(signer)
    message = b"hsclink.invalid/audit\n123456\n" + secrets.token_bytes(32)
    figures["hsm_wrap"] = per_call(lambda: hsm.wrap(material[0], context=contexts[0]), repeat)
    figures["hsm_sign"] = per_call(lambda: hsm.sign(signer, message), repeat)
    one = WrappedKey(wrapped[0].kek, wrapped[0].blob)
    uncached = HsmCustody.open(MODULE, label, pin_file.read_text())

    def hsm_unwrap_uncached() -> None:
        uncached._unwrapped.clear()
        uncached.unwrap(one, context=contexts[0])

    figures["hsm_unwrap"] = per_call(hsm_unwrap_uncached, repeat)
    uncached.close()

    key_file = KeyFileCustody(MasterKey.create(root / "master.key"), root / "master.key")
    private = Ed25519PrivateKey.generate().private_bytes_raw()
    file_wrapped = key_file.wrap(private, context=contexts[0])
    figures["file_unwrap"] = per_call(
        lambda: key_file.unwrap(file_wrapped, context=contexts[0]), repeat
    )

    def file_sign() -> None:
        raw = key_file.unwrap(file_wrapped, context=contexts[0])
        Ed25519PrivateKey.from_private_bytes(raw).sign(message)

    figures["file_unwrap_and_sign"] = per_call(file_sign, repeat)
    hsm.close()

    for custody in ("hsm", "key-file"):
        data_dir = root / f"store-{custody}"
        settings = Settings(
            data_dir=data_dir,
            audit_sign_interval_seconds=0,
            release_warm_cache=False,
            key_custody=custody,  # type: ignore[arg-type]
            hsm_module=MODULE,
            hsm_token_label=label,
            hsm_pin_file=pin_file,
            master_key_file=root / f"{custody}.key",
        )
        ctx = ServiceContext.build(settings)
        setup.initialise(ctx, actor=Actor.cli())
        ctx.close()
        ctx = ServiceContext.build(settings)
        start = time.perf_counter()
        setup.check_ready(ctx)
        figures[f"{custody}_service_start_ms"] = (time.perf_counter() - start) * 1e3

        def request(ctx: ServiceContext = ctx) -> None:
            with ctx.reads() as session:
                seal_keys(session, ctx.master_key)

        figures[f"{custody}_seal_keys"] = per_call(request, max(repeat // 10, 50))
        ctx.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not MODULE.exists() or shutil.which("softhsm2-util") is None:
        sys.exit("SoftHSM2 is not installed (apt-get install softhsm2)")
    root = Path(tempfile.mkdtemp(prefix="hsclink-bench-hsm-"))
    try:
        figures = run(args.keys, args.repeat, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    startup = figures["startup_unwrap"]
    print(f"SoftHSM2 ({MODULE}), {figures['keys']} data keys, {figures['repeat']} calls each")
    print(f"  open the custody (load module, log in)     {figures['open_ms']:9.2f} ms")
    print(
        f"  start-up: unwrap {figures['keys']} keys in the HSM       "
        f"{startup['total_ms']:9.2f} ms ({startup['per_key_us']:.1f} µs a key)"
    )
    held = figures["held_unwrap_per_key_us"]
    print(f"  the same keys from memory afterwards       {held:9.2f} µs a key")
    for name, title in (
        ("hsm_unwrap", "HSM unwrap (AES-GCM decrypt)"),
        ("hsm_wrap", "HSM wrap (AES-GCM encrypt)"),
        ("hsm_sign", "HSM Ed25519 sign"),
        ("file_unwrap", "key-file unwrap"),
        ("file_unwrap_and_sign", "key-file unwrap + Ed25519 sign"),
        ("hsm_seal_keys", "seal_keys per request, HSM custody"),
        ("key-file_seal_keys", "seal_keys per request, key file"),
    ):
        f = figures[name]
        print(f"  {title:<42} {f['median_us']:9.1f} µs median, {f['p99_us']:.1f} µs p99")
    for custody in ("hsm", "key-file"):
        print(
            f"  service start (check_ready), {custody:<9}     "
            f"{figures[f'{custody}_service_start_ms']:9.2f} ms"
        )


if __name__ == "__main__":
    main()
