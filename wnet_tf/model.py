"""The W-Net: two U-Nets from one builder.

Paper's network (ModelConfig defaults): 9 modules per U-Net, each two 3x3 convolutions, each
followed by ReLU then batch normalisation (the paper's order), then dropout; 2x2 max-pooling down,
2x2 stride-2 transposed convolutions up, U-Net skips; channels 64 -> 1024 -> 64; the first and
last module of each U-Net use ordinary convolutions, the others depthwise separable ones; a final
1x1 convolution to K classes (softmax) or 3 channels. 2 x (18 + 4 + 1) = 46 convolution layers.

Any H x W works: each U-Net pads its input to a multiple of 2**depth by reflection and crops back.

Written with keras.ops, so the same networks (the same variables in the same order) run on every
Keras backend. Under TensorFlow, batch norm uses TensorFlow's fused kernel and can synchronise
across tf.distribute replicas; elsewhere it is Keras' own, with the same variables.
"""

import contextlib

import keras
from keras import layers, ops

from wnet_tf.config import ModelConfig


def _on_tensorflow():
    return keras.backend.backend() == "tensorflow"


def _reflect_indices(n, total):
    """Indices 0..total-1 folded into 0..n-1 by reflection without repeating the edge
    (like numpy's "reflect"), for any total, even when n is 1."""
    period = ops.maximum(2 * (n - 1), 1)
    i = ops.arange(total) % period
    return ops.where(i < n, i, period - i)


@keras.saving.register_keras_serializable(package="wnet_tf")
class PadToMultiple(layers.Layer):
    """Pads H and W at the bottom and right, by reflection, up to a multiple of `multiple`.

    Unlike tf.pad(mode="REFLECT"), works when the padding exceeds the image (a 1x1 image).

    Args:
        multiple: the size multiple, 2**depth for a U-Net of that depth.
    """

    def __init__(self, multiple, **kwargs):
        super().__init__(**kwargs)
        self.multiple = multiple

    def call(self, x):
        for axis in (1, 2):
            n = ops.shape(x)[axis]
            total = (n + self.multiple - 1) // self.multiple * self.multiple
            x = ops.take(x, _reflect_indices(n, total), axis=axis)
        return x

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, None, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="wnet_tf")
class CropLike(layers.Layer):
    """Crops the first input's H and W to the second's (undoes PadToMultiple)."""

    def call(self, inputs):
        x, like = inputs
        shape = ops.shape(like)
        return x[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, input_shapes):
        x, like = input_shapes
        return (x[0], like[1], like[2], x[3])


@keras.saving.register_keras_serializable(package="wnet_tf")
class BorderPad(layers.Layer):
    """Pads H and W by `width` on every side for a "valid" convolution, without zeros.

    mode "symmetric": the edge rows and columns mirrored (tf.pad's SYMMETRIC, which works on
    maps down to 1 x 1). The contracting path then sees no border, but the expanding path's
    stride-2 transposed convolutions make every map periodic in 2**level from the top-left
    corner, and a mirror breaks that period differently at the left and the right border: the
    network can still find the borders, and did (a band of blocky, content-blind segments along
    one border after 400 steps).
    mode "circular": the map wraps around (the opposite border's rows and columns), so every
    map lives on a torus: no pixel is nearer a border than another, and a circular shift of the
    input by a multiple of 2**depth shifts the output the same way.

    Args:
        width: pixels added on each side (1 for a 3x3 convolution).
        mode: "symmetric" or "circular".
    """

    def __init__(self, width=1, mode="circular", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("symmetric", "circular"):
            raise ValueError(f"mode={mode!r}: expected 'symmetric' or 'circular'")
        self.width, self.mode = width, mode

    def call(self, x):
        w = self.width
        if self.mode == "symmetric":
            return ops.pad(x, [[0, 0], [w, w], [w, w], [0, 0]], mode="symmetric")
        x = ops.concatenate([x[:, -w:], x, x[:, :w]], axis=1)
        return ops.concatenate([x[:, :, -w:], x, x[:, :, :w]], axis=2)

    def compute_output_shape(self, input_shape):
        grow = [None if n is None else n + 2 * self.width for n in input_shape[1:3]]
        return (input_shape[0], *grow, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "width": self.width, "mode": self.mode}


@keras.saving.register_keras_serializable(package="wnet_tf")
class FusedBatchNormalization(layers.BatchNormalization):
    """Keras' BatchNormalization (same variables, config and moving-average rule) computed with
    TensorFlow's fused kernel (Keras' own computation on other backends).

    Keras 3 composes batch norm from float32 elementwise ops: under mixed_bfloat16 on a CPU that
    costs several times the 3x3 convolution it follows, and it keeps several full-size
    intermediates for the backward pass. The fused kernel reads bfloat16 directly and keeps only
    its input. Renorm, masks and synchronisation fall back to the Keras implementation.
    """

    def call(self, inputs, training=None, mask=None):
        if (not _on_tensorflow() or mask is not None or self.renorm or self.synchronized
                or not (self.scale and self.center)):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        gamma, beta = self.gamma.value, self.beta.value
        if not (training and self.trainable):
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                inputs, gamma, beta, mean=self.moving_mean.value,
                variance=self.moving_variance.value, epsilon=self.epsilon, is_training=False)
            return outputs
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, gamma, beta, epsilon=self.epsilon, is_training=True)
        # The kernel returns the unbiased variance; Keras averages the biased one.
        count = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], tf.float32)
        variance = variance * (count - 1.0) / count
        self._update_moving_statistics(mean, variance)
        return outputs

    def _update_moving_statistics(self, mean, variance):
        """Keras' rule: an exponential moving average of the batch mean and biased variance."""
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum))


