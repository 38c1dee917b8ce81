"""Smoke test of an installed hsclink: the newcomer's flow, end to end, on one interpreter.

    python3 deploy/smoke.py --python /usr/bin/python3.12      # build, install, run the flow
    python3 deploy/smoke.py --hsclink /opt/venv/bin/hsclink   # the flow only, on an install
    python3 deploy/smoke.py --each 3.12 3.13                  # every such CPython found

With ``--python``: copies the source tree (``git ls-files``, so no build output or virtual
environment of the checkout comes along), builds the wheel with that interpreter
(``pip wheel``: the Cython extensions compile for it), installs the wheel into a fresh
virtual environment, and runs the flow from a temporary directory outside the checkout,
so nothing can be read from the source tree. With ``--hsclink``: only the flow, with
that command (an installed venv's script, or e.g. ``podman exec CONTAINER hsclink``);
``--server URL`` then uses a running service instead of starting ``hsclink serve``.

The flow: ``hsclink init --demo`` in a fresh data directory, ``hsclink serve`` on a free
port (``/health`` polled), ``hsclink synth`` of a small extract and its ``hsclink upload``
as the demo submitter, ``hsclink link run``, and one charged differentially private query
(``hsclink query``) as the demo analyst. Exits non-zero at the first failure, printing
the failing step and its output; tokens and passwords are never printed.
Only the standard library: it runs on any Python the machine has.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

#: Bounds of the polls (seconds): the server's start-up and each command.
SERVE_START_TIMEOUT = 120.0
STEP_TIMEOUT = 900.0


class SmokeFailure(RuntimeError):
    """One step of the flow failed; the message names it."""


def log(message: str) -> None:
    print(f"[smoke] {message}", file=sys.stderr, flush=True)


def run(
    step: str, argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> str:
    """Run one step; its stdout, or :class:`SmokeFailure` with the tail of its output."""
    started = time.monotonic()
    try:
        done = subprocess.run(  # noqa: S603 - our own commands
            list(argv),
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SmokeFailure(f"{step}: {type(error).__name__}: {error}") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise SmokeFailure(f"{step}: exit {done.returncode}\n{tail}")
    log(f"{step}: ok ({time.monotonic() - started:.1f} s)")
    return done.stdout


def source_files(source: Path) -> list[str]:
    """The checkout's files: tracked and untracked, less what .gitignore excludes."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],  # noqa: S607
        cwd=source,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and os.path.lexists(source / name)]


def copy_tree(source: Path, target: Path) -> None:
    """A copy of the checkout (symbolic links kept as links) to build the wheel from."""
    for name in source_files(source):
        origin, copy = source / name, target / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_symlink():
            copy.symlink_to(os.readlink(origin))
        else:
            shutil.copy2(origin, copy)


