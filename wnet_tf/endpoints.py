"""The endpoints of a W-Net, written once for the SavedModel that `wnet-tf export` writes and for
the `Segmenter` that runs a model in this process (a shipped one, wnet_tf.pretrained):

    segment(images float32 in [0, 1])  -> {"probabilities": (B, H, W, K) float32,
                                           "labels": (B, H, W) int32}
    reconstruct(images float32)        -> {"reconstructions": (B, H, W, 3) float32}

for a batch of RGB images of any size, (None, None, None, 3). TensorFlow is imported by the
functions, not with the module, so that `python -m wnet_tf.export` configures it first.
"""

from __future__ import annotations

from wnet_tf.config import Config
from wnet_tf.geometry import Geometry


def images_spec(dtype="float32"):
    """The endpoints' input: a batch of RGB images of any size."""
    import tensorflow as tf

    return tf.TensorSpec((None, None, None, 3), dtype, name="images")


def segment_fn(encoder):
    """images -> {"probabilities", "labels"}."""
    import tensorflow as tf

    def segment(images):
        probs = encoder(images, training=False)
        return {"probabilities": probs, "labels": tf.argmax(probs, axis=-1, output_type=tf.int32)}

    return segment


def reconstruct_fn(encoder, decoder):
    """images -> {"reconstructions"}."""

    def reconstruct(images):
        return {"reconstructions": decoder(encoder(images, training=False), training=False)}

    return reconstruct


class Segmenter:
    """An encoder and decoder with the endpoints of an exported SavedModel, `segment` and
    `reconstruct` (float32 images in [0, 1] -> dicts), for any batch and size, and the `config`
    that made them (its data section is the model's `geometry`)."""

    def __init__(self, encoder, decoder, config: Config):
        import tensorflow as tf

        self.encoder, self.decoder, self.config = encoder, decoder, config
        self.geometry = Geometry.of(config.data)
        # One trace for every size: the signature leaves B, H and W open.
        self._segment = tf.function(segment_fn(encoder), input_signature=[images_spec()])
        self._reconstruct = tf.function(reconstruct_fn(encoder, decoder),
                                        input_signature=[images_spec()])

    def segment(self, images):
        import tensorflow as tf

        return self._segment(tf.convert_to_tensor(images, tf.float32))

    def reconstruct(self, images):
        import tensorflow as tf

        return self._reconstruct(tf.convert_to_tensor(images, tf.float32))
