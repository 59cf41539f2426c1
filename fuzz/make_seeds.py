#!/usr/bin/env python3
"""Writes the hand-made seed corpora of the nv_pool fuzz targets.

    fuzz/make_seeds.py            # rewrites fuzz/corpus/{pool_ops,pool_corrupt}/seed-*

Each seed is a small program for the interpreter in pool_harness.c:

    header   flags initial max min fault_n reserved          (6 bytes)
    records  op slot k v0 v1 x                               (6 bytes each)

The tables below (ops, flags, the size/alignment encodings, the config
selectors) mirror pool_harness.c; keep them in step. docs/fuzzing.md
describes the format.
"""
import os
import struct
import sys

OPS = [
    "alloc", "calloc", "realloc", "align", "align_array", "free", "free_bad",
    "realloc_bad", "reset", "extend", "shrink", "compact", "query", "stats",
    "reset_stats", "validate", "rewrite", "null_pool", "alloc_type", "corrupt",
]
OP = {name: i for i, name in enumerate(OPS)}

AUTO, ZERO, STATS, PASS, FAULT, FAULT_ONCE, DEFAULT, LONG_NAME = (1 << i for i in range(8))

INITIAL = [0, 1, 16, 100, 1000, 4096, 16384, 65536, 100000, 262144, 1048576, "invalid"]
MAX = [0, 0, 0, 1, 100, 1024, 2048, 4096, 8192, 16384, 65536, 100000, 262144, 1048576,
       4194304, 16777216]
MIN = [0, 1, 16, 100, 4096, 65536, 1048576, "invalid"]
LARGE = 64 * 1024
SPECIALS = ["0", "1", "15", "16", "17", "SIZE_MAX", "SIZE_MAX-1", "SIZE_MAX-15",
            "SIZE_MAX-16", "SIZE_MAX/2", "SIZE_MAX/2+1", "UINT32_MAX*16", "UINT32_MAX*16+1",
            "1MiB", "1MiB+1", "4MiB", "4MiB+1", "LARGE", "LARGE+1", "SIZE_MAX-LARGE",
            "max_size", "max_size+1", "max_size-1"]
# x for the bad-pointer kinds of free_bad / realloc_bad
BAD = {"double": 0, "malloc": 1, "other_pool": 2, "interior": 3, "stale": 4, "wild": 5,
       "static": 6, "misaligned": 7, "null_pool": 8}
# corrupt: x = target | trigger << 2
BACK, FRONT, FREED = 0, 2, 3
LIVE_TRIGGERS = ["free", "realloc", "validate", "validate_count", "reset", "destroy",
                 "free", "realloc0"]
FREED_TRIGGERS = ["validate", "validate_count", "reuse"]


# header byte 5: pool name (bits 0-2, see pool_names in pool_harness.c) and
# backend (bits 3-4: 0/1 the harness's counting backend, 2 guard_pages,
# 3 guard_pages_front)
NAMES = ["fuzz", "long", "quotes", "empty", "utf8_long", "brackets", "null", "control"]
COUNTING, GUARD_END, GUARD_FRONT = 0, 2, 3


THREAD_SAFE = 0x20  # header byte 5, bit 5: config.thread_safe


def header(flags=AUTO | STATS, initial=16384, max_size=0, min_size=0, fault_n=0, name="fuzz",
           backend=COUNTING, thread_safe=False):
    return bytes([flags, INITIAL.index(initial), MAX.index(max_size), MIN.index(min_size),
                  fault_n, NAMES.index(name) | (backend << 3) | (THREAD_SAFE if thread_safe else 0)])


def size_kv(n):
    """(k, v) that decode_size() maps to exactly n (an int or a SPECIALS name)."""
    if isinstance(n, str):
        return 7, SPECIALS.index(n)
    for k, modulus in ((0, 17), (1, 65), (2, 257), (3, 4097), (4, 65537)):
        if n < modulus:
            return k, n
    if LARGE - 96 <= n < LARGE + 96:
        return 5, n - (LARGE - 96)
    if n < (1 << 18):
        return 6 | ((n & 3) << 3), n >> 2
    raise ValueError("no encoding for size %r" % n)


