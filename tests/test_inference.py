"""Tiled inference: tiles that agree with the whole image, whatever the padding mode."""

import numpy as np
import pytest
from support import tiny

from wnet_tf import inference
from wnet_tf.config import Config, DataConfig
from wnet_tf.endpoints import Segmenter
from wnet_tf.model import build_wnet


def tiny_model(padding):
    """A depth-2 W-Net (grid 4): tiles with 24 pixels of context see all it uses."""
    config = tiny(padding=padding)
    encoder, decoder = build_wnet(config)
    return Segmenter(encoder, decoder, Config(model=config, data=DataConfig(
        preprocess="resize", image_size=16)))


@pytest.mark.parametrize("padding", ["zeros", "symmetric", "circular"])
def test_tiles_wider_than_the_receptive_field_give_the_whole_image(padding):
    model = tiny_model(padding)
    image = np.random.default_rng(0).random((70, 101, 3), dtype=np.float32)  # not on the grid
    whole = inference.encode(model, image, tile=0)
    # Tiles of 64 with 24 pixels of context: more than the receptive field, so every kept
    # pixel saw what it sees in the whole image (float rounding aside).
    tiled = inference.encode(model, image, tile=64)  # the default overlap, context(2) = 24
    np.testing.assert_allclose(tiled, whole, atol=1e-6)
    # Less context than the receptive field: close, not equal (the tiles are really used).
    short = inference.encode(model, image, tile=64, overlap=8)
    assert 1e-6 < np.abs(short - whole).max() < 0.1


def test_windows_cover_the_axis_once():
    for n, wrap in [(400, False), (400, True), (64, False)]:
        cores = inference.windows(n, tile=128, overlap=32, wrap=wrap)
        covered = np.zeros(n, int)
        for start, stop, window_start, window_stop in cores:
            covered[start:stop] += 1
            assert window_stop - window_start <= 128
            if not wrap:
                assert 0 <= window_start <= start and stop <= window_stop <= n
        np.testing.assert_array_equal(covered, 1)


def test_tiles_must_fit_the_grid():
    with pytest.raises(ValueError, match="multiples of the model's grid"):
        inference.check_tiling(100, 32, 16)
    with pytest.raises(ValueError, match="tile - 2 \\* overlap"):
        inference.check_tiling(64, 32, 16)
    inference.check_tiling(1024, 64, 16)


def test_the_memory_bound_leaves_half_for_the_network():
    per_pixel = inference.bytes_per_pixel(20)
    assert inference.max_pixels(per_pixel, available=2 * 1000 * per_pixel) == 1000
    # The CRF holds the (H, W, K) map; streaming does not.
    assert inference.bytes_per_pixel(20, whole=True) >= inference.bytes_per_pixel(20) + 4 * 20


@pytest.mark.parametrize("small, size", [((6, 9), (40, 70)), ((40, 70), (6, 9)),
                                         ((10, 30), (25, 12)), ((7, 5), (7, 15))])
def test_bands_resample_as_the_whole_map_is_resampled(small, size, monkeypatch):
    import tensorflow as tf

    from wnet_tf.data import resample

    monkeypatch.setattr(inference, "band_rows", lambda width, k: 4)
    probs = np.random.default_rng(0).random((*small, 5)).astype(np.float32)
    whole = resample(tf.constant(probs), size).numpy()
    bands = list(inference.resampled_bands(probs, size))
    assert [top for top, _ in bands] == list(range(0, size[0], 4))
    np.testing.assert_allclose(inference.assemble(bands, size), whole, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("size", [(7, 11), (53, 31), (40, 140)])
def test_samples_resample_as_their_float_image(dtype, size, monkeypatch):
    """8- and 16-bit samples, converted a band of rows at a time, resample as the float32 image
    does in TensorFlow (shrinking, mixed, enlarging), whatever the band."""
    import tensorflow as tf

    from wnet_tf.data import resample
    from wnet_tf.images import as_float_rgb

    samples = np.random.default_rng(1).integers(0, np.iinfo(dtype).max, (40, 70, 3), dtype)
    whole = resample(tf.constant(as_float_rgb(samples)), size).numpy()
    for rows in (3, 64):
        monkeypatch.setattr(inference, "band_rows", lambda width, k, rows=rows: rows)
        np.testing.assert_allclose(inference.resampled(samples, size, as_float_rgb), whole,
                                   atol=2e-6)
