"""The W-Net: two U-Nets from one builder.

Paper's network (ModelConfig defaults): 9 modules per U-Net, each two 3x3 convolutions, each
followed by ReLU then batch normalisation (the paper's order), then dropout; 2x2 max-pooling down,
2x2 stride-2 transposed convolutions up, U-Net skips; channels 64 -> 1024 -> 64; the first and
last module of each U-Net use ordinary convolutions, the others depthwise separable ones; a final
1x1 convolution to K classes (softmax) or 3 channels. 2 x (18 + 4 + 1) = 46 convolution layers.

Any H x W works: each U-Net pads its input to a multiple of 2**depth by reflection and crops back.
"""

import keras
import tensorflow as tf
from keras import layers

from wnet_tf.config import ModelConfig


def _reflect_indices(n, total):
    """Indices 0..total-1 folded into 0..n-1 by reflection without repeating the edge
    (like numpy's "reflect"), for any total, even when n is 1."""
    period = tf.maximum(2 * (n - 1), 1)
    i = tf.range(total) % period
    return tf.where(i < n, i, period - i)


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
            n = tf.shape(x)[axis]
            total = (n + self.multiple - 1) // self.multiple * self.multiple
            x = tf.gather(x, _reflect_indices(n, total), axis=axis)
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
        shape = tf.shape(like)
        return x[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, input_shapes):
        x, like = input_shapes
        return (x[0], like[1], like[2], x[3])


@keras.saving.register_keras_serializable(package="wnet_tf")
class FusedBatchNormalization(layers.BatchNormalization):
    """Keras' BatchNormalization (same variables, config and moving-average rule) computed with
    TensorFlow's fused kernel.

    Keras 3 composes batch norm from float32 elementwise ops: under mixed_bfloat16 on a CPU that
    costs several times the 3x3 convolution it follows, and it keeps several full-size
    intermediates for the backward pass. The fused kernel reads bfloat16 directly and keeps only
    its input. Renorm, masks and synchronisation fall back to the Keras implementation.
    """

    def call(self, inputs, training=None, mask=None):
        if mask is not None or self.renorm or self.synchronized or not (self.scale and
                                                                          self.center):
            return super().call(inputs, training=training, mask=mask)
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
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return outputs


def _module(x, filters, separable, dropout_rate, name, sync_batch_norm=False):
    """Two 3x3 convolutions, each followed by ReLU then batch norm; dropout after the module."""
    for j in (1, 2):
        if separable:
            conv = layers.SeparableConv2D(
                filters, 3, padding="same", depthwise_initializer="he_normal",
                pointwise_initializer="he_normal", name=f"{name}_conv{j}")
        else:
            conv = layers.Conv2D(filters, 3, padding="same", kernel_initializer="he_normal",
                                 name=f"{name}_conv{j}")
        x = conv(x)
        x = layers.ReLU(name=f"{name}_relu{j}")(x)
        x = FusedBatchNormalization(synchronized=sync_batch_norm, name=f"{name}_bn{j}")(x)
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
                    config.dropout_rate, f"{name}_down{level + 1}", sync_batch_norm)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"{name}_pool{level + 1}")(x)
    x = _module(x, config.base_filters * 2 ** config.depth, config.separable,
                config.dropout_rate, f"{name}_bottom", sync_batch_norm)
    for level in reversed(range(config.depth)):
        filters = config.base_filters * 2 ** level
        x = layers.Conv2DTranspose(filters, 2, strides=2, kernel_initializer="he_normal",
                                   name=f"{name}_up{level + 1}_transpose")(x)
        x = layers.Concatenate(name=f"{name}_up{level + 1}_concat")([skips[level], x])
        outer = level == 0
        x = _module(x, filters, config.separable and not outer, config.dropout_rate,
                    f"{name}_up{level + 1}", sync_batch_norm)
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