def rec(op, slot=0, k=0, v=0, x=0):
    return bytes([OP[op], slot, k, v & 0xff, (v >> 8) & 0xff, x])


def alloc(slot, n, op="alloc", x=0):
    k, v = size_kv(n)
    return rec(op, slot, k, v, x)


def align(slot, n, log2_alignment=None, invalid=None):
    k, v = size_kv(n)
    x = log2_alignment if invalid is None else 21 + invalid
    return rec("align", slot, k, v, x)


def align_array(slot, n, nmemb_index, log2_alignment):
    k, v = size_kv(n)
    return rec("align_array", slot, k, v, log2_alignment | (nmemb_index << 5))


def calloc(slot, n, nmemb_index):
    k, v = size_kv(n)
    return rec("calloc", slot, k, v, nmemb_index)


def realloc(slot, n):
    return alloc(slot, n, op="realloc")


def free(slot):
    return rec("free", slot)


def bad_free(kind, v=0, slot=0):
    return rec("free_bad", slot, 0, v, BAD[kind])


def bad_realloc(kind, n=32, v=0, slot=0):
    k, vv = size_kv(n)
    # realloc_bad takes its pointer index from v and its size from (k, v):
    # keep v small so both stay meaningful.
    return rec("realloc_bad", slot, k, v if v else vv, BAD[kind])


def simple(op, x=0, slot=0):
    return rec(op, slot, 0, 0, x)


def extend(n):
    k, v = size_kv(n)
    return rec("extend", 0, k, v)


def shrink(n=None):
    if n is None:
        return rec("shrink", 0, 0, 0, 1)  # SIZE_MAX
    k, v = size_kv(n)
    return rec("shrink", 0, k, v, 0)


def xor_v(position, span, value=1):
    """v with v % span == position and 1 + (v >> 8) % 255 == value."""
    for v in range(position, 1 << 16, span):
        if 1 + (v >> 8) % 255 == value:
            return v
    raise ValueError((position, span, value))


def corrupt_back(slot, size, offset, trigger, length=1, value=1):
    end = ((size + 15) & ~15) + 16
    span = end - size
    return rec("corrupt", slot, length - 1, xor_v(offset - size, span, value),
               BACK | (LIVE_TRIGGERS.index(trigger) << 2))


def corrupt_front(slot, start, trigger, length=1, value=1):
    # the write covers [start - 16, start - 16 + length) relative to the user pointer
    return rec("corrupt", slot, length - 1, xor_v(start, 16, value),
               FRONT | (LIVE_TRIGGERS.index(trigger) << 2))


def corrupt_freed(pick, trigger, length=1):
    return rec("corrupt", 0, length - 1, pick, FREED | (FREED_TRIGGERS.index(trigger) << 2))


