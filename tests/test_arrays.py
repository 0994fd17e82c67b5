"""The NumPy input path (wnet_tf.arrays) against the tf.data one (wnet_tf.data) on the same
files: decode, resize in every preprocessing mode, crops, flips and batches; and that the NumPy
path and the input finding run without TensorFlow. Inputs are built here."""

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from wnet_tf import arrays, data, images, inputs
from wnet_tf.config import ConfigError, DataConfig
from wnet_tf.images import ImageError

SIZE = 16
MODES = ["resize", "random_crop", "center_crop"]
# Resampling differs from TensorFlow's by float32 round-off only (the same weights, computed the
# same way; sums in another order): measured at most 3.0e-7 on the cases below and 5.4e-7 on a
# 17x1000 image averaged to one pixel (17,000 terms), 4.5 float32 steps at 1.0.
RESAMPLE_ATOL = 1e-6
# TensorFlow decodes JPEGs with libjpeg's fast integer IDCT, Pillow with the accurate one (equal
# to tf.io.decode_jpeg(dct_method="INTEGER_ACCURATE"), tested exactly below). Measured over 103
# JPEGs (every 5th BSDS500 image and scikit-image's three): per-image mean |difference| at most
# 1.85 / 255 (1.31 / 255 on average), largest single value 21 / 255.
JPEG_MEAN_ATOL, JPEG_MAX_ATOL = 2 / 255, 24 / 255

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (13, 17, 3), dtype=np.uint8)
RGBA = RNG.integers(0, 256, (13, 17, 4), dtype=np.uint8)
GREY = RGB[..., 0]


def encoded(picture, fmt, **options):
    out = io.BytesIO()
    picture.save(out, format=fmt, **options)
    return out.getvalue()


def png16(array):
    return tf.io.encode_png(array).numpy()


def palette(colours=16):
    return Image.fromarray(RGB).quantize(colours)


def photo():
    """A smooth colour image with edges: what a JPEG encoder is made for."""
    y, x = np.mgrid[0:48, 0:64] / 64.0
    image = np.stack([x, y, (x + y) / 2], -1) + 0.3 * ((x > 0.5) ^ (y > 0.4))[..., None]
    return Image.fromarray(np.uint8(np.clip(image, 0, 1) * 255))


# name -> bytes; each decodes to the same float32 array through both paths.
EXACT = {
    "png-1bit": lambda: encoded(Image.fromarray(GREY > 128), "PNG"),
    "png-grey": lambda: encoded(Image.fromarray(GREY), "PNG"),
    "png-grey-alpha": lambda: encoded(Image.fromarray(RGBA[..., :2].copy(), "LA"), "PNG"),
    "png-rgb": lambda: encoded(Image.fromarray(RGB), "PNG"),
    "png-rgba": lambda: encoded(Image.fromarray(RGBA), "PNG"),
    "png-palette": lambda: encoded(palette(), "PNG"),
    "png-palette-transparent": lambda: encoded(palette(), "PNG", transparency=3),
    "png-grey-trns": lambda: encoded(Image.fromarray(GREY), "PNG", transparency=7),
    "png16-grey": lambda: png16(RNG.integers(0, 65536, (5, 7, 1), dtype=np.uint16)),
    "png16-grey-alpha": lambda: png16(RNG.integers(0, 65536, (5, 7, 2), dtype=np.uint16)),
    "png16-rgb": lambda: png16(RNG.integers(0, 65536, (5, 7, 3), dtype=np.uint16)),
    "png16-rgba": lambda: png16(RNG.integers(0, 65536, (5, 7, 4), dtype=np.uint16)),
    "gif": lambda: encoded(palette(), "GIF"),
    "gif-grey": lambda: encoded(Image.fromarray(GREY), "GIF"),
    "gif-transparent": lambda: encoded(palette(), "GIF", transparency=3),
    "gif-animated": lambda: encoded(palette(), "GIF", save_all=True,
                                    append_images=[Image.fromarray(RGB[::-1].copy()).quantize(8)]),
    "bmp-grey": lambda: encoded(Image.fromarray(GREY), "BMP"),
    "bmp-palette": lambda: encoded(palette(), "BMP"),  # TensorFlow reads the indices as grey
    "bmp-rgb": lambda: encoded(Image.fromarray(RGB), "BMP"),
}
JPEGS = {
    "jpeg-grey": lambda: encoded(photo().convert("L"), "JPEG"),
    "jpeg-420": lambda: encoded(photo(), "JPEG", quality=80),
    "jpeg-444": lambda: encoded(photo(), "JPEG", quality=95, subsampling=0),
    "jpeg-cmyk": lambda: encoded(photo().convert("CMYK"), "JPEG"),
}


