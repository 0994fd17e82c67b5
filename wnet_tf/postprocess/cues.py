"""Algorithm 2, step 2: boundary strength, gPb's local cues.

Boundary strength is gPb's local part, "mPb" (Arbelaez et al. 2011, section 3.1): at every pixel
and orientation, the chi-square distance between the histograms of the two halves of a disc split
by a diameter, for brightness (Lab L), colour (Lab a and b) and texture (per-image textons), at
three radii each; the cues are averaged with `cue_weights` and the orientation with the largest
response gives the pixel's strength and orientation.

How it is computed quickly: the histograms are soft-binned indicator images (B, H, W); a half-disc
is convex, so its sum is a few row (or column) runs, each two look-ups in a cumulative sum; larger
radii are the same radius on a 2x2-sum-pooled histogram pyramid, upsampled back.

The spectral term, gPb's "sPb" (section 3.2), is optional (`spectral_weight` > 0, off by
default): the oriented gradients of the leading eigenvectors of an intervening-contour affinity
matrix built on the local cues' strength, computed on 2x2 cells for a BSDS image (40,000 nodes:
about 1.5 s at gPb's rho, where gPb's full-resolution eigenproblem takes minutes). As in gPb, its
affinities may be measured on the strength thinned by non-maximum suppression (`spectral_thin`).

Left out, on purpose: gPb's learned cue weights (equal weights here), its Gaussian smoothing of
histograms (soft binning instead), its non-maximum suppression of the cues themselves (the
watershed localises boundaries) and its sigmoid calibration (values stay chi-square distances in
[0, 1]). Textons are clustered per image, not from a universal dictionary.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
from scipy import ndimage, sparse
from scipy.cluster.vq import kmeans2, vq
from scipy.sparse.linalg import eigsh
from skimage.color import rgb2lab

from wnet_tf.config import PostprocessConfig

CUES = ("brightness", "colour_a", "colour_b", "texture")
# Lab ranges of the sRGB gamut: each channel is binned over its whole range.
_LAB_RANGES = ((0.0, 100.0), (-86.2, 98.3), (-107.9, 94.5))
_EPS = 1e-10


# -- histograms --------------------------------------------------------------------------------

def soft_bins(channel: np.ndarray, bins: int) -> np.ndarray:
    """(bins, H, W) float32: each pixel of `channel` (values in [0, 1]) split linearly between its
    two nearest bin centres, so that histograms change smoothly with the values."""
    x = np.clip(channel, 0.0, 1.0) * (bins - 1)
    low = np.minimum(np.floor(x).astype(np.int64), bins - 2)
    frac = (x - low).astype(np.float32)
    out = np.zeros((bins, *channel.shape), np.float32)
    rows, cols = np.indices(channel.shape)
    out[low, rows, cols] = 1.0 - frac
    out[low + 1, rows, cols] += frac
    return out


def lab01(image: np.ndarray) -> np.ndarray:
    """(3, H, W) Lab of an RGB image in [0, 1], each channel scaled to [0, 1] over its gamut."""
    lab = rgb2lab(np.clip(image[..., :3], 0.0, 1.0))
    return np.stack([(lab[..., i] - lo) / (hi - lo) for i, (lo, hi) in enumerate(_LAB_RANGES)])


def textons(gray: np.ndarray, n: int, seed: int) -> np.ndarray:
    """(H, W) texton index of every pixel: k-means (fitted on a subsample) of the responses of a
    Gaussian-derivative filter bank (first and second derivatives at two scales), contrast
    normalised as in Malik et al. 2001 so that texture, not its contrast, is clustered."""
    orders = ((0, 1), (1, 0), (0, 2), (1, 1), (2, 0))
    features = np.stack([ndimage.gaussian_filter(gray, sigma, order=order)
                         for sigma in (1.0, 2.0) for order in orders], -1).reshape(-1, 10)
    norm = np.linalg.norm(features, axis=1, keepdims=True) + _EPS
    features *= np.log1p(norm / 0.03) / norm
    rng = np.random.default_rng(seed)
    sample = features[rng.choice(len(features), min(len(features), 10000), replace=False)]
    with warnings.catch_warnings():
        # A flat image has fewer textures than textons: empty clusters are expected then.
        warnings.simplefilter("ignore")
        centroids, _ = kmeans2(sample, n, iter=10, minit="++", seed=rng)
    return vq(features, centroids, check_finite=False)[0].reshape(gray.shape)


def cue_histograms(image: np.ndarray, config: PostprocessConfig) -> dict[str, np.ndarray]:
    """Per cue, the (B, H, W) indicator images whose half-disc sums are the histograms."""
    lab = lab01(image)
    texture = textons(lab[0], config.textons, config.seed)
    return {
        "brightness": soft_bins(lab[0], config.histogram_bins),
        "colour_a": soft_bins(lab[1], config.histogram_bins),
        "colour_b": soft_bins(lab[2], config.histogram_bins),
        "texture": (texture == np.arange(config.textons)[:, None, None]).astype(np.float32),
    }


def pool2(stack: np.ndarray) -> np.ndarray:
    """2x2 sum pooling of (B, H, W): the next pyramid level's counts. Odd sizes repeat the last
    row or column, so that every cell holds the same number of pixels (4 per level)."""
    b, h, w = stack.shape
    stack = np.pad(stack, ((0, 0), (0, h % 2), (0, w % 2)), mode="edge")
    return stack[:, ::2, ::2] + stack[:, 1::2, ::2] + stack[:, ::2, 1::2] + stack[:, 1::2, 1::2]


def upsample2(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(n, h, w) -> (n, *shape) at twice the resolution, linear between the centres of the 2x2
    cells (so that each coarse cell lands on the four pixels it pooled), cropped to `shape`."""
    for axis in (1, 2):
        ext = np.concatenate([x.take([0], axis), x, x.take([-1], axis)], axis)
        n = x.shape[axis]
        lo, mid, hi = (ext.take(range(i, i + n), axis) for i in range(3))
        x = np.stack([0.25 * lo + 0.75 * mid, 0.75 * mid + 0.25 * hi], axis + 1)
        x = x.reshape(*x.shape[:axis], 2 * n, *x.shape[axis + 2:])
    return x[:, :shape[0], :shape[1]]


