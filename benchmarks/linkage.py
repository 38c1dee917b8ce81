"""Linkage benchmark: quality, time and memory of ``linkage.link`` on synthetic London.

For each size in ``--persons`` (default 20,000 and 200,000; about half a record per
person), with fixed seeds:

1. **Data** (timed separately, not linkage time): ``app.synth.generate`` and the real
   ingest path (``RecordReader`` + ``RowProcessor``) in memory, through
   ``app.synth.pseudonymised.pseudonymised_population``. Nothing raw touches the disk.
2. **Linkage** in a fresh child process (this script with ``--worker``), which receives
   the pseudonymised frame (tokens and Bloom filters only) over a pipe, so that its
   peak RSS is the linkage's own: the peak (VmHWM) is reset after the frame is loaded,
   so the figure is the input frame plus what linking adds (the RSS after loading the
   frame is reported as the baseline; ``ru_maxrss``, which includes unpickling, too).
   Per stage times come from ``LinkageResult.timings``; ``total`` is blocking +
   comparison + EM + clustering (+ the small profile step), excluding pseudonymisation
   and building the ``RecordFrame``.
3. **Evaluation** with ``linkage.evaluation.evaluate`` against the truth, and
   ``recall_by_error_kind`` on the truth's error labels: for each error kind the
   generator applies (``app.synth.noise.ERROR_KINDS``), its records and the recall of
   their true partners (all, and from the other dataset), with Splink's beside it.
4. **Splink**: if ``benchmarks/splink_reference.py`` exists and ``splink`` imports, it
   runs as a subprocess on the same (persons, seed) and both are printed side by side.
5. **recordlinkage** (``--recordlinkage``; by default only at sizes up to 20,000
   persons, where it adds about 10 s): ``benchmarks/recordlinkage_reference.py`` runs
   in another child on the same pseudonymised frame and times each stage with the
   recordlinkage toolkit against the engine's own (indexing, comparison, EM, evaluation);
   printed as a table ``stage | recordlinkage 0.16 | hsclink | ratio``.

Extrapolation (with at least three sizes) to 4.5 million records (9 million persons,
London): for the growth of peak RSS over the baseline, the baseline (input frame), the
candidate pairs, and the blocking and total times, the growth exponent k of
``value = c * records^k`` is fitted by least squares on log-log over every size, and
also taken between the two largest sizes alone; the larger of the two (at least 1 for
memory and time, which hold per-record arrays) is applied from the largest measured
size. Memory is also bounded from above as if all the linkage's growth scaled with the
candidate pairs, and the time as the sum of the stages, each by its own exponent. The
exponents and the projected figures are printed.

Run from the repository root::

    .venv/bin/python benchmarks/linkage.py [--persons 20000,200000,2000000] [--seed 1] [--json]
                                           [--no-splink] [--[no-]recordlinkage]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pickle
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# The repository first (run as a script from anywhere): this directory's linkage.py
# must not shadow the linkage package (app.store imports linkage.records).
if sys.path[:1] != [str(REPO)]:
    sys.path.insert(0, str(REPO))

MIB = 1024 * 1024
TARGET_RECORDS = 4_500_000
#: Without --recordlinkage or --no-recordlinkage, the reference runs up to this size.
RECORDLINKAGE_DEFAULT_MAX_PERSONS = 20_000
RECORDLINKAGE_REPEAT = 3


def _rss_now_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / MIB


def _reset_peak() -> None:
    """Linux: writing 5 to clear_refs resets the process's peak RSS (VmHWM)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_mib() -> float:
    """VmHWM: the peak RSS since the last reset."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker() -> None:
    """Child: read (frame, seed) from stdin, link, write (report, person ids) to stdout."""
    import numpy as np

    from linkage.engine import link
    from linkage.records import RecordFrame

    frame, seed = pickle.load(sys.stdin.buffer)
    baseline = _rss_now_mib()
    _reset_peak()  # the peak from here on is the linkage's, not unpickling's
    started = time.perf_counter()
    records = RecordFrame.from_frame(frame)
    prepared = time.perf_counter() - started
    result = link(records, rng=np.random.default_rng(seed))
    report = result.to_dict()
    report["frame_seconds"] = prepared
    report["baseline_rss_mib"] = baseline
    report["peak_rss_mib"] = _peak_mib()
    report["process_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pickle.dump((report, result.record_key, result.person_id), sys.stdout.buffer)


def run_recordlinkage(population: Any, persons: int, seed: int) -> dict[str, Any] | None:
    """The recordlinkage reference on the same frame, in a child; None if it failed."""
    script = REPO / "benchmarks" / "recordlinkage_reference.py"
    print(f"[{persons:,}] recordlinkage reference", file=sys.stderr)
    payload = pickle.dumps(
        (
            population.records,
            population.person_keys,
            population.twin_pairs,
            seed,
            RECORDLINKAGE_REPEAT,
        )
    )
    done = subprocess.run(
        [sys.executable, str(script), "--worker"],
        input=payload,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        tail = done.stderr[-500:].decode(errors="replace")
        print(f"recordlinkage reference failed (exit {done.returncode}): {tail}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def run_size(persons: int, seed: int, *, recordlinkage: bool = False) -> dict[str, Any]:
    import numpy as np

    from app.synth.noise import ERROR_KINDS
    from app.synth.pseudonymised import pseudonymised_population
    from linkage.evaluation import evaluate, recall_by_error_kind

    print(f"[{persons:,}] generating and pseudonymising", file=sys.stderr)
    population = pseudonymised_population(persons, seed=seed)
    payload = pickle.dumps((population.records, seed))
    print(f"[{persons:,}] linking {len(population.records):,} records", file=sys.stderr)
    child = subprocess.run(
        [sys.executable, __file__, "--worker"],
        input=payload,
        capture_output=True,
        check=True,
    )
    report, record_key, person_id = pickle.loads(child.stdout)
    order = np.argsort(record_key)
    predicted = person_id[order]
    evaluation = evaluate(
        predicted,
        population.person_keys,
        population.records["dataset"].to_numpy(),
        twin_pairs=population.twin_pairs,
    )
    datasets = population.records["dataset"].to_numpy()
    assert population.errors is not None  # pseudonymised_population labels every record
    by_kind = recall_by_error_kind(
        predicted, population.person_keys, datasets, population.errors, kinds=ERROR_KINDS
    )
    timings = report["timings"]
    reference = run_recordlinkage(population, persons, seed) if recordlinkage else None
    return {
        "persons": persons,
        "seed": seed,
        "records": len(population.records),
        "data_seconds": population.seconds,
        "evaluation": evaluation.to_dict(),
        "error_kinds": [k.to_dict() for k in by_kind],
        "timings": timings,
        "frame_seconds": report["frame_seconds"],
        "records_per_second": len(population.records) / timings["total"],
        "baseline_rss_mib": report["baseline_rss_mib"],
        "peak_rss_mib": report["peak_rss_mib"],
        "process_maxrss_mib": report["process_maxrss_mib"],
        "blocking": report["blocking"],
        "model": {
            k: report["model"][k]
            for k in ("prior", "threshold_weight", "threshold_probability", "threshold_rule")
        },
        "estimates": report["estimates"],
        "clustering": report["clustering"],
        "recordlinkage": reference,
    }


def run_splink(persons: int, seed: int) -> dict[str, Any] | None:
    script = REPO / "benchmarks" / "splink_reference.py"
    if not script.exists() or importlib.util.find_spec("splink") is None:
        return None
    print(f"[{persons:,}] Splink reference", file=sys.stderr)
    done = subprocess.run(
        [sys.executable, str(script), "--persons", str(persons), "--seed", str(seed), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(f"Splink reference failed: {done.stderr[-500:]}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def fit_exponent(sizes: list[float], values: list[float]) -> float:
    """k in value = c * size^k, by least squares on the logs of every (size, value)."""
    import numpy as np

    slope, _ = np.polyfit(np.log(sizes), np.log(values), 1)
    return float(slope)


STAGES = ("prepare", "blocking", "comparison", "em", "clustering")
#: Memory and time hold per-record arrays, so they grow at least linearly: an exponent
#: below 1 from the fit means fixed costs (interpreter, the u sample) still dominate.
LINEAR = 1.0


def _project(runs: list[dict[str, Any]], value: Any, *, floor: float = 0.0) -> dict[str, float]:
    """Fitted and last-segment exponents of ``value(run)``, and the largest of the two and
    ``floor`` applied from the largest measured size to ``TARGET_RECORDS`` (constant
    overheads flatten the fit at small sizes, so the last segment is the better guide)."""
    sizes = [float(r["records"]) for r in runs]
    values = [max(float(value(r)), 1e-9) for r in runs]
    fitted = fit_exponent(sizes, values)
    last = fit_exponent(sizes[-2:], values[-2:])
    used = max(fitted, last, floor)
    return {
        "exponent_fitted": fitted,
        "exponent_last_two": last,
        "exponent_used": used,
        "largest_measured": values[-1],
        "at_target": values[-1] * (TARGET_RECORDS / sizes[-1]) ** used,
    }


def extrapolate(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Memory and time at ``TARGET_RECORDS`` from power laws fitted on log-log over at
    least three sizes (None with fewer: two points fix any curve, so prove nothing).

    Memory is given twice: with its own exponent (at least linear), and as an upper
    bound if all of the linkage's growth scaled with the candidate pairs."""
    if len({r["records"] for r in runs}) < 3:
        return None
    ordered = sorted(runs, key=lambda r: r["records"])
    growth = _project(ordered, lambda r: r["peak_rss_mib"] - r["baseline_rss_mib"], floor=LINEAR)
    frame = _project(ordered, lambda r: r["baseline_rss_mib"], floor=LINEAR)
    total = _project(ordered, lambda r: r["timings"]["total"], floor=LINEAR)
    blocking = _project(ordered, lambda r: r["timings"]["blocking"], floor=LINEAR)
    pairs = _project(ordered, lambda r: r["blocking"]["total_pairs"])
    by_pairs = growth["largest_measured"] * pairs["at_target"] / pairs["largest_measured"]
    stages = {
        stage: _project(ordered, lambda r, s=stage: r["timings"][s], floor=LINEAR)["at_target"]
        for stage in STAGES
    }
    return {
        "records": TARGET_RECORDS,
        "sizes": [r["records"] for r in ordered],
        "linkage_growth_mib": growth,
        "input_frame_mib": frame,
        "total_seconds": total,
        "blocking_seconds": blocking,
        "candidate_pairs": pairs,
        "linkage_growth_gib": growth["at_target"] / 1024,
        "peak_gib_with_input_frame": (growth["at_target"] + frame["at_target"]) / 1024,
        "stage_seconds_at_target": stages,
        "total_seconds_by_stages": sum(stages.values()),
        "linkage_growth_gib_if_by_pairs": by_pairs / 1024,
        "peak_gib_if_by_pairs": (max(by_pairs, growth["at_target"]) + frame["at_target"]) / 1024,
    }


