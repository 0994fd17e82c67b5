"""BSDS boundary benchmark: precision and recall of contours against every annotator, the F-measure
at the optimal dataset scale (ODS) and optimal image scale (OIS), and the average precision (AP),
as the BSR package's MATLAB code computes them (Martin et al. PAMI 2004; Arbelaez et al. PAMI 2011).

`evaluation_bdry_image.m` scores one image: at every threshold the machine boundary map (`ucm2 >= t`
read on the image grid, `pb >= t` for a soft boundary map, each segmentation's region boundaries
from `seg2bdry(seg, 'imageSize')`) is thinned (`bwmorph(..., 'thin', inf)`, the same algorithm as
scikit-image's `thin`) and matched to each annotator's `Boundaries` by `correspondPixels`: a
min-cost bipartite matching in which pixels further apart than 0.0075 of the image diagonal cannot
be paired. Recall counts the annotators' matched pixels over all their pixels; precision counts the
machine pixels matched to any annotator. `collect_eval_bdry.m` aggregates (`summarize_boundaries`).

The matching is the benchmark's own C++ code (pyEdgeEval's port of `correspondPixels`, the `bdry`
extra). That code links every unmatched pixel to 6 outlier nodes drawn at random from a generator
seeded with the time of day, so the official benchmark itself gives slightly different counts from
run to run (bench_mini's test_3 and test_4 score the same files: recall differs in the fourth
digit). Two runs of this module differ the same way.

Neighbouring thresholds often give the same boundary map, or maps that differ only in pixels too
far from an annotator's to be matched; either is matched once (`score_boundaries`).
"""

import math
from dataclasses import dataclass

import numpy as np

from wnet_tf.bsds.partitions import BSDSError

# The benchmark's default: pixels match within this fraction of the image diagonal.
MAX_DISTANCE = 0.0075


def _matching():
    try:
        from pyEdgeEval import correspond_pixels
    except ImportError:
        raise BSDSError(
            "the boundary benchmark needs pyEdgeEval (the benchmark's correspondPixels): "
            "pip install 'wnet-tf[bdry]'"
        ) from None
    return correspond_pixels


# --------------------------------------------------------------------------- boundary maps


def hierarchy_boundaries(ucm2):
    """The (H, W) soft boundary map the benchmark reads from a doubleSize ucm2: the corner cells
    `ucm2(3:2:end, 3:2:end)`, below and right of each pixel."""
    return np.asarray(ucm2, np.float64)[2::2, 2::2]


def segmentation_boundaries(seg):
    """`seg2bdry(seg, 'imageSize')`: pixel (i, j) is on a boundary when the corner below and right
    of it touches two labels; the last row and column copy the edge beside them."""
    seg = np.asarray(seg)
    height, width = seg.shape
    across_row = seg[:-1, :] != seg[1:, :]  # between (i, j) and (i+1, j)
    across_column = seg[:, :-1] != seg[:, 1:]  # between (i, j) and (i, j+1)
    bdry = np.zeros((height, width), bool)
    bdry[:-1, :-1] = across_column[:-1] | across_column[1:] | across_row[:, :-1] | across_row[:, 1:]
    bdry[-1, :-1] = across_column[-1]
    bdry[:-1, -1] = across_row[:, -1]
    return bdry


def thin(bmap):
    """`bwmorph(bmap, 'thin', inf)`."""
    from skimage.morphology import thin as skimage_thin

    return skimage_thin(np.asarray(bmap, bool))


def thin_all(bmaps):
    """`thin` of every map, thinning a map equal to the one before it only once."""
    thinned, previous = [], None
    for bmap in bmaps:
        bmap = np.asarray(bmap, bool)
        same = previous is not None and np.array_equal(bmap, previous)
        thinned.append(thinned[-1] if same else thin(bmap))
        previous = bmap
    return thinned


# --------------------------------------------------------------------------- matching


def reach(human_map, max_distance=MAX_DISTANCE):
    """The pixels within `max_distance` (a fraction of the image diagonal) of a pixel of
    `human_map`: the machine pixels `correspondPixels` makes nodes of its matching (its
    `matchable1`, with the same window and the same float arithmetic)."""
    from scipy import ndimage

    human = np.asarray(human_map, bool)
    height, width = human.shape
    radius = max_distance * math.sqrt(height * height + width * width)
    r = math.ceil(radius)
    v, u = np.mgrid[-r : r + 1, -r : r + 1]
    return ndimage.binary_dilation(human, structure=(u * u + v * v) <= radius * radius)


