"""The JAX engine of the training loop (wnet_tf.training.loop,
`KERAS_BACKEND=jax python -m wnet_tf.train CONFIG`): Algorithm 1 as one jitted function over
explicit state, and the run's state in NumPy files:

    checkpoints/state-<step>.npz    both networks, both optimizer states, the dropout seeds and
                                    the step, as NumPy arrays (wnet_tf.rundir)
    timing.json                     this invocation: the device, seconds per step (the first,
                                    which compiles, apart), the accelerator's peak memory

It needs no TensorFlow: the images come through tf.data where TensorFlow is installed and through
wnet_tf.arrays (the same decode, resize, crop and flip) where it is not, and TensorBoard's events
are written only where it is. `wnet-tf export RUN_DIR`, on a machine with TensorFlow, exports such
a run. One device; the image panels of TensorBoard are the TensorFlow engine's alone.

Keras' own `fit()` on JAX carries one optimizer's state, and Algorithm 1 has two, so the step is
written here over all of it, in the manner of Keras' custom JAX training loops: both networks'
trainable and non-trainable variables (batch-norm statistics and the dropout seed states), both
optimizers' variables and the step. The semantics are WNetTrainer.train_step's: phase 1 updates
the encoder's trainable variables alone with the encoder optimizer, from the mean soft N-cut;
phase 2 starts from the state phase 1 left (its weights, statistics and seeds) and updates every
trainable variable with the W-Net optimizer, from the mean reconstruction error. Both rates come
from the step (`wnet_tf.training.trainer.phase_rates`). Under mixed_float16 the optimizers are
LossScaleOptimizers, whose stateless update skips a non-finite step as the stateful one does.

    algorithm = JaxAlgorithm1(trainer)      # a compiled WNetTrainer, built under KERAS_BACKEND=jax
    state = algorithm.initial_state()
    state, logs = algorithm.step(state, images)
    algorithm.write_back(state)             # into the Keras variables (to save, export, segment)
    arrays = algorithm.arrays(state)         # NumPy, keyed as wnet_tf.rundir's state files are
    state = algorithm.state_from(arrays)     # and back, checked against the model
"""

import functools
import json
import statistics
from pathlib import Path

import jax
import keras
import numpy as np
from keras import ops

from wnet_tf.config import Config, ConfigError
from wnet_tf.files import atomic_write_text
from wnet_tf.losses import reconstruction_loss
from wnet_tf.rundir import (
    NETWORK_GROUPS,
    latest_state,
    network_groups,
    read_state,
    state_key,
    write_state,
)
from wnet_tf.training.trainer import build_trainer, phase_rates

STATE_KEYS = (*NETWORK_GROUPS, "enc_optimizer", "wnet_optimizer")
TIMING_FILE = "timing.json"


def _rate_index(optimizer):
    """Where the optimizer's learning-rate variable is in its `variables` (a LossScaleOptimizer
    gives its inner optimizer's)."""
    rate = optimizer.learning_rate
    if not isinstance(rate, keras.Variable):
        raise TypeError("the optimizer's learning rate must be a variable (make_optimizer)")
    return next(i for i, v in enumerate(optimizer.variables) if v is rate)


def _with_rate(optimizer, values, rate):
    index = _rate_index(optimizer)
    return [*values[:index], ops.cast(rate, values[index].dtype), *values[index + 1:]]


def _scaled(optimizer, values, loss):
    """The optimizer's loss scaling (mixed_float16) read from its state values."""
    with keras.StatelessScope(state_mapping=list(zip(optimizer.variables, values, strict=True))):
        return optimizer.scale_loss(loss)


