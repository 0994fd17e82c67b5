"""What a run directory holds and how its checkpoints are found, written and read back: the one
place that training (wnet_tf.training), `export` and `pretrained` (shipping) share.

    RUN_DIR/config.json    the resolved config; `export` rebuilds the networks from it
    RUN_DIR/checkpoints/   ckpt-<step>: both networks, both optimizer states and the step, as
                           TensorFlow checkpoints (a run on the TensorFlow backend), or
                           state-<step>.npz: the same as NumPy arrays (a run on JAX)
    RUN_DIR/scalars.csv    the logged losses and rates, one row per log (wnet_tf.training.scalars)

A state file holds one array per variable the JAX step reads and writes, keyed `GROUP/INDEX`
(GROUP one of jax_engine.STATE_KEYS, INDEX the variable's place in that list), and the step under
"step": plain NumPy, so that a machine without TensorFlow writes it and one with TensorFlow exports
it. Not by variable path: Keras numbers unnamed layers (seed generators, optimizers) per process,
so the paths of one model differ between processes; the order does not. TensorFlow is imported
only by the functions that read or write a TensorFlow checkpoint.

Why runs keep these two formats rather than the Keras weights file of a shipped model
(wnet_tf.saving): a checkpoint holds what resuming a run exactly needs beside the networks (both
optimizers' slots, the seed generators' states, the step), TensorFlow's is written and restored
under tf.distribute (each replica's copy of a variable), and a state file is what the JAX step
reads and writes, with no TensorFlow on the machine. `trained_networks` takes only the networks
out of either, for `export` and for shipping (wnet_tf.ship).
"""

from pathlib import Path

import numpy as np

from wnet_tf.files import atomic_write, numbered

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_NAME = "ckpt"
STATE_NAME = "state"
# The state groups that hold the networks' variables (jax_engine.STATE_KEYS begins with them).
NETWORK_GROUPS = ("enc_trainable", "enc_non_trainable", "dec_trainable", "dec_non_trainable")


def checkpoint_dir(run_dir) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR


def latest_checkpoint(run_dir):
    """The run's latest complete checkpoint, or None: a TensorFlow checkpoint's path prefix, else
    the latest state file of a run on JAX."""
    if has_tf_checkpoints(run_dir):
        import tensorflow as tf

        return tf.train.latest_checkpoint(str(checkpoint_dir(run_dir)))
    return latest_state(run_dir)


def has_tf_checkpoints(run_dir) -> bool:
    """Whether TensorFlow's checkpoint index (written with the first checkpoint) is there; no
    TensorFlow needed to ask."""
    return (checkpoint_dir(run_dir) / "checkpoint").is_file()


def state_file(run_dir, step: int) -> Path:
    return checkpoint_dir(run_dir) / f"{STATE_NAME}-{step}.npz"


def _state_files(run_dir) -> list[Path]:
    """The run's complete state files, oldest first."""
    return numbered(checkpoint_dir(run_dir), STATE_NAME)


def latest_state(run_dir):
    """The path of the run's latest state file (a run on JAX), or None."""
    files = _state_files(run_dir)
    return files[-1] if files else None


def write_state(run_dir, step: int, arrays: dict, keep: int) -> Path:
    """Writes `arrays` (uncompressed: the weights do not compress) as state-<step>.npz, all or
    nothing, then deletes all but the newest `keep` state files."""
    path = state_file(run_dir, step)

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(path, write)
    for old in _state_files(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def read_state(path) -> dict:
    """A state file's arrays, by key."""
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def make_checkpoint(trainer, step):
    """What a checkpoint holds: everything that resuming needs except the data position."""
    import tensorflow as tf

    return tf.train.Checkpoint(encoder=trainer.encoder, decoder=trainer.decoder,
                               encoder_optimizer=trainer.encoder_optimizer,
                               wnet_optimizer=trainer.wnet_optimizer, step=step)


def restore_networks(encoder, decoder, checkpoint):
    """Only the two networks from a training checkpoint, TensorFlow's or a state file (the
    optimizers and the step stay behind); every variable of both networks must be in it."""
    if str(checkpoint).endswith(".npz"):
        return _restore_from_state(encoder, decoder, checkpoint)
    import tensorflow as tf

    restored = tf.train.Checkpoint(encoder=encoder, decoder=decoder).restore(str(checkpoint))
    restored.expect_partial().assert_existing_objects_matched()


def trained_networks(run_dir, checkpoint=None, model=None, what="export"):
    """(encoder, decoder) of the ModelConfig `model` (default: the run's config.json's), built
    in float32 (mixed-precision runs keep float32 weights), with the weights of the run's
    latest checkpoint or `checkpoint`."""
    from wnet_tf.config import load_config
    from wnet_tf.model import build_wnet, float32_policy

    checkpoint = checkpoint or latest_checkpoint(run_dir)
    if checkpoint is None:
        raise FileNotFoundError(f"{run_dir}: no checkpoint to {what} (train it first)")
    model = model or load_config(Path(run_dir) / CONFIG_FILE).model
    with float32_policy():
        encoder, decoder = build_wnet(model)
    restore_networks(encoder, decoder, checkpoint)
    return encoder, decoder


def state_key(group: str, index: int) -> str:
    return f"{group}/{index:04d}"


def network_groups(encoder, decoder):
    """NETWORK_GROUPS, each with its variables in order."""
    lists = (encoder.trainable_variables, encoder.non_trainable_variables,
             decoder.trainable_variables, decoder.non_trainable_variables)
    return dict(zip(NETWORK_GROUPS, lists, strict=True))


def _restore_from_state(encoder, decoder, path):
    """The networks' variables from a state file."""
    arrays = read_state(path)
    for group, variables in network_groups(encoder, decoder).items():
        found = sum(key.startswith(f"{group}/") for key in arrays)
        if found != len(variables):
            raise ValueError(f"{path}: {found} arrays in {group} for a model with "
                             f"{len(variables)} (is config.json the one this run trained with?)")
        for i, variable in enumerate(variables):
            array = arrays[state_key(group, i)]
            if array.shape != tuple(variable.shape):
                raise ValueError(f"{path}: {state_key(group, i)} has shape {array.shape}, "
                                 f"variable {variable.path} {tuple(variable.shape)}")
            variable.assign(array.astype(variable.dtype))
