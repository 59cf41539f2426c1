#!/usr/bin/env python3
"""Checks one tools/bench run: the `bench-quick` check of tools/test.

    check_results.py DIR          DIR holds the run's results.json and plot

It fails (exit 1, one line per problem) when the benchmark did not really
run: a workload or an allocator row is missing; a row is `failed` (nvbench's
own checks of the memory it got: W3's contents, W4's alignment) or `absent`
(tools/bootstrap installs every peer, so in CI an absent peer is a broken
setup); a timed row lacks its repetitions or has a time that is not
positive; a target is missing or SKIP; the W5 plot is missing. MISS is a
finding about speed, not a failure. Before judging the run it makes sure
that each of those faults, planted in a copy of the run, is caught.
"""
import copy
import json
import os
import sys

WORKLOADS = ["W1", "W2", "W3", "W4", "W5", "W6"]
ALLOCATORS = ["bump", "glibc malloc", "glibc obstack", "nv_pool", "nv_pool+stats",
              "nv_pool hardened", "APR pool", "talloc", "mimalloc heap", "mi_malloc",
              "jemalloc", "tcmalloc"]
# Rows that cannot run a workload: no free (obstack, APR) or no realloc (bump).
NOT_APPLICABLE = {("glibc obstack", "W2"), ("glibc obstack", "W3"), ("APR pool", "W2"),
                  ("APR pool", "W3"), ("bump", "W3")}
TARGETS = ["T%d" % i for i in range(1, 15)]
MIN_REPS = 5
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def problems(results, plot_bytes):
    """Every problem of one run; an empty list when it is sound."""
    found = []
    cases = results.get("merged_cases", [])
    for workload in WORKLOADS:
        if not any(case.get("workload") == workload for case in cases):
            found.append(f"{workload}: no table")
    for case in cases:
        label = case.get("workload", "?")
        if label == "W5":
            label += f" N={case.get('n')}"
        rows = {row.get("allocator"): row for row in case.get("rows", [])}
        for name in ALLOCATORS:
            row = rows.get(name)
            if row is None:
                found.append(f"{label}: no row for {name}")
                continue
            status = row.get("status")
            if (name, case.get("workload")) in NOT_APPLICABLE:
                if status != "n/a":
                    found.append(f"{label} {name}: status {status}, expected n/a")
                continue
            if status != "ok":
                found.append(f"{label} {name}: status {status} ({row.get('note', '')})")
                continue
            times = row.get("ns_per_op", [])
            reps_needed = 1 if row.get("single_run") else MIN_REPS
            if len(times) < reps_needed:
                found.append(f"{label} {name}: {len(times)} repetitions, expected {reps_needed}")
            if not times or min(times) <= 0 or not row.get("median", 0) > 0:
                found.append(f"{label} {name}: a time that is not positive")
    statuses = {t.get("id"): t.get("status") for t in results.get("targets", [])}
    for target in TARGETS:
        status = statuses.get(target)
        if status not in ("PASS", "MISS"):
            found.append(f"{target}: status {status}, expected PASS or MISS")
    if results.get("absent_binaries"):
        found.append(f"absent binaries: {results['absent_binaries']}")
    if not plot_bytes.startswith(PNG_MAGIC):
        found.append("the W5 plot is missing or not a PNG")
    return found


def planted_faults(results):
    """Copies of a sound run, each with one fault the check must catch."""
    def first_row(run, workload, name):
        case = next(c for c in run["merged_cases"] if c["workload"] == workload)
        return case, next(r for r in case["rows"] if r["allocator"] == name)

    faults = []
    run = copy.deepcopy(results)
    run["merged_cases"] = [c for c in run["merged_cases"] if c["workload"] != "W4"]
    faults.append(("a workload dropped", run, None))
    run = copy.deepcopy(results)
    case, row = first_row(run, "W2", "nv_pool hardened")
    case["rows"].remove(row)
    faults.append(("a row dropped", run, None))
    run = copy.deepcopy(results)
    first_row(run, "W4", "nv_pool")[1]["status"] = "failed"
    faults.append(("a row failed", run, None))
    run = copy.deepcopy(results)
    first_row(run, "W1", "tcmalloc")[1]["status"] = "absent"
    faults.append(("a peer absent", run, None))
    run = copy.deepcopy(results)
    first_row(run, "W3", "glibc obstack")[1]["status"] = "ok"
    faults.append(("a row that cannot run marked ok", run, None))
    run = copy.deepcopy(results)
    row = first_row(run, "W6", "bump")[1]
    row["ns_per_op"], row["single_run"] = row["ns_per_op"][:2], False
    faults.append(("repetitions missing", run, None))
    run = copy.deepcopy(results)
    first_row(run, "W1", "nv_pool")[1]["ns_per_op"][0] = 0.0
    faults.append(("a zero time", run, None))
    run = copy.deepcopy(results)
    run["targets"][11]["status"] = "SKIP"
    faults.append(("a target skipped", run, None))
    run = copy.deepcopy(results)
    run["targets"] = run["targets"][:-1]
    faults.append(("a target dropped", run, None))
    faults.append(("the plot missing", copy.deepcopy(results), b""))
    return faults


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    directory = argv[1]
    try:
        with open(os.path.join(directory, "results.json")) as f:
            results = json.load(f)
        with open(os.path.join(directory, results.get("plot") or "w5_scaling.png"), "rb") as f:
            plot_bytes = f.read()
    except (OSError, ValueError) as error:
        print(f"check_results: cannot read the run in {directory}: {error}")
        return 1
    found = problems(results, plot_bytes)
    faults = [] if found else planted_faults(results)
    for name, run, plot in faults:
        if not problems(run, plot_bytes if plot is None else plot):
            found.append(f"check_results itself: a planted fault went unnoticed ({name})")
    for line in found:
        print(f"check_results: {line}")
    if found:
        return 1
    cases = len(results["merged_cases"])
    print(f"check_results: OK ({cases} tables x {len(ALLOCATORS)} allocators, "
          f"{len(TARGETS)} targets, plot; {len(faults)} planted faults caught)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