# -- oriented half-disc gradients ----------------------------------------------------------------

@lru_cache(maxsize=16)
def half_discs(radius: int, orientations: int) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """The disc of `radius` and, per orientation phi_k = k pi / n, the half of it on the positive
    side of the diameter whose normal is (cos phi, sin phi) in (column, row) coordinates. Pixels on
    the diameter go to the half they face along it, so that the two halves are point reflections
    of each other and, with the centre, tile the disc."""
    d = np.arange(-radius, radius + 1)
    dy, dx = np.meshgrid(d, d, indexing="ij")
    disc = dx**2 + dy**2 <= (radius + 0.5) ** 2
    halves = []
    for k in range(orientations):
        phi = np.pi * k / orientations
        across = dx * np.cos(phi) + dy * np.sin(phi)
        along = dy * np.cos(phi) - dx * np.sin(phi)
        on_line = np.abs(across) < 1e-9
        halves.append(disc & ((across > 0) & ~on_line | on_line & (along > 0)))
    return disc, tuple(halves)


def _runs(mask: np.ndarray) -> tuple[int, list[tuple[int, int, int]]]:
    """`mask` as runs (offset, first, last) along axis 1 (rows) or 0 (columns), whichever needs
    fewer; offsets are relative to the centre."""
    r = mask.shape[0] // 2
    best = None
    for axis, m in ((1, mask), (0, mask.T)):
        runs = []
        for i, line in enumerate(m):
            idx = np.flatnonzero(line)
            for run in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1):
                if run.size:
                    runs.append((i - r, run[0] - r, run[-1] - r))
        if best is None or len(runs) < len(best[1]):
            best = (axis, runs)
    return best


