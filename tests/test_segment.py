"""Segment: label maps, overlays and probabilities for images of any size and format; unreadable
files reported and skipped."""

import io

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from PIL import Image
from support import tiny

from wnet_tf.export import save_serving_model
from wnet_tf.geometry import Geometry
from wnet_tf.images import overlay, palette
from wnet_tf.inference import predict
from wnet_tf.model import build_wnet
from wnet_tf.segment import command, segment_files, segment_image


class Uniform:
    """Stands in for a SavedModel: class i has probability 1 in the i-th band of columns."""

    def __init__(self, k):
        self.k = k

    def segment(self, images):
        width = images.shape[2]
        labels = tf.broadcast_to(tf.range(width) * self.k // width, images.shape[:3])
        return {"probabilities": tf.one_hot(labels, self.k), "labels": labels}


def write(path, array, format=None):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=format or path.suffix[1:].upper())
    path.write_bytes(buffer.getvalue())


@pytest.fixture
def image_folder(tmp_path):
    """Images of several sizes, channel counts, bit depths and formats, one in a subfolder, and
    a file that only looks like an image."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    write(folder / "rgb.png", rng.integers(0, 256, (21, 34, 3), dtype=np.uint8))
    write(folder / "grey.jpg", rng.integers(0, 256, (16, 16), dtype=np.uint8), "JPEG")
    write(folder / "rgba.png", rng.integers(0, 256, (9, 40, 4), dtype=np.uint8))
    write(folder / "deep.png", rng.integers(0, 65536, (12, 8), dtype=np.uint16))
    write(folder / "sub" / "rgb.bmp", rng.integers(0, 256, (30, 5, 3), dtype=np.uint8), "BMP")
    write(folder / "anim.gif", rng.integers(0, 256, (10, 11), dtype=np.uint8), "GIF")
    write(folder / "photo.tif", rng.integers(0, 256, (13, 7, 3), dtype=np.uint8), "TIFF")
    write(folder / "photo.webp", rng.integers(0, 256, (6, 9, 3), dtype=np.uint8), "WEBP")
    (folder / "broken.png").write_bytes(b"not a png")
    return folder


def test_every_readable_image_gets_labels_and_an_overlay(tmp_path, image_folder):
    reports = []
    (image_folder / "notes.txt").write_text("not an image file")
    done, skipped, others = segment_files(Uniform(3), [image_folder], tmp_path / "out",
                                          probabilities=True, report=reports.append)
    assert done == 8
    assert [p.name for p, _ in skipped] == ["broken.png"]
    assert [p.name for p in others] == ["notes.txt"]  # every file is accounted for
    assert "broken.png" in reports[0] and "Op:" not in reports[0]
    sizes = {"rgb": (21, 34), "grey": (16, 16), "rgba": (9, 40), "deep": (12, 8),
             "sub__rgb": (30, 5), "anim": (10, 11), "photo": (13, 7), "photo-2": (6, 9)}
    for name, (h, w) in sizes.items():
        labels = tf.io.decode_png((tmp_path / "out" / f"{name}_labels.png").read_bytes())
        assert labels.dtype == tf.uint8 and labels.shape == (h, w, 1)
        assert set(np.unique(labels)) <= {0, 1, 2}
        overlay_png = tf.io.decode_png((tmp_path / "out" / f"{name}_overlay.png").read_bytes())
        assert overlay_png.shape == (h, w, 3)
        probs = np.load(tmp_path / "out" / f"{name}_probabilities.npy")
        assert probs.shape == (h, w, 3)
        np.testing.assert_array_equal(probs.argmax(-1), labels[..., 0])


def test_more_than_255_classes_give_16_bit_label_maps(tmp_path):
    image = np.full((4, 600, 3), 0.5, np.float32)
    labels_path = segment_image(Uniform(300), image, tmp_path, "wide")[0]
    labels = tf.io.decode_png(labels_path.read_bytes(), dtype=tf.uint16).numpy()
    assert labels.dtype == np.uint16 and labels.max() == 299


def test_segmenting_at_the_training_scale_gives_maps_at_the_image_size():
    image = np.random.default_rng(0).uniform(0, 1, (21, 34, 3)).astype(np.float32)
    probs = predict(Uniform(3), image, Geometry.short_side(8))  # the model sees 8 x 13
    assert probs.shape == (21, 34, 3)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-5)
    assert probs[:, 0].argmax() == 0 and probs[:, -1].argmax(axis=-1).min() == 2


def test_palette_and_overlay():
    colours = palette(40)
    assert len({tuple(c) for c in colours}) == 40
    np.testing.assert_array_equal(palette(7), colours[:7])  # a class keeps its colour
    image = np.zeros((2, 2, 3))
    blended = overlay(image, np.array([[0, 1], [1, 0]]), 2, alpha=1.0)
    np.testing.assert_array_equal(blended[0, 1], colours[1])


def test_the_command_with_an_exported_model(tmp_path, image_folder):
    encoder, decoder = build_wnet(tiny(depth=1))
    save_serving_model(encoder, decoder, tmp_path / "model")
    inputs = [image_folder / "rgb.png", image_folder / "sub", image_folder / "broken.png"]
    result = CliRunner().invoke(command, [*map(str, inputs), "--resize", "16", "--model",
                                          str(tmp_path / "model"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1  # broken.png could not be read; the others were segmented
    assert "skipped" in result.output and "2 image(s) segmented" in result.output
    # Both inputs are called rgb: the second one's files get a suffix instead of overwriting.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "rgb-2_labels.png", "rgb-2_overlay.png", "rgb_labels.png", "rgb_overlay.png"]


class Failing(Uniform):
    """Runs out of memory on images wider than 20 pixels, as TensorFlow does."""

    def segment(self, images):
        if images.shape[2] > 20:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        return super().segment(images)


def test_an_image_that_fails_costs_no_other(tmp_path, image_folder):
    reports = []
    done, skipped, _ = segment_files(Failing(3), [image_folder], tmp_path / "out",
                                     report=reports.append)
    failed = sorted(p.name for p, _ in skipped)
    assert failed == ["broken.png", "rgb.png", "rgba.png"]  # broken, or wider than 20
    assert done == 6
    assert any("rgb.png" in r and "ResourceExhaustedError" in r and "OOM" in r for r in reports)


def test_an_image_too_large_for_memory_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    from wnet_tf import inference

    write(tmp_path / "big.png", np.zeros((40, 50, 3), np.uint8))
    monkeypatch.setattr(inference, "available_memory", lambda: 2 * 1999 *
                        inference.bytes_per_pixel(20))
    done, skipped, _ = segment_files(Uniform(3), [tmp_path / "big.png"], tmp_path / "out",
                                     report=lambda m: None)
    assert done == 0 and "50x40 pixels" in skipped[0][1] and "memory" in skipped[0][1]


def test_a_bad_tile_size_is_a_usage_error(tmp_path, image_folder):
    # The shipped model's grid is 16 pixels (depth 4): a tile of 100 does not fit it.
    result = CliRunner().invoke(command, [str(image_folder), "--model", "bsds500", "--tile",
                                          "100", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "--tile" in result.output and "16" in result.output


def test_maps_written_band_by_band_equal_the_whole_map(tmp_path, monkeypatch):
    from wnet_tf import inference

    # Bands of 7 rows stand in for the 64-MB bands of a large photo.
    monkeypatch.setattr(inference, "band_rows", lambda width, k: 7)
    image = np.random.default_rng(1).uniform(0, 1, (40, 50, 3)).astype(np.float32)
    geometry = Geometry.short_side(8)  # the model sees 8 x 10; the maps are scaled back up
    segment_image(Uniform(4), image, tmp_path, "x", geometry=geometry, probabilities=True)
    whole = predict(Uniform(4), image, geometry)
    assert len(list(inference.bands(Uniform(4), image, geometry))) == 6
    np.testing.assert_allclose(np.load(tmp_path / "x_probabilities.npy"), whole, atol=1e-6)
    labels = tf.io.decode_png((tmp_path / "x_labels.png").read_bytes())[..., 0].numpy()
    np.testing.assert_array_equal(labels, whole.argmax(-1))
    assert len(np.unique(labels)) == 4


def test_samples_segment_as_their_float_image_without_a_float_copy(tmp_path, monkeypatch):
    """A file's 8-bit samples give the float image's label map and overlay, and NumPy never
    holds the image in float32 (4 bytes a sample), only bands of it."""
    import tracemalloc

    from wnet_tf import inference
    from wnet_tf.images import as_float_rgb

    monkeypatch.setattr(inference, "band_rows", lambda width, k: 16)
    samples = np.random.default_rng(2).integers(0, 256, (400, 600, 3), np.uint8)
    geometry = Geometry.short_side(8)
    (tmp_path / "float").mkdir()
    segment_image(Uniform(4), as_float_rgb(samples), tmp_path / "float", "x", geometry=geometry)
    tracemalloc.start()
    segment_image(Uniform(4), samples, tmp_path, "x", geometry=geometry)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # Labels, overlay and the PNG encoder's copy of it: 7 bytes a pixel; the float image: 12.
    assert peak < samples.size * 4
    for name in ("x_labels.png", "x_overlay.png"):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / name)),
                                      np.asarray(Image.open(tmp_path / "float" / name)))
