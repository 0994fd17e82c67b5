"""The training driver: Algorithm 1 for `train.iterations` steps inside a run directory.

A run directory holds
    config.json    the resolved config; `export` rebuilds the networks from it
    checkpoints/   ckpt-<step>: both networks, both optimizer states and the step, the last
                   `train.keep_checkpoints` kept
    events.out.tfevents.*   TensorBoard: both losses, both learning rates, images/s, image
                   panels (directly in the run directory, so `tensorboard --logdir runs` names
                   each run by its directory)
    scalars.csv    the same curves as a plain file (wnet_tf.scalars)
Training stops at `train.iterations`, or with a checkpoint once `train.max_seconds` have passed.
Training again in the same directory resumes from its latest checkpoint: the same step, optimizer
states and learning rates. The data pipeline and the dropout masks start afresh.

Under tf.distribute (`train.strategy`) the batch is the global one; each replica trains on its
share. In a multi-worker run every worker needs the run directory on a shared file system: all
restore from `checkpoints/`, only the chief writes the config, the TensorBoard logs and the
checkpoints there, and the other workers save theirs (saving is a collective step) to
`.worker-<i>/`, which they delete right after, as TensorFlow's multi-worker guide prescribes.
"""

import json
import os
import shutil
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf
from tqdm import tqdm

from wnet_tf import summaries
from wnet_tf.config import Config, ConfigError, save_config
from wnet_tf.data import make_dataset
from wnet_tf.images import palette
from wnet_tf.loop import Clock, check_resumable, raise_if_not_finite
from wnet_tf.rundir import (
    CHECKPOINT_DIR,
    CHECKPOINT_NAME,
    CONFIG_FILE,
    latest_checkpoint,
    make_checkpoint,
)
from wnet_tf.scalars import ScalarLog
from wnet_tf.trainer import build_trainer

PANEL_IMAGES = 4  # images in each TensorBoard panel


