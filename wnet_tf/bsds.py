"""BSDS region benchmark: segmentation covering (SC), probabilistic Rand index (PRI) and variation
of information (VI) at the optimal dataset scale (ODS) and optimal image scale (OIS), computed as
the BSR package's MATLAB region benchmark computes them (Arbelaez et al., PAMI 2011).

The MATLAB code runs in two stages: `evaluation_reg_image.m` scores one image at every threshold and
writes the figures to text files, `collect_eval_reg.m` reads them back and aggregates. This module
keeps that split (`score_image`, then `summarize`) and its arithmetic, down to three details that
decide the last printed digit:

- the thresholds are MATLAB's `linspace`, which differs from numpy's in the last bit;
- per-image figures pass through `fprintf('%10g')` (six significant digits) before they are
  aggregated, so `summarize` rounds them the same way first;
- a tie between thresholds picks the first one for ODS and for each image's reported threshold.

Everything is float64: the Rand index sums squared pixel counts, up to N^2 = 2.4e10.

Speed comes from structure, not from a faster pixel loop: every cut of a hierarchy is a union of the
regions of its finest cut, so each annotator's contingency table is counted once over pixels, on
those base regions, and each threshold only merges the rows of that small sparse table.
"""

import csv
import io
import json
import os
import re
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from scipy import io as sio
from scipy import ndimage, sparse
from scipy.sparse import csgraph

from wnet_tf.files import atomic_write_text

# Segmentation files read by `load_segmentations`.
SEGMENTATION_SUFFIXES = (".mat", ".npy", ".png")


class BSDSError(Exception):
    """Input the benchmark cannot score. The message names the file."""


# --------------------------------------------------------------------------- reading


def _load_variable(path, name):
    try:
        data = sio.loadmat(path, variable_names=[name])
    # scipy reports a damaged file as ValueError, OSError, MatReadError or NotImplementedError
    # (MATLAB v7.3); all mean the same thing here.
    except Exception as err:
        raise BSDSError(f"{path}: unreadable .mat file ({err})") from None
    if name not in data:
        raise BSDSError(f"{path}: no variable '{name}'")
    return data[name]


def _cells(value, path, name):
    """The elements of a MATLAB cell array, in order."""
    if value.dtype != object or value.size == 0:
        raise BSDSError(f"{path}: '{name}' is not a non-empty cell array")
    return list(value.ravel(order="F"))


def as_label_map(array, what="label map"):
    """`array` as an int64 label map; BSDSError unless it is 2-D with integer values."""
    array = np.asarray(array)
    if array.ndim != 2:
        raise BSDSError(f"{what} must be 2-D, not of shape {array.shape}")
    integral = array.dtype.kind in "biu" or (
        array.dtype.kind == "f" and np.isfinite(array).all() and (array == np.round(array)).all()
    )
    if not integral:
        raise BSDSError(f"{what} must hold integer labels, not {array.dtype} values")
    # C order: MATLAB files load column-major, and the counting below works on flat views.
    return np.ascontiguousarray(array, dtype=np.int64)


def load_ground_truth(path):
    """The `groundTruth` cell of a BSDS .mat file: one (H, W) int64 label map per annotator."""
    maps = []
    for k, annotator in enumerate(_cells(_load_variable(path, "groundTruth"), path, "groundTruth")):
        try:
            segmentation = annotator["Segmentation"].item()
        except (IndexError, KeyError, TypeError, ValueError):
            raise BSDSError(f"{path}: annotator {k + 1} has no 'Segmentation'") from None
        maps.append(as_label_map(segmentation, f"{path}: annotator {k + 1}"))
    if len({m.shape for m in maps}) > 1:
        raise BSDSError(f"{path}: annotators disagree on the image size")
    return maps


def load_hierarchy(path):
    """The `ucm2` variable of a .mat file, as float64."""
    ucm2 = np.asarray(_load_variable(path, "ucm2"))
    if ucm2.ndim != 2 or ucm2.dtype.kind not in "biuf":
        raise BSDSError(f"{path}: 'ucm2' is not a 2-D numeric array")
    return ucm2.astype(np.float64)