def skimage_files(*suffixes):
    return [p for p in inputs.skimage_images() if p.suffix.lower() in suffixes]


def flat_images(folder, count, shape=(20, 30)):
    """`count` PNGs, image i filled with the grey level i: any crop or resize of it says which
    image it came from."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.full((*shape, 3), i, np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def ids(batches):
    return [int(round(v)) for b in batches for v in np.asarray(b).mean(axis=(1, 2, 3)) * 255]


def config(train="", **changes):
    return DataConfig(**{"train": train, "val": train, "source": "folder", "image_size": SIZE,
                         "batch_size": 4, **changes})


# --- decode ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXACT)
def test_decode_equals_tensorflow(name):
    encoded_bytes = EXACT[name]()
    ours = images.decode_image_numpy(encoded_bytes)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, images.decode_image(encoded_bytes))


def test_decode_of_a_32_bit_bmp_keeps_the_colours_not_the_fourth_byte():
    encoded_bytes = encoded(Image.fromarray(RGBA), "BMP")
    theirs = images.decode_image(encoded_bytes)
    assert theirs.shape[-1] == 4
    np.testing.assert_array_equal(images.decode_image_numpy(encoded_bytes), theirs[..., :3])


@pytest.mark.parametrize("path", skimage_files(".png", ".gif"), ids=lambda p: p.name)
def test_decode_of_the_skimage_samples_equals_tensorflow(path):
    encoded_bytes = path.read_bytes()
    np.testing.assert_array_equal(images.decode_image_numpy(encoded_bytes),
                                  images.decode_image(encoded_bytes))


@pytest.mark.parametrize("name, encoded_bytes",
                         [(n, make()) for n, make in JPEGS.items()]
                         + [(p.name, p.read_bytes()) for p in skimage_files(".jpg")])
def test_jpeg_decode_differs_from_tensorflow_by_the_idct_only(name, encoded_bytes):
    ours = images.decode_image_numpy(encoded_bytes)
    accurate = tf.io.decode_jpeg(encoded_bytes, dct_method="INTEGER_ACCURATE")
    np.testing.assert_array_equal(ours, tf.image.convert_image_dtype(accurate, tf.float32))
    difference = np.abs(ours - images.decode_image(encoded_bytes).numpy())
    assert difference.mean() <= JPEG_MEAN_ATOL and difference.max() <= JPEG_MAX_ATOL


@pytest.mark.parametrize("encoded_bytes, reason", [
    (b"", "empty file"),
    (b"not an image", "not a JPEG, PNG, BMP or GIF"),
    (encoded(Image.fromarray(RGB), "TIFF"), r"not a JPEG, PNG, BMP or GIF \(tiff\)"),
    (encoded(Image.fromarray(RGB), "PNG")[:60], "does not decode as png"),
    (encoded(Image.fromarray(RGB), "JPEG")[:200], "does not decode as jpeg"),
])
def test_decode_errors_name_the_file_and_the_reason(encoded_bytes, reason):
    with pytest.raises(ImageError, match=f"x.png: {reason}"):
        images.decode_image_numpy(encoded_bytes, "x.png")


# --- resize, crop, flip ----------------------------------------------------------------------

# (input, output): shrinking, enlarging, mixed (one side shrinks, the other grows), equal.
RESAMPLES = [((321, 481), (224, 224)), ((481, 321), (16, 16)), ((481, 321), (1, 1)),
             ((5, 7), (224, 224)), ((1, 1), (3, 5)), ((8, 40), (16, 16)), ((40, 8), (16, 30)),
             ((224, 224), (224, 224)), ((481, 321), (482, 320)), ((223, 225), (224, 224))]


@pytest.mark.parametrize("shape, out", RESAMPLES)
@pytest.mark.parametrize("channels", [3, 5])
def test_resample_equals_tensorflow(shape, out, channels):
    image = RNG.random((*shape, channels), dtype=np.float32)
    ours = arrays.resample(image, out)
    assert ours.shape == (*out, channels) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, data.resample(image, out), rtol=0, atol=RESAMPLE_ATOL)


def test_weights_are_convex_combinations():
    for n_in, n_out in [(481, 224), (7, 224), (224, 224), (3, 1)]:
        area, triangle = arrays.area_weights(n_in, n_out), arrays.triangle_weights(n_in, n_out)
        for weights in (area, triangle):
            assert weights.shape == (n_out, n_in) and (weights >= 0).all()
        np.testing.assert_allclose(triangle.sum(axis=1), 1.0, rtol=0, atol=1e-6)  # normalised
        # The area's interval ends are float32 positions (as TensorFlow's): near 481 a float32
        # step is 3e-5, so a row's coverage is off by up to 2 * 1.5e-5 / 2.15 (the scale).
        np.testing.assert_allclose(area.sum(axis=1), 1.0, rtol=0, atol=1.5e-5)


@pytest.mark.parametrize("shape", [(321, 481), (481, 321), (5, 7), (8, 40), (333, 500),
                                   (3, 100), (1, 1), (16, 17)])
@pytest.mark.parametrize("size", [16, 97])
def test_short_side_resize_and_centre_crop_equal_tensorflow(shape, size):
    image = RNG.random((*shape, 3), dtype=np.float32)
    ours, theirs = arrays.resize_short_side(image, size), data.resize_short_side(image, size)
    assert ours.shape == tuple(theirs.shape) and min(ours.shape[:2]) == size
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=RESAMPLE_ATOL)
    np.testing.assert_array_equal(arrays.center_crop(image, 1), data.center_crop(image, 1))
    assert 0.0 <= ours.min() and ours.max() <= 1.0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", [(321, 481), (481, 321), (5, 7), (8, 40), (16, 16)])
def test_preprocess_outside_training_equals_tensorflow(mode, channels, shape):
    image = RNG.random((*shape, channels), dtype=np.float32)
    cfg = config(preprocess=mode, random_flip=True)
    ours = arrays.preprocess(image, cfg, training=False)
    assert ours.shape == (SIZE, SIZE, 3) and ours.dtype == np.float32
    theirs = data.preprocess(tf.constant(image), cfg, training=False, seed=tf.constant([0, 0]))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=RESAMPLE_ATOL)


@pytest.mark.parametrize("mode", MODES)
def test_preprocess_of_the_skimage_samples_equals_tensorflow(mode):
    cfg = config(preprocess=mode)
    for path in skimage_files(".png", ".gif"):
        encoded_bytes = path.read_bytes()
        theirs = data.preprocess(images.decode_image(encoded_bytes), cfg, training=False,
                                 seed=tf.constant([0, 0]))
        ours = arrays.preprocess(images.decode_image_numpy(encoded_bytes), cfg, training=False)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=RESAMPLE_ATOL, err_msg=path.name)


def windows(image, size):
    h, w = image.shape[:2]
    return [image[t:t + size, x:x + size] for t in range(h - size + 1) for x in range(w - size + 1)]


def test_a_random_crop_is_a_window_of_the_resized_image_at_a_uniform_position():
    image = RNG.random((20, 24, 3), dtype=np.float32)
    cfg = config(preprocess="random_crop")
    resized = arrays.resize_short_side(image, SIZE)  # 16x19: 4 positions
    np.testing.assert_allclose(resized, data.resize_short_side(image, SIZE), atol=RESAMPLE_ATOL)
    candidates = windows(resized, SIZE)
    assert len(candidates) == 4
    rng = np.random.default_rng(1)
    seen = [next(i for i, c in enumerate(candidates) if np.array_equal(c, crop)) for crop in
            (arrays.preprocess(image, cfg, training=True, rng=rng) for _ in range(400))]
    counts = np.bincount(seen, minlength=4)
    assert (abs(counts - 100) < 40).all(), counts  # binomial(400, 1/4): sd 8.7


def _implied_short_side(crop, width, aspect):
    """The shorter side a horizontal ramp of `width` pixels (j / (width - 1) at column j) was
    resized to before `crop` was cut from it: an area resize to a long side L averages
    width / L source pixels per output pixel, so the slope is width / ((width - 1) L)."""
    slope = np.diff(crop[..., 0], axis=1).mean()
    return width / ((width - 1) * slope) / aspect


@pytest.mark.parametrize("pipeline", ["numpy", "tensorflow"])
def test_scale_jitter_resizes_the_short_side_within_its_range(pipeline):
    ramp = np.broadcast_to(np.linspace(0, 1, 150, dtype=np.float32), (100, 150))
    image = np.repeat(ramp[..., None], 3, -1)
    rng = np.random.default_rng(2)

    def sides(**changes):
        cfg = config(preprocess="random_crop", **changes)
        crops = [arrays.preprocess(image, cfg, training=True, rng=rng) if pipeline == "numpy"
                 else data.preprocess(image, cfg, training=True, seed=tf.constant([i, 7])).numpy()
                 for i in range(60)]
        assert all(c.shape == (SIZE, SIZE, 3) for c in crops)
        return np.array([_implied_short_side(c, 150, 1.5) for c in crops])

    np.testing.assert_allclose(sides(), SIZE, atol=0.05)  # no jitter: always the image size
    jittered = sides(scale_jitter=2.0)
    assert jittered.min() > SIZE - 0.6 and jittered.max() < 2 * SIZE + 0.6
    assert jittered.max() - jittered.min() > 0.6 * SIZE  # uniform over [16, 32]: spread wide
    with pytest.raises(ConfigError, match="scale_jitter"):
        config(scale_jitter=0.5).validate()


def test_flips_happen_half_the_time_and_only_in_training():
    image = RNG.random((SIZE, SIZE, 3), dtype=np.float32)
    cfg = config(preprocess="resize", random_flip=True)
    rng = np.random.default_rng(2)
    outs = [arrays.preprocess(image, cfg, training=True, rng=rng) for _ in range(400)]
    flipped = [np.array_equal(o, image[:, ::-1]) for o in outs]
    assert all(f or np.array_equal(o, image) for f, o in zip(flipped, outs, strict=True))
    assert 160 <= sum(flipped) <= 240  # binomial(400, 1/2): sd 10
    np.testing.assert_array_equal(arrays.preprocess(image, cfg, training=False), image)


def _augmented(pipeline, image, cfg, n):
    """n training draws of `cfg`'s preprocessing of `image`, in either pipeline."""
    rng = np.random.default_rng(5)
    return [arrays.preprocess(image, cfg, training=True, rng=rng) if pipeline == "numpy"
            else data.preprocess(image, cfg, training=True, seed=tf.constant([i, 3])).numpy()
            for i in range(n)]


