"""Algorithm 2, steps 3-4: contour2ucm on the CRF's boundaries, weighted by the boundary
strength of wnet_tf.postprocess.cues, into a BSDS ucm2 hierarchy.

Edge weights on the 4-adjacency pixel graph, zero except across the
CRF's argmax boundaries; higra's `mean_pb_hierarchy` does the watershed (its regions are then the
CRF's connected regions) and the greedy merging by mean boundary strength; the saliency of that
hierarchy in the Khalimsky grid is `ucm2` in the BSDS layout: (2H+1) x (2W+1), pixels at odd
(row, column), boundaries between them, values in [0, 1]. contour2ucm's orientation step (the
"oriented" watershed) is available but off by default (`oriented_watershed`): with these cues it
lowered every BSDS score on the validation set.

W-Net+ucm: the W-Net edge weights and a gPb-owt-ucm's edge weights are combined
(`combine_with_ucm`) before the watershed, whose regions are then the intersection of both
partitions, and merged the same way.
"""

from __future__ import annotations

import warnings

import higra as hg
import numpy as np

from wnet_tf.config import PostprocessConfig
from wnet_tf.postprocess.cues import strength_of


def grid_edges(strength: np.ndarray, orientation: np.ndarray, labels: np.ndarray | None = None,
               off_boundary: float = 0.0):
    """The 4-adjacency graph of the image, its edge weights (mean strength of the two pixels) and
    orientations (of the stronger pixel). With `labels`, edges inside a labelled region keep
    `off_boundary` times their weight: 0 puts boundary strength on the boundaries of `labels`
    only."""
    graph = hg.get_4_adjacency_graph(strength.shape)
    src, dst = graph.edge_list()
    s, o = strength.ravel(), orientation.ravel()
    weights = 0.5 * (s[src] + s[dst])
    orientations = np.where(s[src] >= s[dst], o[src], o[dst])
    if labels is not None:
        flat = labels.ravel()
        weights = np.where(flat[src] != flat[dst], weights, off_boundary * weights)
    return graph, weights.astype(np.float64), orientations.astype(np.float64)


def ucm_edge_weights(ucm2: np.ndarray) -> np.ndarray:
    """The 4-adjacency edge weights stored in a BSDS ucm2, (2H+1) x (2W+1)."""
    _, weights = hg.khalimsky_2_graph_4_adjacency(np.asarray(ucm2, np.float64),
                                                  extra_border=True)
    return np.asarray(weights, np.float64)


def combine_with_ucm(wnet: np.ndarray, gpb: np.ndarray, config: PostprocessConfig) -> np.ndarray:
    """W-Net+ucm [open]: W-Net edge weights (non-zero on the CRF's boundaries only) combined with
    a gPb-owt-ucm's edge weights, before the watershed and merging.

    gate: gpb where W-Net has a boundary, a * gpb elsewhere; gPb ranks, W-Net promotes.
    mean: (1 - a) wnet + a gpb; each arc is ranked by both.
    max:  the stronger of the two; a boundary either method is sure of stays.
    (a = `gpb_weight`.)"""
    a = config.gpb_weight
    if config.combine == "mean":
        return (1.0 - a) * wnet + a * gpb
    if config.combine == "max":
        return np.maximum(wnet, gpb)
    return np.where(wnet > 0, gpb, a * gpb)


def oriented_watershed_weights(graph, shape: tuple[int, int], weights: np.ndarray,
                               orientations: np.ndarray) -> np.ndarray:
    """The oriented watershed transform as edge weights: each edge of a watershed arc gets the
    arc's mean weight, each weight first scaled by how well its orientation fits the arc's
    course; edges inside regions get 0."""
    if graph.num_edges() == 0:  # a 1x1 image: higra fails on an empty graph
        return weights
    rag, arc_weights = hg.oriented_watershed(graph, weights, shape, orientations)
    if rag.num_vertices() == 1:
        return np.zeros_like(weights)
    return np.asarray(hg.rag_back_project_edge_weights(rag, arc_weights), np.float64)