def load_segmentations(paths):
    """Label maps from one `segs` .mat, an (H, W) or (T, H, W) .npy, or one PNG per file."""
    maps = []
    for path in map(Path, paths):
        if path.suffix == ".mat":
            cells = _cells(_load_variable(path, "segs"), path, "segs")
            maps += [as_label_map(s, f"{path}: segmentation {k + 1}") for k, s in enumerate(cells)]
        elif path.suffix == ".npy":
            try:
                array = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as err:
                raise BSDSError(f"{path}: unreadable .npy file ({err})") from None
            stack = array[None] if array.ndim == 2 else array
            maps += [as_label_map(s, f"{path}: segmentation {k + 1}") for k, s in enumerate(stack)]
        elif path.suffix == ".png":
            from skimage import io as skio

            try:
                array = skio.imread(path)
            except (OSError, ValueError) as err:
                raise BSDSError(f"{path}: unreadable PNG ({err})") from None
            maps.append(as_label_map(array, f"{path} (a single-channel label PNG)"))
        else:
            raise BSDSError(f"{path}: not one of {', '.join(SEGMENTATION_SUFFIXES)}")
    return maps


# --------------------------------------------------------------------------- partitions


@dataclass(frozen=True)
class Partitions:
    """T segmentations of one image that are all unions of a common set of U base regions.

    Segmentation t is `labels[t][units]`. The cuts of a hierarchy share the regions of its finest
    cut; a list of unrelated segmentations shares their common refinement.

    Attributes:
        units: (H, W) int64, the base region (0..U-1) of every pixel.
        labels: (T, U) int64, the segment of every base region in segmentation t.
    """

    units: np.ndarray
    labels: np.ndarray

    def segmentation(self, t):
        return self.labels[t][self.units]


def ucm_thresholds(n):
    """The benchmark's thresholds, MATLAB's `linspace(1/(n+1), 1-1/(n+1), n)` to the last bit.

    MATLAB computes `lo + (k * (hi - lo)) / (n - 1)` with exact ends; numpy's linspace multiplies by
    a rounded step instead and differs in 28 of the 99 default values, which would move a ucm2
    value equal to a threshold to the other side of the cut.
    """
    if n < 1:
        raise ValueError(f"need at least one threshold, not {n}")
    lo, hi = 1 / (n + 1), 1 - 1 / (n + 1)
    if n == 1:
        return np.array([hi])
    thresholds = lo + (np.arange(n) * (hi - lo)) / (n - 1)
    thresholds[0], thresholds[-1] = lo, hi
    return thresholds


def check_hierarchy(ucm2, image_shape, lowest_threshold):
    """BSDSError unless `ucm2` is a valid (2H+1, 2W+1) hierarchy for an (H, W) image."""
    expected = (2 * image_shape[0] + 1, 2 * image_shape[1] + 1)
    if ucm2.shape != expected:
        raise BSDSError(
            f"ucm2 is {ucm2.shape[0]}x{ucm2.shape[1]}, but its ground truth is "
            f"{image_shape[0]}x{image_shape[1]}, so it must be {expected[0]}x{expected[1]}"
        )
    if np.isnan(ucm2).any():
        raise BSDSError(f"ucm2 has {np.isnan(ucm2).sum()} NaN values")
    # A pixel cell above a threshold is left unlabelled by the cut, and the MATLAB benchmark fails
    # on label 0; in the doubleSize layout pixel cells are 0.
    if ucm2[1::2, 1::2].max() > lowest_threshold:
        raise BSDSError(
            f"ucm2 pixel cells [1::2, 1::2] reach {ucm2[1::2, 1::2].max():g}, above the lowest "
            f"threshold {lowest_threshold:g}: not in the doubleSize layout"
        )


_ALL, _HEAD, _TAIL = slice(None), slice(None, -1), slice(1, None)


def _pixel_pairs(ucm2):
    """Every pair of 8-neighbour pixels, as two slices of the (H, W) pixel grid, with the lowest
    ucm2 cell that touches both: the boundary cell between them or a corner beside it.

    In the doubleSize layout, pixel (r, c) is cell (2r+1, 2c+1) and corner[i, j] = cell (2i, 2j)
    touches pixels (i-1 or i, j-1 or j).
    """
    corner = ucm2[::2, ::2]
    diagonal = corner[1:-1, 1:-1]
    across_column = np.minimum(ucm2[1::2, 2:-1:2], np.minimum(corner[:-1, 1:-1], corner[1:, 1:-1]))
    across_row = np.minimum(ucm2[2:-1:2, 1::2], np.minimum(corner[1:-1, :-1], corner[1:-1, 1:]))
    return (
        ((_ALL, _HEAD), (_ALL, _TAIL), across_column),
        ((_HEAD, _ALL), (_TAIL, _ALL), across_row),
        ((_HEAD, _HEAD), (_TAIL, _TAIL), diagonal),
        ((_HEAD, _TAIL), (_TAIL, _HEAD), diagonal),
    )


