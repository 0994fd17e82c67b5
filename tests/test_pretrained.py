"""Models by name and by path, the training geometry at inference, symmetric padding, and the
position check's arithmetic."""

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from support import tiny

from wnet_tf import pretrained
from wnet_tf.config import config_from_dict, config_to_dict
from wnet_tf.endpoints import Segmenter
from wnet_tf.export import save_serving_model
from wnet_tf.geometry import Geometry
from wnet_tf.inference import predict
from wnet_tf.model import build_wnet
from wnet_tf.position import adjusted_rand_index, classes_used, position_report
from wnet_tf.rundir import CONFIG_FILE
from wnet_tf.saving import SHARDS_FILE, WEIGHTS_FILE, save_weights, weights_file

TINY = tiny(padding="circular")


def tiny_config(preprocess="random_crop", image_size=16):
    return config_to_dict(config_from_dict({
        "model": {"k": 4, "base_filters": 4, "depth": 2, "dropout_rate": 0.0,
                  "padding": "circular"},
        "data": {"preprocess": preprocess, "image_size": image_size}}))


class Recorder:
    """Stands in for a model: remembers the size it was given; class 0 everywhere."""

    def __init__(self, geometry=None):
        self.geometry, self.seen = geometry, []

    def segment(self, images):
        self.seen.append(tuple(images.shape[1:3]))
        return {"probabilities": tf.one_hot(tf.zeros(images.shape[:3], tf.int32), 3)}


# -- geometry ------------------------------------------------------------------------------------

def test_the_geometry_is_the_training_preprocessing():
    assert Geometry("resize", 224).input_size(321, 481) == (224, 224)
    # The crops scaled the shorter side to image_size, keeping the aspect ratio.
    assert Geometry("random_crop", 96).input_size(321, 481) == (96, 144)
    assert Geometry("center_crop", 96).input_size(481, 321) == (144, 96)
    assert Geometry.short_side(50).input_size(100, 300) == (50, 150)


def test_the_geometry_matches_the_training_pipeline():
    from wnet_tf import data

    image = tf.zeros((321, 481, 3))
    assert tuple(data.resize_short_side(image, 96).shape[:2]) == Geometry(
        "random_crop", 96).input_size(321, 481)


def test_predict_runs_at_the_models_geometry_and_maps_back():
    model = Recorder(Geometry("random_crop", 16))
    image = np.random.default_rng(0).uniform(0, 1, (40, 64, 3)).astype(np.float32)
    probs = predict(model, image)
    assert model.seen == [(16, 26)] and probs.shape == (40, 64, 3)
    predict(model, image, geometry=None)  # as it is
    predict(model, image, geometry=Geometry.short_side(20))
    assert model.seen[1:] == [(40, 64), (20, 32)]
    squash = Recorder(Geometry("resize", 16))
    predict(squash, image)
    assert squash.seen == [(16, 16)]


def test_inference_scales_are_factors_of_the_training_size():
    geometry = Geometry("random_crop", 96, (0.75, 1.0, 4 / 3))
    assert geometry.input_sizes(321, 481) == [(72, 108), (96, 144), (128, 192)]
    assert geometry.training == ("random_crop", 96)
    assert Geometry("resize", 16, (1.0, 2.0)).input_sizes(40, 64) == [(16, 16), (32, 32)]


class BySize(Recorder):
    """Class 0 when it sees fewer than 20 columns, class 1 otherwise."""

    def segment(self, images):
        self.seen.append(tuple(images.shape[1:3]))
        label = 0 if images.shape[2] < 20 else 1
        return {"probabilities": tf.one_hot(tf.fill(images.shape[:3], label), 3)}


def test_predict_averages_the_probabilities_over_the_inference_scales():
    image = np.random.default_rng(0).uniform(0, 1, (40, 64, 3)).astype(np.float32)
    model = BySize(Geometry("random_crop", 8, (1.0, 2.0)))
    probs = predict(model, image)
    # Seen at 8 x 13 (class 0) and 16 x 26 (class 1), averaged at the larger, scaled back.
    assert model.seen == [(8, 13), (16, 26)] and probs.shape == (40, 64, 3)
    np.testing.assert_allclose(probs, np.broadcast_to([0.5, 0.5, 0.0], probs.shape), atol=1e-6)
    one = BySize(Geometry("random_crop", 8))
    np.testing.assert_allclose(predict(one, image)[..., 0], 1.0, atol=1e-6)
    assert one.seen == [(8, 13)]


