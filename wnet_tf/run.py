"""The training driver: Algorithm 1 for `train.iterations` steps inside a run directory.

A run directory holds
    config.json    the resolved config; `export` rebuilds the networks from it
    checkpoints/   ckpt-<step>: both networks, both optimizer states and the step, the last
                   `train.keep_checkpoints` kept
    events.out.tfevents.*   TensorBoard: both losses, both learning rates, images/s, image
                   panels (directly in the run directory, so `tensorboard --logdir runs` names
                   each run by its directory)
Training again in the same directory resumes from its latest checkpoint: the same step, optimizer
states and learning rates. The data pipeline and the dropout masks start afresh.
"""

import math
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf
from tqdm import tqdm

from wnet_tf import summaries
from wnet_tf.config import Config, ConfigError, config_to_dict, load_config, save_config
from wnet_tf.data import make_dataset
from wnet_tf.model import build_wnet
from wnet_tf.segment import palette
from wnet_tf.trainer import WNetTrainer, make_optimizer

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
PANEL_IMAGES = 4  # images in each TensorBoard panel
LOSSES = ("ncut_loss", "rec_loss")


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; training stopped without saving."""


def make_strategy(train_config):
    """The tf.distribute strategy that builds and trains the model (the one place that picks)."""
    if train_config.strategy == "default":
        return tf.distribute.get_strategy()
    raise ConfigError(f"train.strategy={train_config.strategy!r}: not supported yet; use "
                      "'default'")


def build_trainer(config: Config):
    """The W-Net and its two optimizers (build it inside the strategy's scope)."""
    encoder, decoder = build_wnet(config.model)
    trainer = WNetTrainer(encoder, decoder, config.loss)
    # No XLA over the whole step: it makes the convolutions ~10x slower on CPU, and the N-cut
    # already compiles itself (loss.jit).
    trainer.compile(make_optimizer(config.optim, config.train.precision),
                    make_optimizer(config.optim, config.train.precision), jit_compile=False)
    return trainer


def make_checkpoint(trainer, step):
    """What a checkpoint holds: everything that resuming needs except the data position."""
    return tf.train.Checkpoint(encoder=trainer.encoder, decoder=trainer.decoder,
                               encoder_optimizer=trainer.encoder_optimizer,
                               wnet_optimizer=trainer.wnet_optimizer, step=step)


def latest_checkpoint(run_dir):
    """The path prefix of the run's latest complete checkpoint, or None."""
    return tf.train.latest_checkpoint(str(Path(run_dir) / CHECKPOINT_DIR))


def image_panel(trainer, images):
    """(N, H, 3W, 3) in [0, 1]: each input beside its coloured argmax segmentation and its
    reconstruction."""
    probs, reconstructions = trainer(images, training=False)
    colours = tf.constant(palette(probs.shape[-1]) / 255.0, tf.float32)
    segmentation = tf.gather(colours, tf.argmax(probs, axis=-1))
    return tf.concat([images, segmentation, tf.clip_by_value(reconstructions, 0.0, 1.0)], axis=2)


def _check_same_model(config, run_dir):
    """Resuming with other networks would fail deep inside the restore; say why here instead."""
    path = Path(run_dir) / CONFIG_FILE
    if path.exists() and latest_checkpoint(run_dir):
        before = config_to_dict(load_config(path))["model"]
        if before != config_to_dict(config)["model"]:
            raise ConfigError(f"{run_dir} holds a run with model={before}; resuming it needs "
                              "the same model section (or use another run directory)")


def _raise_if_not_finite(logs, step, manager):
    # The logged losses are means since the last log: finite exactly when every step's losses
    # were (they are never negative), so the first non-finite one names the bad step.
    bad = {name: logs[name] for name in LOSSES if not math.isfinite(logs[name])}
    if bad:
        losses = ", ".join(f"{name}={value}" for name, value in bad.items())
        kept = manager.latest_checkpoint or "none (no checkpoint was written yet)"
        raise NonFiniteLossError(f"non-finite loss at step {step}: {losses}. Training stopped "
                                 f"without saving; the last good checkpoint is {kept}")


def train(config: Config, run_dir, *, progress=True):
    """Trains (or resumes) the run in `run_dir` up to `config.train.iterations` steps.

    Sets the global precision policy and random seed, writes `run_dir/config.json`, and returns
    the last logs (losses and learning rates averaged since the previous log; empty if the run
    was already complete). Raises NonFiniteLossError when a loss becomes NaN or infinite.
    """
    run_dir = Path(run_dir)
    train_cfg = config.train
    _check_same_model(config, run_dir)
    # The policy decides the layers' dtypes when they are built: set it before anything is.
    keras.mixed_precision.set_global_policy(train_cfg.precision)
    keras.utils.set_random_seed(train_cfg.seed)
    save_config(config, run_dir / CONFIG_FILE)

    strategy = make_strategy(train_cfg)
    with strategy.scope():
        trainer = build_trainer(config)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoint = make_checkpoint(trainer, step)
    manager = tf.train.CheckpointManager(checkpoint, str(run_dir / CHECKPOINT_DIR),
                                         max_to_keep=train_cfg.keep_checkpoints,
                                         checkpoint_name="ckpt")
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        tqdm.write(f"resuming {run_dir} at step {int(step)} from {manager.latest_checkpoint}",
                   file=sys.stderr)

    dataset = strategy.distribute_datasets_from_function(
        lambda context: make_dataset(config.data, "train", training=True, input_context=context))
    iterator = iter(dataset)
    panel = next(iter(make_dataset(config.data, "train", training=False)))[:PANEL_IMAGES]
    trainer.make_train_function()
    writer = tf.summary.create_file_writer(str(run_dir))
    bar = tqdm(total=train_cfg.iterations, initial=int(step), unit="step", disable=not progress,
               dynamic_ncols=True)
    logs, busy, steps_since_log = {}, 0.0, 0
    try:
        with writer.as_default():
            while int(step) < train_cfg.iterations:
                start = time.perf_counter()
                logs = {k: float(v) for k, v in trainer.train_function(iterator).items()}
                busy += time.perf_counter() - start
                n = int(step.assign_add(1))
                steps_since_log += 1
                bar.update(1)
                _raise_if_not_finite(logs, n, manager)
                if n % train_cfg.log_every == 0 or n == train_cfg.iterations:
                    images_per_sec = steps_since_log * config.data.batch_size / busy
                    for name, value in {**logs, "images_per_sec": images_per_sec}.items():
                        summaries.scalar(name, value, n)
                    bar.set_postfix(ncut=f"{logs['ncut_loss']:.3f}", rec=f"{logs['rec_loss']:.4g}",
                                    lr=f"{logs['encoder_lr']:.1e}/{logs['wnet_lr']:.1e}",
                                    img_s=f"{images_per_sec:.1f}", refresh=False)
                    # The trackers average until reset: each log covers the steps since the last.
                    trainer.reset_metrics()
                    busy, steps_since_log = 0.0, 0
                if n % train_cfg.image_every == 0 or n == train_cfg.iterations:
                    summaries.images("inputs|segmentation|reconstruction",
                                     image_panel(trainer, panel), n)
                if n % train_cfg.checkpoint_every == 0 or n == train_cfg.iterations:
                    manager.save(checkpoint_number=n)
                    writer.flush()
    finally:
        bar.close()
        writer.close()
    return logs
