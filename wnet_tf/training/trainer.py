"""Algorithm 1 of the paper as a Keras train_step, with one optimizer per phase."""

import keras
from keras import ops

from wnet_tf.config import Config, LossConfig, OptimConfig
from wnet_tf.losses import ncut_features, reconstruction_loss, soft_ncut_loss
from wnet_tf.model import build_wnet


def learning_rate(config: OptimConfig, step):
    """The rate of the training step that follows `step` completed steps (0 for the first):
    lr_values[i] for step < lr_boundaries[i], i.e. the first lr_boundaries[0] steps run at
    lr_values[0]. Keras' PiecewiseConstantDecay switches one step later (step <= boundary)."""
    step = ops.convert_to_tensor(step)
    index = sum(ops.cast(step >= b, "int32") for b in config.lr_boundaries)
    return ops.take(ops.convert_to_tensor(config.lr_values, "float32"), index)


def phase_rates(config: OptimConfig, step):
    """(N-cut phase's, reconstruction phase's) rates after `step` completed steps: the schedule
    (`learning_rate`), the N-cut's scaled by `ncut_lr_scale`."""
    rate = learning_rate(config, step)
    return rate * config.ncut_lr_scale, rate


def make_optimizer(config: OptimConfig, precision="float32"):
    """One optimizer whose rate is a variable that the trainer sets from the training step
    before each update (`learning_rate`), never from the optimizer's own `iterations`: under
    mixed_float16 a skipped update does not advance those, and the two optimizers' boundaries
    would drift apart. Under mixed_float16 it is wrapped for loss scaling here: Keras wraps only
    the `optimizer=` given to compile, and we give none."""
    rate = float(config.lr_values[0])
    if config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(rate, clipnorm=config.clipnorm)
    else:
        optimizer = keras.optimizers.SGD(rate, momentum=config.momentum,
                                         clipnorm=config.clipnorm)
    if precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _images(data):
    """The images of a batch; labels, if a dataset carries any, are never used."""
    return data[0] if isinstance(data, (tuple, list)) else data


class WNetTrainer(keras.Model):
    """Composes an encoder and a decoder and trains them as in Algorithm 1.

    Each step: (1) the mean soft N-cut of the encoder's output updates the encoder's variables
    with `encoder_optimizer`; (2) a fresh forward pass through both networks (the encoder has just
    changed) and the mean reconstruction error update all variables with `wnet_optimizer`.

    Args:
        encoder: images (B, H, W, 3) in [0, 1] -> probabilities (B, H, W, K).
        decoder: probabilities -> reconstructions (B, H, W, 3).
        loss_config: the N-cut's weights and the scale of the pixel values in them.

    Example:
        >>> encoder, decoder = build_wnet(config.model)
        >>> trainer = WNetTrainer(encoder, decoder, config.loss)
        >>> trainer.compile(make_optimizer(config.optim), make_optimizer(config.optim))
        >>> trainer.fit(dataset, steps_per_epoch=100, epochs=1)
    """

    def __init__(self, encoder, decoder, loss_config=None, optim_config=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.loss_config = loss_config or LossConfig()
        self.optim_config = optim_config or OptimConfig()
        # Completed Algorithm 1 steps: what both learning rates follow, and what checkpoints
        # resume at. Advanced by train_step, by the first replica only (like `iterations`).
        self.step = keras.Variable(0, dtype="int64" if keras.backend.backend() == "tensorflow"
                                   else "int32", trainable=False, name="step",
                                   aggregation="only_first_replica")
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("ncut_loss", "rec_loss", "encoder_lr", "wnet_lr")}

    def call(self, images, training=False):
        probs = self.encoder(images, training=training)
        return probs, self.decoder(probs, training=training)

    def compile(self, encoder_optimizer, wnet_optimizer, **kwargs):
        super().compile(optimizer=None, **kwargs)
        self.encoder_optimizer = encoder_optimizer
        self.wnet_optimizer = wnet_optimizer
        # Built now, each bound to its variable list for good, so that checkpoints hold both
        # states before the first step.
        encoder_optimizer.build(self.encoder.trainable_variables)
        wnet_optimizer.build(self._wnet_variables())

    def _wnet_variables(self):
        return self.encoder.trainable_variables + self.decoder.trainable_variables

    @property
    def metrics(self):
        return list(self.trackers.values())

    def ncut_losses(self, images, probs):
        cfg = self.loss_config
        features = ncut_features(images, intensity_scale=cfg.intensity_scale,
                                 features=cfg.features)
        return soft_ncut_loss(features, probs, radius=cfg.radius, sigma_i=cfg.sigma_i,
                              sigma_x=cfg.sigma_x, jit=cfg.jit)

    def phase_rates(self):
        """The current step's (N-cut phase's, reconstruction phase's) rates."""
        return phase_rates(self.optim_config, self.step)

    def _minimise(self, optimizer, variables, loss_fn, rate):
        """One tape, one optimizer: the gradient of the batch-mean loss applied to `variables`.
        The mean is over the global batch, so replicas add up to the single-device gradient."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            per_image = loss_fn()
            loss = tf.nn.compute_average_loss(per_image)
            scaled = optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, variables)
        optimizer.learning_rate = rate
        optimizer.apply(grads, variables)
        return per_image

    def ncut_phase(self, images):
        """Phase 1: the encoder alone minimises the soft N-cut. Returns the per-image losses."""
        return self._minimise(
            self.encoder_optimizer, self.encoder.trainable_variables,
            lambda: self.ncut_losses(images, self.encoder(images, training=True)),
            self.phase_rates()[0])

    def reconstruction_phase(self, images):
        """Phase 2: a fresh pass through both networks; all variables minimise the
        reconstruction error. Returns the per-image losses."""
        return self._minimise(
            self.wnet_optimizer, self._wnet_variables(),
            lambda: reconstruction_loss(images, self(images, training=True)[1]),
            self.phase_rates()[1])

    def train_step(self, data):
        images = _images(data)
        rates = self.phase_rates()  # the rates this step uses, logged as such
        ncut, rec = self.ncut_phase(images), self.reconstruction_phase(images)
        self.step.assign_add(1)
        return self.log(ncut, rec, *rates)

    def test_step(self, data):
        images = _images(data)
        probs, reconstructions = self(images, training=False)
        return self.log(self.ncut_losses(images, probs),
                        reconstruction_loss(images, reconstructions), *self.phase_rates())

    def log(self, ncut, rec, encoder_rate, wnet_rate):
        """Adds one step's per-image losses and rates to the running means; returns the means."""
        values = {"ncut_loss": ncut, "rec_loss": rec, "encoder_lr": encoder_rate,
                  "wnet_lr": wnet_rate}
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}


def build_trainer(config: Config, sync_batch_norm=False):
    """The W-Net of `config.model` and its two optimizers, compiled (under tf.distribute, build
    it inside the strategy's scope)."""
    encoder, decoder = build_wnet(config.model, sync_batch_norm=sync_batch_norm)
    trainer = WNetTrainer(encoder, decoder, config.loss, config.optim)
    # No XLA over the whole step on TensorFlow: it makes the convolutions ~10x slower on CPU,
    # and the N-cut already compiles itself (loss.jit). On JAX the step is jitted whole
    # (wnet_tf.training.jax_engine).
    trainer.compile(make_optimizer(config.optim, config.train.precision),
                    make_optimizer(config.optim, config.train.precision), jit_compile=False)
    return trainer
