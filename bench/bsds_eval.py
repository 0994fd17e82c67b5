"""The BSDS region benchmark on the full BSDS500 test set: the 200 gPb-owt-ucm hierarchies cut at
99 thresholds and scored against every annotator, in 1 process and on all cores; then the same
images one by one, timed per stage (reading the .mat files, cutting, scoring); then the boundary
benchmark with the region benchmark on the same input, in 1 process on the first 20 images (the
whole set takes it over an hour on one core) and on all cores on all 200.

    WNET_BSDS_ROOT=../shared/data/bsds500 python bench/bsds_eval.py [--json PATH] [--out DIR]
        [--only 3 4]

--out DIR also writes each boundary configuration's results (summary.json, the benchmark's
eval_bdry*.txt, pr_curve.png) into DIR/<input>/, as `wnet-tf evaluate --boundaries --out` does.

Target on the 2-core reference machine: the whole set in at most 30 s (a literal Python port of
the MATLAB code takes about 4 minutes); the boundary benchmark within 3x of the region benchmark's
time (not reached: its matching alone takes over 500x on one core, see docs/benchmarks.md). One
timed pass per configuration: a pass is the job.
"""

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from harness import main

CONFIGS = [
    {"jobs": 1},
    {"jobs": 2},
    {"jobs": 1, "stages": True},
    # The boundary benchmark on the same input (region + boundary), against the rows above.
    {"jobs": 1, "boundaries": True, "images": 20},
    {"jobs": 2, "boundaries": True},
]


def _folders():
    root = Path(os.environ["WNET_BSDS_ROOT"])
    return root / "groundTruth" / "test", root / "gpb_owt_ucm" / "test"


def _whole_set(jobs, boundaries=False, images=None, out=None):
    """One timed `evaluate_dataset` on the test set, or on its first `images` ids."""
    from wnet_tf import bsds

    gt_dir, ucm_dir = _folders()
    with tempfile.TemporaryDirectory() as subset:
        if images is not None:  # the first ids only: the others lack an input, and are skipped
            for path in sorted(ucm_dir.glob("*.mat"))[:images]:
                (Path(subset) / path.name).symlink_to(path)
            ucm_dir = Path(subset)
        start, cpu = time.perf_counter(), os.times()
        result = bsds.evaluate_dataset(
            gt_dir, ucm_dir, "ucm", 99, jobs=jobs, boundaries=boundaries,
            allow_missing=images is not None,
        )  # fmt: skip
        seconds, used = time.perf_counter() - start, os.times()
    summary = result.benchmark.summary
    n = summary["images"]
    cpu_seconds = sum(used[:4]) - sum(cpu[:4])  # user + system, this process and its workers
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9
    if out is not None and boundaries:
        name = "gpb_owt_ucm_test" + (f"_first{images}" if images is not None else "")
        bsds.write_results(Path(out) / name, result.benchmark, result.boundary)
    return {
        "images": n,
        "seconds": seconds,
        "ms_per_image": 1e3 * seconds / n,
        "cpu_seconds": cpu_seconds,
        "cpu_ms_per_image": 1e3 * cpu_seconds / n,
        "worker_peak_rss_gb": workers if jobs > 1 else None,
        "SC": summary["SC"],
        "PRI": summary["PRI"],
        "VI": summary["VI"],
        "boundary": result.boundary.summary if boundaries else None,
    }


def _stages():
    from wnet_tf import bsds

    items, _, _ = bsds.match_inputs(*_folders(), "ucm")
    thresholds = bsds.ucm_thresholds(99)
    totals = {"read_ms": 0.0, "cut_ms": 0.0, "score_ms": 0.0}
    for item in items:
        start = time.perf_counter()
        ground_truth = bsds.load_ground_truth(item.ground_truth)
        ucm2 = bsds.load_hierarchy(item.files[0])
        read = time.perf_counter()
        bsds.check_hierarchy(ucm2, ground_truth[0].shape, thresholds[0])
        partitions = bsds.cut_hierarchy(ucm2, thresholds)
        cut = time.perf_counter()
        bsds.score_image(ground_truth, partitions, item.name)
        totals["read_ms"] += read - start
        totals["cut_ms"] += cut - read
        totals["score_ms"] += time.perf_counter() - cut
    return {"images": len(items), **{k: 1e3 * v / len(items) for k, v in totals.items()}}


def measure(config):
    if config.get("stages"):
        record = _stages()
    else:
        record = _whole_set(
            config["jobs"], config.get("boundaries", False), config.get("images"),
            config.get("out"),
        )  # fmt: skip
    return {**config, "nthresh": 99, **record}


def ratios(records):
    """Each boundary row's time per image over the region row's with as many jobs, wall and CPU:
    the target is 3x."""
    region = {r["jobs"]: r for r in records if not r.get("boundaries") and not r.get("stages")}
    for record in records:
        reference = region.get(record["jobs"]) if record.get("boundaries") else None
        if reference is not None:
            record["x_region"] = record["ms_per_image"] / reference["ms_per_image"]
            record["x_region_cpu"] = record["cpu_ms_per_image"] / reference["cpu_ms_per_image"]
    return records


if __name__ == "__main__":
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--out", help="write the boundary configurations' results under this folder")
    args, rest = pre.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    if "--one" not in sys.argv and not os.environ.get("WNET_BSDS_ROOT"):
        sys.exit("set WNET_BSDS_ROOT to the bsds500 folder")
    configs = CONFIGS
    if args.out:
        out = str(Path(args.out).resolve())
        configs = [{**c, "out": out} if c.get("boundaries") else c for c in CONFIGS]
    columns = ["jobs", "stages", "boundaries", "images", "nthresh", "seconds", "ms_per_image"]
    columns += ["cpu_seconds", "x_region", "x_region_cpu"]
    columns += ["read_ms", "cut_ms", "score_ms", "peak_rss_gb", "worker_peak_rss_gb"]
    main(measure, configs, columns, __doc__, finish=ratios)