def _mask_sum(cums: dict, mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Sum of the stack over `mask` centred on every pixel, from its cumulative sums `cums[axis]`
    (zero-padded by the radius, with a leading zero along the summed axis)."""
    r = mask.shape[0] // 2
    h, w = shape
    axis, runs = _runs(mask)
    c = cums[axis]
    out = np.zeros((c.shape[0], h, w), np.float32)
    for offset, first, last in runs:
        if axis == 1:  # a run along a row: columns first..last of row `offset`
            rows = slice(r + offset, r + offset + h)
            out += c[:, rows, r + last + 1:r + last + 1 + w]
            out -= c[:, rows, r + first:r + first + w]
        else:
            cols = slice(r + offset, r + offset + w)
            out += c[:, r + last + 1:r + last + 1 + h, cols]
            out -= c[:, r + first:r + first + h, cols]
    return out


def chi_square(left: np.ndarray, right: np.ndarray, total: float) -> np.ndarray:
    """0.5 sum_b (l - r)^2 / (l + r) -> (H, W) in [0, 1], between the histograms (B, H, W) of
    counts `left` and `right`, each of which sums to `total`."""
    scale = np.float32(1.0 / total)
    left = left * scale
    right = right * scale
    diff = left - right
    diff *= diff
    left += right
    left += _EPS
    diff /= left
    return 0.5 * diff.sum(0)


def oriented_gradients(stacks: list[np.ndarray], radius: int,
                       orientations: int) -> list[np.ndarray]:
    """For each (B, H, W) stack of histogram counts (every position holding the same count), the
    (orientations, H, W) chi-square distances between its two half-disc histograms of `radius` at
    every pixel and orientation. The image is mirrored at its borders, as gPb does, so that every
    half-disc is full. The stacks share one pass of cumulative sums and half-disc look-ups."""
    stack = np.concatenate(stacks) if len(stacks) > 1 else stacks[0]
    h, w = stack.shape[1:]
    padded = np.pad(stack, ((0, 0), (radius, radius), (radius, radius)), mode="symmetric")
    cums = {1: np.pad(np.cumsum(padded, 2, dtype=np.float32), ((0, 0), (0, 0), (1, 0))),
            0: np.pad(np.cumsum(padded, 1, dtype=np.float32), ((0, 0), (1, 0), (0, 0)))}
    disc, halves = half_discs(radius, orientations)
    # The two halves and the centre tile the disc: one half is the rest.
    rest = _mask_sum(cums, disc, (h, w)) - stack
    out = [np.empty((orientations, h, w), np.float32) for _ in stacks]
    bounds = np.cumsum([0, *(len(s) for s in stacks)])
    for k, half in enumerate(halves):
        left = _mask_sum(cums, half, (h, w))
        right = rest - left
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            per_position = float(stacks[i][:, 0, 0].sum())
            out[i][k] = chi_square(left[a:b], right[a:b], per_position * half.sum())
    return out


def pyramid_gradients(stacks: dict[str, np.ndarray], levels: dict[str, tuple[int, ...]],
                      weights: dict[str, float], config: PostprocessConfig) -> np.ndarray:
    """(orientations, H, W): the weighted mean over the cues of `stacks` (each averaged over its
    pyramid `levels`) of their oriented half-disc gradients. Level l of the pyramid is 2**l-pixel
    cells; each level's responses are added to the upsampled sum of the coarser ones, coarsest
    first."""
    used = [c for c in stacks if weights[c] > 0]
    total_weight = sum(weights[c] for c in used)
    shape = next(iter(stacks.values())).shape[1:]
    top = max(max(levels[c]) for c in used)
    pyramid = []  # (shape, weighted responses or None), finest first
    for level in range(top + 1):
        here = [c for c in used if level in levels[c]]
        mixed = None
        if here:
            grads = oriented_gradients([stacks[c] for c in here], config.cue_radius,
                                       config.orientations)
            mixed = sum(g * (weights[c] / len(levels[c]) / total_weight)
                        for c, g in zip(here, grads, strict=True))
        pyramid.append((shape, mixed))
        if level < top:
            stacks = {c: pool2(stacks[c]) for c in used if max(levels[c]) > level}
            shape = next(iter(stacks.values())).shape[1:]
    total = None
    for shape, mixed in reversed(pyramid):
        total = mixed if total is None else upsample2(total, shape) + (
            0.0 if mixed is None else mixed)
    return total.astype(np.float32)


def image_gradients(image: np.ndarray, config: PostprocessConfig) -> np.ndarray:
    """(orientations, H, W) float32 in [0, 1]: mPb(x, theta) without learned weights, the mean
    of the four image cues weighted by `cue_weights`."""
    weights = dict(zip(CUES, config.cue_weights, strict=True))
    return pyramid_gradients(cue_histograms(image, config), cue_levels(config), weights, config)


def cue_levels(config: PostprocessConfig) -> dict[str, tuple[int, ...]]:
    """The pyramid levels of each image cue."""
    return dict(zip(CUES, (config.brightness_levels, config.colour_levels,
                           config.colour_levels, config.texture_levels), strict=True))


def cue_gradients(image: np.ndarray, config: PostprocessConfig) -> dict[str, np.ndarray]:
    """Each image cue's (orientations, H, W) gradients alone, for choosing `cue_weights`:
    `image_gradients` is linear in the weights, so under any weights it equals
    `weighted_cues` of these (computed once) up to float32 rounding."""
    levels, stacks = cue_levels(config), cue_histograms(image, config)
    return {c: pyramid_gradients({c: stacks[c]}, {c: levels[c]}, {c: 1.0}, config) for c in CUES}


def weighted_cues(gradients: dict[str, np.ndarray], weights: tuple[float, ...]) -> np.ndarray:
    """The weighted mean of `cue_gradients`' cues under `weights` (brightness, colour a,
    colour b, texture): `image_gradients` under those `cue_weights`."""
    total = sum(weights)
    return sum(gradients[c] * np.float32(w / total)
               for c, w in zip(CUES, weights, strict=True) if w > 0)


def wnet_gradients(probabilities: np.ndarray, config: PostprocessConfig) -> np.ndarray:
    """(orientations, H, W) float32 in [0, 1]: the W-Net cue. Class probabilities (H, W, K) are
    a soft histogram at every pixel (they sum to 1), so the same half-disc chi-square measures
    how much the class distribution changes across a diameter, at the texture cue's scales. It
    plays the part of gPb's spectral term: gPb takes oriented gradients of the eigenvectors of a
    pixel affinity matrix, whose soft partition the W-Net's N-cut training approximates."""
    stack = np.ascontiguousarray(np.moveaxis(probabilities, -1, 0), np.float32)
    return pyramid_gradients({"wnet": stack}, {"wnet": config.texture_levels}, {"wnet": 1.0},
                             config)