@pytest.mark.parametrize("pipeline", ["numpy", "tensorflow"])
def test_rot90_draws_each_quarter_turn_and_only_in_training(pipeline):
    image = RNG.random((SIZE, SIZE, 3), dtype=np.float32)
    cfg = config(preprocess="resize", random_rot90=True)
    turns = [next(k for k in range(4) if np.array_equal(out, np.rot90(image, k)))
             for out in _augmented(pipeline, image, cfg, 200)]  # StopIteration: not a rotation
    counts = np.bincount(turns, minlength=4)
    assert (abs(counts - 50) < 25).all(), counts  # binomial(200, 1/4): sd 6.1
    np.testing.assert_array_equal(arrays.preprocess(image, cfg, training=False), image)
    np.testing.assert_array_equal(data.preprocess(image, cfg, training=False, seed=[0, 0]), image)


@pytest.mark.parametrize("pipeline", ["numpy", "tensorflow"])
def test_colour_jitter_scales_each_channel_within_its_range(pipeline):
    grey = np.full((SIZE, SIZE, 3), 0.5, np.float32)
    cfg = config(preprocess="resize", colour_jitter=0.4)
    outs = np.array(_augmented(pipeline, grey, cfg, 100))
    gains = outs[:, 0, 0] / 0.5  # (draw, channel)
    np.testing.assert_allclose(outs, np.broadcast_to(gains[:, None, None] * 0.5, outs.shape),
                               rtol=1e-6)  # one gain per channel, the same at every pixel
    assert gains.min() >= 0.6 - 1e-6 and gains.max() <= 1.4 + 1e-6
    assert gains.min() < 0.7 and gains.max() > 1.3  # uniform over [0.6, 1.4]: spread wide
    assert np.abs(np.corrcoef(gains.T)[np.triu_indices(3, 1)]).max() < 0.35  # drawn apart
    white = np.ones((SIZE, SIZE, 3), np.float32)
    assert np.array(_augmented(pipeline, white, cfg, 20)).max() == 1.0  # clipped to [0, 1]
    np.testing.assert_array_equal(arrays.preprocess(grey, cfg, training=False), grey)
    for bad in (-0.1, 1.0):
        with pytest.raises(ConfigError, match="colour_jitter"):
            config(colour_jitter=bad).validate()


