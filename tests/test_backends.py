"""The same W-Net on TensorFlow and on JAX (a subprocess: Keras picks its backend at import)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax")

ROOT = Path(__file__).resolve().parents[1]

# One Algorithm 1 step on JAX from the weights TensorFlow wrote; writes weights and losses.
JAX_STEP = """
import sys, numpy as np, keras
from wnet_tf.config import LossConfig, ModelConfig, OptimConfig
from wnet_tf.model import build_wnet
from wnet_tf.saving import load_weights, save_weights
from wnet_tf.training.jax_engine import JaxAlgorithm1
from wnet_tf.training.trainer import WNetTrainer, make_optimizer
weights, images, out = sys.argv[1:4]
model, optim = ModelConfig(**MODEL), OptimConfig(**OPTIM)
encoder, decoder = build_wnet(model)
load_weights(encoder, decoder, weights)
trainer = WNetTrainer(encoder, decoder, LossConfig(jit=False), optim)
trainer.compile(make_optimizer(optim), make_optimizer(optim))
algorithm = JaxAlgorithm1(trainer)
state, logs = algorithm.step(algorithm.initial_state(), np.load(images))
algorithm.write_back(state)
save_weights(encoder, decoder, out + ".weights")
np.savez(out + ".losses.npz", ncut=np.asarray(logs["ncut_loss"]), rec=np.asarray(logs["rec_loss"]))
"""

MODEL = {"k": 3, "base_filters": 4, "depth": 2, "dropout_rate": 0.0}
# A non-paper balance of the phases: were either engine to ignore it, its N-cut step would
# move the encoder by about 1.5e-3 more or less than the other's.
OPTIM = {"lr_boundaries": [1000], "lr_values": [3e-3, 3e-4], "ncut_lr_scale": 0.5}


def run_jax(code, *args):
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def test_the_loss_tests_pass_on_jax():
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(ROOT / "tests" / "test_losses.py")],
                          env={**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)},
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:]


def test_one_jax_step_equals_one_tensorflow_step(tmp_path):
    import keras
    import tensorflow as tf

    from wnet_tf.config import LossConfig, ModelConfig, OptimConfig
    from wnet_tf.model import build_wnet
    from wnet_tf.saving import load_weights, save_weights
    from wnet_tf.training.trainer import WNetTrainer, make_optimizer

    keras.utils.set_random_seed(0)
    model, optim = ModelConfig(**MODEL), OptimConfig(**OPTIM)
    encoder, decoder = build_wnet(model)
    save_weights(encoder, decoder, tmp_path / "start")
    images = np.random.default_rng(0).uniform(size=(2, 16, 16, 3)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    trainer = WNetTrainer(encoder, decoder, LossConfig(jit=False), optim)
    trainer.compile(make_optimizer(optim), make_optimizer(optim))
    x = tf.constant(images)
    ncut, rec = trainer.ncut_phase(x).numpy(), trainer.reconstruction_phase(x).numpy()

    code = f"MODEL = {json.dumps(MODEL)}\nOPTIM = {json.dumps(OPTIM)}\n" + JAX_STEP
    run_jax(code, tmp_path / "start", tmp_path / "images.npy", tmp_path / "jax")
    losses = np.load(tmp_path / "jax.losses.npz")
    np.testing.assert_allclose(losses["ncut"], ncut, rtol=1e-5)
    np.testing.assert_allclose(losses["rec"], rec, rtol=1e-5)
    jax_encoder, jax_decoder = build_wnet(model)
    load_weights(jax_encoder, jax_decoder, tmp_path / "jax.weights")
    worst = 0.0
    for got, want in zip(jax_encoder.weights + jax_decoder.weights,
                         encoder.weights + decoder.weights, strict=True):
        worst = max(worst, float(np.max(np.abs(got.numpy() - want.numpy()))))
    print("largest weight difference after one step:", worst)
    # Measured: 2.3e-5 (float32, CPU). Adam's first step moves each weight by about
    # lr = 3e-3 whatever its gradient's size, except where the gradient is near Adam's
    # epsilon, where float32 round-off between the backends' batch norms shows most:
    # 1e-4 is 1/30 of a step.
    assert worst < 1e-4