def _sync_batch_norm(x, gamma, beta, epsilon, context):
    """Batch norm of float32 `x` (..., C) with the statistics of the global batch of all
    replicas. Returns (outputs, mean, variance), the biased variance as Keras keeps it.

    The statistics are values (stop_gradient): the gradient never flows through a collective.
    The backward pass is batch norm's closed form, with N, mean and variance global:
        dx = gamma / sqrt(var + eps) * (dy - sum(dy) / N - x_hat * sum(dy * x_hat) / N)
    where the two sums are over the global batch (one explicit all-reduce); gamma and beta get
    the local sums, which the optimizer adds up across replicas like every other gradient.
    The variance takes two passes (the global mean, then the global sum of squared deviations)
    because the one-pass E[x^2] - E[x]^2 cancels in float32.
    """
    import tensorflow as tf

    channels = x.shape[-1]
    axes = list(range(len(x.shape) - 1))
    x_const = tf.stop_gradient(x)
    count = tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32)
    total = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.concat(
        [tf.reduce_sum(x_const, axes), count[None]], 0))
    n = total[-1]
    mean = total[:channels] / n
    variance = context.all_reduce(tf.distribute.ReduceOp.SUM,
                                  tf.reduce_sum(tf.square(x_const - mean), axes)) / n
    inv = tf.math.rsqrt(variance + epsilon)

    @tf.custom_gradient
    def normalise(x, gamma, beta):
        x_hat = (x - mean) * inv

        def grad(dy):
            local = tf.concat([tf.reduce_sum(dy, axes), tf.reduce_sum(dy * x_hat, axes)], 0)
            sums = context.all_reduce(tf.distribute.ReduceOp.SUM, local)
            dx = gamma * inv * (dy - sums[:channels] / n - x_hat * (sums[channels:] / n))
            return dx, local[channels:], local[:channels]

        return x_hat * gamma + beta, grad

    return normalise(x, gamma, beta), mean, variance


