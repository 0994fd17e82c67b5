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
                   orientations: np.ndarray | None = None) -> np.ndarray:
    """contour2ucm: (oriented, when `orientations` are given) watershed of the edge weights,
    greedy merging of the regions by mean boundary strength, and the ultrametric (saliency) map
    as a BSDS ucm2 in [0, 1]."""
    if graph.num_edges() == 0:  # a 1x1 image: one region, and higra fails on an empty graph
        return np.zeros((2 * shape[0] + 1, 2 * shape[1] + 1))
    tree, altitudes = hg.mean_pb_hierarchy(graph, weights, shape, edge_orientations=orientations)
    if tree.num_leaves() == 1:  # no closed boundary, one region; higra's saliency fails on it
        return np.zeros((2 * shape[0] + 1, 2 * shape[1] + 1))
    saliency = hg.saliency(tree, altitudes)
    ucm2 = hg.graph_4_adjacency_2_khalimsky(graph, saliency, shape, add_extra_border=True)
    return np.clip(np.asarray(ucm2, np.float64), 0.0, 1.0)


def ucm_from_labels(image: np.ndarray, labels: np.ndarray, config: PostprocessConfig,
                    gpb_ucm2: np.ndarray | None = None,
                    probabilities: np.ndarray | None = None) -> np.ndarray:
    """ucm2 from a label map (the CRF's argmax): boundary strength from image cues on its
    boundaries (elsewhere scaled by `off_boundary_strength`, 0 by default), then contour2ucm.
    With `gpb_ucm2` (W-Net+ucm), the W-Net boundaries (through the oriented watershed on their
    own, if it is on) are combined with gPb's, and the combination is merged without an
    orientation step: gPb's arcs are already oriented, and must not be re-weighted by
    orientations measured on other arcs. `probabilities`: the W-Net cue (`oriented_cues`)."""
    return ucm_from_strength(strength_of(image, config, probabilities), labels, config, gpb_ucm2)


def ucm_from_strength(strength_orientation: tuple[np.ndarray, np.ndarray], labels: np.ndarray,
                      config: PostprocessConfig, gpb_ucm2: np.ndarray | None = None) -> np.ndarray:
    """`ucm_from_labels` from the pixels' (strength, orientation), computed once per image."""
    strength, orientation = strength_orientation
    graph, weights, orientations = grid_edges(strength, orientation, labels,
                                              config.off_boundary_strength)
    if not config.oriented_watershed:
        orientations = None
    if gpb_ucm2 is None:
        return ucm_from_edges(graph, labels.shape, weights, orientations)
    if orientations is not None:
        weights = oriented_watershed_weights(graph, labels.shape, weights, orientations)
    combined = combine_with_ucm(weights, ucm_edge_weights(gpb_ucm2), config)
    return ucm_from_edges(graph, labels.shape, combined)


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