def ucm_from_edges(graph, shape: tuple[int, int], weights: np.ndarray,
                   orientations: np.ndarray | None = None,
                   probabilities: np.ndarray | None = None,
                   region_weight: float = 0.0) -> np.ndarray:
    """contour2ucm: (oriented, when `orientations` are given) watershed of the edge weights,
    greedy merging of the regions by mean boundary strength (scaled by the regions' class
    distance, `region_weight` > 0 with `probabilities`: `class_aware_tree`), and the ultrametric
    (saliency) map as a BSDS ucm2 in [0, 1]."""
    flat = np.zeros((2 * shape[0] + 1, 2 * shape[1] + 1))
    if graph.num_edges() == 0:  # a 1x1 image: one region, and higra fails on an empty graph
        return flat
    tree = None
    if probabilities is not None and region_weight > 0:
        if orientations is not None:
            weights = oriented_watershed_weights(graph, shape, weights, orientations)
            orientations = None
        try:
            tree, altitudes = class_aware_tree(graph, weights, probabilities, region_weight)
        except TooManyRegions as err:
            warnings.warn(str(err), stacklevel=2)
        else:
            if tree is None:
                return flat
    if tree is None:
        tree, altitudes = hg.mean_pb_hierarchy(graph, weights, shape,
                                               edge_orientations=orientations)
    if tree.num_leaves() == 1:
        return flat  # no closed boundary, one region; higra's saliency fails on it
    saliency = hg.saliency(tree, altitudes)
    ucm2 = hg.graph_4_adjacency_2_khalimsky(graph, saliency, shape, add_extra_border=True)
    return np.clip(np.asarray(ucm2, np.float64), 0.0, 1.0)


# The merging is a heap in Python (region_merging). higra's binary_partition_tree with a Python
# weight callback gives the same trees (equal ucm2s on 12 val images) but crosses into Python for
# every neighbour of every merge: on the 2-core EPYC, the shipped hierarchy's watershed, merging
# and ucm2 (`ucm_from_strength`) took 2.4 s a BSDS image with it and 0.4 s with the heap. The time
# still grows faster than the regions (a large region's neighbours are visited at each of its
# merges): 3,600 regions 0.6 s, 14,000 4.6 s (higra: 10,000 regions 29 s). Above this many,
# contour2ucm's merging is used instead, with a warning.
MAX_CLASS_AWARE_REGIONS = 20_000


class TooManyRegions(Exception):
    pass