def cut_hierarchy(ucm2, thresholds):
    """The benchmark's segmentations of a hierarchy, one per threshold t (increasing): the
    8-connected components of `ucm2 <= t` on the double-size grid, read at the pixel cells
    `[1::2, 1::2]` (MATLAB: `bwlabel(ucm <= t)` then `labels2(2:2:end, 2:2:end)`).

    MATLAB labels the whole grid at every threshold; here it is labelled once, at the lowest
    threshold, and higher cuts merge those base regions along their adjacency graph. Two 8-adjacent
    non-pixel cells always touch a common pixel, so (pixel cells being in the set, see
    `check_hierarchy`) a path of cells <= t joins two pixels exactly when a chain of neighbouring
    pixels does, each pair through one cell <= t that touches both. A pair of base regions therefore
    joins at the lowest such cell on their common border.

    Returns:
        Partitions whose base regions are the components at the lowest threshold.
    """
    ucm2 = np.asarray(ucm2, np.float64)
    thresholds = np.asarray(thresholds, np.float64)
    if np.any(np.diff(thresholds) <= 0):
        raise ValueError("thresholds must increase")
    base, n_base = ndimage.label(ucm2 <= thresholds[0], structure=np.ones((3, 3), bool))
    units = np.ascontiguousarray(base[1::2, 1::2], dtype=np.int64) - 1
    pairs = []
    for a, b, level in _pixel_pairs(ucm2):
        across = units[a] != units[b]
        pairs.append((units[a][across], units[b][across], level[across]))
    first, second, level = (np.concatenate(part) for part in zip(*pairs, strict=True))
    # The region adjacency graph: one edge per pair of base regions, at its lowest level.
    keys, edge = np.unique(
        np.minimum(first, second) * n_base + np.maximum(first, second), return_inverse=True
    )
    edge_level = np.full(len(keys), np.inf)
    np.minimum.at(edge_level, edge, level)
    src, dst = keys // n_base, keys % n_base  # sorted by src, as CSR rows need

    labels = np.empty((len(thresholds), n_base), np.int64)
    joined = -1
    for k, threshold in enumerate(thresholds):
        join = edge_level <= threshold
        if np.count_nonzero(join) == joined:
            labels[k] = labels[k - 1]
            continue
        joined = np.count_nonzero(join)
        # Built as CSR directly: a COO graph costs three times as much to convert, per threshold.
        row_starts = np.concatenate([[0], np.cumsum(np.bincount(src[join], minlength=n_base))])
        graph = sparse.csr_array((np.ones(joined), dst[join], row_starts), shape=(n_base, n_base))
        labels[k] = csgraph.connected_components(graph, directed=False)[1]
    return Partitions(units, labels)


def _compact(labels):
    """Consecutive ids 0..K-1 for the distinct values of an integer array, and K."""
    labels = np.asarray(labels, np.int64)
    low, high = int(labels.min()), int(labels.max())
    if high - low < labels.size:
        # A lookup table takes linear time where np.unique sorts.
        present = np.bincount((labels - low).ravel(), minlength=high - low + 1) > 0
        lookup = np.cumsum(present) - 1
        return lookup[labels - low], int(lookup[-1]) + 1
    values, ids = np.unique(labels, return_inverse=True)
    return ids.reshape(labels.shape), len(values)


