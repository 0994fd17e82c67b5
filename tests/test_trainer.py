import keras
import numpy as np
import pytest
import tensorflow as tf
from support import tiny

from wnet_tf.config import LossConfig, OptimConfig
from wnet_tf.model import build_wnet
from wnet_tf.training.trainer import WNetTrainer, make_optimizer

TINY = tiny(k=3)
OPTIM = OptimConfig(lr_boundaries=(1000,), lr_values=(3e-3, 3e-4))


def two_region_images(n, size=16, seed=0):
    """Images of two flat colours split by a random vertical or horizontal line, plus noise."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        a, b = rng.uniform(0, 1, (2, 3))
        cut = rng.integers(4, size - 4)
        images[i] = a
        if i % 2:
            images[i, :, cut:] = b
        else:
            images[i, cut:] = b
    return np.clip(images + rng.normal(0, 0.02, images.shape), 0, 1).astype(np.float32)


def make_trainer(precision="float32", model=TINY, optim=OPTIM):
    keras.utils.set_random_seed(0)
    encoder, decoder = build_wnet(model)
    trainer = WNetTrainer(encoder, decoder, LossConfig(jit=False), optim)
    trainer.compile(make_optimizer(optim, precision), make_optimizer(optim, precision))
    return trainer


def snapshot(variables):
    return [v.numpy().copy() for v in variables]


def changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables, strict=True)]


def test_phase_one_moves_only_the_encoder_and_phase_two_both():
    trainer = make_trainer()
    images = tf.constant(two_region_images(4))
    enc, dec = trainer.encoder.trainable_variables, trainer.decoder.trainable_variables
    enc0, dec0 = snapshot(enc), snapshot(dec)
    trainer.ncut_phase(images)
    assert all(changed(enc0, enc)) and not any(changed(dec0, dec))
    enc1 = snapshot(enc)
    trainer.reconstruction_phase(images)
    assert all(changed(enc1, enc)) and all(changed(dec0, dec))
    # Two optimizers, each with its own state and step count.
    assert int(trainer.encoder_optimizer.iterations) == 1
    assert int(trainer.wnet_optimizer.iterations) == 1


def test_every_variable_gets_a_finite_gradient():
    trainer = make_trainer()
    images = tf.constant(two_region_images(2))
    with tf.GradientTape(persistent=True) as tape:
        probs, recon = trainer(images, training=True)
        ncut = tf.reduce_mean(trainer.ncut_losses(images, probs))
        rec = tf.reduce_mean(tf.reduce_sum(tf.square(images - recon), axis=[1, 2, 3]))
    for loss, variables in ((ncut, trainer.encoder.trainable_variables),
                            (rec, trainer.trainable_variables)):
        grads = tape.gradient(loss, variables)
        assert all(g is not None and np.all(np.isfinite(g)) for g in grads)
        assert sum(float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads) == len(grads)


def test_learning_rates_follow_the_piecewise_schedule():
    optim = OptimConfig(lr_boundaries=(2,), lr_values=(1e-2, 1e-3))
    trainer = make_trainer(optim=optim)
    data = tf.data.Dataset.from_tensor_slices(two_region_images(4)).batch(2).repeat()
    logs = [trainer.train_on_batch(next(iter(data)), return_dict=True) for _ in range(1)]
    assert logs[0]["encoder_lr"] == pytest.approx(1e-2)
    for _ in range(3):
        trainer.reset_metrics()
        logs = trainer.train_on_batch(next(iter(data)), return_dict=True)
    assert logs["encoder_lr"] == pytest.approx(1e-3) and logs["wnet_lr"] == pytest.approx(1e-3)


def test_both_losses_fall_on_two_region_images():
    trainer = make_trainer(model=tiny(k=2, base_filters=8))
    images = two_region_images(8)
    data = tf.data.Dataset.from_tensor_slices(images).batch(4).repeat()
    history = trainer.fit(data, steps_per_epoch=8, epochs=5, verbose=0).history
    assert history["ncut_loss"][-1] < 0.7 * history["ncut_loss"][0]
    assert history["rec_loss"][-1] < 0.7 * history["rec_loss"][0]
    evaluated = trainer.evaluate(images, batch_size=4, verbose=0, return_dict=True)
    assert set(evaluated) >= {"ncut_loss", "rec_loss"}


@pytest.mark.parametrize("name", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_each_precision_policy_runs_a_step(policy, name):
    policy(name)
    trainer = make_trainer(precision=name)
    if name == "mixed_float16":
        assert isinstance(trainer.encoder_optimizer, keras.optimizers.LossScaleOptimizer)
        assert isinstance(trainer.wnet_optimizer, keras.optimizers.LossScaleOptimizer)
    before = snapshot(trainer.trainable_variables)
    logs = trainer.train_on_batch(two_region_images(2), return_dict=True)
    assert np.isfinite(logs["ncut_loss"]) and np.isfinite(logs["rec_loss"])
    assert any(changed(before, trainer.trainable_variables))
