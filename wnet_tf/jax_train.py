"""Algorithm 1 on the JAX backend: the two-phase step as one jitted function over explicit state.

Keras' own `fit()` on JAX carries one optimizer's state, and Algorithm 1 has two, so the step is
written here over all of it, in the manner of Keras' custom JAX training loops: both networks'
trainable and non-trainable variables (batch-norm statistics and the dropout seed states), both
optimizers' variables and the step. The semantics are WNetTrainer.train_step's: phase 1 updates
the encoder's trainable variables alone with the encoder optimizer, from the mean soft N-cut;
phase 2 starts from the state phase 1 left (its weights, statistics and seeds) and updates every
trainable variable with the W-Net optimizer, from the mean reconstruction error. Both rates come
from the step (`wnet_tf.trainer.learning_rate`). Under mixed_float16 the optimizers are
LossScaleOptimizers, whose stateless update skips a non-finite step as the stateful one does.

    algorithm = JaxAlgorithm1(trainer)      # a compiled WNetTrainer, built under KERAS_BACKEND=jax
    state = algorithm.initial_state()
    state, logs = algorithm.step(state, images)
    algorithm.write_back(state)             # into the Keras variables (to save, export, segment)
    arrays = algorithm.arrays(state)         # NumPy, keyed as wnet_tf.rundir's state files are
    state = algorithm.state_from(arrays)     # and back, checked against the model
"""

import jax
import keras
import numpy as np
from keras import ops

from wnet_tf.losses import reconstruction_loss
from wnet_tf.rundir import NETWORK_GROUPS, network_groups, state_key
from wnet_tf.trainer import learning_rate

STATE_KEYS = (*NETWORK_GROUPS, "enc_optimizer", "wnet_optimizer")


def _rate_index(optimizer):
    """Where the optimizer's learning-rate variable is in its `variables` (a LossScaleOptimizer
    keeps it in its inner optimizer)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    rate = inner._learning_rate
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
        rate = learning_rate(t.optim_config, state["step"])

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
            _with_rate(t.encoder_optimizer, state["enc_optimizer"], rate), grads,
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
            _with_rate(t.wnet_optimizer, state["wnet_optimizer"], rate), grads, trainable)

        n = len(enc_trainable)
        new_state = {"enc_trainable": trainable[:n], "enc_non_trainable": enc_non_trainable,
                     "dec_trainable": trainable[n:], "dec_non_trainable": dec_non_trainable,
                     "enc_optimizer": enc_optimizer, "wnet_optimizer": wnet_optimizer,
                     "step": state["step"] + 1}
        return new_state, {"ncut_loss": ncut, "rec_loss": rec, "encoder_lr": rate,
                           "wnet_lr": rate}
