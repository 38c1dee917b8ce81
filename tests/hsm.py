"""A real SoftHSM2 token per test (Debian's ``softhsm2``), for the HSM custody tests.

SoftHSM reads ``SOFTHSM2_CONF`` when the library is first initialised in a process and
its token directory only then, so: one configuration and token directory per test
process (made on first use, removed at exit), and after ``softhsm2-util`` makes a new
token the library is re-initialised so this process sees it. Make every token a test
needs before opening any custody (re-initialising closes open sessions).

Under ``CI=true`` a missing SoftHSM2 fails the run instead of skipping.
"""

from __future__ import annotations

import atexit
import base64
import functools
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest

from app.auth.actor import Actor
from app.config import Settings
from app.services import setup
from app.services.context import ServiceContext

SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")


@dataclass(frozen=True)
class Token:
    label: str
    pin_file: Path
    so_pin: str

    def __repr__(self) -> str:
        return f"Token({self.label!r}, [secure])"


@functools.cache
def softhsm_conf() -> Path:
    """This process's SoftHSM2 configuration (set in the environment before any load)."""
    if not SOFTHSM_MODULE.exists() or shutil.which("softhsm2-util") is None:
        if os.environ.get("CI", "").lower() == "true":
            raise pytest.UsageError("CI=true requires SoftHSM2 (.ci/run installs softhsm2)")
        pytest.skip("SoftHSM2 is not installed (apt-get install softhsm2)")
    root = Path(tempfile.mkdtemp(prefix="hsclink-softhsm-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\n"
        "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    return conf


def make_token(directory: Path, *, label: str | None = None) -> Token:
    """A fresh, initialised token with a random user PIN in a 0600 file in ``directory``."""
    softhsm_conf()
    label = label or f"hsclink-test-{secrets.token_hex(4)}"
    pin, so_pin = secrets.token_hex(8), secrets.token_hex(8)
    subprocess.run(
        [
            *("softhsm2-util", "--init-token", "--free", "--label", label),
            *("--so-pin", so_pin, "--pin", pin),
        ],
        check=True,
        capture_output=True,
    )
    pkcs11.lib(str(SOFTHSM_MODULE)).reinitialize()
    directory.mkdir(parents=True, exist_ok=True)
    pin_file = directory / f"{label}.pin"
    pin_file.write_text(pin + "\n")
    pin_file.chmod(0o600)
    return Token(label, pin_file, so_pin)


def hsm_settings(settings: Settings, token: Token, **extra: object) -> Settings:
    """``settings`` with HSM custody on ``token`` (and no key file anywhere)."""
    return settings.model_copy(
        update={
            "key_custody": "hsm",
            "hsm_module": SOFTHSM_MODULE,
            "hsm_token_label": token.label,
            "hsm_pin_file": token.pin_file,
            **extra,
        }
    )


@contextmanager
def initialised(settings: Settings) -> Iterator[ServiceContext]:
    """A store initialised as ``hsclink init`` does, with the custody ``settings`` name."""
    ctx = ServiceContext.build(settings)
    try:
        setup.initialise(ctx, actor=Actor.cli())
        setup.ensure_operator_organisation(ctx, actor=Actor.cli(), code="HSCOPS")
        yield ctx
    finally:
        ctx.close()


@contextmanager
def session(token: Token) -> Iterator[pkcs11.Session]:
    """An attacker's (or officer's) own session on the token, outside hsclink."""
    found = pkcs11.lib(str(SOFTHSM_MODULE)).get_token(token_label=token.label)
    try:
        opened = found.open(rw=True, user_pin=token.pin_file.read_text().strip())
    except pkcs11.exceptions.UserAlreadyLoggedIn:  # hsclink's custody logged this process in
        opened = found.open(rw=True)
    try:
        yield opened
    finally:
        opened.close()


def key_forms(secret: bytes) -> list[bytes]:
    """The ways a key could sit in a file: raw, hex (either case), base64."""
    return [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b64encode(secret),
    ]


def forms_found(blob: bytes, secrets: dict[str, bytes]) -> list[str]:
    """The names of the ``secrets`` that ``blob`` holds in any of :func:`key_forms`."""
    return [name for name, secret in secrets.items() if any(f in blob for f in key_forms(secret))]
