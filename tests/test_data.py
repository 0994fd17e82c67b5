"""The input pipeline: decode and preprocessing ops eagerly and inside tf.data, make_dataset over
records, folders and scikit-image's samples, determinism and sharding. Inputs are built here."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from wnet_tf import data, images, inputs, records
from wnet_tf.config import DataConfig

SIZE = 16
MODES = ["resize", "random_crop", "center_crop"]


def png(array):
    return tf.io.encode_png(array).numpy()


def flat_images(folder, count, shape=(20, 30)):
    """`count` PNGs, image i filled with the grey level i: any crop or resize of it says which
    image it came from."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"{i:02d}.png").write_bytes(png(np.full((*shape, 3), i, np.uint8)))
    return folder


def ids(batches):
    """The grey level of every image in some batches of flat images."""
    return [int(round(v)) for b in batches for v in np.asarray(b).mean(axis=(1, 2, 3)) * 255]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """The manifest of 12 flat images in 4 shards."""
    root = tmp_path_factory.mktemp("records")
    source = records.find_source(flat_images(root / "images", 12))
    records.convert(source, root / "out", shard_size=3)
    return str(records.manifest_path(root / "out", "folder-all"))


def config(train, **changes):
    return DataConfig(**{"train": train, "val": train, "image_size": SIZE, "batch_size": 4,
                         "shuffle_buffer": 8, **changes})


# --- the ops ---------------------------------------------------------------------------------


def test_to_rgb_repeats_grey_and_drops_alpha():
    grey_alpha = tf.constant([[[2.0, 9.0]]])
    rgba = tf.constant([[[1.0, 2.0, 3.0, 9.0]]])
    np.testing.assert_array_equal(images.to_rgb(grey_alpha), [[[2, 2, 2]]])
    np.testing.assert_array_equal(images.to_rgb(rgba), [[[1, 2, 3]]])
    np.testing.assert_array_equal(images.to_rgb(grey_alpha[..., :1]), [[[2, 2, 2]]])
    np.testing.assert_array_equal(images.to_rgb(rgba[..., :3]), [[[1, 2, 3]]])


def test_decode_scales_8_and_16_bit_to_unit_range():
    eight = np.array([[[0], [128], [255]]], np.uint8)
    sixteen = np.array([[[0], [32768], [65535]]], np.uint16)
    np.testing.assert_allclose(images.decode_image(png(eight)), eight / 255, atol=1e-7)
    np.testing.assert_allclose(images.decode_image(png(sixteen)), sixteen / 65535, atol=1e-7)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(1, 1, 3), (321, 481, 1), (481, 321, 4), (8, 40, 3)])
def test_preprocess_shape_range_dtype_eager_and_in_tf_data(mode, shape):
    image = tf.random.stateless_uniform(shape, seed=(1, 2))
    cfg = config("", preprocess=mode, random_flip=True)
    seed = tf.constant([7, 0], tf.int64)
    eager = data.preprocess(image, cfg, training=True, seed=seed)
    graph = next(iter(tf.data.Dataset.from_tensors(image).map(
        lambda x: data.preprocess(x, cfg, training=True, seed=seed))))
    for out in (eager, graph):
        assert out.shape == (SIZE, SIZE, 3) and out.dtype == tf.float32
        assert 0.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1.0
    np.testing.assert_allclose(eager, graph, atol=1e-6)


def test_resize_keeps_a_constant_image_constant():
    for shape in [(321, 481, 3), (5, 7, 3)]:  # shrinking and enlarging
        np.testing.assert_allclose(data.resize(tf.fill(shape, 0.25), SIZE), 0.25, atol=1e-6)


def test_center_crop_is_the_middle_of_the_short_side_resize():
    # Three 16x16 squares side by side: the short side is already 16, so the crop is exact.
    thirds = tf.repeat(tf.constant([0.0, 0.5, 1.0]), SIZE)[None, :, None] * tf.ones((SIZE, 1, 3))
    cfg = config("", preprocess="center_crop")
    out = data.preprocess(thirds, cfg, training=True, seed=tf.constant([0, 0]))
    np.testing.assert_array_equal(out, 0.5)
    # Outside training a random crop is the centre crop too.
    cfg = config("", preprocess="random_crop", random_flip=True)
    np.testing.assert_array_equal(data.preprocess(thirds, cfg, training=False, seed=[0, 0]), 0.5)


