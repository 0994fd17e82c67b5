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


class Ensemble:
    """Several W-Nets trained apart (other seeds, other augmentations) with the endpoints of one:
    their class probabilities side by side, each times 1/M, so (B, H, W, M K) maps that still
    sum to 1 at every pixel (which member, which of its classes), and the mean of their
    reconstructions. Why side by side and not averaged: the members' classes do not correspond.
    Why it helps the post-processing: both of its uses of the softmax, the half-disc chi-square
    cue and the squared Hellinger distance of the class-aware merging, are then the mean of the
    members' own, so a split that one member makes at random in a uniform region (what the N-cut
    allows there) is outvoted, and a split that all members make stays. `config` is the
    ensemble's (its post-processing; its data section is the members' common geometry)."""

    def __init__(self, members, config: Config):
        self.members, self.config = list(members), config
        self.geometry = Geometry.of(config.data)

    def segment(self, images):
        import tensorflow as tf

        images = tf.convert_to_tensor(images, tf.float32)
        probs = tf.concat([m.segment(images)["probabilities"] for m in self.members], -1)
        probs /= len(self.members)
        return {"probabilities": probs, "labels": tf.argmax(probs, axis=-1, output_type=tf.int32)}

    def reconstruct(self, images):
        import tensorflow as tf

        images = tf.convert_to_tensor(images, tf.float32)
        return {"reconstructions": tf.add_n([m.reconstruct(images)["reconstructions"]
                                             for m in self.members]) / len(self.members)}
