"""The TensorFlow engine of the training loop (wnet_tf.training.loop): Algorithm 1 as
WNetTrainer.train_step under tf.distribute, TensorFlow checkpoints, and the image panels of
TensorBoard.

    checkpoints/ckpt-<step>   both networks, both optimizer states and the step

Under tf.distribute (`train.strategy`) the batch is the global one; each replica trains on its
share. In a multi-worker run every worker needs the run directory on a shared file system: all
restore from `checkpoints/`, only the chief writes the config, the TensorBoard logs and the
checkpoints there, and the other workers save theirs (saving is a collective step) to
`.worker-<i>/`, which they delete right after, as TensorFlow's multi-worker guide prescribes.
"""

import itertools
import json
import os
import shutil

import tensorflow as tf

from wnet_tf.config import Config, ConfigError
from wnet_tf.data import make_dataset
from wnet_tf.images import palette
from wnet_tf.rundir import CHECKPOINT_DIR, CHECKPOINT_NAME, latest_checkpoint, make_checkpoint
from wnet_tf.training.trainer import build_trainer

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
    """One Algorithm 1 step on the iterator's next global batch; its logs (the trackers reset
    first, so the step's own means) averaged over the replicas. Keras' own `train_function`
    steps alike, except under MultiWorkerMirroredStrategy, where Keras 3.15 averages the scalar
    logs along an axis 0 that they do not have and fails."""

    def replica_step(data):
        trainer.reset_metrics()  # the loop averages the steps' logs itself
        return trainer.train_step(data)

    @tf.function
    def train_function(iterator):
        logs = strategy.run(replica_step, args=(next(iterator),))
        return {name: strategy.reduce("MEAN", value, axis=None) for name, value in logs.items()}

    return train_function


def image_panel(trainer, images):
    """(N, H, 3W, 3) in [0, 1]: each input beside its coloured argmax segmentation and its
    reconstruction."""
    probs, reconstructions = trainer(images, training=False)
    colours = tf.constant(palette(probs.shape[-1]) / 255.0, tf.float32)
    segmentation = tf.gather(colours, tf.argmax(probs, axis=-1))
    return tf.concat([images, segmentation, tf.clip_by_value(reconstructions, 0.0, 1.0)], axis=2)


def _check_batch(config: Config, replicas):
    if config.data.batch_size % replicas:
        raise ConfigError(f"data.batch_size={config.data.batch_size}: the global batch must be "
                          f"a multiple of the {replicas} replicas of "
                          f"train.strategy={config.train.strategy!r}")


class TFEngine:
    """The loop's engine on TensorFlow: builds the trainer inside the strategy's scope, restores
    and saves TensorFlow checkpoints, runs one step, draws the image panel."""

    tensorflow = True  # TensorBoard's events can be written

    def __init__(self, config: Config, run_dir):
        self.config, self.run_dir = config, run_dir
        # First: a multi-worker strategy must exist before TensorFlow runs anything.
        self.strategy = make_strategy(config.train)
        _check_batch(config, self.strategy.num_replicas_in_sync)
        self.chief = is_chief(self.strategy.cluster_resolver)

    def start(self):
        config, strategy = self.config, self.strategy
        with strategy.scope():
            # With several replicas, batch norm takes the statistics of the global batch.
            self.trainer = build_trainer(config,
                                         sync_batch_norm=strategy.num_replicas_in_sync > 1)
        self.checkpoint = make_checkpoint(self.trainer, self.trainer.step)
        self.save_dir = self.run_dir / (CHECKPOINT_DIR if self.chief else
                                        f".worker-{strategy.cluster_resolver.task_id}")
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, str(self.save_dir), max_to_keep=config.train.keep_checkpoints,
            checkpoint_name=CHECKPOINT_NAME)
        latest = latest_checkpoint(self.run_dir)
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        dataset = strategy.distribute_datasets_from_function(
            lambda context: make_dataset(config.data, "train", training=True,
                                         input_context=context))
        # The step takes its batch from the iterator inside the compiled function.
        self.batches = itertools.repeat(iter(dataset))
        if self.chief:
            self.panel = next(iter(make_dataset(config.data, "train", training=False)))
            self.panel = self.panel[:PANEL_IMAGES]
        self.train_function = make_train_function(self.trainer, strategy)
        # The step variable's value as an int (a Keras variable over a MirroredVariable has no
        # __int__ of its own).
        return int(tf.convert_to_tensor(self.trainer.step.value)), latest

    def step(self, iterator) -> dict:
        return {name: float(value) for name, value in self.train_function(iterator).items()}

    def image_panel(self):
        return image_panel(self.trainer, self.panel)

    def save(self, step: int):
        # Every worker saves (it is a collective step); only the chief's copy stays.
        self.manager.save(checkpoint_number=step)
        if not self.chief:
            shutil.rmtree(self.save_dir, ignore_errors=True)

    def finish(self, seconds):
        pass  # timing.json is the JAX engine's
