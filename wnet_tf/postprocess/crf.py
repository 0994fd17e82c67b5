"""Algorithm 2, step 1: the fully connected CRF of Krahenbuhl and Koltun (2011) on W-Net's softmax.

Energy: unary `-log p(u)` from the encoder, plus two Potts pairwise terms whose weights are
Gaussian kernels over all pixel pairs: a smoothness kernel on position (width `crf_gaussian_sxy`)
and an appearance kernel on position and colour (widths `crf_bilateral_sxy`, `crf_bilateral_srgb`
in 0..255 colour units). Mean-field inference runs `crf_iterations` steps and returns the
approximate marginals, i.e. refined probabilities (H, W, K).
"""

from __future__ import annotations

import numpy as np

from wnet_tf.config import PostprocessConfig

# -log of this is the largest unary cost: a hard zero in p would be an infinite energy.
_MIN_PROBABILITY = 1e-8


def _densecrf():
    try:
        import pydensecrf.densecrf as dcrf
    except ImportError as err:
        raise ImportError(
            'the dense CRF needs pydensecrf2: pip install "wnet-tf[crf]"') from err
    return dcrf


def to_uint8(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] or uint8 -> C-contiguous uint8, what the bilateral kernel reads."""
    if image.dtype != np.uint8:
        image = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.ascontiguousarray(image[..., :3])


def dense_crf(image: np.ndarray, probabilities: np.ndarray,
              config: PostprocessConfig) -> np.ndarray:
    """Refined probabilities (H, W, K) float32 from a softmax `probabilities` (H, W, K) and the
    `image` (H, W, 3) in [0, 1] (or uint8) whose colours drive the appearance kernel."""
    h, w, k = probabilities.shape
    if image.shape[:2] != (h, w):
        raise ValueError(f"image {image.shape[:2]} and probabilities {(h, w)} differ in size")
    p = np.clip(probabilities.astype(np.float32), _MIN_PROBABILITY, 1.0)
    p /= p.sum(-1, keepdims=True)
    if config.crf_iterations == 0:
        return p
    dcrf = _densecrf()
    crf = dcrf.DenseCRF2D(w, h, k)
    # pydensecrf wants (K, H*W) energies with pixels in raster order.
    crf.setUnaryEnergy(np.ascontiguousarray(-np.log(p).reshape(h * w, k).T))
    crf.addPairwiseGaussian(sxy=config.crf_gaussian_sxy, compat=config.crf_gaussian_weight)
    crf.addPairwiseBilateral(sxy=config.crf_bilateral_sxy, srgb=config.crf_bilateral_srgb,
                             rgbim=to_uint8(image), compat=config.crf_bilateral_weight)
    q = np.asarray(crf.inference(config.crf_iterations), dtype=np.float32)
    return np.ascontiguousarray(q.T.reshape(h, w, k))