# -- the spectral term (gPb's sPb) ----------------------------------------------------------------

# The eigenproblem runs on cells of f x f pixels, f the smallest integer that leaves at most
# SPECTRAL_CELLS of them (f = 2 for a BSDS image), so that its cost does not grow with the image.
SPECTRAL_CELLS = 40_000
SPECTRAL_RADIUS = 5  # affinity radius in cells: 10 pixels of a BSDS image


@lru_cache(maxsize=4)
def half_window(radius: int) -> tuple[tuple[int, int], ...]:
    """The (dy, dx) offsets of a disc of `radius` (strictly inside), one of each pair +-d."""
    return tuple((dy, dx) for dy in range(radius + 1) for dx in range(-radius, radius + 1)
                 if (dy > 0 or dx > 0) and dy * dy + dx * dx < radius * radius)


def intervening_contour_affinity(strength: np.ndarray, radius: int, rho: float,
                                 classes: np.ndarray | None = None, class_weight: float = 0.0):
    """Sparse (n, n) W of the (h, w) grid: W_ij = exp(-max strength on the segment ij / rho)
    for pixels closer than `radius` (gPb's intervening contour cue), and 1 on the diagonal.
    With `classes` (h, w, K), square roots of class distributions, the exponent also holds
    `class_weight` times the squared Hellinger distance between the two ends' distributions."""
    h, w = strength.shape
    index = np.arange(h * w).reshape(h, w)
    rows, cols, values = [], [], []
    for dy, dx in half_window(radius):
        if dy >= h or abs(dx) >= w:
            continue  # no pair of pixels is that far apart
        steps = max(abs(dy), abs(dx))
        x0, x1 = max(0, -dx), min(w, w - dx)
        peak = np.zeros((h - dy, x1 - x0), np.float32)
        for t in range(steps + 1):  # the segment's pixels, one per step along its longer axis
            oy, ox = round(t * dy / steps), round(t * dx / steps)
            np.maximum(peak, strength[oy:h - dy + oy, x0 + ox:x1 + ox], out=peak)
        if classes is not None and class_weight > 0:
            overlap = np.einsum("ijk,ijk->ij", classes[:h - dy, x0:x1],
                                classes[dy:, x0 + dx:x1 + dx])
            peak += np.float32(class_weight) * np.clip(1.0 - overlap, 0.0, 1.0)
        rows.append(index[:h - dy, x0:x1].ravel())
        cols.append(index[dy:, x0 + dx:x1 + dx].ravel())
        values.append(np.exp(-peak.ravel() / np.float32(rho)))
    rows, cols, values = (np.concatenate(a) for a in (rows, cols, values))
    upper = sparse.csr_matrix((values, (rows, cols)), shape=(h * w, h * w))
    return upper + upper.T + sparse.identity(h * w, np.float32, format="csr")


