"""Images to (B, H, W, 3) float32 batches in [0, 1], streamed by tf.data.

Three sources (`DataConfig.source`):
- "tfrecord": shards written by `wnet-tf make-records` (wnet_tf/records.py), named by a glob or by
  their manifest (`*.manifest.json`);
- "folder": the JPEG/PNG/BMP/GIF files under a folder, read directly (no conversion; files that
  fail to decode are dropped with a logged warning);
- "skimage": the sample images inside the installed scikit-image package, for a quickstart that
  downloads nothing.

Images are decoded by `wnet_tf.images.decode_image`, the decoder `make-records` checks every file
with, so a record that converted will decode in training. The preprocessing ops are pure functions
of tensors (and of an explicit seed for the random ones), usable eagerly and inside tf.data.
"""

from __future__ import annotations

import secrets

import tensorflow as tf

from wnet_tf.config import DataConfig
from wnet_tf.images import decode_image, to_rgb
from wnet_tf.inputs import input_files

# What make-records writes into each tf.train.Example.
FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),  # the file's bytes, not re-encoded
    "image/height": tf.io.FixedLenFeature([], tf.int64),
    "image/width": tf.io.FixedLenFeature([], tf.int64),
    "image/channels": tf.io.FixedLenFeature([], tf.int64),  # as decoded, before to_rgb
    "image/format": tf.io.FixedLenFeature([], tf.string),  # jpeg, png, gif or bmp
    "image/path": tf.io.FixedLenFeature([], tf.string),  # relative to the converted root
}

# ---------------------------------------------------------------------------------------------
# Preprocess: pure tensor functions.


def resample(image, height_width):
    """An (H, W, C) map of any channels (an image, or class probabilities) to `height_width`
    without aliasing. Shrinking (the usual case, 481x321 -> 224x224) averages each output pixel's
    area: an exact box filter at half the cost of antialiased bilinear (bench/data.py). Anything
    else is antialiased bilinear. Both are convex combinations: probabilities still sum to 1."""
    hw = tf.convert_to_tensor(height_width, tf.int32)
    shrinking = tf.reduce_all(tf.shape(image)[:2] >= hw)
    return tf.cond(shrinking, lambda: tf.image.resize(image, hw, method="area"),
                   lambda: tf.image.resize(image, hw, antialias=True))


def _resize(image, height_width):
    return tf.clip_by_value(resample(image, height_width), 0.0, 1.0)


def resize(image, size):
    """The whole image to (size, size): the paper's preprocessing (aspect ratio not kept)."""
    return _resize(image, [size, size])


def resize_short_side(image, size):
    """Scale so that the shorter side is `size`, keeping the aspect ratio."""
    hw = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.cast(size, tf.float32) / tf.reduce_min(hw)
    # max(): rounding must never leave the long side below `size`.
    return _resize(image, tf.maximum(tf.cast(tf.round(hw * scale), tf.int32), size))


def center_crop(image, size):
    """The central (size, size) window of an image at least that large."""
    hw = tf.shape(image)[:2]
    top, left = (hw[0] - size) // 2, (hw[1] - size) // 2
    return image[top:top + size, left:left + size, :]


def random_crop(image, size, seed):
    """A (size, size) window of an RGB image, at a position fixed by `seed` (shape [2] int)."""
    return tf.image.stateless_random_crop(image, [size, size, 3], seed=seed)


def random_flip(image, seed):
    """Left-right flip with probability 1/2, decided by `seed` (shape [2] int)."""
    return tf.image.stateless_random_flip_left_right(image, seed=seed)


def random_rot90(image, seed):
    """A rotation by 0, 90, 180 or 270 degrees, drawn uniformly by `seed` (shape [2] int)."""
    k = tf.random.stateless_uniform([], seed, 0, 4, dtype=tf.int32)
    return tf.image.rot90(image, k)


def random_channel_gains(image, strength, seed):
    """Each channel times its own factor from [1 - strength, 1 + strength], clipped to [0, 1]."""
    gains = tf.random.stateless_uniform([3], seed, 1.0 - strength, 1.0 + strength)
    return tf.clip_by_value(image * gains, 0.0, 1.0)


