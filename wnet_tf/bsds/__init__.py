"""The BSDS benchmarks, computed as the BSR package's MATLAB code computes them (Arbelaez et al.,
PAMI 2011), to its last printed digit.

- `partitions`: the segmentations scored, cuts of a ucm2 hierarchy or lists of label maps;
- `region`: segmentation covering, probabilistic Rand index and variation of information;
- `boundary`: precision and recall of contours, F at ODS / OIS, average precision;
- `dataset`: reading and pairing the files of a dataset and scoring them all;
- `report`, `plot`: the results as a table, as files and as a precision-recall picture.

The names below are the package's interface; callers import them from `wnet_tf.bsds`.
"""

from wnet_tf.bsds.boundary import (
    BoundaryBenchmark,
    BoundaryScores,
    score_boundaries,
    segmentation_boundaries,
    summarize_boundaries,
)
from wnet_tf.bsds.dataset import (
    KINDS,
    SEGMENTATION_SUFFIXES,
    Evaluation,
    ImageInput,
    ImageResult,
    default_jobs,
    evaluate_dataset,
    evaluate_image,
    load_boundary_map,
    load_ground_truth,
    load_hierarchy,
    load_segmentations,
    match_inputs,
)
from wnet_tf.bsds.partitions import (
    BSDSError,
    Partitions,
    as_label_map,
    check_hierarchy,
    cut_hierarchy,
    stack_segmentations,
    ucm_thresholds,
)
from wnet_tf.bsds.region import Benchmark, ImageScores, score_image, score_segmentation, summarize
from wnet_tf.bsds.report import benchmark_files, format_table, write_pr_curve, write_results

__all__ = [
    "KINDS",
    "SEGMENTATION_SUFFIXES",
    "BoundaryBenchmark",
    "BoundaryScores",
    "ImageResult",
    "benchmark_files",
    "load_boundary_map",
    "score_boundaries",
    "segmentation_boundaries",
    "summarize_boundaries",
    "write_pr_curve",
    "BSDSError",
    "Benchmark",
    "Evaluation",
    "ImageInput",
    "ImageScores",
    "Partitions",
    "as_label_map",
    "check_hierarchy",
    "cut_hierarchy",
    "default_jobs",
    "evaluate_dataset",
    "evaluate_image",
    "format_table",
    "load_ground_truth",
    "load_hierarchy",
    "load_segmentations",
    "match_inputs",
    "score_image",
    "score_segmentation",
    "stack_segmentations",
    "summarize",
    "ucm_thresholds",
    "write_results",
]
