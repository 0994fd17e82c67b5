"""The training driver on the JAX backend (`KERAS_BACKEND=jax python -m wnet_tf.train CONFIG`):
Algorithm 1 as one jitted step (wnet_tf.jax_train) for `train.iterations` steps, or until
`train.max_seconds`, in the run directory layout of the TensorFlow driver (wnet_tf.run):

    config.json                     the resolved config
    checkpoints/state-<step>.npz    both networks, both optimizer states, the dropout seeds and
                                    the step, as NumPy arrays (wnet_tf.rundir); the last
                                    `train.keep_checkpoints` kept
    scalars.csv                     both losses, both rates, images/s (wnet_tf.scalars)
    events.out.tfevents.*           the same scalars for TensorBoard, where TensorFlow is installed
    timing.json                     this invocation: the device, seconds per step (the first,
                                    which compiles, apart), the accelerator's peak memory

It needs no TensorFlow: the images come through tf.data where TensorFlow is installed and through
wnet_tf.arrays (the same decode, resize, crop and flip) where it is not. Training again in the same
directory resumes exactly where the last state file left off (the data pipeline starts afresh).
`wnet-tf export RUN_DIR`, on a machine with TensorFlow, exports such a run. One device; the
image panels of TensorBoard are the TensorFlow driver's alone.
"""

import functools
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import keras
import numpy as np
from tqdm import tqdm

from wnet_tf.config import Config, ConfigError, save_config
from wnet_tf.files import atomic_write_text
from wnet_tf.jax_train import JaxAlgorithm1
from wnet_tf.loop import Clock, check_resumable, raise_if_not_finite
from wnet_tf.rundir import CONFIG_FILE, latest_state, read_state, write_state
from wnet_tf.scalars import ScalarLog
from wnet_tf.trainer import build_trainer

TIMING_FILE = "timing.json"


@functools.cache  # devices can be hidden only before TensorFlow initialises them: once
def _tensorflow():
    """TensorFlow, kept off the accelerators (JAX has them), or None where it is not installed."""
    try:
        import tensorflow as tf
    except ImportError:
        return None
    tf.config.set_visible_devices([], "GPU")
    return tf


def training_batches(config: Config):
    """An endless iterator of float32 (B, S, S, 3) NumPy batches for training."""
    if _tensorflow() is None:
        from wnet_tf.arrays import batches

        return batches(config.data, "train", training=True)
    from wnet_tf.data import make_dataset

    return make_dataset(config.data, "train", training=True).as_numpy_iterator()


class _Scalars:
    """scalars.csv, and TensorBoard's events where TensorFlow is installed."""

    def __init__(self, run_dir, step):
        self.csv = ScalarLog(run_dir, step)
        tf = _tensorflow()
        self.writer = tf.summary.create_file_writer(str(run_dir)) if tf else None

    def write(self, step, values):
        self.csv.write(step, values)
        if self.writer:
            from wnet_tf import summaries

            with self.writer.as_default():
                for name, value in values.items():
                    summaries.scalar(name, value, step)
            self.writer.flush()


def _peak_memory():
    """The first device's peak memory in bytes, where its backend keeps the figure (GPUs)."""
    stats = jax.local_devices()[0].memory_stats() or {}
    return stats.get("peak_bytes_in_use")


def train(config: Config, run_dir, *, progress=True):
    """Trains (or resumes) the run in `run_dir` on JAX; returns the last logs (the losses and
    rates averaged since the previous log; empty if the run was already complete). Raises
    wnet_tf.loop.NonFiniteLossError when a loss becomes NaN or infinite."""
    clock = Clock(config.train)
    run_dir = Path(run_dir)
    train_cfg = config.train
    if train_cfg.strategy != "default":
        raise ConfigError(f"train.strategy={train_cfg.strategy!r} is tf.distribute's; on JAX "
                          "training runs on one device (train.strategy='default')")
    check_resumable(config, run_dir, "jax")
    keras.mixed_precision.set_global_policy(train_cfg.precision)
    keras.utils.set_random_seed(train_cfg.seed)
    save_config(config, run_dir / CONFIG_FILE)

    algorithm = JaxAlgorithm1(build_trainer(config))
    latest = latest_state(run_dir)
    if latest:
        state = algorithm.state_from(read_state(latest), latest)
        tqdm.write(f"resuming {run_dir} at step {int(state['step'])} from {latest}",
                   file=sys.stderr)
    else:
        state = algorithm.initial_state()
    step = int(state["step"])
    batches = training_batches(config)
    scalars = _Scalars(run_dir, step)
    bar = tqdm(total=train_cfg.iterations, initial=step, unit="step", disable=not progress,
               dynamic_ncols=True)
    logs, sums, busy, since_log, seconds = {}, {}, 0.0, 0, []
    try:
        while step < train_cfg.iterations:
            images = next(batches)
            start = time.perf_counter()
            state, step_logs = algorithm.step(state, images)
            step_logs = jax.device_get(step_logs)  # waits for the step
            step_logs = {name: float(np.mean(step_logs[name]))  # in the TensorFlow driver's order
                         for name in algorithm.trainer.trackers}
            seconds.append(time.perf_counter() - start)
            busy += seconds[-1]
            step += 1
            since_log += 1
            bar.update(1)
            for name, value in step_logs.items():
                sums[name] = sums.get(name, 0.0) + value
            logs = {name: total / since_log for name, total in sums.items()}
            raise_if_not_finite(logs, step, run_dir)
            due = clock.due(step)
            if due.log:
                values = {**logs, "images_per_sec": since_log * config.data.batch_size / busy}
                scalars.write(step, values)
                bar.set_postfix(ncut=f"{logs['ncut_loss']:.3f}", rec=f"{logs['rec_loss']:.4g}",
                                lr=f"{logs['encoder_lr']:.1e}", refresh=False)
                sums, busy, since_log = {}, 0.0, 0
            if due.checkpoint:
                write_state(run_dir, step, algorithm.arrays(state), train_cfg.keep_checkpoints)
            if due.stop:
                break
    finally:
        bar.close()
    if step < train_cfg.iterations:
        tqdm.write(f"stopped at step {step} after train.max_seconds={train_cfg.max_seconds:g}; "
                   "train again to resume", file=sys.stderr)
    if seconds:
        _write_timing(run_dir, config, seconds)
    return logs


def _write_timing(run_dir, config, seconds):
    """timing.json: how fast this invocation's steps ran, and on what."""
    later = seconds[1:]
    timing = {
        "backend": "jax",
        "device": str(jax.local_devices()[0]),
        "precision": config.train.precision,
        "batch_size": config.data.batch_size,
        "image_size": config.data.image_size,
        "steps": len(seconds),
        "first_step_seconds": seconds[0],  # compiles the step
        "seconds_per_step": statistics.median(later) if later else None,
        "peak_memory_bytes": _peak_memory(),
    }
    atomic_write_text(Path(run_dir) / TIMING_FILE, json.dumps(timing, indent=2) + "\n")