def _cells(x: np.ndarray, f: int, reduce) -> np.ndarray:
    """(H, W, ...) reduced over cells of f x f pixels (edge-padded to whole cells)."""
    h, w = x.shape[:2]
    pad = ((0, -h % f), (0, -w % f)) + ((0, 0),) * (x.ndim - 2)
    padded = np.pad(x, pad, mode="edge") if h % f or w % f else x  # a copy only if needed
    shape = (padded.shape[0] // f, f, padded.shape[1] // f, f) + x.shape[2:]
    return reduce(padded.reshape(shape), axis=(1, 3))


def spectral_gradients(strength: np.ndarray, config: PostprocessConfig,
                       probabilities: np.ndarray | None = None) -> np.ndarray:
    """(orientations, H, W) float32 in [0, 1]: gPb's sPb from the local cues' (H, W) strength.

    The strength is max-pooled to cells of f x f pixels (SPECTRAL_CELLS; thin boundaries survive), W
    is `intervening_contour_affinity` on the cells, and the generalised eigenproblem
    (D - W) v = lambda D v gives `spectral_vectors` eigenvectors after the constant one. Each,
    scaled back to the image and stretched to [0, 1] as gPb does, contributes the magnitude of
    its Gaussian derivative along each orientation's normal, weighted by 1 / sqrt(lambda) (soft
    partitions with a small cut count most). The weighted mean is scaled so that a step of 1
    gives 1, as a half-disc chi-square of a step does.

    With `probabilities` (H, W, K) and `wnet_affinity_weight` > 0, the W-Net's classes join the
    affinities (`intervening_contour_affinity`), from each cell's mean class distribution."""
    h, w = strength.shape
    f = max(1, int(np.ceil(np.sqrt(h * w / SPECTRAL_CELLS))))
    cells = _cells(strength, f, np.max)
    classes = None
    if probabilities is not None and config.wnet_affinity_weight > 0:
        classes = np.sqrt(_cells(probabilities.astype(np.float32, copy=False), f, np.mean))
    n = cells.size
    k = min(config.spectral_vectors + 1, n - 1)
    out = np.zeros((config.orientations, h, w), np.float32)
    if k < 2:  # too small an image for a partition
        return out
    affinity = intervening_contour_affinity(cells.astype(np.float32), SPECTRAL_RADIUS,
                                            config.spectral_rho, classes,
                                            config.wnet_affinity_weight)
    degree = np.asarray(affinity.sum(1)).ravel()
    scale = sparse.diags(1.0 / np.sqrt(degree))
    # D^-1/2 W D^-1/2 u = (1 - lambda) u with v = D^-1/2 u: its largest eigenvalues.
    normalised = scale @ affinity @ scale
    if n <= 4 * k:  # ARPACK wants k well below n
        mu, u = np.linalg.eigh(normalised.toarray())
    else:
        start = np.random.default_rng(config.seed).standard_normal(n)
        mu, u = eigsh(normalised, k=k, which="LA", v0=start, tol=1e-4)
    order = np.argsort(-mu)[1:k]  # the first is the constant vector (lambda = 0)
    lam = np.maximum(1.0 - mu[order], 1e-6)
    vectors = (u[:, order] / np.sqrt(degree)[:, None]).T.reshape(-1, *cells.shape)
    phi = np.pi * np.arange(config.orientations) / config.orientations
    sigma = float(f)
    weights = 1.0 / np.sqrt(lam)
    for v, weight in zip(vectors, weights, strict=True):
        v = ndimage.zoom(v, f, order=1)[:h, :w]
        v = (v - v.min()) / max(float(v.max() - v.min()), _EPS)
        dy = ndimage.gaussian_filter(v, sigma, order=(1, 0))
        dx = ndimage.gaussian_filter(v, sigma, order=(0, 1))
        out += np.float32(weight) * np.abs(np.cos(phi)[:, None, None] * dx
                                           + np.sin(phi)[:, None, None] * dy)
    out *= np.float32(sigma * np.sqrt(2 * np.pi)) / weights.astype(np.float32).sum()
    return np.clip(out, 0.0, 1.0)


def thin(strength: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """Non-maximum suppression: `strength` (H, W) where it is at least both neighbours along the
    pixel's normal (`orientation`, radians in (column, row) coordinates, rounded to the 8
    neighbours; outside the image counts as 0), 0 elsewhere: ridges one or two pixels wide."""
    h, w = strength.shape
    padded = np.pad(strength, 1)
    dx = np.rint(np.cos(orientation)).astype(int)
    dy = np.rint(np.sin(orientation)).astype(int)
    rows, cols = np.mgrid[1:h + 1, 1:w + 1]
    ridge = ((strength >= padded[rows + dy, cols + dx])
             & (strength >= padded[rows - dy, cols - dx]))
    return np.where(ridge, strength, np.float32(0)).astype(strength.dtype)


def spectral_strength(local: np.ndarray, config: PostprocessConfig) -> np.ndarray:
    """What the spectral term's affinities are measured on: the local cues' (orientations, H, W)
    strength, thinned to its ridges with `spectral_thin` (gPb's non-maximum suppression)."""
    if not config.spectral_thin:
        return local.max(0)  # the orientations are needed only to thin
    return thin(*boundary_strength(local))


def with_spectral(local: np.ndarray, config: PostprocessConfig,
                  spectral: np.ndarray | None = None,
                  probabilities: np.ndarray | None = None) -> np.ndarray:
    """The image cues: the local cues (`image_gradients`, or `weighted_cues`) and, with
    `spectral_weight` > 0, the spectral term on their strength (`spectral`, if already
    computed from them; with `probabilities`, the W-Net's classes in its affinities when
    `wnet_affinity_weight` > 0), as one weighted mean."""
    s = config.spectral_weight
    if s == 0:
        return local
    if spectral is None:
        spectral = spectral_gradients(spectral_strength(local, config), config, probabilities)
    return _weighted_mean(local, sum(config.cue_weights), spectral, s)


def mix_gradients(image_part: np.ndarray, wnet_part: np.ndarray | None,
                  config: PostprocessConfig) -> np.ndarray:
    """The image cues and the W-Net cue as one weighted mean: the W-Net cue weighs
    `wnet_cue_weight` beside the image cues' `cue_weights` and `spectral_weight`."""
    w, total = config.wnet_cue_weight, sum(config.cue_weights) + config.spectral_weight
    if wnet_part is None or w == 0:
        return image_part
    return _weighted_mean(image_part, total, wnet_part, w)


def _weighted_mean(a: np.ndarray, weight_a: float, b: np.ndarray, weight_b: float) -> np.ndarray:
    return (weight_a * a + weight_b * b) / np.float32(weight_a + weight_b)


def oriented_cues(image: np.ndarray, config: PostprocessConfig,
                  probabilities: np.ndarray | None = None) -> np.ndarray:
    """(orientations, H, W) float32 in [0, 1]: the image cues (`image_gradients`, and the
    spectral term: `with_spectral`) and, with `probabilities` (H, W, K) and
    `config.wnet_cue_weight` > 0, the W-Net cue (`wnet_gradients`), mixed by `mix_gradients`;
    with `config.wnet_affinity_weight` > 0 the probabilities also enter the spectral term."""
    wnet = None
    if probabilities is not None and config.wnet_cue_weight > 0:
        wnet = wnet_gradients(probabilities, config)
    image_part = with_spectral(image_gradients(image, config), config, probabilities=probabilities)
    return mix_gradients(image_part, wnet, config)


def boundary_strength(oriented: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) strength (the largest oriented response) and (H, W) orientation in radians of the
    boundary normal, in (column, row) coordinates, as higra's oriented watershed reads it."""
    k = oriented.argmax(0)
    return np.take_along_axis(oriented, k[None], 0)[0], k * (np.pi / len(oriented))


def strength_of(image: np.ndarray, config: PostprocessConfig,
                probabilities: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(strength, orientation) of every pixel from the cues (`oriented_cues`): the part of
    `ucm_from_labels` that does not depend on the labels."""
    return boundary_strength(oriented_cues(image, config, probabilities))
