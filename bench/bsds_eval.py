"""The BSDS region benchmark on the full BSDS500 test set: the 200 gPb-owt-ucm hierarchies cut at
99 thresholds and scored against every annotator, in 1 process and on all cores; then the same
images one by one, timed per stage (reading the .mat files, cutting, scoring).

    WNET_BSDS_ROOT=../shared/data/bsds500 python bench/bsds_eval.py [--json PATH]

Target on the 2-core reference machine: the whole set in at most 30 s (a literal Python port of
the MATLAB code takes about 4 minutes). One timed pass per configuration: a pass is the job.
"""

import os
import resource
import sys
import time
from pathlib import Path

from harness import main

CONFIGS = [
    {"jobs": 1},
    {"jobs": 2},
    {"jobs": 1, "stages": True},
    # The boundary benchmark on the same input (region + boundary), against the rows above.
    {"jobs": 1, "boundaries": True},
    {"jobs": 2, "boundaries": True},
]


def _folders():
    root = Path(os.environ["WNET_BSDS_ROOT"])
    return root / "groundTruth" / "test", root / "gpb_owt_ucm" / "test"


def _whole_set(jobs, boundaries=False):
    from wnet_tf import bsds

    gt_dir, ucm_dir = _folders()
    start, cpu = time.perf_counter(), os.times()
    result = bsds.evaluate_dataset(gt_dir, ucm_dir, "ucm", 99, jobs=jobs, boundaries=boundaries)
    summary = result.benchmark.summary
    seconds, used = time.perf_counter() - start, os.times()
    n = summary["images"]
    cpu_seconds = sum(used[:4]) - sum(cpu[:4])  # user + system, this process and its workers
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9
    return {
        "images": n,
        "seconds": seconds,
        "ms_per_image": 1e3 * seconds / n,
        "cpu_seconds": cpu_seconds,
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
        record = _whole_set(config["jobs"], config.get("boundaries", False))
    return {**config, "nthresh": 99, **record}


if __name__ == "__main__":
    if "--one" not in sys.argv and not os.environ.get("WNET_BSDS_ROOT"):
        sys.exit("set WNET_BSDS_ROOT to the bsds500 folder")
    columns = ["jobs", "stages", "boundaries", "images", "nthresh", "seconds", "ms_per_image"]
    columns += ["cpu_seconds"]
    columns += ["read_ms", "cut_ms", "score_ms", "peak_rss_gb", "worker_peak_rss_gb"]
    main(measure, CONFIGS, columns, __doc__)
