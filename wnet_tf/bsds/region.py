"""BSDS region benchmark: segmentation covering (SC), probabilistic Rand index (PRI) and variation
of information (VI) at the optimal dataset scale (ODS) and optimal image scale (OIS), computed as
the BSR package's MATLAB region benchmark computes them (Arbelaez et al., PAMI 2011).

The MATLAB code runs in two stages: `evaluation_reg_image.m` scores one image at every threshold and
writes the figures to text files, `collect_eval_reg.m` reads them back and aggregates. This module
keeps that split (`score_image`, then `summarize`) and its arithmetic, down to three details that
decide the last printed digit:

- the thresholds are MATLAB's `linspace` (`partitions.ucm_thresholds`);
- per-image figures pass through `fprintf('%10g')` (six significant digits) before they are
  aggregated, so `summarize` rounds them the same way first;
- a tie between thresholds picks the first one for ODS and for each image's reported threshold.

Everything is float64: the Rand index sums squared pixel counts, up to N^2 = 2.4e10.

Speed comes from structure, not from a faster pixel loop: each annotator's contingency table is
counted once over pixels, on the base regions of `Partitions`, and each threshold only merges the
rows of that small sparse table.
"""

from dataclasses import dataclass

import numpy as np

from wnet_tf.bsds.partitions import BSDSError, as_label_map, compact, stack_segmentations

# --------------------------------------------------------------------------- one image


@dataclass(frozen=True)
class ImageScores:
    """One image's figures at every threshold, as `evaluation_reg_image.m` records them.

    Attributes:
        name: the image id.
        cnt_r: (T,) ground truth covered by the segmentation: over every annotator's regions G,
            the sum of |G| times G's best intersection-over-union with a segment.
        sum_r: (T,) its denominator, annotators x pixels.
        cnt_p: (T,) segmentation covered by the ground truth: over segments S, the sum of |S|
            times S's best IoU with any annotator's region.
        sum_p: (T,) its denominator, pixels.
        cnt_r_best: `cnt_r` with every ground-truth region matched at its best threshold.
        ri: (T,) Rand index, mean over annotators.
        vi: (T,) variation of information in bits, mean over annotators.
    """

    name: str
    cnt_r: np.ndarray
    sum_r: np.ndarray
    cnt_p: np.ndarray
    sum_p: np.ndarray
    cnt_r_best: float
    ri: np.ndarray
    vi: np.ndarray


def _count_pairs(rows, cols, n_cols, weights=None):
    """A sparse contingency table: the distinct (row, col) pairs and their summed weights."""
    keys = rows * n_cols + cols
    n_keys = int(keys.max()) + 1
    if n_keys <= 4 * keys.size:
        # Counting takes linear time where np.unique sorts.
        total = np.bincount(keys, weights=weights, minlength=n_keys)
        keys = np.flatnonzero(total)
        total = total[keys]
    else:
        keys, inverse = np.unique(keys, return_inverse=True)
        total = np.bincount(inverse, weights=weights)
    return keys // n_cols, keys % n_cols, total.astype(np.float64)


def _entropy(sizes, n):
    p = sizes[sizes > 0] / n
    return -(p @ np.log2(p))


