"""The segmentations a benchmark scores, as partitions of one image: the cuts of a ucm2 hierarchy
at the benchmark's thresholds, or a list of label maps, all stored as unions of a common set of base
regions so that every later count runs on those regions rather than on pixels.

Every cut of a hierarchy is a union of the regions of its finest cut: the grid is labelled once, at
the lowest threshold, and each higher threshold only merges those base regions along their adjacency
graph. The thresholds are MATLAB's `linspace`, which differs from numpy's in the last bit.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import csgraph


class BSDSError(Exception):
    """Input the benchmark cannot score. The message names the file."""


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


def compact(labels):
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
    ids = [compact(as_label_map(s)) for s in segmentations]
    if len({i.shape for i, _ in ids}) > 1:
        raise BSDSError("segmentations of one image differ in size")
    units, n_units = np.zeros(ids[0][0].shape, np.int64), 1
    for seg, n_segments in ids:
        units, n_units = compact(units * n_segments + seg)
    labels = np.empty((len(ids), n_units), np.int64)
    for t, (seg, _) in enumerate(ids):
        # All pixels of a unit share the label, so any of them may write it.
        labels[t][units.ravel()] = seg.ravel()
    return Partitions(units, labels)
