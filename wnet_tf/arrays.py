"""Images to (B, S, S, 3) float32 batches in [0, 1] with NumPy and Pillow: wnet_tf.data's pipeline
for a machine that has no TensorFlow (training on JAX).

The same decode (wnet_tf.images.decode_image_numpy), resize, crop and flip semantics as
wnet_tf.data, and the same pixels to float32 round-off except for JPEGs: TensorFlow decodes them
with libjpeg's fast integer IDCT, which Pillow does not offer with smooth chroma upsampling, so
Pillow's accurate IDCT is used and a JPEG's values differ by 1.3/255 on average (21/255 at most
over 103 BSDS500 and scikit-image JPEGs; tests/test_arrays.py compares every case with tf.data).
The random crops and flips follow the same laws, not the same draws.

Reads image files only (data.source "folder" or "skimage"). Importing this module imports
neither TensorFlow nor JAX.
"""

from __future__ import annotations

import functools
import itertools
import logging
import secrets
from collections.abc import Iterator

import numpy as np

from wnet_tf.config import DataConfig
from wnet_tf.images import ImageError, decode_image_numpy, to_rgb
from wnet_tf.inputs import input_files
from wnet_tf.workers import in_threads, usable_cores

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Resize: each of tf.image.resize's two methods is a linear map per axis, a weight matrix
# with a narrow band of nonzeros.


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float32 weights of tf.image.resize(method="area") along one axis: output
    pixel i averages the input interval [i, i + 1) * n_in / n_out, each input pixel weighted by
    how much of it the interval covers.

    The interval's ends are computed in float32 as TensorFlow computes them (resize_area_op.cc):
    near pixel 400 a float32 step is 3e-5, which moves TensorFlow's weights (and the sum of a
    row, by up to 1.5e-5) by that much, so exact ends would differ from it as much. An end that
    float32 puts beyond the last pixel counts that pixel again, as TensorFlow's bounding does.
    """
    f32 = np.float32
    scale = f32(n_in) / f32(n_out)
    lo = (np.arange(n_out, dtype=f32) * scale)[:, None]
    hi = (np.arange(1, n_out + 1, dtype=f32) * scale)[:, None]
    pixel = np.arange(n_in + 1, dtype=f32)
    covered = np.where(pixel < lo, np.where(pixel + 1 > hi, scale, pixel + 1 - lo),
                       np.where(pixel + 1 > hi, hi - pixel, f32(1)))
    covered = np.where((pixel >= np.floor(lo)) & (pixel < np.ceil(hi)), covered, f32(0))
    covered[:, n_in - 1] += covered[:, n_in]
    return covered[:, :n_in] / scale


def triangle_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float32 weights of tf.image.resize(antialias=True) (bilinear) along one
    axis: a triangle kernel at each output pixel's centre, widened by n_in / n_out when shrinking
    so that it low-pass filters, normalised to sum to 1 (which also handles the borders).
    Positions in float32 as TensorFlow's scale_and_translate computes them (see area_weights)."""
    f32 = np.float32
    inv_scale = f32(1.0 / float(f32(n_out) / f32(n_in)))
    width = max(inv_scale, f32(1))
    centres = (np.arange(n_out, dtype=f32) + f32(0.5)) * inv_scale
    offset = np.arange(n_in, dtype=f32) + f32(0.5) - centres[:, None]
    weights = np.maximum(f32(1) - np.abs(offset * (f32(1) / width)), f32(0))
    return weights * (f32(1) / weights.sum(axis=1, keepdims=True))


def resample(image: np.ndarray, height_width) -> np.ndarray:
    """An (H, W, C) float map to `height_width` as wnet_tf.data.resample: the area average when
    neither side grows, else antialiased bilinear; both weigh each output pixel's inputs by
    weights that sum to 1 (the area's to float32 round-off of its interval ends)."""
    (h, w), (new_h, new_w) = image.shape[:2], height_width
    kind = "area" if h >= new_h and w >= new_w else "triangle"
    out = _apply_rows(np.asarray(image, np.float32), *_band(kind, h, new_h))
    return _apply_rows(out.transpose(1, 0, 2), *_band(kind, w, new_w)).transpose(1, 0, 2)