def class_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Squared Hellinger distance, in [0, 1], between two class distributions."""
    return float(max(0.0, 1.0 - np.sqrt(p * q).sum()))


def class_aware_tree(graph, weights: np.ndarray, probabilities: np.ndarray, region_weight: float):
    """(tree on the watershed regions' adjacency graph, altitudes), or (None, None) for one
    region: contour2ucm's greedy merging, but the pair merged next is the one whose mean
    boundary strength times (1 - w + w d) is lowest, d the `class_distance` between the two
    regions' mean class probabilities (area weighted, updated as regions merge). Mean boundary
    strength alone is w = 0. Altitudes are made increasing (each node at least its children's)
    so that the saliency is an ultrametric."""
    labels = hg.labelisation_watershed(graph, weights)
    rag = hg.make_region_adjacency_graph_from_labelisation(graph, labels)
    n = rag.num_vertices()
    if n > MAX_CLASS_AWARE_REGIONS:
        raise TooManyRegions(
            f"class-aware merging (postprocess.wnet_region_weight) skipped: {n} watershed "
            f"regions, over the {MAX_CLASS_AWARE_REGIONS} it merges in reasonable time; "
            "contour2ucm's merging used instead (a smaller postprocess.working_pixels gives fewer "
            "regions)")
    if rag.num_edges() == 0:
        return None, None
    # Frontier strength sums and lengths per arc between regions.
    frontier = hg.rag_accumulate_on_edges(rag, hg.Accumulators.sum, weights).astype(np.float64)
    length = hg.rag_accumulate_on_edges(rag, hg.Accumulators.sum, np.ones_like(weights))
    length = length.astype(np.float64)
    k = probabilities.shape[-1]
    area = np.zeros(2 * n - 1)
    area[:n] = np.bincount(hg.CptRegionAdjacencyGraph.get_vertex_map(rag), minlength=n)
    mean = np.zeros((2 * n - 1, k))
    mean[:n] = hg.rag_accumulate_on_vertices(
        rag, hg.Accumulators.sum, probabilities.reshape(-1, k).astype(np.float64))
    mean[:n] /= area[:n, None]
    parents, altitudes = region_merging(
        *rag.edge_list(), frontier, length, area, mean, region_weight)
    tree = hg.Tree(parents)
    hg.CptHierarchy.link(tree, rag)
    return tree, hg.tree_monotonic_regression(tree, altitudes, "max")


def region_merging(sources, targets, frontier, length, area, mean, region_weight):
    """Greedy merging of n regions (`area` and `mean` (2n - 1, K): the leaves' first, filled in
    for the merged ones) joined by arcs sources[i] - targets[i] with `frontier` strength sums and
    `length`s: the arc of lowest altitude (mean strength times (1 - w + w d)) merges its two
    regions into a new one (n, n + 1, ...), whose arc to each neighbour sums the arcs it
    replaces. Returns (parents, altitudes) of the 2n - 1 nodes, as higra's Tree takes them."""
    import heapq

    n = (len(area) + 1) // 2
    parents = np.arange(2 * n - 1)
    altitudes = np.zeros(2 * n - 1)
    frontier, length = list(frontier), list(length)

    def altitude(arc, a, b):
        return frontier[arc] / length[arc] * (1 - region_weight
                                              + region_weight * class_distance(mean[a], mean[b]))

    ends = list(zip(sources.tolist(), targets.tolist(), strict=True))
    alive = [True] * len(ends)
    neighbours = [{} for _ in range(2 * n - 1)]  # region -> {neighbour: arc}
    for arc, (a, b) in enumerate(ends):
        neighbours[a][b] = neighbours[b][a] = arc
    heap = [(altitude(arc, a, b), arc) for arc, (a, b) in enumerate(ends)]
    heapq.heapify(heap)
    new = n
    while heap:
        level, arc = heapq.heappop(heap)
        if not alive[arc]:
            continue
        a, b = ends[arc]
        parents[a] = parents[b] = new
        altitudes[new] = level
        area[new] = area[a] + area[b]
        mean[new] = (area[a] * mean[a] + area[b] * mean[b]) / area[new]
        joined = {}  # neighbour -> the arcs to it from a and from b
        for region in (a, b):
            for other, old in neighbours[region].items():
                alive[old] = False
                if other not in (a, b):
                    del neighbours[other][region]
                    joined.setdefault(other, []).append(old)
            neighbours[region] = None
        for other, olds in joined.items():
            arc = len(ends)
            frontier.append(sum(frontier[i] for i in olds))
            length.append(sum(length[i] for i in olds))
            ends.append((new, other))
            alive.append(True)
            neighbours[new][other] = neighbours[other][new] = arc
            heapq.heappush(heap, (altitude(arc, new, other), arc))
        new += 1
    return parents, altitudes


def ucm_from_labels(image: np.ndarray, labels: np.ndarray, config: PostprocessConfig,
                    gpb_ucm2: np.ndarray | None = None,
                    probabilities: np.ndarray | None = None) -> np.ndarray:
    """ucm2 from a label map (the CRF's argmax): boundary strength from image cues on its
    boundaries (elsewhere scaled by `off_boundary_strength`, 0 by default), then contour2ucm.
    With `gpb_ucm2` (W-Net+ucm), the W-Net boundaries (through the oriented watershed on their
    own, if it is on) are combined with gPb's, and the combination is merged without an
    orientation step: gPb's arcs are already oriented, and must not be re-weighted by
    orientations measured on other arcs. `probabilities`: the W-Net cue (`oriented_cues`)."""
    return ucm_from_strength(strength_of(image, config, probabilities), labels, config, gpb_ucm2,
                             probabilities)


def ucm_from_strength(strength_orientation: tuple[np.ndarray, np.ndarray], labels: np.ndarray,
                      config: PostprocessConfig, gpb_ucm2: np.ndarray | None = None,
                      probabilities: np.ndarray | None = None) -> np.ndarray:
    """`ucm_from_labels` from the pixels' (strength, orientation), computed once per image;
    `probabilities` (the W-Net cue's source) take part in the merging when
    `config.wnet_region_weight` > 0."""
    strength, orientation = strength_orientation
    graph, weights, orientations = grid_edges(strength, orientation, labels,
                                              config.off_boundary_strength)
    if not config.oriented_watershed:
        orientations = None
    if gpb_ucm2 is None:
        return ucm_from_edges(graph, labels.shape, weights, orientations, probabilities,
                              config.wnet_region_weight)
    if orientations is not None:
        weights = oriented_watershed_weights(graph, labels.shape, weights, orientations)
    combined = combine_with_ucm(weights, ucm_edge_weights(gpb_ucm2), config)
    return ucm_from_edges(graph, labels.shape, combined, None, probabilities,
                          config.wnet_region_weight)


def ucm_from_image(image: np.ndarray, config: PostprocessConfig) -> np.ndarray:
    """The baseline without a network: the same cues on every edge, then contour2ucm."""
    strength, orientation = strength_of(image, config)
    graph, weights, orientations = grid_edges(strength, orientation)
    return ucm_from_edges(graph, image.shape[:2], weights,
                          orientations if config.oriented_watershed else None)


def segmentation_at(ucm2: np.ndarray, threshold: float) -> np.ndarray:
    """(H, W) labels 1..n of the cut of ucm2 at `threshold`, as the BSDS benchmark cuts it
    (wnet_tf.bsds.cut_hierarchy: 8-connected regions of `ucm2 <= threshold` on the double grid,
    read at the pixel cells)."""
    from wnet_tf.bsds import cut_hierarchy

    return cut_hierarchy(ucm2, [threshold]).segmentation(0) + 1