def make_strategy(train_config):
    """The tf.distribute strategy that builds and trains the model (the one place that picks).

    default: one device. mirrored: `train.devices`, or every local GPU (the CPU when there is
    none). multi_worker: the cluster and this worker's task from the TF_CONFIG environment
    variable. tpu: the TPU that TPUClusterResolver finds (TPU_NAME, or the local TPU VM).
    """
    kind = train_config.strategy
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(list(train_config.devices) or None)
    if kind == "multi_worker":
        _check_tf_config(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as err:
        raise ConfigError(f"train.strategy='tpu': no TPU found ({err})") from None
    return tf.distribute.TPUStrategy(resolver)


def _check_tf_config(text):
    """Say what is wrong with TF_CONFIG here rather than deep inside TensorFlow."""
    expected = ('expected TF_CONFIG=\'{"cluster": {"worker": ["host:port", ...]}, '
                '"task": {"type": "worker", "index": I}}\' (a "chief" list and task type too, '
                'if one worker is to be the chief)')
    if not text:
        raise ConfigError(f"train.strategy='multi_worker' needs the TF_CONFIG environment "
                          f"variable, which is not set; {expected}")
    try:
        spec = json.loads(text)
    except ValueError as err:
        raise ConfigError(f"TF_CONFIG={text!r} is not JSON ({err}); {expected}") from None
    task = spec.get("task") if isinstance(spec, dict) else None
    cluster = spec.get("cluster") if isinstance(spec, dict) else None
    if not (isinstance(task, dict) and isinstance(cluster, dict)):
        raise ConfigError(f"TF_CONFIG={text!r} needs a \"cluster\" and a \"task\" object; "
                          f"{expected}")
    hosts = cluster.get(task.get("type"))
    index = task.get("index")
    if not (isinstance(hosts, list) and isinstance(index, int) and 0 <= index < len(hosts)):
        raise ConfigError(f"TF_CONFIG={text!r}: task {task} is not one of the cluster's "
                          f"{ {k: len(v) for k, v in cluster.items() if isinstance(v, list)} } "
                          f"(type, and index in range); {expected}")


def is_chief(resolver):
    """True for the one process that writes: any process outside a cluster, else the "chief"
    task, else worker 0 when the cluster has no chief (TensorFlow's rule)."""
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    return (resolver.task_type == "worker" and resolver.task_id == 0
            and "chief" not in resolver.cluster_spec().as_dict())


def make_train_function(trainer, strategy):
    """One Algorithm 1 step on the iterator's next global batch; the logs averaged over the
    replicas. Keras' own `train_function` does the same, except under
    MultiWorkerMirroredStrategy, where Keras 3.15 averages the scalar logs along an axis 0
    that they do not have and fails."""

    @tf.function
    def train_function(iterator):
        logs = strategy.run(trainer.train_step, args=(next(iterator),))
        return {name: strategy.reduce("MEAN", value, axis=None) for name, value in logs.items()}

    return train_function


def image_panel(trainer, images):
    """(N, H, 3W, 3) in [0, 1]: each input beside its coloured argmax segmentation and its
    reconstruction."""
    probs, reconstructions = trainer(images, training=False)
    colours = tf.constant(palette(probs.shape[-1]) / 255.0, tf.float32)
    segmentation = tf.gather(colours, tf.argmax(probs, axis=-1))
    return tf.concat([images, segmentation, tf.clip_by_value(reconstructions, 0.0, 1.0)], axis=2)


def _count(step):
    """The step variable's value as an int (a Keras variable over a MirroredVariable has no
    __int__ of its own)."""
    return int(tf.convert_to_tensor(step.value))


def _check_batch(config: Config, replicas):
    if config.data.batch_size % replicas:
        raise ConfigError(f"data.batch_size={config.data.batch_size}: the global batch must be "
                          f"a multiple of the {replicas} replicas of "
                          f"train.strategy={config.train.strategy!r}")


def train(config: Config, run_dir, *, progress=True):
    """Trains (or resumes) the run in `run_dir` up to `config.train.iterations` steps.

    Sets the global precision policy and random seed, writes `run_dir/config.json`, and returns
    the last logs (losses and learning rates averaged since the previous log; empty if the run
    was already complete). Raises wnet_tf.loop.NonFiniteLossError when a loss becomes NaN or
    infinite.
    """
    clock = Clock(config.train)
    run_dir = Path(run_dir)
    train_cfg = config.train
    check_resumable(config, run_dir, "tensorflow")
    # First: a multi-worker strategy must exist before TensorFlow runs anything.
    strategy = make_strategy(train_cfg)
    replicas = strategy.num_replicas_in_sync
    _check_batch(config, replicas)
    chief = is_chief(strategy.cluster_resolver)
    # The policy decides the layers' dtypes when they are built: set it before anything is.
    keras.mixed_precision.set_global_policy(train_cfg.precision)
    keras.utils.set_random_seed(train_cfg.seed)
    if chief:
        save_config(config, run_dir / CONFIG_FILE)

    with strategy.scope():
        # With several replicas, batch norm takes the statistics of the global batch.
        trainer = build_trainer(config, sync_batch_norm=replicas > 1)
    step = trainer.step
    checkpoint = make_checkpoint(trainer, step)
    save_dir = run_dir / (CHECKPOINT_DIR if chief else
                          f".worker-{strategy.cluster_resolver.task_id}")
    manager = tf.train.CheckpointManager(checkpoint, str(save_dir),
                                         max_to_keep=train_cfg.keep_checkpoints,
                                         checkpoint_name=CHECKPOINT_NAME)
    latest = latest_checkpoint(run_dir)
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
        tqdm.write(f"resuming {run_dir} at step {_count(step)} from {latest}", file=sys.stderr)

    dataset = strategy.distribute_datasets_from_function(
        lambda context: make_dataset(config.data, "train", training=True, input_context=context))
    iterator = iter(dataset)
    if chief:
        panel = next(iter(make_dataset(config.data, "train", training=False)))[:PANEL_IMAGES]
    train_function = make_train_function(trainer, strategy)
    writer = (tf.summary.create_file_writer(str(run_dir)) if chief
              else tf.summary.create_noop_writer())
    bar = tqdm(total=train_cfg.iterations, initial=_count(step), unit="step",
               disable=not (progress and chief), dynamic_ncols=True)
    scalars = ScalarLog(run_dir, _count(step)) if chief else None
    logs, busy, steps_since_log = {}, 0.0, 0
    try:
        with writer.as_default():
            while _count(step) < train_cfg.iterations:
                start = time.perf_counter()
                logs = {k: float(v) for k, v in train_function(iterator).items()}
                busy += time.perf_counter() - start
                n = _count(step)
                steps_since_log += 1
                bar.update(1)
                raise_if_not_finite(logs, n, run_dir)
                due = clock.due(n)
                if due.log:
                    images_per_sec = steps_since_log * config.data.batch_size / busy
                    for name, value in {**logs, "images_per_sec": images_per_sec}.items():
                        summaries.scalar(name, value, n)
                    if chief:
                        scalars.write(n, {**logs, "images_per_sec": images_per_sec})
                    bar.set_postfix(ncut=f"{logs['ncut_loss']:.3f}", rec=f"{logs['rec_loss']:.4g}",
                                    lr=f"{logs['encoder_lr']:.1e}/{logs['wnet_lr']:.1e}",
                                    img_s=f"{images_per_sec:.1f}", refresh=False)
                    # The trackers average until reset: each log covers the steps since the last.
                    trainer.reset_metrics()
                    busy, steps_since_log = 0.0, 0
                if chief and due.images:
                    summaries.images("inputs|segmentation|reconstruction",
                                     image_panel(trainer, panel), n)
                if due.checkpoint:
                    # Every worker saves (it is a collective step); only the chief's copy stays.
                    manager.save(checkpoint_number=n)
                    writer.flush()
                    if not chief:
                        shutil.rmtree(save_dir, ignore_errors=True)
                if due.stop:
                    break
    finally:
        bar.close()
        writer.close()
    if _count(step) < train_cfg.iterations:
        tqdm.write(f"stopped at step {_count(step)} after train.max_seconds="
                   f"{train_cfg.max_seconds:g}; train again to resume", file=sys.stderr)
    return logs