def install(python: str, work: Path, source: Path) -> Path:
    """Build the wheel with ``python``, install it in a fresh venv; the venv's hsclink."""
    tree, wheels, venv = work / "src", work / "wheels", work / "venv"
    copy_tree(source, tree)
    run(
        "build the wheel",
        [python, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(tree)],
    )
    (wheel,) = wheels.glob("hsclink-*.whl")
    log(f"built {wheel.name}")
    run("make a venv", [python, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    run("install the wheel and its dependencies", [*pip, str(wheel)])
    shutil.rmtree(tree)  # from here on there is no source tree to fall back on
    return venv / "bin" / "hsclink"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:  # noqa: S310
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@contextmanager
def serving(
    hsclink: Sequence[str], env: dict[str, str], cwd: Path, log_file: Path
) -> Iterator[str]:
    """``hsclink serve`` on a free port until the block ends; its base URL once healthy."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_file.open("w") as output:
        server = subprocess.Popen(  # noqa: S603
            [*hsclink, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        started = time.monotonic()
        while not healthy(url):
            if server.poll() is not None:
                tail = "\n".join(log_file.read_text().splitlines()[-25:])
                raise SmokeFailure(f"serve: exited {server.returncode}\n{tail}")
            if time.monotonic() - started > SERVE_START_TIMEOUT:
                raise SmokeFailure(f"serve: /health not answering after {SERVE_START_TIMEOUT} s")
            time.sleep(0.25)
        log(f"serve: healthy on {url} ({time.monotonic() - started:.1f} s)")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def tokens(init_output: str) -> dict[str, str]:
    """The demo users' API tokens by user name (kept in memory, never printed)."""
    users: list[dict[str, Any]] = json.loads(init_output)["demo_users"]
    if not users:
        raise SmokeFailure("init --demo: created no demo users (was the data dir fresh?)")
    return {str(user["username"]): str(user["token"]) for user in users}


def flow(hsclink: Sequence[str], work: Path, server: str | None = None) -> None:
    """init --demo, serve, synth + upload, link run, one charged query."""
    run_dir = work / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HSCLINK_DATA_DIR": str(run_dir / "var"),
    }
    for name in ("HSCLINK_DATABASE_URL", "HSCLINK_SERVER", "HSCLINK_TOKEN"):
        env.pop(name, None)
    hsc = list(hsclink)
    demo = tokens(run("init --demo", [*hsc, "init", "--demo", "--json"], env=env, cwd=run_dir))

    def steps(url: str) -> None:
        extracts = run_dir / "extracts"
        run(
            "synth",
            [*hsc, "synth", str(extracts), "--persons", "200", "--seed", "14", "--json"],
            env=env,
            cwd=run_dir,
        )
        upload = run(
            "upload",
            [
                *hsc,
                *("upload", str(extracts / "nhs_episodes.csv"), "--dataset", "nhs_episodes"),
                *("--server", url, "--token", demo["demo.submitter"], "--json"),
            ],
            env=env,
            cwd=run_dir,
        )
        status = json.loads(upload).get("status")
        if status != "accepted":
            raise SmokeFailure(f"upload: the submission is {status!r}, not accepted")
        linked = json.loads(run("link run", [*hsc, "link", "run", "--json"], env=env, cwd=run_dir))
        log(f"link run: snapshot {linked.get('snapshot_id', linked.get('snapshot'))}")
        answer = json.loads(
            run(
                "query (charged)",
                [
                    *hsc,
                    *("query", "--epsilon", "0.1", "--json"),
                    *("--server", url, "--token", demo["demo.analyst"]),
                ],
                env=env,
                cwd=run_dir,
            )
        )
        spent = charged(answer)
        if not spent > 0:
            raise SmokeFailure("query: the answer records no privacy cost charged")
        log(f"query: charged epsilon {spent}")

    if server is not None:
        steps(server)
        return
    with serving(hsc, env, run_dir, work / "serve.log") as url:
        steps(url)


def charged(answer: dict[str, Any]) -> float:
    """The epsilon an answer says was spent (the release's ``epsilon``)."""
    for key in ("epsilon_spent", "epsilon"):
        value = answer.get(key)
        if isinstance(value, int | float):
            return float(value)
    release = answer.get("release")
    return charged(release) if isinstance(release, dict) else 0.0


def find_interpreters(versions: Sequence[str]) -> list[str]:
    """Each CPython of these versions on PATH or under pyenv, once (by its real executable)."""
    candidates = [shutil.which(f"python{version}") for version in versions]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for version in versions:
        candidates += [str(p) for p in sorted(pyenv.glob(f"{version}*/bin/python{version}"))]
    found: dict[str, str] = {}
    for candidate in filter(None, candidates):
        try:
            probe = subprocess.run(  # noqa: S603
                [candidate, "-c", _PROBE], capture_output=True, text=True, timeout=30, check=True
            ).stdout.split()
        except (OSError, subprocess.SubprocessError):
            continue  # e.g. a pyenv shim for a version that is not selected
        if len(probe) == 3 and probe[0] == "cpython" and probe[1] in versions:
            found.setdefault(os.path.realpath(probe[2]), candidate)
    return list(found.values())


_PROBE = (
    "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2], sys.executable)"
)


def each(versions: Sequence[str], source: Path) -> int:
    """The smoke flow on every interpreter of these versions found; 0 if all passed."""
    interpreters = find_interpreters(versions)
    if not interpreters:
        log(f"no CPython {' or '.join(versions)} on this machine (PATH, pyenv): smoke skipped")
        return 0
    failed = []
    for python in interpreters:
        if main(["--python", python, "--source", str(source)]) != 0:
            failed.append(python)
    if failed:
        log(f"smoke FAILED on {', '.join(failed)}")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--python", help="build and install the wheel with this interpreter")
    how.add_argument("--hsclink", help="an installed hsclink command (shell words)")
    how.add_argument(
        "--each",
        nargs="+",
        metavar="VERSION",
        help="--python with every CPython of these versions found (PATH, pyenv); "
        "a note and success if there is none",
    )
    parser.add_argument("--server", help="with --hsclink: a running service's base URL")
    parser.add_argument("--source", type=Path, default=REPO, help="the checkout to build")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.each:
        return each(args.each, args.source.resolve())
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="hsclink-smoke-"))
    label = args.python or args.hsclink
    try:
        if args.python:
            version = run("interpreter", [args.python, "--version"]).strip()
            label = f"{version} ({args.python})"
            hsclink = [str(install(args.python, work, args.source.resolve()))]
            installed = time.monotonic() - started
            log(f"installed in {installed:.0f} s")
        else:
            hsclink = shlex.split(args.hsclink)
        flow(hsclink, work, args.server)
    except SmokeFailure as failure:
        log(f"FAILED on {label}: {failure}")
        return 1
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    log(f"passed on {label} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