def stack_segmentations(segmentations):
    """Partitions of a list of same-size label maps, on their common refinement.

    Every distinct label value is a region, label 0 included (the MATLAB benchmark stops on labels
    below 1; any other relabelling scores the same).
    """
    ids = [_compact(as_label_map(s)) for s in segmentations]
    if len({i.shape for i, _ in ids}) > 1:
        raise BSDSError("segmentations of one image differ in size")
    units, n_units = np.zeros(ids[0][0].shape, np.int64), 1
    for seg, n_segments in ids:
        units, n_units = _compact(units * n_segments + seg)
    labels = np.empty((len(ids), n_units), np.int64)
    for t, (seg, _) in enumerate(ids):
        # All pixels of a unit share the label, so any of them may write it.
        labels[t][units.ravel()] = seg.ravel()
    return Partitions(units, labels)


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
        regions, n_regions = _compact(gt)
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


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class ImageInput:
    """One image to score: its ground truth and either one ucm2 .mat or its segmentation files."""

    name: str
    ground_truth: Path
    kind: str  # "ucm" or "segs"
    files: tuple


# Written by `wnet-tf segment` beside its `<id>_labels.png`, and not label maps.
_SEGMENT_BYPRODUCTS = ("_overlay", "_probabilities")


def _segmentation_owner(stem, names):
    """(image id, k) of a segmentation file: `<id>` or `<id>_labels` holds the image's whole list
    (k is None), `<id>_<k>` its k-th segmentation. An unknown id comes back as the stem itself."""
    if stem in names:
        return stem, None
    if stem.endswith("_labels") and stem.removesuffix("_labels") in names:
        return stem.removesuffix("_labels"), None
    match = re.fullmatch(r"(.+)_(\d+)", stem)
    if match and match[1] in names:
        return match[1], int(match[2])
    return stem, None


def _segmentation_files(directory, names):
    """The segmentation files of every image in `directory`, keyed by image id."""
    found = {}
    for path in sorted(Path(directory).iterdir()):
        if path.suffix not in SEGMENTATION_SUFFIXES or not path.is_file():
            continue
        stem = path.stem
        if any(stem.endswith(b) and stem.removesuffix(b) in names for b in _SEGMENT_BYPRODUCTS):
            continue
        name, k = _segmentation_owner(stem, names)
        found.setdefault(name, []).append((k, path))
    groups = {}
    for name, files in found.items():
        numbers = [k for k, _ in files]
        if len(files) > 1 and (None in numbers or len(set(numbers)) < len(numbers)):
            raise BSDSError(
                f"{directory}: image {name} has several segmentation lists "
                f"({', '.join(p.name for _, p in files)}): keep one file, or number them <id>_<k>"
            )
        groups[name] = tuple(path for _, path in sorted(files, key=lambda f: f[0] or 0))
    return groups


def match_inputs(gt_dir, input_dir, kind):
    """Pairs ground-truth files with inputs by image id.

    Returns:
        (items sorted by name, ids with input but no ground truth, ids with ground truth only).
    """
    if kind not in ("ucm", "segs"):
        raise ValueError(f"kind must be 'ucm' or 'segs', not {kind!r}")
    gt_files = {p.stem: p for p in sorted(Path(gt_dir).glob("*.mat"))}
    if kind == "ucm":
        inputs = {p.stem: (p,) for p in sorted(Path(input_dir).glob("*.mat"))}
    else:
        inputs = _segmentation_files(input_dir, gt_files.keys())
    items = [ImageInput(n, gt_files[n], kind, inputs[n]) for n in sorted(gt_files.keys() & inputs)]
    return items, sorted(inputs.keys() - gt_files.keys()), sorted(gt_files.keys() - inputs.keys())


def evaluate_image(item, nthresh=99):
    """Loads, checks and scores one image; BSDSError names the offending file."""
    ground_truth = load_ground_truth(item.ground_truth)
    shape = ground_truth[0].shape
    if item.kind == "ucm":
        (path,) = item.files
        ucm2 = load_hierarchy(path)
        thresholds = ucm_thresholds(nthresh)
        try:
            check_hierarchy(ucm2, shape, thresholds[0])
        except BSDSError as err:
            raise BSDSError(f"{path}: {err}") from None
        partitions = cut_hierarchy(ucm2, thresholds)
    else:
        segmentations = load_segmentations(item.files)
        if not segmentations:
            raise BSDSError(f"{', '.join(map(str, item.files))}: no segmentation")
        for k, seg in enumerate(segmentations):
            if seg.shape != shape:
                raise BSDSError(
                    f"{', '.join(map(str, item.files))}: segmentation {k + 1} is "
                    f"{seg.shape[0]}x{seg.shape[1]}, its ground truth {item.ground_truth} is "
                    f"{shape[0]}x{shape[1]}"
                )
        partitions = stack_segmentations(segmentations)
    return score_image(ground_truth, partitions, item.name)


