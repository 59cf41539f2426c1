#!/usr/bin/env python3
"""Merges the benchmark binaries' JSON files, prints the tables and the
PASS/MISS line of every target, and plots W5.

    report.py --out DIR [--absent NAME=REASON ...] [--markdown FILE]
              (NAME: a row, or a secondary binary: glibc, jemalloc, tcmalloc)
              main.json [jemalloc.json tcmalloc.json ...]

Writes DIR/results.json (every repetition of every binary, the merged rows
and the targets), DIR/tables.md, DIR/w5_scaling.dat, DIR/w5_scaling.gp and,
through Debian's gnuplot, DIR/w5_scaling.png.

Rows from another binary (jemalloc, tcmalloc: they replace malloc for the
whole process; glibc: glibc malloc alone in its process, so that the other
rows do not decide whether it returns its heap to the kernel between
repetitions) are compared by their medians with the main binary's rows:
the binaries run back to back on the same machine. (Each of them also times
`bump`; that median is kept as local_bump_median, but it is not used to
rescale: bump's speed depends on what ran before it, so it is no stable
yardstick across processes.)

Exit status: 0 when the report was written (MISS lines do not fail it:
they are findings); 2 on bad input.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

MAIN = "main"
BUMP = "bump"
GLIBC = "glibc malloc"
NV = "nv_pool"
NV_STATS = "nv_pool+stats"
NV_HARD = "nv_pool hardened"
MIMALLOC = ["mimalloc heap", "mi_malloc"]
TCMALLOC = "tcmalloc"
# Peers nv_pool must beat in W1 and W6: every allocator a user could pick
# instead (not the bump reference, not nv_pool's own variants).
NOT_PEERS = {BUMP, NV, NV_STATS, NV_HARD}
# Binaries tools/bench may run besides the main one, with the row each adds.
SECONDARY_ROWS = {"glibc": GLIBC, "jemalloc": "jemalloc", "tcmalloc": "tcmalloc"}

# Below this many bytes requested, RSS growth is too coarse for an overhead
# ratio (as main.c): tables print "-", results.json keeps the number.
OVERHEAD_MIN_BYTES = 2 << 20


def load(paths):
    runs = []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        data["_path"] = path
        runs.append(data)
    mains = [r for r in runs if r.get("binary") == MAIN]
    if len(mains) != 1:
        sys.exit("report.py: need exactly one JSON file from the main binary (nvbench)")
    return mains[0], [r for r in runs if r.get("binary") != MAIN]


def case_key(case):
    return (case["workload"], case["n"] if case["workload"] == "W5" else 0)


def row_by_name(case, name):
    for row in case["rows"]:
        if row["allocator"] == name:
            return row
    return None


def ok(row):
    return row is not None and row.get("status") == "ok" and row.get("median", 0) > 0


def merge(main, others, absent):
    """Main's cases with the secondary binaries' rows appended."""
    cases = []
    other_cases = {}
    for run in others:
        for case in run["cases"]:
            other_cases.setdefault(case_key(case), []).append((run, case))
    for case in main["cases"]:
        merged = dict(case)
        rows = []
        main_bump = row_by_name(case, BUMP)
        for row in case["rows"]:
            row = dict(row)
            row["binary"] = MAIN
            if ok(row):
                row["x_bump"] = row["median"] / main_bump["median"] if ok(main_bump) else None
                row["equiv"] = row["median"]
            rows.append(row)
        for run, ocase in other_cases.get(case_key(case), []):
            local_bump = row_by_name(ocase, BUMP)
            for row in ocase["rows"]:
                if row["allocator"] == BUMP:
                    continue
                row = dict(row)
                row["binary"] = run["binary"]
                if ok(row):
                    row["x_bump"] = row["median"] / main_bump["median"] if ok(main_bump) else None
                    row["equiv"] = row["median"]
                    if ok(local_bump):
                        row["local_bump_median"] = local_bump["median"]
                rows.append(row)
        present = {r["allocator"] for r in rows}
        for name, reason in absent.items():
            row_name = SECONDARY_ROWS.get(name, name)  # a binary stands for its row
            if row_name not in present:
                rows.append({"allocator": row_name, "status": "absent", "note": reason, "binary": name})
        # glibc malloc runs in nvbench_glibc (alone in its process): its row
        # goes back to its place after bump.
        rows.sort(key=lambda r: 0 if r["allocator"] == BUMP else 1 if r["allocator"] == GLIBC else 2)
        glibc = row_by_name({"rows": rows}, GLIBC)
        for row in rows:
            if ok(row) and row.get("equiv") and ok(glibc):
                row["x_glibc"] = row["equiv"] / glibc["median"]
        merged["rows"] = rows
        cases.append(merged)
    return cases


def fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def shown_overhead(case, row):
    if case["requested_bytes"] < OVERHEAD_MIN_BYTES or row.get("peak_rss_delta_bytes", -1) < 0:
        return None
    return row.get("overhead")


def table_lines(case, reps):
    lines = [case["title"],
             f"  requested at peak: {case['requested_bytes'] / 1048576:.1f} MiB; {reps} repetitions; ns per operation",
             "  %-17s %9s %9s %9s %8s %8s %8s %17s" % ("allocator", "median", "min", "max", "x bump", "x glibc", "overhead", "peak RSS MiB")]
    for row in case["rows"]:
        if row["status"] != "ok":
            lines.append("  %-17s %9s   %s" % (row["allocator"], row["status"], row.get("note", "")))
            continue
        rss = "-"
        if row.get("peak_rss_delta_bytes", -1) >= 0:
            rss = "%.1f (+%.1f)" % (row["peak_rss_bytes"] / 1048576, row["peak_rss_delta_bytes"] / 1048576)
        tag = ""
        if row.get("single_run"):
            tag = "  [1 run] " + row.get("note", "")
        elif row.get("mode") == "emulated":
            tag = "  [emulated] " + row.get("note", "")
        if row["binary"] != MAIN:
            tag += f"  [{row['binary']} binary]"
        lines.append("  %-17s %9.2f %9.2f %9.2f %8s %8s %8s %17s%s" % (
            row["allocator"], row["median"], row["min"], row["max"], fmt(row.get("x_bump")),
            fmt(row.get("x_glibc"), 3), fmt(shown_overhead(case, row)), rss, tag))
    return lines


def markdown_table(case):
    out = [f"**{case['title']}** (requested at peak: {case['requested_bytes'] / 1048576:.1f} MiB)", "",
           "| allocator | median ns/op | min | max | × bump | × glibc | overhead | peak RSS MiB (+Δ) | note |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in case["rows"]:
        if row["status"] != "ok":
            out.append(f"| {row['allocator']} | {row['status']} | | | | | | | {row.get('note', '')} |")
            continue
        rss = "-"
        if row.get("peak_rss_delta_bytes", -1) >= 0:
            rss = "%.1f (+%.1f)" % (row["peak_rss_bytes"] / 1048576, row["peak_rss_delta_bytes"] / 1048576)
        note = ""
        if row.get("single_run") or row.get("mode") == "emulated":
            note = ("1 run: " if row.get("single_run") else "emulated: ") + row.get("note", "")
        if row["binary"] != MAIN:
            why = "alone in its process" if row["binary"] == "glibc" else "replaces malloc process-wide"
            note = (note + "; " if note else "") + f"separate binary (nvbench_{row['binary']}: {why})"
        name = f"**{row['allocator']}**" if row["allocator"] == NV else row["allocator"]
        out.append(f"| {name} | {row['median']:.2f} | {row['min']:.2f} | {row['max']:.2f} | {fmt(row.get('x_bump'))} | "
                   f"{fmt(row.get('x_glibc'), 3)} | {fmt(shown_overhead(case, row))} | {rss} | {note} |")
    return out


# ---- targets -------------------------------------------------------------

class Target:
    def __init__(self, tid, text):
        self.id = tid
        self.text = text
        self.status = "SKIP"
        self.value = ""
        self.detail = ""

    def set(self, passed, value, detail=""):
        self.status = "PASS" if passed else "MISS"
        self.value = value
        self.detail = detail

    def skip(self, why):
        self.status = "SKIP"
        self.detail = why

    def line(self):
        text = f"{self.id} {self.text}"
        return f"{self.status:4}  {text:<66} {self.value}" + (f"  ({self.detail})" if self.detail else "")

    def json(self):
        return {"id": self.id, "target": self.text, "status": self.status, "value": self.value, "detail": self.detail}


def evaluate(cases):
    by = {}
    for case in cases:
        by.setdefault(case["workload"], []).append(case)

    def case_of(w):
        return by[w][0] if w in by else None

    def med(case, name):
        row = row_by_name(case, name) if case else None
        return row["equiv"] if ok(row) and row.get("equiv") else None

    def absent_names(case, names):
        out = []
        for name in names:
            row = row_by_name(case, name)
            if row is None or row["status"] in ("absent", "failed"):
                out.append(name)
        return out

    targets = []

    def ratio_target(tid, text, w, num, den, limit):
        t = Target(tid, text)
        case = case_of(w)
        a, b = med(case, num), med(case, den)
        if a is None or b is None:
            t.skip(f"{num if a is None else den} not measured")
        else:
            t.set(a / b <= limit, f"{a / b:.2f}x", f"{a:.2f} vs {b:.2f} ns")
        targets.append(t)

    def beats_all(tid, text, w):
        t = Target(tid, text)
        case = case_of(w)
        nv = med(case, NV)
        if nv is None:
            t.skip("nv_pool not measured")
            targets.append(t)
            return
        peers = [r for r in case["rows"] if r["allocator"] not in NOT_PEERS]
        measured = [(r["equiv"], r["allocator"]) for r in peers if ok(r) and r.get("equiv")]
        missing = [r["allocator"] for r in peers if r["status"] in ("absent", "failed")]
        if not measured:
            t.skip("no peer measured")
        else:
            best, name = min(measured)
            detail = f"nv_pool {nv:.2f} ns vs fastest peer {name} {best:.2f} ns"
            if missing:
                detail += "; not measured: " + ", ".join(missing)
            t.set(nv < best, f"{nv / best:.2f}x fastest peer", detail)
        targets.append(t)

    def best_of(tid, text, w, names):
        t = Target(tid, text)
        case = case_of(w)
        nv = med(case, NV)
        got = [(med(case, n), n) for n in names if med(case, n) is not None]
        missing = absent_names(case, names) if case else names
        if nv is None or not got:
            t.skip("nv_pool or the peers not measured")
        else:
            best, name = min(got)
            detail = f"nv_pool {nv:.2f} ns vs {name} {best:.2f} ns"
            if missing:
                detail += "; absent: " + ", ".join(missing)
            t.set(nv <= best, f"{nv / best:.2f}x", detail)
        targets.append(t)

    ratio_target("T1", "W1: nv_pool (release) <= 2.0x bump", "W1", NV, BUMP, 2.0)
    beats_all("T2", "W1: nv_pool faster than every peer", "W1")
    ratio_target("T3", "W6: nv_pool (release) <= 2.0x bump", "W6", NV, BUMP, 2.0)
    beats_all("T4", "W6: nv_pool faster than every peer", "W6")
    best_of("T5", "W2: nv_pool <= 1.0x best of mimalloc and tcmalloc", "W2", MIMALLOC + [TCMALLOC])
    best_of("T6", "W3: nv_pool <= 1.0x mimalloc", "W3", MIMALLOC)
    ratio_target("T7", "W4: nv_pool <= 2.5x bump", "W4", NV, BUMP, 2.5)

    t = Target("T8", "W5: nv_pool <= 2.0x bump at every N")
    worst = None
    for case in by.get("W5", []):
        a, b = med(case, NV), med(case, BUMP)
        if a is not None and b is not None and (worst is None or a / b > worst[0]):
            worst = (a / b, case["n"])
    if worst is None:
        t.skip("W5 not measured")
    else:
        per_n = ", ".join(f"N={c['n']:.0e}: {med(c, NV) / med(c, BUMP):.2f}x" for c in by["W5"]
                          if med(c, NV) is not None and med(c, BUMP) is not None)
        t.set(worst[0] <= 2.0, f"worst {worst[0]:.2f}x at N={worst[1]}", per_n)
    targets.append(t)

    def overhead_target(tid, text, name, limit):
        t = Target(tid, text)
        row = row_by_name(case_of("W1"), name) if case_of("W1") else None
        if not ok(row) or row.get("peak_rss_delta_bytes", -1) < 0:
            t.skip(f"{name} memory not measured")
        else:
            held = row.get("held_ratio") or 0
            detail = "RSS growth / bytes requested" + (f"; nv_pool_get_size / requested = {held:.2f}" if held else "")
            t.set(row["overhead"] <= limit, f"{row['overhead']:.2f}", detail)
        targets.append(t)

    overhead_target("T9", "W1 memory: release bytes held / requested <= 1.25", NV, 1.25)
    overhead_target("T10", "W1 memory: hardened bytes held / requested <= 1.6", NV_HARD, 1.6)
    ratio_target("T11", "W1: hardened <= 2.5x release", "W1", NV_HARD, NV, 2.5)
    ratio_target("T12", "W6: hardened <= 2.5x release", "W6", NV_HARD, NV, 2.5)

    t = Target("T13", "W1: hardened >= 5x faster than glibc malloc")
    case = case_of("W1")
    h, g = med(case, NV_HARD), med(case, GLIBC)
    if h is None or g is None:
        t.skip("not measured")
    else:
        t.set(g / h >= 5.0, f"{g / h:.2f}x faster", f"{h:.2f} vs {g:.2f} ns")
    targets.append(t)

    t = Target("T14", "stats on <= 1.10x stats off (W1, W2, W3, W4, W6)")
    parts, worst = [], None
    for w in ["W1", "W2", "W3", "W4", "W6"]:
        case = case_of(w)
        a, b = med(case, NV_STATS), med(case, NV)
        if a is not None and b is not None:
            parts.append(f"{w} {a / b:.3f}")
            if worst is None or a / b > worst[0]:
                worst = (a / b, w)
    if worst is None:
        t.skip("not measured")
    else:
        t.set(worst[0] <= 1.10, f"worst {worst[0]:.3f}x ({worst[1]})", ", ".join(parts))
    targets.append(t)
    return targets


# ---- W5 plot --------------------------------------------------------------

def plot(cases, out_dir, title_suffix):
    w5 = [c for c in cases if c["workload"] == "W5"]
    if not w5:
        return None, "no W5 data"
    names = []
    for case in w5:
        for row in case["rows"]:
            if ok(row) and row["allocator"] not in names:
                names.append(row["allocator"])
    dat = os.path.join(out_dir, "w5_scaling.dat")
    with open(dat, "w") as f:
        f.write("# W5: median ns per allocation (W1 loop) against N; '?' = not measured\n")
        f.write("# N\t" + "\t".join(n.replace(" ", "_") for n in names) + "\n")
        for case in w5:
            vals = []
            for name in names:
                row = row_by_name(case, name)
                vals.append(f"{row['median']:.4f}" if ok(row) else "?")
            f.write(f"{case['n']}\t" + "\t".join(vals) + "\n")
    png = os.path.join(out_dir, "w5_scaling.png")
    gp = os.path.join(out_dir, "w5_scaling.gp")
    styles = {BUMP: "lw 3 lc rgb '#000000' pt 5", NV: "lw 4 lc rgb '#d62728' pt 7", NV_STATS: "lw 2 lc rgb '#ff9896' pt 7",
              NV_HARD: "lw 2 lc rgb '#8c564b' pt 7"}
    palette = ["#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#bcbd22", "#e377c2", "#7f7f7f", "#ff7f0e", "#aec7e8", "#98df8a"]
    plots = []
    k = 0
    for i, name in enumerate(names):
        style = styles.get(name)
        if style is None:
            style = f"lw 1.5 lc rgb '{palette[k % len(palette)]}' pt 6"
            k += 1
        plots.append(f"'{os.path.basename(dat)}' using 1:{i + 2} with linespoints {style} ps 0.8 title '{name}' noenhanced")
    with open(gp, "w") as f:
        f.write(f"""# gnuplot script for the W5 plot (run from this directory)