def _extrapolation_lines(x: dict[str, Any]) -> list[str]:
    sizes = ", ".join(f"{s:,}" for s in x["sizes"])
    lines = [
        f"extrapolation to {x['records']:,} records: exponent k of value = c * records^k, "
        f"fitted (log-log) on {sizes} and between the two largest; the larger (at least 1 "
        "for memory and time) applied from the largest size:"
    ]
    rows = (
        ("linkage memory growth", x["linkage_growth_mib"], "MiB"),
        ("input frame (baseline RSS)", x["input_frame_mib"], "MiB"),
        ("candidate pairs", x["candidate_pairs"], ""),
        ("blocking time", x["blocking_seconds"], "s"),
        ("linkage time (total)", x["total_seconds"], "s"),
    )
    for label, f, unit in rows:
        lines.append(
            f"  {label:<28} k {f['exponent_fitted']:.2f} fitted, "
            f"{f['exponent_last_two']:.2f} last two, {f['exponent_used']:.2f} used: "
            f"{f['largest_measured']:,.1f} -> {f['at_target']:,.1f} {unit}".rstrip()
        )
    lines.append(
        "  linkage time, each stage by its own exponent: "
        + ", ".join(f"{k} {v:,.1f}" for k, v in x["stage_seconds_at_target"].items())
        + f"; total {x['total_seconds_by_stages']:,.1f} s"
    )
    lines.append(
        f"  peak RSS at {x['records']:,} records: {x['linkage_growth_gib']:.1f} GiB linkage "
        f"growth + input frame = {x['peak_gib_with_input_frame']:.1f} GiB; if all the growth "
        f"scaled with the pairs, {x['linkage_growth_gib_if_by_pairs']:.1f} GiB growth, "
        f"{x['peak_gib_if_by_pairs']:.1f} GiB peak"
    )
    return lines