def score_image(ground_truth, partitions, name=""):
    """Scores every segmentation in `partitions` against every annotator of `ground_truth`.

    The contingency tables of all annotators sit side by side: column c is one region of annotator
    `annotator[c]`. They are counted once on the base regions; segmentation t merges their rows.
    """
    units = partitions.units.ravel()
    n_pixels = float(units.size)
    unit_size = np.bincount(units, minlength=partitions.labels.shape[1]).astype(np.float64)
    rows, cols, counts, gt_size, annotator = [], [], [], [], []
    n_cols = 0
    for a, gt in enumerate(ground_truth):
        if gt.shape != partitions.units.shape:
            raise BSDSError(
                f"segmentation is {partitions.units.shape[0]}x{partitions.units.shape[1]}, "
                f"ground truth is {gt.shape[0]}x{gt.shape[1]}"
            )
        regions, n_regions = compact(gt)
        r, c, n = _count_pairs(units, regions.ravel(), n_regions)
        rows.append(r)
        cols.append(c + n_cols)
        counts.append(n)
        gt_size.append(np.bincount(regions.ravel(), minlength=n_regions).astype(np.float64))
        annotator.append(np.full(n_regions, a))
        n_cols += n_regions
    rows, cols, counts, gt_size, annotator = map(
        np.concatenate, (rows, cols, counts, gt_size, annotator)
    )
    n_annotators = len(ground_truth)
    gt_square = np.bincount(annotator, weights=gt_size**2)
    gt_entropy = np.array(
        [_entropy(gt_size[annotator == a], n_pixels) for a in range(n_annotators)]
    )

    n_thresholds = len(partitions.labels)
    cnt_r, cnt_p, ri, vi = (np.empty(n_thresholds) for _ in range(4))
    best_gt_match = np.zeros(n_cols)
    for t, segment_of_unit in enumerate(partitions.labels):
        if t and np.array_equal(segment_of_unit, partitions.labels[t - 1]):
            # Neighbouring thresholds often cut the same partition (gPb: 34 cuts of 99 differ).
            cnt_r[t], cnt_p[t], ri[t], vi[t] = cnt_r[t - 1], cnt_p[t - 1], ri[t - 1], vi[t - 1]
            continue
        seg_size = np.bincount(segment_of_unit, weights=unit_size)
        seg, col, n = _count_pairs(segment_of_unit[rows], cols, n_cols, counts)
        # Covering (match_segmentations.m): IoU of every overlapping (segment, region) pair.
        iou = n / (seg_size[seg] + gt_size[col] - n)
        gt_match, seg_match = np.zeros(n_cols), np.zeros(len(seg_size))
        np.maximum.at(gt_match, col, iou)
        np.maximum.at(seg_match, seg, iou)
        cnt_r[t], cnt_p[t] = gt_size @ gt_match, seg_size @ seg_match
        best_gt_match = np.maximum(best_gt_match, gt_match)
        # Rand index (match_segmentations2.m): 1 - disagreeing pairs / all pairs of pixels, with
        # disagreements = (sum of squared segment sizes + same for regions) / 2 - sum of squared
        # cell counts. All terms are integers below 2^53, so this is exact up to the division.
        cell_square = np.bincount(annotator[col], weights=n**2, minlength=n_annotators)
        pairs = n_pixels * (n_pixels - 1) / 2
        rand = 1 - (seg_size @ seg_size / 2 + gt_square / 2 - cell_square) / pairs
        # VI = H(segmentation) + H(annotator) - 2 I(segmentation; annotator), in bits.
        joint = n / n_pixels
        info = joint * np.log2(joint / (seg_size[seg] / n_pixels * (gt_size[col] / n_pixels)))
        mutual = np.bincount(annotator[col], weights=info, minlength=n_annotators)
        variation = _entropy(seg_size, n_pixels) + gt_entropy - 2 * mutual
        # Sequential sums over annotators, the order of MATLAB's loop.
        ri[t] = sum(rand.tolist()) / n_annotators
        vi[t] = sum(variation.tolist()) / n_annotators
    return ImageScores(
        name=name,
        cnt_r=cnt_r,
        sum_r=np.full(n_thresholds, gt_size.sum()),
        cnt_p=cnt_p,
        sum_p=np.full(n_thresholds, n_pixels),
        cnt_r_best=float(gt_size @ best_gt_match),
        ri=ri,
        vi=vi,
    )


def score_segmentation(segmentation, ground_truth):
    """SC, PRI and VI of one label map against a list of annotators' label maps."""
    scores = score_image(
        [as_label_map(g) for g in ground_truth], stack_segmentations([segmentation])
    )
    return {
        "SC": scores.cnt_r[0] / scores.sum_r[0],
        "PRI": scores.ri[0],
        "VI": scores.vi[0],
    }


# --------------------------------------------------------------------------- dataset


def _as_recorded(scores):
    """The figures as `collect_eval_reg.m` reads them back from `fprintf('%10g')` text files."""

    def printed(values):
        return np.array([float(f"{v:.6g}") for v in np.atleast_1d(values)])

    return ImageScores(
        name=scores.name,
        cnt_r=printed(scores.cnt_r),
        sum_r=printed(scores.sum_r),
        cnt_p=printed(scores.cnt_p),
        sum_p=printed(scores.sum_p),
        cnt_r_best=float(printed(scores.cnt_r_best)[0]),
        ri=printed(scores.ri),
        vi=printed(scores.vi),
    )