class JaxAlgorithm1:
    """One jitted Algorithm 1 step over explicit state for a compiled WNetTrainer."""

    def __init__(self, trainer):
        if keras.backend.backend() != "jax":
            raise RuntimeError("JaxAlgorithm1 needs KERAS_BACKEND=jax")
        self.trainer = trainer
        self.step = jax.jit(self._step, donate_argnums=0)

    def initial_state(self):
        """The current values of every variable the step reads and writes, and the step."""
        state = {key: [v.value for v in variables]
                 for key, variables in zip(STATE_KEYS, self._variables(), strict=True)}
        state["step"] = self.trainer.step.value
        return jax.tree_util.tree_map(jax.numpy.array, state)  # copies: the step donates them

    def write_back(self, state):
        """Assigns the state to the Keras variables it came from."""
        for key, variables in zip(STATE_KEYS, self._variables(), strict=True):
            for variable, value in zip(variables, state[key], strict=True):
                variable.assign(value)
        self.trainer.step.assign(state["step"])

    def arrays(self, state) -> dict:
        """The state as NumPy arrays keyed `GROUP/INDEX`, and the step under "step" (the layout
        of wnet_tf.rundir's state files)."""
        state = jax.device_get(state)
        arrays = {"step": np.asarray(state["step"])}
        for key in STATE_KEYS:
            for i, value in enumerate(state[key]):
                arrays[state_key(key, i)] = np.asarray(value)
        return arrays

    def state_from(self, arrays, source="the state") -> dict:
        """The state that `arrays` (from `arrays`, or a state file named `source`) hold, after
        checking that they are this trainer's variables: the same keys and shapes."""
        expected = self.arrays(self.initial_state())
        if sorted(arrays) != sorted(expected):
            missing = sorted(set(expected) - set(arrays))[:3]
            extra = sorted(set(arrays) - set(expected))[:3]
            raise ValueError(f"{source}: not this model's variables (missing {missing}, "
                             f"unexpected {extra}; is config.json the one it trained with?)")
        for key, want in expected.items():
            if arrays[key].shape != want.shape:
                raise ValueError(f"{source}: {key} has shape {arrays[key].shape}, the model's "
                                 f"variable {want.shape}")
        state = {key: [jax.numpy.asarray(arrays[state_key(key, i)], v.dtype)
                       for i, v in enumerate(variables)]
                 for key, variables in zip(STATE_KEYS, self._variables(), strict=True)}
        state["step"] = jax.numpy.asarray(arrays["step"], self.trainer.step.dtype)
        return state

    def _variables(self):
        """The Keras variables behind each entry of STATE_KEYS."""
        t = self.trainer
        return (*network_groups(t.encoder, t.decoder).values(), t.encoder_optimizer.variables,
                t.wnet_optimizer.variables)

    def _step(self, state, images):
        t = self.trainer
        encoder, decoder = t.encoder, t.decoder
        enc_rate, wnet_rate = phase_rates(t.optim_config, state["step"])

        # Phase 1: the soft N-cut, the encoder's trainable variables, the encoder optimizer.
        def ncut_loss(enc_trainable, enc_non_trainable):
            probs, enc_non_trainable = encoder.stateless_call(
                enc_trainable, enc_non_trainable, images, training=True)
            per_image = t.ncut_losses(images, probs)
            loss = _scaled(t.encoder_optimizer, state["enc_optimizer"], ops.mean(per_image))
            return loss, (per_image, enc_non_trainable)

        grads, (ncut, enc_non_trainable) = jax.grad(ncut_loss, has_aux=True)(
            state["enc_trainable"], state["enc_non_trainable"])
        enc_trainable, enc_optimizer = t.encoder_optimizer.stateless_apply(
            _with_rate(t.encoder_optimizer, state["enc_optimizer"], enc_rate), grads,
            state["enc_trainable"])

        # Phase 2, from phase 1's state: the reconstruction error, every trainable variable.
        def rec_loss(trainable, enc_non_trainable, dec_non_trainable):
            n = len(enc_trainable)
            probs, enc_non_trainable = encoder.stateless_call(
                trainable[:n], enc_non_trainable, images, training=True)
            reconstructions, dec_non_trainable = decoder.stateless_call(
                trainable[n:], dec_non_trainable, probs, training=True)
            per_image = reconstruction_loss(images, reconstructions)
            loss = _scaled(t.wnet_optimizer, state["wnet_optimizer"], ops.mean(per_image))
            return loss, (per_image, enc_non_trainable, dec_non_trainable)

        trainable = enc_trainable + state["dec_trainable"]
        grads, (rec, enc_non_trainable, dec_non_trainable) = jax.grad(rec_loss, has_aux=True)(
            trainable, enc_non_trainable, state["dec_non_trainable"])
        trainable, wnet_optimizer = t.wnet_optimizer.stateless_apply(
            _with_rate(t.wnet_optimizer, state["wnet_optimizer"], wnet_rate), grads, trainable)

        n = len(enc_trainable)
        new_state = {"enc_trainable": trainable[:n], "enc_non_trainable": enc_non_trainable,
                     "dec_trainable": trainable[n:], "dec_non_trainable": dec_non_trainable,
                     "enc_optimizer": enc_optimizer, "wnet_optimizer": wnet_optimizer,
                     "step": state["step"] + 1}
        return new_state, {"ncut_loss": ncut, "rec_loss": rec, "encoder_lr": enc_rate,
                           "wnet_lr": wnet_rate}


