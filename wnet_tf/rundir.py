"""What a run directory holds and how its checkpoints are found, written and read back: the one
place that `run` (training), `export` and `pretrained` (shipping) share.

    RUN_DIR/config.json    the resolved config; `export` rebuilds the networks from it
    RUN_DIR/checkpoints/   ckpt-<step>: both networks, both optimizer states and the step

TensorFlow is imported only by the functions that read or write a checkpoint.
"""

from pathlib import Path

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_NAME = "ckpt"


def config_path(run_dir) -> Path:
    return Path(run_dir) / CONFIG_FILE


def checkpoint_dir(run_dir) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR


def latest_checkpoint(run_dir):
    """The path prefix of the run's latest complete checkpoint, or None."""
    import tensorflow as tf

    return tf.train.latest_checkpoint(str(checkpoint_dir(run_dir)))


def make_checkpoint(trainer, step):
    """What a checkpoint holds: everything that resuming needs except the data position."""
    import tensorflow as tf

    return tf.train.Checkpoint(encoder=trainer.encoder, decoder=trainer.decoder,
                               encoder_optimizer=trainer.encoder_optimizer,
                               wnet_optimizer=trainer.wnet_optimizer, step=step)


def restore_networks(encoder, decoder, checkpoint):
    """Only the two networks from a training checkpoint (the optimizers and the step stay
    behind); every variable of both networks must be in it."""
    import tensorflow as tf

    restored = tf.train.Checkpoint(encoder=encoder, decoder=decoder).restore(str(checkpoint))
    restored.expect_partial().assert_existing_objects_matched()