set terminal pngcairo size 1000,620 font 'sans,11' background rgb 'white'
set output '{os.path.basename(png)}'
set title 'W5 scaling: median ns per allocation (W1 loop: 8-128 B, touch, release all) against N{title_suffix}' noenhanced
set xlabel 'N (allocations per arena)'
set ylabel 'ns per allocation (log scale)'
set logscale xy
set xrange [{min(c['n'] for c in w5) / 1.6}:{max(c['n'] for c in w5) * 1.6}]
set format x '10^{{%L}}'
set grid xtics ytics mytics
set key outside right top
set datafile missing '?'
plot {", ".join(plots)}
""")
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        return None, "gnuplot not installed (tools/bootstrap installs gnuplot-nox); wrote " + gp
    result = subprocess.run([gnuplot, os.path.basename(gp)], cwd=out_dir, capture_output=True, text=True)
    if result.returncode != 0 and "pngcairo" in result.stderr:
        # gnuplot without cairo: libgd's png terminal.
        with open(gp) as f:
            script = f.read().replace("set terminal pngcairo", "set terminal png")
        with open(gp, "w") as f:
            f.write(script)
        result = subprocess.run([gnuplot, os.path.basename(gp)], cwd=out_dir, capture_output=True, text=True)
    if result.returncode != 0:
        return None, "gnuplot failed: " + result.stderr.strip()
    return png, None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--absent", action="append", default=[], metavar="NAME=REASON")
    parser.add_argument("--markdown", help="also write the tables and targets as Markdown here")
    parser.add_argument("--publish", metavar="DIR",
                        help="copy results.json, tables.md and the plot to DIR and replace the block between "
                             "'<!-- results:begin -->' and '<!-- results:end -->' in --doc with the tables")
    parser.add_argument("--doc", default="docs/performance.md", help="the document --publish updates")
    parser.add_argument("json", nargs="+")
    args = parser.parse_args()
    main_run, others = load(args.json)
    absent = {}
    for item in args.absent:
        name, _, reason = item.partition("=")
        absent[name] = reason
    cases = merge(main_run, others, absent)
    targets = evaluate(cases)

    os.makedirs(args.out, exist_ok=True)
    quick = main_run.get("quick")
    png, plot_problem = plot(cases, args.out, " (--quick)" if quick else "")

    machine = main_run["machine"]
    header = [
        f"nv_pool benchmark{' (--quick)' if quick else ''}: {main_run['reps']} interleaved repetitions, seed {main_run['seed']}",
        f"machine: {machine['cpu']}, {machine['cpus_online']} CPUs, {machine['memory']}; {machine['kernel']}; "
        f"glibc {machine['glibc']}; {machine['compiler']}",
        f"load average at start: {machine['loadavg_start']}; at end: {machine['loadavg_end']}",
    ]
    load1 = float(machine["loadavg_start"].split()[0]) if machine.get("loadavg_start") else 0.0
    if load1 > 1.0:
        header.append(f"warning: the machine was busy (load {load1:.2f} on {machine['cpus_online']} CPUs); timings are noisy")
    for line in header:
        print(line)
    for case in cases:
        print()
        for line in table_lines(case, main_run["reps"]):
            print(line)
    print()
    print("Targets (docs/performance.md explains each; MISS = measured and over the target):")
    for t in targets:
        print("  " + t.line())
    passed = sum(t.status == "PASS" for t in targets)
    missed = sum(t.status == "MISS" for t in targets)
    print(f"  {passed} PASS, {missed} MISS, {len(targets) - passed - missed} SKIP")
    if png:
        print(f"W5 plot: {png}")
    else:
        print(f"W5 plot: not drawn: {plot_problem}")

    results = {
        "schema": 1,
        "quick": quick,
        "machine": machine,
        "binaries": {r["binary"]: {k: v for k, v in r.items() if k != "_path"} for r in [main_run] + others},
        "absent_binaries": absent,
        "merged_cases": cases,
        "targets": [t.json() for t in targets],
        "plot": os.path.basename(png) if png else None,
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    md = header[:]
    md = [line + "  " for line in md]
    md.append("")
    for case in cases:
        md.extend(markdown_table(case))
        md.append("")
    md.append("| target | status | measured | detail |")
    md.append("|---|---|---|---|")
    for t in targets:
        md.append(f"| {t.id} {t.text} | **{t.status}** | {t.value} | {t.detail} |")
    md.append("")
    with open(os.path.join(args.out, "tables.md"), "w") as f:
        f.write("\n".join(md))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(md))
    print(f"Results: {os.path.join(args.out, 'results.json')} (every repetition), {os.path.join(args.out, 'tables.md')}")
    if args.publish:
        publish(args, md, png)
    return 0


def publish(args, md, png):
    os.makedirs(args.publish, exist_ok=True)
    for name in ["results.json", "tables.md", "w5_scaling.dat"]:
        shutil.copy(os.path.join(args.out, name), os.path.join(args.publish, name))
    if png:
        shutil.copy(png, os.path.join(args.publish, os.path.basename(png)))
    with open(args.doc) as f:
        doc = f.read()
    begin, end = "<!-- results:begin -->", "<!-- results:end -->"
    if begin not in doc or end not in doc:
        sys.exit(f"report.py: {args.doc} has no {begin} ... {end} block")
    rel = os.path.relpath(os.path.join(args.publish, "w5_scaling.png"), os.path.dirname(args.doc))
    block = "\n".join([begin, "<!-- written by `tools/bench --publish`; edit the text around it, not inside -->", ""] + md +
                       ["", f"![W5: ns per allocation against N]({rel})", "", end])
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(args.doc, "w") as f:
        f.write(head + block + tail)
    print(f"Published: {args.publish}/ and the results block of {args.doc}")


if __name__ == "__main__":
    sys.exit(main())