@functools.lru_cache(maxsize=64)
def _band(kind: str, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """(index, weights), both (n_out, k): the band of nonzeros of a weight matrix, row i's
    inputs index[i] weighted by weights[i]. Made once per size (a folder's images come in few).

    Applying the band, not the matrix: k / n_in of a matrix product's work (k = 3 of 321 for
    BSDS to 224), and no BLAS, whose threads, called from every decoding thread, fought for the
    cores (3x slower on 2 cores, measured)."""
    weights = (area_weights if kind == "area" else triangle_weights)(n_in, n_out)
    nonzero = weights != 0
    starts = nonzero.argmax(axis=1)
    ends = n_in - nonzero[:, ::-1].argmax(axis=1)
    columns = starts[:, None] + np.arange((ends - starts).max())
    index = np.minimum(columns, n_in - 1)
    band = np.where(columns < n_in, np.take_along_axis(weights, index, axis=1), np.float32(0))
    index.flags.writeable = band.flags.writeable = False
    return index, band


def _apply_rows(image, index, weights):
    """out[i] = sum_j weights[i, j] * image[index[i, j]]: a banded matrix times the first axis."""
    out = np.zeros((len(index), *image.shape[1:]), np.float32)
    for j in range(index.shape[1]):
        out += weights[:, j, None, None] * image[index[:, j]]
    return out


def _resize(image, height_width):
    return np.clip(resample(image, height_width), 0.0, 1.0)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """The whole image to (size, size): the paper's preprocessing (aspect ratio not kept)."""
    return _resize(image, (size, size))


def resize_short_side(image: np.ndarray, size: int) -> np.ndarray:
    """Scale so that the shorter side is `size`, keeping the aspect ratio (rounded in float32,
    half to even, as TensorFlow rounds)."""
    hw = np.array(image.shape[:2], np.float32)
    scale = np.float32(size) / hw.min()
    return _resize(image, np.maximum(np.round(hw * scale).astype(np.int64), size))


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central (size, size) window of an image at least that large."""
    h, w = image.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return image[top:top + size, left:left + size]


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A (size, size) window at a uniformly random position."""
    h, w = image.shape[:2]
    top, left = rng.integers(h - size + 1), rng.integers(w - size + 1)
    return image[top:top + size, left:left + size]


def random_flip(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Left-right flip with probability 1/2."""
    return image[:, ::-1] if rng.random() < 0.5 else image


def random_rot90(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A rotation by 0, 90, 180 or 270 degrees (counter-clockwise, as tf.image.rot90), drawn
    uniformly."""
    return np.rot90(image, rng.integers(4))


def random_channel_gains(image: np.ndarray, strength: float,
                         rng: np.random.Generator) -> np.ndarray:
    """Each channel times its own factor from [1 - strength, 1 + strength], clipped to [0, 1]."""
    gains = rng.uniform(1.0 - strength, 1.0 + strength, 3).astype(np.float32)
    return np.clip(image * gains, 0.0, 1.0)


def preprocess(image: np.ndarray, config: DataConfig, *, training: bool,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """A decoded (H, W, 1..4) image -> (S, S, 3) float32 in [0, 1], S = config.image_size, as
    wnet_tf.data.preprocess. `rng` draws the random crop, flip, rotation and colour jitter
    (training only); outside training a random crop is a centre crop and there is no
    augmentation."""
    if training and rng is None:
        raise ValueError("preprocess(training=True) needs rng, a numpy.random.Generator")
    size = config.image_size
    image = to_rgb(image)
    if config.preprocess == "resize":
        image = resize(image, size)
    elif config.preprocess == "random_crop" and training:
        short = size
        if config.scale_jitter > 1:  # drawn only then, so that runs without jitter are unchanged
            short = int(np.round(size * rng.uniform(1.0, config.scale_jitter)))
        image = random_crop(resize_short_side(image, short), size, rng)
    else:
        image = center_crop(resize_short_side(image, size), size)
    if config.random_flip and training:
        image = random_flip(image, rng)
    # Drawn only when enabled, so that runs without them are unchanged.
    if config.random_rot90 and training:
        image = random_rot90(image, rng)
    if config.colour_jitter > 0 and training:
        image = random_channel_gains(image, config.colour_jitter, rng)
    return np.ascontiguousarray(image)


# ---------------------------------------------------------------------------------------------
# The pipeline.


def batches(config: DataConfig, split: str, *, training: bool) -> Iterator[np.ndarray]:
    """Batches of float32 images (B, S, S, 3) in [0, 1] for `split` ("train" or "val"), as
    wnet_tf.data.make_dataset gives them.

    training=True: files shuffled anew each epoch, random augmentation, repeated forever, full
    batches only. training=False: one pass in a fixed order, no augmentation, the last batch
    may be short. With `config.seed` set, order and augmentation are the same on every run.
    Files that do not decode are skipped with a logged warning; ValueError if none decodes.
    Errors in the config (source, missing files) are raised here, before the first batch.
    """
    if config.source == "tfrecord":
        raise ValueError("data.source='tfrecord': TFRecords are read by tf.data "
                         "(wnet_tf.data.make_dataset); without TensorFlow use "
                         "data.source=folder with the image files")
    files = input_files(config, split)
    # % 2**64: SeedSequence takes no negative seed (tf.data does).
    seed = config.seed % 2**64 if config.seed is not None else secrets.randbits(31)
    return _batches(files, config, seed, split, training)


def _rng(seed: int, stream: int, n: int) -> np.random.Generator:
    """The generator for draw `n` of `stream` (0: an epoch's file order, 1: an element's
    augmentation): a function of the seed alone, so a seeded run repeats itself."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, n)))


def _batches(files, config, seed, split, training):
    bad = set()  # files that failed once are not read again

    def elements():  # (index, path); element i is augmented by _rng(seed, 1, i)
        if not training:
            yield from enumerate(files)
            return
        epochs = (_rng(seed, 0, epoch).permutation(files) for epoch in itertools.count())
        good = (path for order in epochs for path in order if path not in bad)
        yield from enumerate(good)

    def load(element):
        index, path = element
        try:
            with open(path, "rb") as f:
                image = decode_image_numpy(f.read(), path)
        except (ImageError, OSError) as err:
            return path, err
        return path, preprocess(image, config, training=training, rng=_rng(seed, 1, index))

    batch = []
    # Pillow's decoders and NumPy's array operations release the GIL: a few threads.
    for path, image in in_threads(load, elements(), min(8, usable_cores())):
        if isinstance(image, Exception):
            if path not in bad:  # read ahead, a file may fail again before it is known bad
                log.warning("skipped %s", image)
                bad.add(path)
            if len(bad) == len(files):
                raise ValueError(f"data.{split}: none of its {len(files)} files decodes "
                                 f"(the last: {image})")
            continue
        batch.append(image)
        if len(batch) == config.batch_size:
            yield np.stack(batch)
            batch = []
    if batch and not training:
        yield np.stack(batch)