def correspond(machine_map, human_map, max_distance=MAX_DISTANCE):
    """`correspondPixels(machine_map, human_map, max_distance)`: which machine pixels match (an
    (H, W) mask) and how many human pixels do.

    Always on the whole image, as the benchmark calls it: the C++ code approximates the min-cost
    matching through random outlier links, and on small crops (one group of nearby pixels at a
    time, which an exact matching would allow) it loses measurably more matches (bench_mini 6046:
    up to 4 of 1740 pixels, against at most 1 on the whole image).
    """
    machine, human = np.asarray(machine_map, bool), np.asarray(human_map, bool)
    if not machine.any() or not human.any():
        return np.zeros(machine.shape, bool), 0
    # The wrapper converts to float64 itself.
    match_machine, match_human, _, _ = _matching()(machine, human, max_distance)
    return match_machine > 0, int(np.count_nonzero(match_human))


# --------------------------------------------------------------------------- one image


@dataclass(frozen=True)
class BoundaryScores:
    """One image's counts at every threshold, as `evaluation_bdry_image.m` writes them.

    Attributes:
        name: the image id.
        cnt_r: (T,) annotators' boundary pixels matched, summed over annotators.
        sum_r: (T,) annotators' boundary pixels, summed over annotators.
        cnt_p: (T,) machine boundary pixels matched to at least one annotator.
        sum_p: (T,) machine boundary pixels (after thinning).
    """

    name: str
    cnt_r: np.ndarray
    sum_r: np.ndarray
    cnt_p: np.ndarray
    sum_p: np.ndarray


def score_boundaries(machine_maps, human_maps, name="", max_distance=MAX_DISTANCE):
    """Counts of every thinned machine boundary map in `machine_maps` against every annotator's
    boundary map in `human_maps`.

    `correspondPixels` builds its graph from the machine pixels within reach of the annotator's
    (and the annotator's within reach of those) alone, in raster order: two maps with the same
    pixels within reach give it the same graph, and the others stay unmatched. So a map is matched
    to an annotator only where those pixels differ from the last map matched to that annotator
    (neighbouring thresholds), reusing the last result otherwise: the same result but for the
    matching's own random outlier links, as when the benchmark matches an equal map again.
    """
    human_maps = [np.asarray(h) != 0 for h in human_maps]
    within = [reach(h, max_distance) for h in human_maps]
    last = [(None, None)] * len(human_maps)  # per annotator: (machine pixels in reach, result)
    n = len(machine_maps)
    counts = np.zeros((4, n))  # cnt_r, sum_r, cnt_p, sum_p
    for t, machine_map in enumerate(machine_maps):
        machine_map = np.asarray(machine_map, bool)
        if machine_map.shape != human_maps[0].shape:
            raise BSDSError(
                f"boundary map is {machine_map.shape[0]}x{machine_map.shape[1]}, ground truth "
                f"is {human_maps[0].shape[0]}x{human_maps[0].shape[1]}"
            )
        # Machine pixels may match any annotator; each annotator's pixels count for recall.
        matched_any = np.zeros(machine_map.shape, bool)
        for k, human in enumerate(human_maps):
            candidates = machine_map & within[k]
            if last[k][0] is None or not np.array_equal(candidates, last[k][0]):
                last[k] = candidates, correspond(candidates, human, max_distance)
            matched, n_human = last[k][1]
            matched_any |= matched
            counts[0, t] += n_human
            counts[1, t] += np.count_nonzero(human)
        counts[2, t], counts[3, t] = np.count_nonzero(matched_any), np.count_nonzero(machine_map)
    return BoundaryScores(name, *counts)


# --------------------------------------------------------------------------- dataset


def _printed(values):
    """Values as `dlmread` reads them back from `fprintf('%10g')`."""
    return np.array([float(f"{v:.6g}") for v in np.atleast_1d(values)])


def _ratio(count, total):
    return count / (total + (total == 0))


def f_measure(recall, precision):
    """`fmeasure` of collect_eval_bdry.m: 2PR / (P + R), 0 where both are 0."""
    return 2 * precision * recall / (precision + recall + ((precision + recall) == 0))


# linspace(0, 1) in MATLAB: 100 points, k / 99.
_STEPS = np.arange(100) / 99


