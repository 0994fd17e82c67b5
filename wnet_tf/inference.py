"""A W-Net's class probabilities for one image of any size, in memory bounded by a tile.

    probs = predict(model, image)             # (H, W, K), at the model's training geometry
    probs = predict(model, image, None)       # at the image's own size, tiled when large

An image larger than `tile` pixels on a side goes through the encoder in overlapping tiles and
each tile keeps only its centre, so the memory the network needs is that of one tile, whatever
the image. The tiles sit on the model's grid of 2**depth pixels (its pooling cells fall where
they fall for the whole image), and at the image's borders each tile ends where the image ends,
so the network pads there exactly as it does for the whole image; a circular-padding model
(every map a torus) sees the opposite border wrapped around instead. What remains different
from the whole image is context beyond `overlap` pixels of a tile's centre, which the network's
receptive field reaches. The default overlap, `context(depth)` = 6 * 2**depth pixels, covers
that receptive field: measured, tiled and whole-image probabilities are then equal to the last
float bit (the shipped depth-4 model on a BSDS image: 0.0 with 96 pixels, a mean of 0.002 and
2% of argmax labels changed with 64; tests/test_inference.py for depth 2).
"""

from __future__ import annotations

import numpy as np

from wnet_tf.config import Config
from wnet_tf.images import as_float_rgb

# Chosen by measurement (bench/inference.py, docs/benchmarks.md "Inference at any size"): the
# paper's network on a 12-Mpx photo peaks at 2.9 GB with 512-pixel tiles (3.3 GB with 768,
# 4.1 GB with 1024), at 0.47x the seconds per megapixel of whole-image inference on a BSDS image.
DEFAULT_TILE = 512
DEFAULT_OVERLAP = None  # context(depth)


def context(depth: int) -> int:
    """The overlap that covers a U-Net's receptive field: 6 * 2**depth pixels (measured: the
    first overlap with exact agreement at depth 2 and at depth 4)."""
    return 6 * 2 ** depth


def windows(n: int, tile: int, overlap: int, wrap: bool = False):
    """The tiles along one axis of length `n` (a multiple of the model's grid):
    [(start, stop, window_start, window_stop)], the cores [start, stop) covering range(n) and
    each window its core widened by `overlap` on each side. Without `wrap` the windows are
    clipped to [0, n); with `wrap` they index an axis padded by `overlap` on both sides."""
    step = tile - 2 * overlap
    cores = [(s, min(s + step, n)) for s in range(0, n, step)]
    if wrap:
        return [(s, e, s, e + 2 * overlap) for s, e in cores]
    return [(s, e, max(0, s - overlap), min(n, e + overlap)) for s, e in cores]


def carried_config(model) -> Config | None:
    """The Config a model carries (wnet_tf.pretrained's models), or None (a SavedModel without
    one, or any other object with a `segment` endpoint)."""
    return getattr(model, "config", None)


def grid(model) -> tuple[int | None, str]:
    """(2**depth, padding mode) from the model's config; (None, "") for a model without one."""
    config = carried_config(model)
    if config is None:
        return None, ""
    return 2 ** config.model.depth, config.model.padding


def check_tiling(tile: int, overlap: int | None, multiple: int) -> int:
    """The overlap (None: `context`) for tiles of `tile` on a model grid of `multiple` =
    2**depth; raises ValueError unless both fit that grid."""
    if overlap is None:
        overlap = context(multiple.bit_length() - 1)
    if tile % multiple or overlap % multiple or overlap < 0 or tile - 2 * overlap < multiple:
        raise ValueError(f"tile={tile}, overlap={overlap}: expected multiples of the model's "
                         f"grid ({multiple} pixels) with tile - 2 * overlap >= {multiple}")
    return overlap


def _encode(model, x):
    import tensorflow as tf

    x = as_float_rgb(x)
    return model.segment(tf.constant(x[None]))["probabilities"][0].numpy()