def ops_seeds():
    seeds = {}
    seeds["basic"] = header() + b"".join([
        alloc(0, 1), alloc(1, 16), alloc(2, 17), alloc(3, 0), alloc(4, 100), alloc(5, 1000),
        free(1), alloc(6, 16), realloc(2, 40), realloc(4, 10), realloc(7, 64),
        simple("rewrite", slot=5), free(0), free(3), simple("validate"), simple("stats", 3),
        free(2), free(4), free(5), free(6), free(7), free(8), simple("query"),
    ])
    seeds["thread_safe"] = header(AUTO | STATS, thread_safe=True) + seeds["basic"][6:] + \
        b"".join([simple("reset"), alloc(0, 70000), bad_free("double", 0), simple("compact"),
                  rec("stats", 0, 0, 5, 15), simple("null_pool")])
    seeds["zero_clear_calloc"] = header(AUTO | ZERO | STATS) + b"".join([
        alloc(0, 33), calloc(1, 12, 3), calloc(2, 100, 5), realloc(0, 300), realloc(0, 20),
        realloc(0, 5000), free(1), alloc(1, 12), calloc(3, 8, 6), calloc(4, 0, 7),
        align(5, 200, 6), simple("validate"),
    ])
    seeds["fixed_pool"] = header(STATS, initial=4096, max_size=8192) + b"".join(
        [alloc(i, 200) for i in range(20)] + [
            simple("query"), extend(2000), alloc(20, 1500), simple("query"), free(3), free(5),
            alloc(21, 150), simple("compact"), extend(100000), simple("stats", 1),
            shrink(), simple("query")])
    seeds["tiny_max"] = header(AUTO | STATS, initial=0, max_size=4096) + b"".join([
        alloc(0, 1000), alloc(1, 1000), alloc(2, 3000), alloc(3, 4096), alloc(4, "max_size"),
        alloc(5, "max_size+1"), extend(4096), simple("query"), free(0), free(1),
        simple("query"),
    ])
    seeds["max_below_pool"] = header(AUTO | STATS, initial=0, max_size=100)
    seeds["inconsistent_config"] = header(AUTO, initial=65536, max_size=16384)
    seeds["bad_frees"] = header() + b"".join([
        alloc(0, 32), alloc(1, 64), alloc(2, 0), alloc(3, 70000), free(1),
        bad_free("double", 0), bad_free("malloc", 3), bad_free("other_pool"),
        bad_free("interior", 1), bad_free("interior", 2), bad_free("interior", 5),
        bad_free("wild", 0), bad_free("wild", 3), bad_free("static", 2),
        bad_free("misaligned", 9), bad_free("null_pool"), free(3), bad_free("double", 1),
        bad_realloc("double", v=0), bad_realloc("malloc", v=1), bad_realloc("interior", v=3),
        bad_realloc("wild", v=4), simple("validate"),
    ])
    seeds["reset_stale"] = header(AUTO | STATS, initial=4096) + b"".join([
        alloc(0, 100), alloc(1, 5000), alloc(2, 80000), simple("reset"),
        bad_free("stale", 0), bad_free("stale", 1), bad_free("stale", 2),
        alloc(0, 100), bad_free("stale", 0), bad_realloc("stale", v=1),
        simple("reset_stats"), alloc(3, 7), simple("stats"), simple("reset"),
        simple("query"),
    ])
    seeds["align"] = header() + b"".join(
        [align(i, 24 + 8 * i, i) for i in range(0, 21, 2)] +
        [align(11, 10, invalid=j) for j in range(11)] +
        [align_array(12, 16, 2, 6), align_array(13, 8, 6, 4), align_array(14, 100, 7, 5),
         rec("alloc_type", 15, 0, 3, 1), rec("alloc_type", 16, 0, 3, 3),
         rec("alloc_type", 17, 0, 20, 5), rec("alloc_type", 18, 0, 9, 7),
         rec("alloc_type", 19, 8, 9, 7), realloc(2, 5000), simple("validate")])
    seeds["large"] = header() + b"".join([
        alloc(0, LARGE - 60), alloc(1, LARGE - 48), alloc(2, LARGE - 47), alloc(3, LARGE + 1),
        alloc(4, 200000), realloc(3, LARGE + 50), realloc(3, 40000), realloc(4, 150000),
        realloc(1, 100), free(2), simple("compact"), shrink(10000), free(0),
        alloc(5, "1MiB+1"), simple("stats", 2), free(5), shrink(), simple("validate"),
    ])
    seeds["passthrough"] = header(AUTO | STATS | PASS) + b"".join([
        alloc(0, 10), alloc(1, 100000), realloc(0, 20), align(2, 64, 12), free(1),
        bad_free("double", 0), simple("query"), simple("reset"), alloc(3, 5),
        simple("validate"),
    ])
    seeds["fault_persistent"] = header(AUTO | STATS | FAULT, initial=4096, fault_n=3) + b"".join(
        [alloc(i, 3000) for i in range(8)] + [alloc(8, 100000), extend(50000), realloc(0, 9000),
                                               simple("query"), simple("compact")])
    seeds["fault_once"] = header(AUTO | STATS | FAULT | FAULT_ONCE, initial=0, fault_n=2) + \
        b"".join([alloc(i, 2000 + 100 * i) for i in range(6)] +
                 [alloc(6, 70000), alloc(7, 70000), extend(9000), realloc(1, 9000)])
    seeds["fault_create"] = header(AUTO | STATS | FAULT, initial=16384, fault_n=0) + alloc(0, 8)
    seeds["fault_large_table"] = header(AUTO | STATS | FAULT, initial=0, fault_n=1) + \
        b"".join([alloc(0, 100000), alloc(1, 10), alloc(2, 100000)])
    seeds["default_config"] = header(DEFAULT | LONG_NAME) + b"".join([
        alloc(0, 500), alloc(1, 2000000 >> 3), simple("null_pool"), simple("stats", 3),
        simple("validate", 1), free(0),
    ])
    seeds["overflow_sizes"] = header(AUTO | STATS, max_size=1048576) + b"".join(
        [alloc(i, s) for i, s in enumerate(["SIZE_MAX", "SIZE_MAX-1", "SIZE_MAX-15",
                                            "SIZE_MAX-16", "SIZE_MAX/2", "SIZE_MAX/2+1",
                                            "UINT32_MAX*16", "UINT32_MAX*16+1",
                                            "SIZE_MAX-LARGE", "4MiB", "max_size+1"])] +
        [calloc(12, 1 << 12, 6), extend("SIZE_MAX"), extend(0), extend("max_size+1"),
         realloc(13, "SIZE_MAX"), alloc(14, 16), realloc(14, "SIZE_MAX-15"), simple("query")])
    # Exports (JSON, Prometheus) with every kind of pool name, after
    # allocations of many sizes (histogram buckets), buffers cut short.
    mix = [alloc(i, n) for i, n in enumerate([0, 1, 2, 3, 7, 8, 100, 1000, 4096, 70000])] + \
        [free(3), realloc(4, 50), calloc(10, 9, 4), simple("query")]
    for name in NAMES:
        seeds["exports_" + name] = header(AUTO | STATS, name=name) + b"".join(
            mix + [rec("stats", 0, 0, v, 15) for v in (0, 1, 17, 300, 4000, 65535)] +
            [simple("reset_stats"), rec("stats", 0, 0, 7, 12), alloc(11, 5),
             rec("stats", 0, 0, 9, 12)])
    seeds["exports_stats_off"] = header(AUTO, name="quotes") + b"".join(
        mix + [rec("stats", 0, 0, 99, 15)])
    for backend, label in ((GUARD_END, "guard_pages"), (GUARD_FRONT, "guard_pages_front")):
        seeds[label] = header(AUTO | STATS, initial=4096, backend=backend) + b"".join([
            alloc(0, 1), alloc(1, 4000), alloc(2, 100000), realloc(1, 9000), align(3, 10, 12),
            free(0), simple("compact"), extend(5000), shrink(), simple("query"),
            simple("validate"), simple("reset"), alloc(4, 3)])
    seeds["fixed_fragmented"] = header(STATS, initial=16384, min_size=4096) + b"".join(
        [alloc(i, 48 + 16 * (i % 5)) for i in range(24)] +
        [free(i) for i in range(0, 24, 2)] +
        [simple("compact"), alloc(24, 2000), alloc(25, 40), realloc(1, 2000), simple("query"),
         simple("validate"), shrink(), simple("reset"), shrink(), simple("query")])
    return seeds


