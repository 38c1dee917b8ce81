"""``hsclink`` start-up: wall and CPU time of help and light commands over fresh processes.

Each case runs ``--runs`` times as a new process of the installed ``hsclink`` script
(``python -c "from app.cli.main import main; main()"`` if there is none), after one
untimed warm-up run (bytecode compiled, files in the page cache). Wall time is measured
around the process; CPU time (user + system) is the child's, from ``getrusage``. The
light commands run against a scratch directory: a witness key made on the warm-up run,
and a pinned audit public key file written here.

``--source DIR`` puts DIR first on ``PYTHONPATH`` to time another tree of the code (for a
before/after comparison, e.g. ``git archive HEAD | tar -x -C /tmp/before``, with the
built native extensions copied in).

Run from the repository root::

    .venv/bin/python benchmarks/cli_startup.py [--runs 10] [--json] [--source DIR]

Progress goes to standard error; the figures (a table, or JSON with ``--json``) go to
standard output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

REPO = Path(__file__).resolve().parent.parent
if sys.path[:1] != [str(REPO)]:
    sys.path.insert(0, str(REPO))

from app.keys.pinned import append_pinned_key  # noqa: E402


def _hsclink() -> list[str]:
    script = Path(sys.executable).with_name("hsclink")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from app.cli.main import main; main()"]


def _pinned_key_file(path: Path) -> Path:
    """A pinned public-key file as ``hsclink init`` writes it, holding a fresh key."""
    append_pinned_key(path, 1, Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    return path


def cases(scratch: Path) -> dict[str, list[str]]:
    pinned = _pinned_key_file(scratch / "audit-public-keys.txt")
    return {
        "hsclink --help": ["--help"],
        "hsclink user --help": ["user", "--help"],
        "hsclink query --help": ["query", "--help"],
        "hsclink witness key": ["witness", "key", "--data", str(scratch / "witness")],
        "hsclink audit key": ["audit", "key", "--public-key-file", str(pinned)],
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_once(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """One fresh process: (wall seconds, CPU seconds). Fails if the command fails."""
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[-4:])} exited {done.returncode}: {done.stderr}")
    return wall, _children_cpu() - cpu


def measure(runs: int, source: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hsclink-cli-startup-") as tmp:
        scratch = Path(tmp)
        env = {
            **os.environ,
            "HSCLINK_DATA_DIR": str(scratch / "data"),
            "COLUMNS": "100",
            "NO_COLOR": "1",
        }
        if source is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                [str(source.resolve()), *filter(None, [os.environ.get("PYTHONPATH")])]
            )
        results: dict[str, Any] = {}
        for name, args in cases(scratch).items():
            command = [*_hsclink(), *args]
            time_once(command, env)  # warm-up, not counted
            walls, cpus = [], []
            for _ in range(runs):
                wall, cpu = time_once(command, env)
                walls.append(wall)
                cpus.append(cpu)
            results[name] = {
                "wall_median_s": statistics.median(walls),
                "wall_max_s": max(walls),
                "cpu_median_s": statistics.median(cpus),
                "cpu_max_s": max(cpus),
            }
            print(f"{name}: {results[name]['wall_median_s']:.3f} s median", file=sys.stderr)
    return {
        "runs": runs,
        "source": str(source or REPO),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "cases": results,
    }


def print_table(report: dict[str, Any]) -> None:
    load = ", ".join(f"{x:.2f}" for x in report["load_average"])
    print(
        f"hsclink start-up, {report['runs']} runs each (Python {report['python']},"
        f" {report['cpus']} CPUs, load average {load}), code from {report['source']}"
    )
    print(f"{'case':<24} {'wall median':>12} {'wall max':>10} {'CPU median':>11} {'CPU max':>9}")
    for name, r in report["cases"].items():
        print(
            f"{name:<24} {r['wall_median_s']:>10.3f} s {r['wall_max_s']:>8.3f} s"
            f" {r['cpu_median_s']:>9.3f} s {r['cpu_max_s']:>7.3f} s"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per case")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--source", type=Path, help="time the code in this tree instead")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    report = measure(args.runs, args.source)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