def encode_bands(model, x: np.ndarray, tile: int = DEFAULT_TILE,
                 overlap: int = DEFAULT_OVERLAP):
    """Yields (first row, (rows, W, K) probabilities) of an (H, W, 3) image (floats in [0, 1] or
    integer samples, converted a tile at a time) as the model sees it, top to bottom: the whole
    image at once when both sides fit in `tile` (or `tile` is 0, or the model has no recorded
    grid), else one row of tiles at a time (see the module docstring)."""
    multiple, padding = grid(model)
    h, w = x.shape[:2]
    if not tile or multiple is None or max(h, w) <= tile:
        yield 0, _encode(model, x)
        return
    overlap = check_tiling(tile, overlap, multiple)
    # The network pads to its grid at the bottom and right by reflection (model.PadToMultiple);
    # padding here first makes every tile a whole number of grid cells.
    padded = np.pad(x, ((0, -h % multiple), (0, -w % multiple), (0, 0)), mode="reflect")
    wrap = padding == "circular"
    if wrap:
        padded = np.pad(padded, ((overlap, overlap), (overlap, overlap), (0, 0)), mode="wrap")
    rows = windows(padded.shape[0] - 2 * overlap * wrap, tile, overlap, wrap)
    cols = windows(padded.shape[1] - 2 * overlap * wrap, tile, overlap, wrap)
    for top, bottom, wtop, wbottom in rows:
        if top >= h:
            break
        band = None
        for left, right, wleft, wright in cols:
            if left >= w:
                break
            probs = _encode(model, padded[wtop:wbottom, wleft:wright])
            if band is None:
                band = np.empty((min(bottom, h) - top, w, probs.shape[-1]), np.float32)
            r, c = top - wtop + overlap * wrap, left - wleft + overlap * wrap
            cols_kept = min(right, w) - left
            band[:, left:left + cols_kept] = probs[r:r + len(band), c:c + cols_kept]
        yield top, band


def encode(model, x: np.ndarray, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP):
    """(H, W, K) probabilities of an (H, W, 3) float32 image in [0, 1] as the model sees it:
    `encode_bands` put together."""
    return assemble(encode_bands(model, x, tile, overlap), x.shape[:2])


def assemble(bands, size) -> np.ndarray:
    """One (H, W, K) array from (first row, band) pairs that cover `size` = (H, W)."""
    out = None
    for top, band in bands:
        if out is None:
            out = np.empty((*size, band.shape[-1]), np.float32)
        out[top:top + len(band)] = band
    return out


def resampling_matrix(n_in: int, n_out: int, shrinking: bool) -> np.ndarray:
    """(n_out, n_in): the weights with which `wnet_tf.data.resample` mixes the rows (or
    columns) of a map into its n_out rows: area averaging when `shrinking`, else antialiased
    bilinear (`wnet_tf.arrays`' twins of TensorFlow's, equal to them to float32 round-off). Both
    are separable, so a map is resampled as M_rows @ map @ M_cols^T, and a band of output rows
    needs only its rows of M_rows."""
    from wnet_tf.arrays import area_weights, triangle_weights

    return (area_weights if shrinking else triangle_weights)(n_in, n_out)