# --- batches ---------------------------------------------------------------------------------


def take(iterator, n):
    return [next(iterator) for _ in range(n)]


@pytest.mark.parametrize("mode", MODES)
def test_training_batches(tmp_path, mode):
    cfg = config(str(flat_images(tmp_path, 6)), preprocess=mode, random_flip=True, seed=0)
    batches = take(arrays.batches(cfg, "train", training=True), 6)  # 24 images: 4 epochs
    for batch in batches:
        assert batch.shape == (4, SIZE, SIZE, 3) and batch.dtype == np.float32
        assert 0.0 <= batch.min() and batch.max() <= 1.0
    seen = ids(batches)
    epochs = [seen[i:i + 6] for i in range(0, 24, 6)]
    assert all(sorted(e) == list(range(6)) for e in epochs)  # each epoch reads every file once
    assert len({tuple(e) for e in epochs}) > 1  # in a new order


def test_same_seed_same_batches(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(folder / f"{i}.png")

    def first(seed):
        cfg = config(str(folder), preprocess="random_crop", random_flip=True, seed=seed)
        return take(arrays.batches(cfg, "train", training=True), 4)

    a, b, c = first(5), first(5), first(6)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(a, c, strict=True))


def test_validation_is_one_ordered_pass_equal_to_tf_data(tmp_path):
    folder = flat_images(tmp_path, 10, shape=(21, 34))
    cfg = config(str(folder), preprocess="random_crop", random_flip=True)
    ours = list(arrays.batches(cfg, "val", training=False))
    assert [len(b) for b in ours] == [4, 4, 2] and ids(ours) == list(range(10))
    theirs = list(data.make_dataset(cfg, "val", training=False))
    np.testing.assert_allclose(np.concatenate(ours), np.concatenate(theirs), atol=RESAMPLE_ATOL)


