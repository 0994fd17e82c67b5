"""Post-processing, Algorithm 2 of the paper: a dense CRF on W-Net's softmax (`crf`), boundary
strength on the CRF's boundaries and contour2ucm into a BSDS `ucm2` hierarchy (`hierarchy`).

    ucm2 = postprocess(image, probabilities, config.postprocess)            # W-Net
    ucm2 = postprocess(image, probabilities, config.postprocess, gpb_ucm2)  # W-Net+ucm
    ucm2 = ucm_from_image(image, config.postprocess)                        # no network
    labels = segmentation_at(ucm2, threshold)
"""

from __future__ import annotations

import numpy as np

from wnet_tf.config import PostprocessConfig
from wnet_tf.postprocess.crf import dense_crf
from wnet_tf.postprocess.hierarchy import segmentation_at, ucm_from_image, ucm_from_labels

__all__ = ["dense_crf", "postprocess", "segmentation_at", "ucm_from_image", "ucm_from_labels"]


def postprocess(image: np.ndarray, probabilities: np.ndarray, config: PostprocessConfig,
                gpb_ucm2: np.ndarray | None = None) -> np.ndarray:
    """ucm2 ((2H+1) x (2W+1) float64 in [0, 1]) of one image (H, W, 3) in [0, 1] from its softmax
    (H, W, K): CRF, its argmax's boundaries weighted by image cues (with the W-Net cue when
    `config.wnet_cue_weight` > 0, read from `config.wnet_cue_source`; combined with `gpb_ucm2`
    when given), watershed and greedy merging."""
    if config.off_boundary_strength == 1 and config.wnet_cue_source == "network":
        # Every edge keeps its whole strength and the cue reads the softmax: the CRF's labels
        # would change nothing, so it is not run.
        labels = np.zeros(image.shape[:2], np.int64)
        return ucm_from_labels(image, labels, config, gpb_ucm2, probabilities)
    marginals = dense_crf(image, probabilities, config)
    cue = marginals if config.wnet_cue_source == "crf" else probabilities
    return ucm_from_labels(image, marginals.argmax(-1), config, gpb_ucm2, cue)