def _ratio(count, total):
    """MATLAB's cnt ./ (sum + (sum==0)): zero where the denominator is."""
    return count / (total + (total == 0))


def _last_argmax(values):
    return len(values) - 1 - int(np.argmax(values[::-1]))


@dataclass(frozen=True)
class Benchmark:
    """Dataset figures as `collect_eval_reg.m` computes them.

    Attributes:
        thresholds: (T,) the hierarchy's thresholds, or 1..T for lists of segmentations.
        sc, pri, vi: (T,) dataset SC (ratio of sums), mean PRI and mean VI at each threshold.
        summary: the headline figures, shaped as `summary.json`.
        per_image: one row per image: its best threshold and figures (OIS), and Best SC.
    """

    thresholds: np.ndarray
    sc: np.ndarray
    pri: np.ndarray
    vi: np.ndarray
    summary: dict
    per_image: list


def summarize(images, thresholds):
    """Aggregates per-image scores (in the benchmark's order: sorted by name) into ODS / OIS / Best.

    SC ODS is the best threshold of the ratio of summed counts; SC OIS sums each image's counts at
    its own best threshold; SC Best lets every ground-truth region pick its threshold. PRI and VI
    are means over images, maximised (PRI) or minimised (VI) over one threshold (ODS) or per image
    (OIS).
    """
    thresholds = np.asarray(thresholds)
    if not images:
        raise BSDSError("no images to summarize")
    lengths = {len(s.cnt_r) for s in images}
    if lengths != {len(thresholds)}:
        raise BSDSError(
            f"images have {sorted(lengths)} segmentations each, expected {len(thresholds)} "
            "for every image"
        )
    n_thresholds = len(thresholds)
    cnt_r_total, sum_r_total, ri_total, vi_total = (np.zeros(n_thresholds) for _ in range(4))
    cnt_r_ois = sum_r_ois = cnt_r_best = ri_ois = vi_ois = 0.0
    per_image = []
    # Sequential sums in image order, as the MATLAB loop adds them.
    for scores in map(_as_recorded, images):
        sc = _ratio(scores.cnt_r, scores.sum_r)
        first, last = int(np.argmax(sc)), _last_argmax(sc)
        cnt_r_total += scores.cnt_r
        sum_r_total += scores.sum_r
        cnt_r_ois += scores.cnt_r[last]
        sum_r_ois += scores.sum_r[last]
        cnt_r_best += scores.cnt_r_best
        ri_total += scores.ri
        vi_total += scores.vi
        ri_ois += scores.ri.max()
        vi_ois += scores.vi.min()
        per_image.append(
            {
                "image": scores.name,
                "sc_threshold": thresholds[first].item(),
                "sc": float(sc[first]),
                "sc_reverse": float(_ratio(scores.cnt_p, scores.sum_p)[first]),
                "sc_best": float(_ratio(scores.cnt_r_best, scores.sum_r[0])),
                "pri_threshold": thresholds[int(np.argmax(scores.ri))].item(),
                "pri": float(scores.ri.max()),
                "vi_threshold": thresholds[int(np.argmin(scores.vi))].item(),
                "vi": float(scores.vi.min()),
            }
        )
    n_images = len(images)
    sc = _ratio(cnt_r_total, sum_r_total)
    pri, vi = ri_total / n_images, vi_total / n_images
    ods_sc, ods_pri, ods_vi = int(np.argmax(sc)), int(np.argmax(pri)), int(np.argmin(vi))
    summary = {
        "images": n_images,
        "nthresh": n_thresholds,
        "SC": {
            "ODS": float(sc[ods_sc]),
            "ODS_threshold": thresholds[ods_sc].item(),
            "OIS": float(_ratio(cnt_r_ois, sum_r_ois)),
            "Best": float(cnt_r_best / sum_r_total[0]),
        },
        "PRI": {
            "ODS": float(pri[ods_pri]),
            "ODS_threshold": thresholds[ods_pri].item(),
            "OIS": float(ri_ois / n_images),
        },
        "VI": {
            "ODS": float(vi[ods_vi]),
            "ODS_threshold": thresholds[ods_vi].item(),
            "OIS": float(vi_ois / n_images),
        },
    }
    return Benchmark(thresholds, sc, pri, vi, summary, per_image)