@pytest.mark.parametrize("training", [False, True])
def test_a_bad_file_is_skipped_with_a_warning(tmp_path, caplog, training):
    folder = flat_images(tmp_path, 5)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    cfg = config(str(folder), batch_size=5, seed=1)
    with caplog.at_level(logging.WARNING, logger="wnet_tf.arrays"):
        batches = arrays.batches(cfg, "train", training=training)
        batches = take(batches, 2) if training else list(batches)  # training: two epochs
    assert len(batches) == 1 + training
    assert all(sorted(ids([b])) == list(range(5)) for b in batches)
    warnings = [r.getMessage() for r in caplog.records if "broken.jpg" in r.getMessage()]
    assert len(warnings) == 1  # once, not once an epoch
    assert "not a JPEG, PNG, BMP or GIF" in warnings[0]


@pytest.mark.parametrize("training", [False, True])
def test_no_file_decodes_is_an_error_not_an_endless_loop(tmp_path, training):
    for name in ("a.png", "b.jpg"):
        (tmp_path / name).write_bytes(b"junk")
    batches = arrays.batches(config(str(tmp_path)), "train", training=training)
    with pytest.raises(ValueError, match="data.train: none of its 2 files decodes"):
        next(batches)


def test_config_errors_come_at_the_call(tmp_path):
    with pytest.raises(ValueError, match="data.source='tfrecord'.*data.source=folder"):
        arrays.batches(config(str(tmp_path), source="tfrecord"), "train", training=True)
    with pytest.raises(FileNotFoundError, match="absent: no such folder"):
        arrays.batches(config(str(tmp_path / "absent")), "train", training=True)


def test_skimage_source():
    cfg = config(source="skimage", preprocess="center_crop", batch_size=100)
    (batch,) = list(arrays.batches(cfg, "val", training=False))  # every file decodes
    assert batch.shape == (len(inputs.skimage_images()), SIZE, SIZE, 3)


# --- without TensorFlow ----------------------------------------------------------------------


def run_python(code):
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH",
                                                                                  "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_numpy_path_imports_no_tensorflow():
    run_python("import sys, wnet_tf.arrays, wnet_tf.inputs, wnet_tf.config\n"
               "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")


def test_the_numpy_path_runs_where_tensorflow_is_missing(tmp_path):
    folder = flat_images(tmp_path, 3)
    out = run_python(f"""
import sys
sys.modules["tensorflow"] = None  # import tensorflow raises ImportError, as where it is absent
from wnet_tf import arrays, inputs
from wnet_tf.config import ConfigError, DataConfig
cfg = DataConfig(train={str(folder)!r}, source="folder", image_size=8, batch_size=3)
inputs.check_inputs(cfg)
print(next(arrays.batches(cfg, "train", training=True)).shape)
try:
    inputs.check_inputs(DataConfig(train="records-*.tfrecord"))
except ValueError as err:
    print(err)
""")
    assert out.splitlines() == [
        "(3, 8, 8, 3)",
        "data.train: data.source='tfrecord' needs TensorFlow; install it, or use "
        "data.source=folder with a folder of images"]