def preprocess(image, config: DataConfig, *, training, seed):
    """A decoded (H, W, 1..4) image -> (S, S, 3) float32 in [0, 1], S = config.image_size.

    `seed` (shape [2] int) fixes the random crop, flip, rotation and colour jitter. Outside
    training a random crop is a centre crop and there is no augmentation, so validation sees the
    same pixels every time.
    """
    size = config.image_size
    image = to_rgb(image)
    crop_seed, flip_seed = tf.unstack(tf.random.split(seed, 2))
    if config.preprocess == "resize":
        image = resize(image, size)
    elif config.preprocess == "random_crop" and training:
        short = size
        if config.scale_jitter > 1:  # its own seed, so that runs without jitter are unchanged
            factor = tf.random.stateless_uniform(
                [], tf.random.experimental.stateless_fold_in(seed, 1), 1.0, config.scale_jitter)
            short = tf.cast(tf.round(size * factor), tf.int32)
        image = random_crop(resize_short_side(image, short), size, crop_seed)
    else:
        image = center_crop(resize_short_side(image, size), size)
    if config.random_flip and training:
        image = random_flip(image, flip_seed)
    # Each its own seed, so that runs without them are unchanged.
    if config.random_rot90 and training:
        image = random_rot90(image, tf.random.experimental.stateless_fold_in(seed, 2))
    if config.colour_jitter > 0 and training:
        image = random_channel_gains(image, config.colour_jitter,
                                     tf.random.experimental.stateless_fold_in(seed, 3))
    image.set_shape([size, size, 3])
    return image


# ---------------------------------------------------------------------------------------------
# The pipeline.


def _encoded_images(files, config: DataConfig, *, shuffle_files: bool, deterministic: bool):
    """A dataset of encoded image bytes from a list of files, each read whole or as records."""
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_files:
        dataset = dataset.shuffle(len(files), seed=config.seed, reshuffle_each_iteration=True)
    if config.source != "tfrecord":
        return dataset.map(tf.io.read_file, num_parallel_calls=tf.data.AUTOTUNE,
                           deterministic=deterministic)
    records = dataset.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 16),
                                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    encoded = {"image/encoded": FEATURES["image/encoded"]}
    return records.map(lambda r: tf.io.parse_single_example(r, encoded)["image/encoded"],
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)


def make_dataset(config: DataConfig, split: str, *, training: bool, input_context=None):
    """Batches of float32 images (B, H, W, 3) in [0, 1] for `split` ("train" or "val").

    training=True: files shuffled, records shuffled through a buffer, random augmentation,
    repeated forever, full batches only. training=False: one pass in a fixed order, no
    augmentation, the last batch may be short. With `config.seed` set, order and augmentation
    are the same on every run.

    `input_context` (a tf.distribute.InputContext) gives each input pipeline a disjoint part of
    the data and batches of `get_per_replica_batch_size(config.batch_size)`.
    """
    files = input_files(config, split)
    deterministic = config.seed is not None or not training
    pipelines, pipeline_id = 1, 0
    if input_context is not None:
        pipelines, pipeline_id = input_context.num_input_pipelines, input_context.input_pipeline_id
    # Shard whole files when there are enough of them (each pipeline reads only its own); else
    # shard records, which needs the same record order in every pipeline: no file shuffle and an
    # ordered read.
    shard_files = len(files) >= pipelines
    if shard_files:
        files = files[pipeline_id::pipelines]
    dataset = _encoded_images(files, config, shuffle_files=training and shard_files,
                              deterministic=deterministic or not shard_files)
    if not shard_files:
        dataset = dataset.shard(pipelines, pipeline_id)
    if training:
        dataset = dataset.shuffle(config.shuffle_buffer, seed=config.seed,
                                  reshuffle_each_iteration=True).repeat()
    # Element i of pipeline p is keyed by (seed, i * pipelines + p): reproducible with a seed,
    # new in every epoch because i keeps counting through the repeats, and never the same crop
    # for the i-th images of two replicas.
    base_seed = tf.constant(config.seed if config.seed is not None else secrets.randbits(31),
                            tf.int64)
    dataset = dataset.enumerate().map(
        lambda i, encoded: preprocess(decode_image(encoded), config, training=training,
                                      seed=tf.stack([base_seed, i * pipelines + pipeline_id])),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if config.source == "folder":
        # Quick experiments only: make-records lists the bad files instead of dropping them.
        dataset = dataset.ignore_errors(log_warning=True)
    batch_size = config.batch_size
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(config.batch_size)
    dataset = dataset.batch(batch_size, drop_remainder=training)
    return dataset.prefetch(tf.data.AUTOTUNE)