@dataclass(frozen=True)
class Evaluation:
    """A scored dataset and the images left out for want of a partner file."""

    benchmark: Benchmark
    without_ground_truth: list
    without_input: list


def _listing(names, limit=5):
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def default_jobs():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def evaluate_dataset(
    gt_dir, input_dir, kind, nthresh=99, jobs=1, allow_missing=False, progress=False
):
    """Scores every image of `input_dir` (kind "ucm": ucm2 .mat files; "segs": segmentation lists)
    against `gt_dir`, in `jobs` processes, and aggregates as the benchmark does.

    Every image must have both files unless `allow_missing`, which scores those that do.
    """
    items, without_gt, without_input = match_inputs(gt_dir, input_dir, kind)
    if (without_gt or without_input) and not allow_missing:
        problems = []
        if without_gt:
            problems.append(
                f"{len(without_gt)} in {input_dir} without ground truth in {gt_dir}: "
                f"{_listing(without_gt)}"
            )
        if without_input:
            problems.append(
                f"{len(without_input)} in {gt_dir} without input in {input_dir}: "
                f"{_listing(without_input)}"
            )
        raise BSDSError(
            f"unmatched images: {'; '.join(problems)}; allow_missing (--allow-missing) scores "
            f"the {len(items)} that have both"
        )
    if not items:
        raise BSDSError(f"no image has both ground truth in {gt_dir} and input in {input_dir}")
    work = partial(evaluate_image, nthresh=nthresh)
    scores = _run(work, items, jobs, progress)
    if kind == "ucm":
        thresholds = ucm_thresholds(nthresh)
    else:
        by_count = {}
        for scores_of_image in scores:
            by_count.setdefault(len(scores_of_image.ri), []).append(scores_of_image.name)
        if len(by_count) > 1:
            raise BSDSError(
                "every image needs the same number of segmentations, but "
                + "; ".join(f"{len(n)} have {c} ({_listing(n)})" for c, n in by_count.items())
            )
        thresholds = np.arange(1, len(scores[0].ri) + 1)
    return Evaluation(summarize(scores, thresholds), without_gt, without_input)


def _run(work, items, jobs, progress):
    """`work` over `items`, results in order, in `jobs` processes, with an optional progress bar."""
    from tqdm import tqdm

    parallel = jobs > 1 and len(items) > 1
    with ProcessPoolExecutor(min(jobs, len(items))) if parallel else nullcontext() as pool:
        # Small chunks keep the bar moving and every worker busy to the end.
        results = pool.map(work, items, chunksize=2) if parallel else map(work, items)
        return list(tqdm(results, total=len(items), unit="image", disable=not progress))


# --------------------------------------------------------------------------- reporting


def format_table(benchmark):
    """The headline figures as a small text table, six significant digits as the benchmark."""
    s = benchmark.summary
    lines = [
        f"{s['images']} images, {s['nthresh']} thresholds",
        f"{'':4}{'ODS':>10}{'threshold':>11}{'OIS':>10}{'Best':>10}",
    ]
    for metric in ("SC", "PRI", "VI"):
        m = s[metric]
        best = f"{m['Best']:10.6g}" if "Best" in m else ""
        lines.append(f"{metric:4}{m['ODS']:10.6g}{m['ODS_threshold']:11.6g}{m['OIS']:10.6g}{best}")
    return "\n".join(lines)


def _csv(rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_results(out_dir, benchmark):
    """Writes summary.json, per_image.csv and per_threshold.csv into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    per_threshold = [
        {"threshold": t.item(), "sc": sc, "pri": pri, "vi": vi}
        for t, sc, pri, vi in zip(
            benchmark.thresholds, benchmark.sc, benchmark.pri, benchmark.vi, strict=True
        )
    ]
    atomic_write_text(out_dir / "summary.json", json.dumps(benchmark.summary, indent=2) + "\n")
    atomic_write_text(out_dir / "per_image.csv", _csv(benchmark.per_image))
    atomic_write_text(out_dir / "per_threshold.csv", _csv(per_threshold))