def test_the_scales_option_multiplies_the_chosen_geometry():
    import click

    from wnet_tf.options import with_scales

    model = Recorder(Geometry("random_crop", 16))
    assert with_scales("model", model, (1.0, 2.0)) == Geometry("random_crop", 16, (1.0, 2.0))
    assert with_scales(Geometry.short_side(20), model, (0.5, 1.0)).input_sizes(40, 64) == [
        (10, 16), (20, 32)]
    assert with_scales("model", model, None) == "model"  # the model's own scales
    with pytest.raises(click.BadParameter, match="--resize N"):
        with_scales(None, model, (1.0, 2.0))  # the image as it is: no scale to multiply


def test_a_bad_scales_value_is_a_usage_error(tmp_path):
    from wnet_tf.segment import command

    (tmp_path / "in").mkdir()
    for value in ("1,x", "1,0", ""):
        result = CliRunner().invoke(command, [str(tmp_path / "in"), "--out", str(tmp_path / "o"),
                                              "--scales", value])
        assert result.exit_code == 2 and "--scales" in result.output, value
        assert "positive factors" in result.output


def test_probabilities_scaled_back_still_sum_to_one():
    encoder, decoder = build_wnet(TINY)
    model = Segmenter(encoder, decoder, config_from_dict(tiny_config()))
    image = np.random.default_rng(1).uniform(0, 1, (37, 50, 3)).astype(np.float32)
    probs = predict(model, image)
    assert probs.shape == (37, 50, 4)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)


# -- padding -------------------------------------------------------------------------------------

def _encoder(padding):
    return build_wnet(tiny(padding=padding))[0]


def test_mirrored_borders_hide_the_border_from_the_contracting_path_only():
    """A constant image through the contracting path (down to the bottom module): with mirrored
    borders every position sees the same values; with zero padding the pixels near the border
    differ. Through the whole encoder the stride-2 transposed convolutions make the maps periodic
    from the top-left corner, which a mirror breaks at the borders: symmetric padding is not
    periodic there."""
    import keras

    image = np.full((1, 32, 32, 3), 0.6, np.float32)
    for padding, constant in (("symmetric", True), ("zeros", False)):
        encoder = _encoder(padding)
        bottom = keras.Model(encoder.input, encoder.get_layer("enc_bottom_bn2").output)
        features = bottom(image, training=False).numpy()[0]
        spread = np.abs(features - features[4, 4]).max()
        assert (spread < 1e-5) == constant, (padding, spread)


def test_circular_padding_has_no_border():
    """On a torus a circular shift by a multiple of 2**depth shifts the output the same way, at
    the borders too: no pixel can tell where the border is. Not so with the other paddings."""
    image = np.random.default_rng(0).uniform(0, 1, (1, 32, 48, 3)).astype(np.float32)
    shifted = np.roll(image, (8, 12), axis=(1, 2))  # multiples of 2**depth = 4
    for padding, equivariant in (("circular", True), ("symmetric", False), ("zeros", False)):
        encoder = _encoder(padding)
        probs = encoder(image, training=False).numpy()
        moved = encoder(shifted, training=False).numpy()
        error = np.abs(np.roll(probs, (8, 12), axis=(1, 2)) - moved).max()
        assert (error < 1e-5) == equivariant, (padding, error)


def test_both_paddings_have_the_same_variables():
    shapes = {}
    for padding in ("zeros", "symmetric", "circular"):
        encoder, decoder = build_wnet(tiny(padding=padding))
        shapes[padding] = [(v.path, tuple(v.shape)) for v in encoder.weights + decoder.weights]
    assert shapes["zeros"] == shapes["symmetric"] == shapes["circular"]


# -- shipped models --------------------------------------------------------------------------------

def _ship(tmp_path, float16=False, max_shard_mib=None):
    encoder, decoder = build_wnet(TINY)
    rng = np.random.default_rng(2)
    for v in encoder.weights + decoder.weights:  # not the initial values: a real test of loading
        v.assign(v.numpy() + rng.normal(0, 0.05, v.shape).astype(np.float32))
    folder = tmp_path / "weights" / "tiny"
    written = save_weights(encoder, decoder, folder, float16=float16,
                           max_shard_mib=max_shard_mib)
    (folder / CONFIG_FILE).write_text(json.dumps(tiny_config()))
    return encoder, decoder, written