@functools.cache  # devices can be hidden only before TensorFlow initialises them: once
def _tensorflow():
    """TensorFlow, kept off the accelerators (JAX has them), or None where it is not installed."""
    try:
        import tensorflow as tf
    except ImportError:
        return None
    tf.config.set_visible_devices([], "GPU")
    return tf


def training_batches(config: Config):
    """An endless iterator of float32 (B, S, S, 3) NumPy batches for training."""
    if _tensorflow() is None:
        from wnet_tf.arrays import batches

        return batches(config.data, "train", training=True)
    from wnet_tf.data import make_dataset

    return make_dataset(config.data, "train", training=True).as_numpy_iterator()


class JaxEngine:
    """The loop's engine on JAX: a compiled WNetTrainer's variables as explicit state, stepped by
    JaxAlgorithm1, saved as state files."""

    chief = True  # one process

    def __init__(self, config: Config, run_dir):
        if config.train.strategy != "default":
            raise ConfigError(f"train.strategy={config.train.strategy!r} is tf.distribute's; on "
                              "JAX training runs on one device (train.strategy='default')")
        self.config, self.run_dir = config, run_dir
        self.tensorflow = _tensorflow() is not None  # for TensorBoard's events

    def start(self):
        self.algorithm = JaxAlgorithm1(build_trainer(self.config))
        latest = latest_state(self.run_dir)
        self.state = (self.algorithm.state_from(read_state(latest), latest) if latest
                      else self.algorithm.initial_state())
        self.batches = training_batches(self.config)
        return int(self.state["step"]), latest

    def step(self, images) -> dict:
        self.state, logs = self.algorithm.step(self.state, images)
        logs = jax.device_get(logs)  # waits for the step
        # The per-image losses' means, in the TensorFlow engine's order.
        return {name: float(np.mean(logs[name])) for name in self.algorithm.trainer.trackers}

    def image_panel(self):
        return None  # TensorBoard's image panels are the TensorFlow engine's

    def save(self, step: int):
        write_state(self.run_dir, step, self.algorithm.arrays(self.state),
                    self.config.train.keep_checkpoints)

    def finish(self, seconds):
        """timing.json: how fast this invocation's steps ran, and on what."""
        later = seconds[1:]
        timing = {
            "backend": "jax",
            "device": str(jax.local_devices()[0]),
            "precision": self.config.train.precision,
            "batch_size": self.config.data.batch_size,
            "image_size": self.config.data.image_size,
            "steps": len(seconds),
            "first_step_seconds": seconds[0],  # compiles the step
            "seconds_per_step": statistics.median(later) if later else None,
            "peak_memory_bytes": _peak_memory(),
        }
        atomic_write_text(Path(self.run_dir) / TIMING_FILE, json.dumps(timing, indent=2) + "\n")


def _peak_memory():
    """The first device's peak memory in bytes, where its backend keeps the figure (GPUs)."""
    stats = jax.local_devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")
