"""TensorBoard scalars and images written with TensorFlow alone (RUN_DIR/events.out.tfevents.*).

TensorFlow 2.21 no longer installs the `tensorboard` package, and without it `tf.summary.scalar`
and `tf.summary.image` raise. The event format does not need it: a summary is a tensor written by
`tf.summary.write` with metadata naming the TensorBoard plugin that displays it and the kind of
data it holds. Viewing the logs still needs TensorBoard (`pip install tensorboard`, in any
environment).
"""

import tensorflow as tf


def _metadata(plugin_name, data_class):
    metadata = tf.compat.v1.SummaryMetadata
    return metadata(plugin_data=metadata.PluginData(plugin_name=plugin_name),
                    data_class=data_class)


_SCALAR = _metadata("scalars", "DATA_CLASS_SCALAR")
# The images plugin reads [width, height, png_1, ..., png_n] as strings.
_IMAGES = _metadata("images", "DATA_CLASS_BLOB_SEQUENCE")


def scalar_summary(name, value, step):
    """One float point of the curve `name`, to the default summary writer."""
    return tf.summary.write(name, tf.constant(value, tf.float32), step=step, metadata=_SCALAR)


def image_summary(name, batch, step):
    """A batch (N, H, W, 3) of float images in [0, 1], shown as N images under `name`."""
    pngs = [tf.io.encode_png(image) for image in tf.image.convert_image_dtype(
        batch, tf.uint8, saturate=True)]
    height, width = batch.shape[1], batch.shape[2]
    tensor = tf.stack([tf.constant(str(width)), tf.constant(str(height)), *pngs])
    return tf.summary.write(name, tensor, step=step, metadata=_IMAGES)


class EventLog:
    """TensorBoard's events file of a run: scalars and image panels, each flushed when written
    (the curves show while the run trains, and a killed run keeps what it logged)."""

    def __init__(self, run_dir):
        self.writer = tf.summary.create_file_writer(str(run_dir))

    def scalars(self, step, values: dict):
        with self.writer.as_default():
            for name, value in values.items():
                scalar_summary(name, value, step)
        self.writer.flush()

    def images(self, name, batch, step):
        with self.writer.as_default():
            image_summary(name, batch, step)
        self.writer.flush()

    def close(self):
        self.writer.close()
