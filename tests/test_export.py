"""Export: a float32 SavedModel with dynamic batch, height and width, equal to the in-memory
model after reloading, from float32 and mixed-precision runs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from wnet_tf.config import config_from_dict, save_config
from wnet_tf.export import export_run
from wnet_tf.model import build_wnet
from wnet_tf.rundir import CHECKPOINT_DIR, CONFIG_FILE, make_checkpoint
from wnet_tf.training.trainer import build_trainer

TINY = {"model": {"k": 3, "base_filters": 4, "depth": 1, "dropout_rate": 0.0},
        "data": {"image_size": 32}}


def make_run(run_dir, precision="float32"):
    """A run directory with a checkpoint of randomly initialised networks (batch-norm statistics
    moved away from 0 and 1 so that inference-mode differences would show)."""
    config = config_from_dict({**TINY, "train": {"precision": precision}})
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    trainer = build_trainer(config)
    for v in trainer.encoder.non_trainable_variables + trainer.decoder.non_trainable_variables:
        v.assign(np.random.default_rng(0).uniform(0.5, 1.5, v.shape).astype(v.dtype))
    save_config(config, run_dir / CONFIG_FILE)
    step = tf.Variable(7, dtype=tf.int64)
    tf.train.CheckpointManager(make_checkpoint(trainer, step), str(run_dir / CHECKPOINT_DIR),
                               1).save(checkpoint_number=7)
    return config, trainer


def images(batch, height, width, seed=0):
    return tf.random.stateless_uniform((batch, height, width, 3), seed=(seed, 1))


def test_export_round_trip_at_other_batch_sizes_and_image_sizes(tmp_path):
    config, trainer = make_run(tmp_path / "run")
    export_run(tmp_path / "run", tmp_path / "model")
    model = tf.saved_model.load(str(tmp_path / "model"))
    for x in (images(3, 40, 24), images(1, 17, 50, seed=1)):  # neither a multiple of 4
        probs = trainer.encoder(x, training=False)
        out = model.segment(x)
        np.testing.assert_allclose(out["probabilities"], probs, atol=1e-5)
        assert out["probabilities"].dtype == tf.float32 and out["labels"].dtype == tf.int32
        np.testing.assert_array_equal(out["labels"], tf.argmax(probs, axis=-1))
        reconstruction = trainer.decoder(probs, training=False)
        np.testing.assert_allclose(model.reconstruct(x)["reconstructions"], reconstruction,
                                   atol=1e-4)
        # uint8 endpoints see the same images as x / 255.
        x8 = tf.cast(tf.round(x * 255), tf.uint8)
        x8_as_float = tf.cast(x8, tf.float32) / 255
        np.testing.assert_allclose(model.segment_uint8(x8)["probabilities"],
                                   model.segment(x8_as_float)["probabilities"], atol=1e-5)
        np.testing.assert_allclose(model.reconstruct_uint8(x8)["reconstructions"],
                                   model.reconstruct(x8_as_float)["reconstructions"], atol=1e-5)
    serving = model.signatures["serving_default"]
    np.testing.assert_array_equal(serving(images=images(2, 8, 8))["labels"],
                                  model.segment(images(2, 8, 8))["labels"])
    assert (tmp_path / "model" / "assets.extra" / CONFIG_FILE).exists()


def test_a_mixed_precision_run_exports_float32(tmp_path, policy):
    policy("mixed_bfloat16")
    config, trainer = make_run(tmp_path / "run", "mixed_bfloat16")
    export_run(tmp_path / "run", tmp_path / "model")
    model = tf.saved_model.load(str(tmp_path / "model"))
    assert {v.dtype for v in model.variables} == {tf.float32}
    x = images(2, 24, 20)
    # Exactly the float32 network with the trained weights; close to the mixed one.
    keras.mixed_precision.set_global_policy("float32")
    encoder, _ = build_wnet(config.model)
    encoder.set_weights(trainer.encoder.get_weights())
    probs = model.segment(x)["probabilities"]
    np.testing.assert_allclose(probs, encoder(x, training=False), atol=1e-5)
    np.testing.assert_allclose(probs, trainer.encoder(x, training=False), atol=0.1)


def test_export_replaces_a_saved_model_but_nothing_else(tmp_path):
    make_run(tmp_path / "run")
    export_run(tmp_path / "run", tmp_path / "model")
    (tmp_path / "model" / "stale").write_text("from an older export")
    export_run(tmp_path / "run", tmp_path / "model")
    assert not (tmp_path / "model" / "stale").exists()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        export_run(tmp_path / "run", tmp_path / "notes")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        export_run(tmp_path / "notes", tmp_path / "other")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "notes", "run"]


def test_a_run_ships_as_a_folder_that_opens_as_a_model(tmp_path):
    from wnet_tf.pretrained import open_model
    from wnet_tf.ship import ship_run

    config, trainer = make_run(tmp_path / "run")
    folder = ship_run(tmp_path / "run", "tiny", weights_dir=tmp_path / "weights", float16=True)
    assert folder == tmp_path / "weights" / "tiny"
    model = open_model(folder)
    assert model.config == config
    for a, b in zip(trainer.encoder.weights + trainer.decoder.weights,
                    model.encoder.weights + model.decoder.weights, strict=True):
        np.testing.assert_array_equal(a.numpy().astype(np.float16), b.numpy())
    with pytest.raises(FileNotFoundError, match="no checkpoint to ship"):
        ship_run(folder, "again", weights_dir=tmp_path / "weights")