def test_shipped_weights_load_exactly_and_match_an_export(tmp_path, monkeypatch):
    encoder, decoder, written = _ship(tmp_path)
    assert [p.name for p in written] == [WEIGHTS_FILE]
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path / "weights")
    assert pretrained.available() == ["tiny"]
    model = pretrained.load("tiny")
    for a, b in zip(encoder.weights + decoder.weights,
                    model.encoder.weights + model.decoder.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert model.geometry == Geometry("random_crop", 16)
    save_serving_model(model.encoder, model.decoder, tmp_path / "export")
    saved = tf.saved_model.load(str(tmp_path / "export"))
    images = np.random.default_rng(3).uniform(0, 1, (2, 24, 40, 3)).astype(np.float32)
    np.testing.assert_allclose(model.segment(images)["probabilities"],
                               saved.segment(images)["probabilities"], atol=1e-6)
    np.testing.assert_allclose(model.reconstruct(images)["reconstructions"],
                               saved.reconstruct(images)["reconstructions"], atol=1e-5)
    assert isinstance(pretrained.open_model("tiny"), Segmenter)


def test_float16_weights_in_shards_load_as_one_file(tmp_path, monkeypatch):
    limit = 4 / 1024  # MiB: the tiny W-Net's float16 weights take several such shards
    encoder, decoder, written = _ship(tmp_path, float16=True, max_shard_mib=limit)
    folder = tmp_path / "weights" / "tiny"
    assert not (folder / WEIGHTS_FILE).exists()  # replaced by its shards
    assert weights_file(folder) == folder / SHARDS_FILE
    assert [p.name for p in written[:3]] == [SHARDS_FILE, "wnet_00000.weights.h5",
                                            "wnet_00001.weights.h5"]
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path / "weights")
    assert pretrained.available() == ["tiny"]
    model = pretrained.load("tiny")
    for a, b in zip(encoder.weights + decoder.weights,
                    model.encoder.weights + model.decoder.weights, strict=True):
        np.testing.assert_array_equal(a.numpy().astype(np.float16), b.numpy())
    assert isinstance(pretrained.open_model(folder), Segmenter)  # a folder anywhere
    save_weights(encoder, decoder, folder)  # and back to one file: no shard is left over
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]


def test_a_failed_save_leaves_the_old_weights(tmp_path, monkeypatch):
    import keras

    encoder, decoder, _ = _ship(tmp_path)
    folder = tmp_path / "weights" / "tiny"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def fails_half_way(self, filepath, **kwargs):
        Path(filepath).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save_weights", fails_half_way)
    with pytest.raises(OSError, match="disk full"):
        save_weights(encoder, decoder, folder, float16=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in folder.parent.iterdir()) == ["tiny"]  # no staging folder left


def test_float16_storage_keeps_a_layer_float16_cannot_hold_in_float32(tmp_path, monkeypatch):
    encoder, decoder = build_wnet(TINY)
    variance = next(v for v in encoder.weights if "moving_variance" in v.path)
    variance.assign(np.full(variance.shape, 7e4, np.float32))  # above float16's 65504
    save_weights(encoder, decoder, tmp_path / "weights" / "tiny", float16=True)
    (tmp_path / "weights" / "tiny" / CONFIG_FILE).write_text(json.dumps(tiny_config()))
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path / "weights")
    model = pretrained.load("tiny")
    for a, b in zip(encoder.weights + decoder.weights,
                    model.encoder.weights + model.decoder.weights, strict=True):
        if a.path.split("/")[0] == variance.path.split("/")[0]:  # that layer: exact, not inf
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        else:
            np.testing.assert_array_equal(a.numpy().astype(np.float16), b.numpy())


def _member(folder, seed, config=None):
    encoder, decoder = build_wnet(TINY)
    rng = np.random.default_rng(seed)
    for v in encoder.weights + decoder.weights:
        v.assign(v.numpy() + rng.normal(0, 0.05, v.shape).astype(np.float32))
    save_weights(encoder, decoder, folder)
    (folder / CONFIG_FILE).write_text(json.dumps(config or tiny_config()))
    return folder