def band_rows(width: int, k: int, megabytes: int = 64) -> int:
    """How many rows of (width, k) float32 make a band of about `megabytes`."""
    return max(1, megabytes * 2**20 // (4 * width * k))


def resampled_bands(x: np.ndarray, size):
    """Yields (first row, band) of the (h, w, C) map `x` resampled to `size` = (H, W) as
    `wnet_tf.data.resample` would resample it whole, a band of `band_rows` rows at a time: the
    (H, W, C) map is never held, and no copy of `x` is made."""
    (h, w, c), (height, width) = x.shape, size
    shrinking = height <= h and width <= w
    rows = resampling_matrix(h, height, shrinking)  # (H, h)
    columns = resampling_matrix(w, width, shrinking).T  # (w, W)
    flat = x.reshape(h, w * c)
    step = band_rows(max(w, width), c)  # the band before, or after, its columns are resampled
    if height * w <= h * width:  # rows first: fewer products when the height shrinks more
        for top in range(0, height, step):
            band = (rows[top:top + step] @ flat).reshape(-1, w, c)
            yield top, np.ascontiguousarray((np.moveaxis(band, -1, 1) @ columns)
                                            .transpose(0, 2, 1), np.float32)
        return
    # Columns first, at the small height: (h, C, w) @ (w, W) -> (h, W, C).
    wide = np.ascontiguousarray((np.moveaxis(x, -1, 1) @ columns).transpose(0, 2, 1))
    wide = wide.reshape(h, width * c)
    for top in range(0, height, step):
        yield top, (rows[top:top + step] @ wide).reshape(-1, width, c).astype(np.float32)


def resampled(x: np.ndarray, size, convert=None) -> np.ndarray:
    """`x` (h, w, C) resampled to `size` = (H, W) as `wnet_tf.data.resample` does it, `x`'s rows
    a band at a time: `convert` (default: to float32) turns each band into float32 first, so
    that only one band and the output are ever held in float (`wnet_tf.images.as_float_rgb`
    makes 8-bit samples of a 100-Mpx photo a network input without their 1.2 GB float32 copy).
    The weights are banded; as sparse matrices they cost a product per weight, not per pair of
    pixels."""
    from scipy import sparse

    (h, w, c), (height, width) = x.shape, size
    shrinking = height <= h and width <= w
    rows = sparse.csc_array(resampling_matrix(h, height, shrinking))  # (H, h)
    columns = sparse.csr_array(resampling_matrix(w, width, shrinking).T)  # (w, W)
    convert = convert or (lambda band: np.asarray(band, np.float32))
    out = np.zeros((height, width * c), np.float32)
    step = band_rows(max(w, width), c)
    for top in range(0, h, step):
        band = np.moveaxis(convert(x[top:top + step]), -1, 1)  # (n, C, w)
        band = (band.reshape(-1, w) @ columns).reshape(len(band), c, width)
        out += rows[:, top:top + step] @ band.transpose(0, 2, 1).reshape(len(band), width * c)
    return out.reshape(height, width, c)


def bands(model, image, geometry="model", tile: int = DEFAULT_TILE,
          overlap: int = DEFAULT_OVERLAP):
    """Yields (first row, (rows, W, K) float32 probabilities) covering an (H, W, 3) image (floats
    in [0, 1], or a file's integer samples: `wnet_tf.images.as_float_rgb`) from top to bottom,
    so that a caller that keeps only labels holds no (H, W, K) map and no float image.

    The image is shaped as the model's training images were (`geometry="model"`: the model's
    own `geometry`, see wnet_tf.geometry.Geometry; "resize" runs squash it to image_size^2,
    the crops scale its shorter side to image_size; at each of its inference `scales`, the
    probabilities averaged: `encode_scales`), or by a given Geometry, or left as it is (None, or
    a model that records none); it goes through the encoder whole or in tiles (`encode_bands`),
    and the probabilities are scaled back to H x W (`resampled_bands`).
    """
    if isinstance(geometry, str):
        if geometry != "model":
            raise ValueError(f"geometry={geometry!r}: expected 'model', None or a Geometry")
        geometry = getattr(model, "geometry", None)
    size = image.shape[:2]
    if geometry is None:
        yield from encode_bands(model, image, tile, overlap)
        return
    probs = encode_scales(model, image, geometry.input_sizes(*size), tile, overlap)
    if probs.shape[:2] == tuple(size):
        yield 0, probs
    else:
        yield from resampled_bands(probs, size)


def encode_scales(model, image, sizes, tile: int = DEFAULT_TILE,
                  overlap: int = DEFAULT_OVERLAP) -> np.ndarray:
    """The probabilities of `image` seen at each of `sizes` ((h, w) pairs), averaged at the
    largest of them (the others scaled up to it): (h, w, K) at that size."""
    largest = max(sizes, key=lambda hw: hw[0] * hw[1])
    total = None
    for hw in sizes:
        probs = encode(model, resampled(image, hw, as_float_rgb), tile, overlap)
        if probs.shape[:2] != tuple(largest):
            probs = resampled(probs, largest)
        total = probs if total is None else total + probs
    return total if len(sizes) == 1 else total / np.float32(len(sizes))


def predict(model, image, geometry="model", tile: int = DEFAULT_TILE,
            overlap: int = DEFAULT_OVERLAP):
    """(H, W, K) float32 probabilities for an (H, W, 3) float image in [0, 1]: `bands` put
    together."""
    return assemble(bands(model, image, geometry, tile, overlap), image.shape[:2])


def classes(model) -> int:
    """K from the model's config (the default config's for a model without one), for the
    memory bound before the model has run."""
    parts = getattr(model, "members", None)  # an ensemble: its members' classes side by side
    if parts:
        return sum(classes(m) for m in parts)
    return (carried_config(model) or Config()).model.k


def bytes_per_pixel(k: int, whole: bool = False) -> int:
    """Memory per pixel of an image that segmenting it holds at once: its samples as decoded (16
    bits at most; a float TIFF's are larger, within the half of memory `max_pixels` leaves) and
    the decoder's copy, the labels and the overlay (and their copies in the PNG encoder); with
    `whole` (the CRF), the float32 image, the (H, W, K) probabilities and their refined copy."""
    return 2 * 3 * 2 + 2 * 2 + 2 * 3 + (3 * 4 + 2 * 4 * k if whole else 0)


def max_pixels(per_pixel: int, available: int | None = None) -> int | None:
    """The largest image (pixels) of `per_pixel` bytes each that fits in half the memory
    available now (the rest is for the tile and TensorFlow), or None where the system does not
    say."""
    if available is None:
        available = available_memory()
    return None if available is None else available // 2 // per_pixel


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (Linux), else None."""
    from wnet_tf.workers import proc_bytes

    return proc_bytes("/proc/meminfo", "MemAvailable")
