"""Algorithm 1 of the paper as a Keras train_step, with one optimizer per phase."""

import keras
import tensorflow as tf

from wnet_tf.config import LossConfig, OptimConfig
from wnet_tf.losses import ncut_features, reconstruction_loss, soft_ncut_loss


def make_optimizer(config: OptimConfig, precision="float32"):
    """One optimizer with the piecewise-constant schedule. Under mixed_float16 it is wrapped for
    loss scaling here: Keras wraps only the `optimizer=` given to compile, and we give none."""
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
        list(config.lr_boundaries), list(config.lr_values))
    if config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(schedule, clipnorm=config.clipnorm)
    else:
        optimizer = keras.optimizers.SGD(schedule, momentum=config.momentum,
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

    def __init__(self, encoder, decoder, loss_config=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.loss_config = loss_config or LossConfig()
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

    def _minimise(self, optimizer, variables, loss_fn):
        """One tape, one optimizer: the gradient of the batch-mean loss applied to `variables`.
        The mean is over the global batch, so replicas add up to the single-device gradient."""
        with tf.GradientTape() as tape:
            per_image = loss_fn()
            loss = tf.nn.compute_average_loss(per_image)
            scaled = optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, variables)
        optimizer.apply(grads, variables)
        return per_image

    def ncut_phase(self, images):
        """Phase 1: the encoder alone minimises the soft N-cut. Returns the per-image losses."""
        return self._minimise(
            self.encoder_optimizer, self.encoder.trainable_variables,
            lambda: self.ncut_losses(images, self.encoder(images, training=True)))

    def reconstruction_phase(self, images):
        """Phase 2: a fresh pass through both networks; all variables minimise the
        reconstruction error. Returns the per-image losses."""
        return self._minimise(
            self.wnet_optimizer, self._wnet_variables(),
            lambda: reconstruction_loss(images, self(images, training=True)[1]))

    def train_step(self, data):
        images = _images(data)
        return self._log(self.ncut_phase(images), self.reconstruction_phase(images))

    def test_step(self, data):
        images = _images(data)
        probs, reconstructions = self(images, training=False)
        return self._log(self.ncut_losses(images, probs),
                         reconstruction_loss(images, reconstructions))

    def _log(self, ncut, rec):
        self.trackers["ncut_loss"].update_state(ncut)
        self.trackers["rec_loss"].update_state(rec)
        self.trackers["encoder_lr"].update_state(self.encoder_optimizer.learning_rate)
        self.trackers["wnet_lr"].update_state(self.wnet_optimizer.learning_rate)
        return {name: tracker.result() for name, tracker in self.trackers.items()}