def test_an_ensemble_gives_its_members_classes_side_by_side(tmp_path, monkeypatch):
    from wnet_tf.endpoints import Ensemble
    from wnet_tf.inference import classes
    from wnet_tf.ship import ship_ensemble

    folders = [_member(tmp_path / name, seed) for name, seed in (("a", 1), ("b", 2))]
    chosen = tiny_config()
    chosen["postprocess"]["wnet_region_weight"] = 0.4  # the ensemble's own post-processing
    (tmp_path / "chosen.json").write_text(json.dumps(chosen))
    ship_ensemble(folders, "duo", config_path=tmp_path / "chosen.json",
                  weights_dir=tmp_path / "weights")
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path / "weights")
    assert pretrained.available() == ["duo"]
    model = pretrained.load("duo")
    assert isinstance(model, Ensemble) and len(model.members) == 2
    assert model.config.postprocess.wnet_region_weight == 0.4
    assert model.geometry == Geometry("random_crop", 16) and classes(model) == 8
    images = np.random.default_rng(3).uniform(0, 1, (2, 24, 40, 3)).astype(np.float32)
    alone = [pretrained.load_folder(f).segment(images)["probabilities"].numpy() for f in folders]
    probs = model.segment(images)["probabilities"].numpy()
    np.testing.assert_allclose(probs, np.concatenate(alone, -1) / 2, atol=1e-6)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    assert not np.allclose(alone[0], alone[1], atol=1e-3)  # two different members
    recs = [pretrained.load_folder(f).reconstruct(images)["reconstructions"] for f in folders]
    np.testing.assert_allclose(model.reconstruct(images)["reconstructions"],
                               (recs[0] + recs[1]) / 2, atol=1e-6)
    assert predict(model, images[0]).shape == (24, 40, 8)


def test_an_ensemble_has_its_own_inference_scales(tmp_path):
    from wnet_tf.ship import ship_ensemble

    folders = [_member(tmp_path / name, seed) for name, seed in (("a", 1), ("b", 2))]
    chosen = tiny_config()
    chosen["data"]["inference_scales"] = [1.0, 1.5]  # the members were trained at one scale
    (tmp_path / "chosen.json").write_text(json.dumps(chosen))
    folder = ship_ensemble(folders, "duo", config_path=tmp_path / "chosen.json",
                           weights_dir=tmp_path / "weights")
    model = pretrained.load_folder(folder)
    assert model.geometry == Geometry("random_crop", 16, (1.0, 1.5))
    image = np.random.default_rng(4).uniform(0, 1, (24, 40, 3)).astype(np.float32)
    at = [predict(model, image, Geometry.short_side(n)) for n in (16, 24)]
    # At 1.5 the model sees the image as it is (24 x 40), so the average is taken at that size.
    np.testing.assert_allclose(predict(model, image), (at[0] + at[1]) / 2, atol=1e-5)


def test_an_ensemble_refuses_members_that_see_images_otherwise(tmp_path):
    from wnet_tf.ship import ship_ensemble

    good = _member(tmp_path / "a", 1)
    other = _member(tmp_path / "b", 2, tiny_config(image_size=32))
    before = ship_ensemble([good, _member(tmp_path / "c", 3)], "duo",
                           weights_dir=tmp_path / "weights")
    files = sorted(p.relative_to(before) for p in before.rglob("*"))
    with pytest.raises(ValueError, match="b: geometry, depth and padding"):
        ship_ensemble([good, other], "duo", weights_dir=tmp_path / "weights")
    assert sorted(p.relative_to(before) for p in before.rglob("*")) == files  # untouched
    assert sorted(p.name for p in before.parent.iterdir()) == ["duo"]  # no staging left
    with pytest.raises(ValueError, match="two or more members"):
        ship_ensemble([good], "solo", weights_dir=tmp_path / "weights")


def test_weights_of_another_model_are_refused(tmp_path, monkeypatch):
    _ship(tmp_path)
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path / "weights")
    config = tiny_config()
    config["model"]["base_filters"] = 8
    (tmp_path / "weights" / "tiny" / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="does not fit variable"):
        pretrained.load("tiny")


def test_unknown_names_and_folders_say_what_there_is(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path / "weights")
    with pytest.raises(FileNotFoundError, match="no shipped model named 'nope'"):
        pretrained.load("nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="neither a SavedModel folder"):
        pretrained.open_model(tmp_path / "empty")
    from wnet_tf.segment import command

    result = CliRunner().invoke(command, [str(tmp_path), "--model", "nope", "--out",
                                          str(tmp_path / "out")])
    assert result.exit_code == 2 and "neither a SavedModel folder nor a shipped model" in (
        result.output)


def test_an_export_records_its_geometry(tmp_path):
    encoder, decoder = build_wnet(TINY)
    save_serving_model(encoder, decoder, tmp_path / "m")
    assert pretrained.open_model(tmp_path / "m").geometry is None  # no config: as it is
    (tmp_path / "m" / "assets.extra").mkdir()
    (tmp_path / "m" / "assets.extra" / "config.json").write_text(
        json.dumps(tiny_config("resize", 32)))
    assert pretrained.open_model(tmp_path / "m").geometry == Geometry("resize", 32)


# -- the position check ----------------------------------------------------------------------------

def test_adjusted_rand_index():
    a = np.repeat(np.arange(4), 25).reshape(10, 10)
    assert adjusted_rand_index(a, a) == pytest.approx(1.0)
    assert adjusted_rand_index(a, (a + 1) % 4 * 7) == pytest.approx(1.0)  # labels renamed
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 4, (200, 200))
    assert abs(adjusted_rand_index(noise, rng.integers(0, 4, (200, 200)))) < 0.01
    # By hand: pairs together in both 2, in a 6, in b 3, of 15; expected 6 * 3 / 15 = 1.2,
    # maximum (6 + 3) / 2.
    assert adjusted_rand_index(np.array([0, 0, 0, 1, 1, 1]), np.array([0, 0, 1, 1, 2, 2])) == (
        pytest.approx((2 - 1.2) / (4.5 - 1.2)))
    assert adjusted_rand_index(np.zeros(5, int), np.zeros(5, int)) == 1.0