def test_random_ops_follow_the_seed():
    image = tf.random.stateless_uniform((40, 60, 3), seed=(3, 4))
    crops = [data.random_crop(image, SIZE, tf.constant([s, 0])) for s in (1, 1, 2, 3, 4)]
    np.testing.assert_array_equal(crops[0], crops[1])
    assert any(not np.array_equal(crops[0], c) for c in crops[2:])
    flips = [data.random_flip(image, tf.constant([s, 0])) for s in range(8)]
    flipped = [np.array_equal(f, image[:, ::-1]) for f in flips]
    assert any(flipped) and not all(flipped)
    assert all(f or np.array_equal(x, image) for f, x in zip(flipped, flips, strict=True))


# --- make_dataset ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_training_batches_from_records(shards, mode):
    cfg = config(shards, preprocess=mode, random_flip=True, seed=0)
    batches = list(data.make_dataset(cfg, "train", training=True).take(5))  # repeats: > 12 images
    for batch in batches:
        assert batch.shape == (4, SIZE, SIZE, 3) and batch.dtype == tf.float32
        assert 0.0 <= float(tf.reduce_min(batch)) and float(tf.reduce_max(batch)) <= 1.0
    assert set(ids(batches)) <= set(range(12))


def test_glob_and_manifest_read_the_same_images(shards):
    by_manifest = ids(data.make_dataset(config(shards), "val", training=False))
    glob = shards.replace(".manifest.json", "-*-of-*")
    assert sorted(by_manifest) == sorted(ids(data.make_dataset(config(glob), "val",
                                                               training=False))) == list(range(12))


def test_same_seed_same_batches(shards):
    def first(seed, n=6):
        cfg = config(shards, preprocess="random_crop", random_flip=True, seed=seed)
        return [b.numpy() for b in data.make_dataset(cfg, "train", training=True).take(n)]

    a, b, c = first(5), first(5), first(6)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert ids(a) != ids(c)


def test_unseeded_training_still_reads_everything(shards):
    cfg = config(shards, preprocess="random_crop", random_flip=True)
    assert set(ids(data.make_dataset(cfg, "train", training=True).take(12))) == set(range(12))


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("shard_size", [3, 100])  # 4 shards: split by file; 1 shard: by record
def test_input_context_shards_are_disjoint_and_cover(tmp_path, training, shard_size):
    source = records.find_source(flat_images(tmp_path / "images", 12))
    records.convert(source, tmp_path, shard_size=shard_size)
    cfg = config(str(records.manifest_path(tmp_path, "folder-all")), seed=3)
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline,
                                             num_replicas_in_sync=2)
        dataset = data.make_dataset(cfg, "train", training=training, input_context=context)
        batches = list(dataset.take(3))  # 3 per-replica batches of 2 = one pass when training
        assert all(b.shape[0] == 2 for b in batches)  # global batch 4 over 2 replicas
        seen.append(ids(batches))
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == list(range(12))


def test_folder_source_skips_bad_files(tmp_path):
    folder = flat_images(tmp_path / "images", 5)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    cfg = config(str(folder), source="folder")
    assert sorted(ids(data.make_dataset(cfg, "val", training=False))) == list(range(5))


def test_skimage_source_reads_the_images_in_the_wheel():
    files = inputs.skimage_images()
    assert len(files) >= 10 and all(f.is_file() for f in files)
    cfg = config("", source="skimage", preprocess="center_crop", batch_size=len(files))
    (batch,) = list(data.make_dataset(cfg, "val", training=False))  # every file decodes
    assert batch.shape == (len(files), SIZE, SIZE, 3)


@pytest.mark.parametrize("train, source, message", [
    ("{tmp}/nothing-*.tfrecord", "tfrecord", "matches no files"),
    ("{tmp}/missing.manifest.json", "tfrecord", "no such manifest"),
    ("{tmp}", "folder", "matches no files"),
    ("{tmp}/absent", "folder", "no such folder"),
    ("", "tfrecord", "data.train is empty"),
])
def test_errors_name_the_path(tmp_path, train, source, message):
    train = train.format(tmp=tmp_path)
    with pytest.raises((FileNotFoundError, ValueError), match=message) as err:
        data.make_dataset(config(train, source=source), "train", training=True)
    assert train in str(err.value)


def test_manifest_with_a_missing_shard_is_an_error(shards, tmp_path):
    copy = tmp_path / "copy.manifest.json"
    copy.write_text(open(shards).read())
    with pytest.raises(FileNotFoundError, match="missing shard"):
        data.make_dataset(config(str(copy)), "train", training=True)


def test_config_fields_the_trainer_uses_are_there():
    names = {f.name for f in dataclasses.fields(DataConfig)}
    assert {"train", "val", "source", "image_size", "preprocess", "random_flip", "batch_size",
            "shuffle_buffer", "seed"} <= names