def best_f(thresholds, recall, precision):
    """`maxF` of collect_eval_bdry.m: the best F on the curve through the thresholds' (R, P),
    linearly interpolated at 100 points between neighbours; the first best wins.

    Returns:
        (threshold, recall, precision, F) there.
    """
    t0, r0, p0 = thresholds[:-1, None], recall[:-1, None], precision[:-1, None]
    t1, r1, p1 = thresholds[1:, None], recall[1:, None], precision[1:, None]
    # MATLAB: x(i)*d + x(i-1)*(1-d), in that order.
    t = (t1 * _STEPS + t0 * (1 - _STEPS)).ravel()
    r = (r1 * _STEPS + r0 * (1 - _STEPS)).ravel()
    p = (p1 * _STEPS + p0 * (1 - _STEPS)).ravel()
    t = np.concatenate([thresholds[:1], t])
    r = np.concatenate([recall[:1], r])
    p = np.concatenate([precision[:1], p])
    f = f_measure(r, p)
    best = int(np.argmax(f))  # strict '>' in MATLAB's loop: the first maximum
    return t[best], r[best], p[best], f[best]


def _matlab_colon(start, step, stop):
    """`start:step:stop` as MATLAB computes it: from both ends towards the middle."""
    n = int(np.floor((stop - start) / step + 1e-10))
    k = np.arange(n + 1)
    return np.where(k <= n // 2, start + k * step, stop - (n - k) * step)


# Recall levels where AP samples the interpolated precision (Ri = 0 : 0.01 : 1).
RECALL_LEVELS = _matlab_colon(0, 0.01, 1)


def interpolated_precision(recall, precision):
    """The curve AP integrates: precision linearly interpolated at recall 0, 0.01, ..., 1 over the
    distinct recalls (the first threshold of each), 0 outside their range (MATLAB's
    `interp1(unique(R), ...)`, NaN set to 0)."""
    distinct, first = np.unique(recall, return_index=True)
    if len(distinct) < 2:
        return np.zeros_like(RECALL_LEVELS)
    inside = (RECALL_LEVELS >= distinct[0]) & (RECALL_LEVELS <= distinct[-1])
    return np.where(inside, np.interp(RECALL_LEVELS, distinct, precision[first]), 0.0)


@dataclass(frozen=True)
class BoundaryBenchmark:
    """Dataset figures as `collect_eval_bdry.m` computes them.

    Attributes:
        thresholds: (T,) thresholds (as printed: six significant digits), or 1..T for segmentations.
        recall, precision, f: (T,) dataset figures at each threshold (ratios of summed counts).
        summary: the headline figures, the `boundary` section of `summary.json`.
        per_image: one row per image: its best (interpolated) threshold, recall, precision, F.
    """

    thresholds: np.ndarray
    recall: np.ndarray
    precision: np.ndarray
    f: np.ndarray
    summary: dict
    per_image: list


def summarize_boundaries(images, thresholds):
    """Aggregates per-image counts (in the benchmark's order, sorted by name) into ODS, OIS and AP.

    ODS is the best F of the dataset curve (summed counts), interpolated between thresholds; OIS
    sums each image's counts at its best threshold (the first one; not interpolated); AP is the
    area under the interpolated curve, `sum(P(0:0.01:1)) * 0.01`.
    """
    if not images:
        raise BSDSError("no images to summarize")
    thresholds = _printed(thresholds)
    n = len(thresholds)
    totals = np.zeros((4, n))
    best = np.zeros(4)
    per_image = []
    for scores in images:
        counts = np.stack(
            [_printed(c) for c in (scores.cnt_r, scores.sum_r, scores.cnt_p, scores.sum_p)]
        )
        if counts.shape[1] != n:
            raise BSDSError(f"image {scores.name}: {counts.shape[1]} thresholds, expected {n}")
        recall, precision = _ratio(counts[0], counts[1]), _ratio(counts[2], counts[3])
        t, r, p, f = best_f(thresholds, recall, precision)
        per_image.append(
            {"image": scores.name, "threshold": t.item(), "recall": r.item(),
             "precision": p.item(), "F": f.item()}
        )  # fmt: skip
        totals += counts
        best += counts[:, int(np.argmax(f_measure(recall, precision)))]
    recall, precision = _ratio(totals[0], totals[1]), _ratio(totals[2], totals[3])
    f = f_measure(recall, precision)
    t, r, p, f_ods = best_f(thresholds, recall, precision)
    r_ois, p_ois = _ratio(best[0], best[1]), _ratio(best[2], best[3])
    summary = {
        "ODS": {
            "threshold": t.item(),
            "recall": r.item(),
            "precision": p.item(),
            "F": f_ods.item(),
        },
        "OIS": {
            "recall": r_ois.item(),
            "precision": p_ois.item(),
            "F": f_measure(r_ois, p_ois).item(),
        },
        "AP": float(interpolated_precision(recall, precision).sum() * 0.01),
    }
    return BoundaryBenchmark(thresholds, recall, precision, f, summary, per_image)