def corrupt_seeds():
    seeds = {}
    # Every one-byte overflow of the back redzone for sizes 0..40, and
    # every one-byte underflow of the front redzone, each followed by one of
    # the operations that must notice it.
    triggers = ["free", "realloc", "validate", "validate_count", "free", "realloc0",
                "validate", "reset", "destroy"]
    records = []
    t = 0
    for size in list(range(0, 41)) + [47, 48, 49, 100, 255, 1000, LARGE - 49, LARGE + 3]:
        end = ((size + 15) & ~15) + 16
        for offset in range(size, end):
            records.append(alloc(0, size))
            records.append(corrupt_back(0, size, offset, triggers[t % len(triggers)],
                                        value=1 << (t % 8)))
            t += 1
    for size in (0, 1, 16, 100, LARGE + 3):
        for start in range(16):
            records.append(alloc(0, size))
            records.append(corrupt_front(0, start, triggers[t % len(triggers)],
                                         value=1 << (t % 8)))
            t += 1
    per_seed = 250  # records (alloc + corrupt pairs), well under the 512-record cap
    for n, i in enumerate(range(0, len(records), per_seed)):
        seeds["one_byte_%02d" % n] = header() + b"".join(records[i:i + per_seed])
    # The same in a fixed pool with zero_clear, and with aligned chunks.
    seeds["one_byte_fixed"] = header(ZERO | STATS, initial=65536) + b"".join(
        [alloc(1, 24), alloc(2, 5)] +
        [x for off in range(24, 48) for x in (alloc(0, 24), corrupt_back(0, 24, off, "free"))] +
        [x for s in range(16) for x in (alloc(0, 5), corrupt_front(0, s, "validate"))])
    seeds["one_byte_aligned"] = header() + b"".join(
        [x for lg in (5, 6, 8, 12) for off in (40, 41, 47, 63) for x in
         (align(0, 40, lg), corrupt_back(0, 40, off, "free"))] +
        [x for lg in (5, 7, 12) for s in (0, 15) for x in
         (align(0, 40, lg), corrupt_front(0, s, "realloc"))])
    seeds["multi_byte"] = header() + b"".join(
        [x for n in (1, 2, 3, 4) for x in (alloc(0, 13), corrupt_back(0, 13, 13, "free", n, 0xff),
                                           alloc(0, 13), corrupt_front(0, 16 - n, "validate", n, 0x80))])
    # Writes into freed chunks, found by validate, validate_count or reuse.
    seeds["freed"] = header() + b"".join(
        [alloc(i, 16 * (i % 4) + 8) for i in range(12)] +
        [free(i) for i in (1, 3, 4, 6, 9)] +
        [corrupt_freed(p, trig, n) for p in (0, 1, 2, 3, 4, 77, 300, 1000)
         for trig, n in (("validate", 1), ("validate_count", 2), ("reuse", 1))] +
        [simple("compact"), corrupt_freed(5, "validate", 4), corrupt_freed(6, "reuse", 1)])
    for backend, label in ((GUARD_END, "guard_pages"), (GUARD_FRONT, "guard_pages_front")):
        seeds["one_byte_" + label] = header(AUTO | STATS, initial=4096, backend=backend) + \
            b"".join([x for size in (0, 5, 16, 4000, LARGE + 1) for off in (size, size + 1)
                      for x in (alloc(0, size), corrupt_back(0, size, off, "free"))] +
                     [x for size in (0, 100, LARGE + 1) for st in (0, 15)
                      for x in (alloc(0, size), corrupt_front(0, st, "validate"))])
    seeds["one_byte_thread_safe"] = header(AUTO | STATS, thread_safe=True) + b"".join(
        [x for size in (0, 24, 70000) for off in (size, size + 1)
         for trig in ("free", "realloc", "validate", "validate_count", "reset", "destroy")
         for x in (alloc(0, size), corrupt_back(0, size, off, trig))] +
        [alloc(1, 40), alloc(2, 40), free(1), corrupt_freed(0, "reuse"),
         corrupt_freed(0, "validate")])
    seeds["freed_large_bodies"] = header(STATS, initial=262144) + b"".join(
        [alloc(0, 30000), alloc(1, 100), alloc(2, 50000), alloc(3, 100), free(0), free(2),
         corrupt_freed(0, "validate"), corrupt_freed(1, "validate_count", 3),
         corrupt_freed(513, "reuse"), alloc(0, 10000), corrupt_freed(2, "reuse"),
         simple("validate")])
    return seeds