def error_kind_lines(run: dict[str, Any]) -> list[str]:
    """Recall of each error kind's records: hsclink, and Splink's where it ran."""
    splink = {k["kind"]: k for k in (run.get("splink") or {}).get("error_kinds", [])}
    head = f"  {'error kind':<24}{'records':>9}{'recall':>9}{'cross':>9}{'exact':>9}"
    lines = [
        "  recall of each error kind's records (their true partners found; cross: from "
        "the other dataset; exact: their persons exactly right)",
        head + (f"{'Splink R':>10}{'cross':>9}" if splink else ""),
    ]
    for k in run.get("error_kinds", []):
        line = (
            f"  {k['kind']:<24}{k['records']:>9,}{k['recall']:>9.4f}"
            f"{k['cross_dataset_recall']:>9.4f}{k['persons_exact']:>9.4f}"
        )
        other = splink.get(k["kind"])
        if other:
            line += f"{other['recall']:>10.4f}{other['cross_dataset_recall']:>9.4f}"
        lines.append(line)
    return lines


def table(result: dict[str, Any]) -> str:
    lines = [
        f"hsclink linkage benchmark  {time.strftime('%Y-%m-%d')}  {platform.machine()}  "
        f"nproc={os.cpu_count()}  python {platform.python_version()}",
        "",
    ]
    for run in result["runs"]:
        e, t = run["evaluation"], run["timings"]
        lines += [
            f"{run['persons']:,} persons, {run['records']:,} records (seed {run['seed']}); "
            f"data: generate {run['data_seconds']['generate']:.1f} s, pseudonymise "
            f"{run['data_seconds']['pseudonymise']:.1f} s",
            "  {:<26}{:>9}{:>9}{:>9}".format("", "P", "R", "F1"),
            "  {:<26}{:>9.5f}{:>9.5f}{:>9.5f}".format(
                "pairwise", e["pairwise"]["precision"], e["pairwise"]["recall"], e["pairwise"]["f1"]
            ),
            "  {:<26}{:>9.5f}{:>9.5f}{:>9.5f}".format(
                "cross-dataset",
                e["cross_dataset"]["precision"],
                e["cross_dataset"]["recall"],
                e["cross_dataset"]["f1"],
            ),
            f"  exact-person share {e['person_exact_share']:.4f} (all), "
            f"{e['person_exact_share_social_care']:.4f} (social care)",
            f"  twin pairs merged {e['twin_pairs_merged']:.1%} of {e['twin_pairs']}",
            "  time (s): "
            + ", ".join(f"{k} {t[k]:.3f}" for k in ("prepare", "blocking", "comparison", "em"))
            + f", clustering {t['clustering']:.3f}; total {t['total']:.2f}"
            + f" ({run['records_per_second']:,.0f} records/s); RecordFrame "
            + f"{run['frame_seconds']:.2f}",
            f"  peak RSS {run['peak_rss_mib']:.0f} MiB (input frame loaded: "
            f"{run['baseline_rss_mib']:.0f} MiB); pairs {run['blocking']['total_pairs']:,}",
            "  pairs found / added / blocks skipped per rule: "
            + "; ".join(
                f"{r['name']} {r['found']:,} / {r['added']:,} / {r['skipped_blocks']:,}"
                for r in run["blocking"]["rules"]
            ),
        ]
        splink = run.get("splink")
        if splink:
            se, st = splink["evaluation"], splink["timings"]
            ratio = t["total"] / st["total_linkage"]
            lines += [
                f"  Splink {splink['splink_version']}: pairwise F1 {se['pairwise']['f1']:.5f}, "
                f"cross F1 {se['cross_dataset']['f1']:.5f}, P {se['pairwise']['precision']:.5f}, "
                f"twins merged {se['twin_pairs_merged']:.1%}, linkage {st['total_linkage']:.1f} s, "
                f"peak RSS {splink['peak_rss_mib']:.0f} MiB",
                f"  time ratio hsclink / Splink = {ratio:.3f}",
            ]
        lines += error_kind_lines(run)
        if run.get("recordlinkage"):
            from benchmarks.recordlinkage_reference import table as recordlinkage_table

            lines.append(recordlinkage_table(run["recordlinkage"], indent="  "))
        lines.append("")
    x = result.get("extrapolation")
    if x:
        lines += _extrapolation_lines(x)
    elif len(result["runs"]) > 0:
        lines.append("no extrapolation: it needs at least three sizes (--persons a,b,c)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", default="20000,200000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-splink", action="store_true")
    parser.add_argument(
        "--recordlinkage",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="time each stage with the recordlinkage toolkit too (default: only at sizes "
        f"up to {RECORDLINKAGE_DEFAULT_MAX_PERSONS:,} persons)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker()
        return
    runs = []
    for persons in (int(p) for p in args.persons.split(",")):
        reference = (
            persons <= RECORDLINKAGE_DEFAULT_MAX_PERSONS
            if args.recordlinkage is None
            else args.recordlinkage
        )
        run = run_size(persons, args.seed, recordlinkage=reference)
        if not args.no_splink:
            run["splink"] = run_splink(persons, args.seed)
        runs.append(run)
    result = {"runs": runs, "extrapolation": extrapolate(runs)}
    print(json.dumps(result, indent=2) if args.json else table(result))


if __name__ == "__main__":
    main()
