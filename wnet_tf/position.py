"""Does a model segment by content or by position? The failure of W-Net training to watch for is a
partition anchored to position: nearly the same label layout on every image, with little that
depends on what the image shows. Three figures tell it apart, on images of one size:

- shift ARI: the adjusted Rand index between the segmentation of an image and that of a crop of
  it shifted by a few dozen pixels, compared where they overlap. Segments that follow content move
  with it: high. A layout tied to the frame stays put while the content moves: lower.
- cross ARI: the same index between the segmentations of two *different* images. Segments that
  follow content: near 0. One layout for every image: high.
- scale ARI: the same index between the segmentation of an image and that of its bottom-right
  crop of `crop` x `crop` of its size (3/4: the network, which sees every image at one size,
  then sees the content 4/3 larger), compared where they overlap. A network that segments by
  content at any scale: high.
- classes per image: how many of the K classes the argmax uses (covering at least 0.5% of the
  pixels each).

The ARI is 1 for equal partitions (up to renaming the labels), about 0 for independent ones.
"""

from __future__ import annotations

import itertools

import numpy as np

MIN_SHARE = 0.005  # a class counts as used when it covers at least this share of the pixels


def adjusted_rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """Hubert and Arabie's adjusted Rand index of two label maps of the same shape (any
    non-negative integer labels). Two single-region partitions score 1."""
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if a.shape != b.shape:
        raise ValueError(f"label maps of different sizes: {a.size} and {b.size} pixels")
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    table = np.bincount(a * (b.max() + 1) + b).astype(np.float64)

    def pairs(counts):
        return float(np.sum(counts * (counts - 1) / 2))

    index = pairs(table)
    rows, cols = pairs(np.bincount(a).astype(np.float64)), pairs(np.bincount(b).astype(np.float64))
    expected = rows * cols / pairs(np.array([a.size], np.float64))
    maximum = (rows + cols) / 2
    if maximum == expected:  # both partitions trivial
        return 1.0
    return (index - expected) / (maximum - expected)


def classes_used(labels: np.ndarray, min_share: float = MIN_SHARE) -> int:
    """The number of labels that cover at least `min_share` of the pixels."""
    counts = np.bincount(np.asarray(labels).ravel())
    return int(np.sum(counts >= min_share * labels.size))


def position_report(segment, images: list[np.ndarray], shift: int,
                    max_pairs: int | None = None, crop: float = 0.75) -> dict:
    """The figures over `images` (all of one H x W): per-image shift ARIs, scale ARIs and
    classes, cross ARIs over pairs of different images (all pairs, or the first `max_pairs`),
    and the medians."""
    sizes = {im.shape[:2] for im in images}
    if len(sizes) != 1:
        raise ValueError(f"the images must share one size, got {sorted(sizes)}")
    labels = [segment(im) for im in images]
    shifts = [adjusted_rand_index(whole[:, shift:], segment(im[:, shift:]))
              for im, whole in zip(images, labels, strict=True)]
    pairs = list(itertools.islice(itertools.combinations(range(len(images)), 2), max_pairs))
    top, left = (round(n * (1 - crop)) for n in images[0].shape[:2])
    scales = [adjusted_rand_index(whole[top:, left:], segment(im[top:, left:]))
              for im, whole in zip(images, labels, strict=True)]
    cross = [adjusted_rand_index(labels[i], labels[j]) for i, j in pairs]
    classes = [classes_used(x) for x in labels]
    return {
        "images": len(images), "shift": shift, "crop": crop, "pairs": len(pairs),
        "shift_ari_median": float(np.median(shifts)),
        "cross_ari_median": float(np.median(cross)),
        "classes_median": float(np.median(classes)),
        "scale_ari_median": float(np.median(scales)),
        "margin": float(np.median(shifts) - np.median(cross)),
        "shift_ari": shifts, "scale_ari": scales, "classes": classes,
    }