def dictionary(corrupt):
    """Tokens for libFuzzer (-dict) and AFL++ (-x): whole records and headers."""
    tokens = {}
    for name, flags in (("auto_stats", AUTO | STATS), ("fixed", STATS), ("zero", AUTO | ZERO),
                        ("passthrough", AUTO | PASS), ("fault", AUTO | FAULT),
                        ("fault_once", AUTO | FAULT | FAULT_ONCE)):
        tokens["header_" + name] = header(flags)
    tokens["header_tiny_max"] = header(AUTO | STATS, initial=0, max_size=4096)
    tokens["header_fixed_small"] = header(STATS, initial=4096, max_size=8192)
    for n in (0, 1, 16, 17, 100, 4096, LARGE - 48, LARGE + 1, 200000, "SIZE_MAX",
              "max_size+1"):
        tokens["alloc_%s" % n] = alloc(0, n)
        tokens["realloc_%s" % n] = realloc(0, n)
    tokens["free"] = free(0)
    tokens["stats_exports"] = rec("stats", 0, 0, 33, 15)
    tokens["calloc_overflow"] = calloc(0, 16, 7)
    tokens["align_64"] = align(0, 40, 6)
    tokens["align_1m"] = align(0, 40, 20)
    tokens["align_bad"] = align(0, 40, invalid=2)
    tokens["align_array"] = align_array(0, 8, 3, 5)
    for kind in BAD:
        tokens["bad_free_" + kind] = bad_free(kind)
    tokens["bad_realloc"] = bad_realloc("interior", v=3)
    for op in ("reset", "compact", "query", "stats", "reset_stats", "validate", "null_pool"):
        tokens[op] = simple(op, 3)
    tokens["extend"] = extend(9000)
    tokens["shrink_all"] = shrink()
    tokens["alloc_type"] = rec("alloc_type", 0, 0, 5, 5)
    if corrupt:
        for trigger in LIVE_TRIGGERS[:6]:
            tokens["overflow_1_" + trigger] = corrupt_back(0, 16, 16, trigger)
            tokens["underflow_1_" + trigger] = corrupt_front(0, 15, trigger)
        for trigger in FREED_TRIGGERS:
            tokens["freed_" + trigger] = corrupt_freed(0, trigger)
    lines = ["# Generated by fuzz/make_seeds.py: nv_pool fuzz records (see docs/fuzzing.md).",
             "# One token per line, libFuzzer -dict / AFL++ -x format."]
    for name, data in sorted(tokens.items()):
        text = "".join("\\x%02x" % b for b in data)
        lines.append('%s="%s"' % (name.replace("+", "_plus_").replace("-", "_"), text))
    return "\n".join(lines) + "\n"


def write(directory, seeds):
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.startswith("seed-"):
            os.remove(os.path.join(directory, name))
    for name, data in sorted(seeds.items()):
        assert len(data) <= 4096, (name, len(data))
        with open(os.path.join(directory, "seed-" + name), "wb") as f:
            f.write(data)


def main():
    root = os.path.dirname(os.path.abspath(__file__))
    ops = ops_seeds()
    write(os.path.join(root, "corpus", "pool_ops"), ops)
    corrupt = corrupt_seeds()
    # pool_corrupt also starts from the plain sequences.
    for name, data in ops.items():
        corrupt["ops_" + name] = data
    write(os.path.join(root, "corpus", "pool_corrupt"), corrupt)
    for target, is_corrupt in (("pool_ops", False), ("pool_corrupt", True)):
        with open(os.path.join(root, target + ".dict"), "w") as f:
            f.write(dictionary(is_corrupt))
    print("wrote %d pool_ops and %d pool_corrupt seeds" % (len(ops), len(corrupt)))


if __name__ == "__main__":
    sys.exit(main())