def test_position_report_tells_content_from_position():
    rng = np.random.default_rng(0)
    images = []
    for _ in range(4):  # random rectangles of random colours
        im = np.zeros((40, 60, 3))
        for _ in range(6):
            y, x = rng.integers(0, 30), rng.integers(0, 50)
            im[y:y + rng.integers(5, 20), x:x + rng.integers(5, 30)] = rng.uniform(0, 1, 3)
        images.append(im)

    def by_colour(im):
        return (im[..., 0] * 3.999).astype(int)

    def by_position(im):
        return np.broadcast_to(np.arange(im.shape[1]) * 4 // im.shape[1], im.shape[:2])

    content = position_report(by_colour, images, shift=10)
    position = position_report(by_position, images, shift=10)
    assert content["shift_ari_median"] == pytest.approx(1.0)
    assert position["cross_ari_median"] == pytest.approx(1.0)
    assert content["margin"] > position["margin"] + 0.5
    # A 3/4 crop: colour-bound segments stay, quarters of the frame move to other content.
    assert content["scale_ari_median"] == pytest.approx(1.0)
    assert position["scale_ari_median"] < 0.7
    assert classes_used(by_position(images[0])) == 4


def test_the_shipped_bsds500_ensemble_is_its_members_side_by_side(tmp_path):
    """The model inside the package loads as an ensemble of three W-Nets that run at their
    training geometry; it gives their probabilities side by side (each a third), and a member
    gives those of a SavedModel exported from its weights (TF Serving serves the members)."""
    from wnet_tf.endpoints import Ensemble

    assert "bsds500" in pretrained.available()
    model = pretrained.load("bsds500")
    assert isinstance(model, Ensemble) and len(model.members) == 3
    assert model.geometry == Geometry("random_crop", 96)
    assert {m.config.model.padding for m in model.members} == {"circular"}
    from skimage import data

    image = data.astronaut()[::2, ::3].astype(np.float32) / 255  # 256 x 171
    ours = predict(model, image)
    alone = [predict(member, image) for member in model.members]
    assert ours.shape == (256, 171, 60)
    np.testing.assert_allclose(ours, np.concatenate(alone, -1) / 3, atol=1e-6)
    first = model.members[0]
    save_serving_model(first.encoder, first.decoder, tmp_path / "export")
    exported = predict(tf.saved_model.load(str(tmp_path / "export")), image, model.geometry)
    np.testing.assert_allclose(alone[0], exported, atol=1e-5)
    for probs in alone:
        assert classes_used(probs.argmax(-1)) >= 3  # trained models, not constants
    assert np.mean(alone[1].argmax(-1) == alone[2].argmax(-1)) < 0.9  # two different seeds


def test_the_shipped_bsds500_model_gives_its_recorded_probabilities():
    """tests/bsds500_reference.npz: the probabilities of the model shipped alone until
    2026-12-07, now the ensemble's first member, on a 64 x 96 crop of scikit-image's astronaut
    (every 4th pixel each way), recorded when its weights were a .npz; whatever format holds
    them, the member must give them again, and the ensemble a third of them first."""
    from pathlib import Path

    from skimage import data

    image = data.astronaut()[100:164, 200:296].astype(np.float32) / 255
    model = pretrained.load("bsds500")
    probs = model.members[0].segment(image[None])["probabilities"].numpy()[0]
    joint = model.segment(image[None])["probabilities"].numpy()[0]
    with np.load(Path(__file__).parent / "bsds500_reference.npz") as reference:
        np.testing.assert_allclose(probs[::4, ::4], reference["probabilities"], atol=1e-5)
        np.testing.assert_allclose(3 * joint[::4, ::4, :20], reference["probabilities"],
                                   atol=1e-5)