@keras.saving.register_keras_serializable(package="wnet_tf")
class SyncBatchNormalization(FusedBatchNormalization):
    """Batch norm whose training statistics are those of the global batch when several replicas
    train under tf.distribute, with the gradients of one device training on that batch.

    Keras' `BatchNormalization(synchronized=True)` takes the global variance in one pass,
    E[x^2] - E[x]^2, which cancels in float32: on a 2-replica W-Net (depth 2, 16x16 images) its
    gradients were 0.7% away from float64 where this layer's are within 4e-5, as close as one
    device. Here the variance takes two passes, and no gradient flows through a collective:
    each layer all-reduces its statistics forward and its two gradient sums backward,
    explicitly (`_sync_batch_norm`).

    Same variables, config and moving-average rule as Keras' BatchNormalization, so checkpoints
    move freely between this layer and FusedBatchNormalization (e.g. a run trained on several
    GPUs exported for one). On a single replica, and outside training, it is
    FusedBatchNormalization (and on backends other than TensorFlow, which have no tf.distribute,
    Keras' BatchNormalization). Only the last axis is the channel axis; no renorm, no masks.

    Args:
        **kwargs: those of keras.layers.BatchNormalization (`synchronized` is ignored: this
            layer always synchronises).
    """

    def __init__(self, **kwargs):
        kwargs.pop("synchronized", None)
        super().__init__(**kwargs)
        if self.renorm:
            raise ValueError("SyncBatchNormalization does not support renorm")

    @staticmethod
    def synchronises(context):
        """Whether training needs the global batch's statistics (else the fused kernel). Public
        so that a test can force this layer's arithmetic on one device (tests/test_distribute)."""
        return context is not None and context.num_replicas_in_sync > 1

    def call(self, inputs, training=None, mask=None):
        if not _on_tensorflow():
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if not (training and self.trainable and self.synchronises(context)):
            return super().call(inputs, training=training, mask=mask)
        if mask is not None:
            raise ValueError("SyncBatchNormalization does not support masks")
        if self.axis not in (-1, len(inputs.shape) - 1):
            raise ValueError(f"SyncBatchNormalization normalises the last axis, not {self.axis}")
        channels = inputs.shape[-1]
        # In float32 under mixed precision, as Keras does.
        gamma = tf.cast(self.gamma.value, tf.float32) if self.scale else tf.ones([channels])
        beta = tf.cast(self.beta.value, tf.float32) if self.center else tf.zeros([channels])
        outputs, mean, variance = _sync_batch_norm(tf.cast(inputs, tf.float32), gamma, beta,
                                                   self.epsilon, context)
        self._update_moving_statistics(mean, variance)
        return tf.cast(outputs, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.pop("synchronized", None)
        return config


def _module(x, filters, separable, dropout_rate, name, sync_batch_norm=False,
            padding="zeros"):
    """Two 3x3 convolutions, each followed by ReLU then batch norm; dropout after the module.
    `padding`: "zeros" (Keras' "same"), or "symmetric" / "circular" (BorderPad, then "valid")."""
    mode = "same" if padding == "zeros" else "valid"
    for j in (1, 2):
        if separable:
            conv = layers.SeparableConv2D(
                filters, 3, padding=mode, depthwise_initializer="he_normal",
                pointwise_initializer="he_normal", name=f"{name}_conv{j}")
        else:
            conv = layers.Conv2D(filters, 3, padding=mode, kernel_initializer="he_normal",
                                 name=f"{name}_conv{j}")
        if padding != "zeros":
            x = BorderPad(1, padding, name=f"{name}_pad{j}")(x)
        x = conv(x)
        x = layers.ReLU(name=f"{name}_relu{j}")(x)
        norm = SyncBatchNormalization if sync_batch_norm else FusedBatchNormalization
        x = norm(name=f"{name}_bn{j}")(x)
    if dropout_rate > 0:
        x = layers.Dropout(dropout_rate, name=f"{name}_dropout")(x)
    return x


def build_unet(in_channels, out_channels, config: ModelConfig, name, out_activation=None,
               sync_batch_norm=False):
    """One U-Net as a functional Keras model (None, None, None, in) -> (None, None, None, out).

    The output layers run in float32 under every precision policy: the softmax feeds the N-cut,
    which divides by the associations, and the reconstruction feeds a squared error.
    `sync_batch_norm`: batch statistics over the global batch when several replicas train (a
    replica's own statistics would make its gradient differ from the single-device one).
    """
    inputs = keras.Input((None, None, in_channels), name=f"{name}_input")
    x = PadToMultiple(2 ** config.depth, name=f"{name}_pad")(inputs)
    skips = []
    for level in range(config.depth):
        outer = level == 0
        x = _module(x, config.base_filters * 2 ** level, config.separable and not outer,
                    config.dropout_rate, f"{name}_down{level + 1}", sync_batch_norm, config.padding)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"{name}_pool{level + 1}")(x)
    x = _module(x, config.base_filters * 2 ** config.depth, config.separable,
                config.dropout_rate, f"{name}_bottom", sync_batch_norm, config.padding)
    for level in reversed(range(config.depth)):
        filters = config.base_filters * 2 ** level
        x = layers.Conv2DTranspose(filters, 2, strides=2, kernel_initializer="he_normal",
                                   name=f"{name}_up{level + 1}_transpose")(x)
        x = layers.Concatenate(name=f"{name}_up{level + 1}_concat")([skips[level], x])
        outer = level == 0
        x = _module(x, filters, config.separable and not outer, config.dropout_rate,
                    f"{name}_up{level + 1}", sync_batch_norm, config.padding)
    x = layers.Conv2D(out_channels, 1, name=f"{name}_output_conv", dtype="float32")(x)
    x = CropLike(name=f"{name}_crop", dtype="float32")([x, inputs])
    if out_activation is not None:
        x = layers.Activation(out_activation, name=f"{name}_{out_activation}", dtype="float32")(x)
    return keras.Model(inputs, x, name=name)


def build_wnet(config: ModelConfig, *, sync_batch_norm=False):
    """Returns (encoder, decoder): images (B, H, W, 3) in [0, 1] -> probabilities (B, H, W, K)
    float32 -> reconstructions (B, H, W, 3) float32."""
    encoder = build_unet(3, config.k, config, "enc", out_activation="softmax",
                         sync_batch_norm=sync_batch_norm)
    decoder = build_unet(config.k, 3, config, "dec", sync_batch_norm=sync_batch_norm)
    return encoder, decoder


@contextlib.contextmanager
def float32_policy():
    """Builds layers in float32 whatever the global policy, and restores it afterwards."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
