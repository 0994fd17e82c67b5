"""What every benchmark here shares: one configuration per fresh process (so that peak RSS
belongs to that configuration alone), median timings, a printed table and a JSON list.

A benchmark script calls `main(measure, configs, columns)`; `measure(config) -> dict` runs in a
child process started as `python SCRIPT --one CONFIG_JSON` (`prepare(config)`, if given, runs in
this process first: inputs made once, outside the measured process).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from wnet_tf.entry import configure_tensorflow


def median_seconds(fn, repeats):
    """Median wall time of `fn()` over `repeats` calls (warm-up is the caller's business)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_gb(who=resource.RUSAGE_SELF):
    """This process's peak resident set size so far (Linux reports KiB); with RUSAGE_CHILDREN,
    the largest peak of its child processes that have ended (worker processes)."""
    return resource.getrusage(who).ru_maxrss * 1024 / 1e9


def cpu_info():
    """The CPU's model name, core count and the matrix features that decide what bfloat16 costs
    there: AMX tiles (Intel Sapphire Rapids and later) and AVX-512 BF16 (dot products only)."""
    flags, model = set(), ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() == "flags" and not flags:
                    flags = set(value.split())
                elif key.strip() == "model name" and not model:
                    model = value.strip()
    except OSError:  # not Linux: the figures stand without the CPU's name
        pass
    return {"cpu": model, "cores": os.cpu_count(), "amx_bf16": "amx_bf16" in flags,
            "avx512_bf16": "avx512_bf16" in flags, "avx2": "avx2" in flags}


def print_table(records, columns):
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in records)) for c in columns]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for record in records:
        print("  ".join(_fmt(record.get(c)).rjust(w) for c, w in zip(columns, widths,
                                                                     strict=True)))


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def main(measure, configs, columns, description, finish=None, prepare=None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", help="write the records (a JSON list) here")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--only", type=int, nargs="*", help="indices of the configurations to run")
    args = parser.parse_args()
    if args.one:
        configure_tensorflow()
        record = measure(json.loads(args.one))
        record.setdefault("peak_rss_gb", peak_rss_gb())
        record["cpu_allocator_bfc"] = os.environ.get("TF_CPU_ALLOCATOR_USE_BFC")
        record.update(cpu_info())
        print("RECORD " + json.dumps(record), flush=True)
        return
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    records = []
    for i, config in enumerate(configs):
        if args.only is not None and i not in args.only:
            continue
        if prepare is not None:  # here, not in the child, whose children's peak may count
            prepare(config)
        out = subprocess.run([sys.executable, sys.argv[0], "--one", json.dumps(config)],
                             env=env, capture_output=True, text=True, check=False)
        lines = [line for line in out.stdout.splitlines() if line.startswith("RECORD ")]
        if out.returncode or not lines:
            sys.exit(f"configuration {config} failed:\n{out.stderr[-3000:]}")
        records.append(json.loads(lines[-1][len("RECORD "):]))
        print(f"done {config}", file=sys.stderr, flush=True)
    if finish is not None:  # figures that need every record, e.g. ratios to a reference row
        records = finish(records)
    print_table(records, columns)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(records, fh, indent=2)
