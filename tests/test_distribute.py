"""tf.distribute: a mirrored run over two logical CPU devices equals one device on the same
global batch; a mirrored training run checkpoints, resumes and exports like a one-device run;
two workers on loopback train with multi_worker, are killed and resume.

Logical devices must be configured before TensorFlow initialises, which the rest of the test
session has already done, so the mirrored checks run in fresh processes."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from test_train import restore, summaries, tiny_config, train_process

from wnet_tf.config import ConfigError, TrainConfig, config_from_dict
from wnet_tf.rundir import CHECKPOINT_DIR, latest_checkpoint
from wnet_tf.training.tf_engine import is_chief, make_strategy

TWO_CPUS = """
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""

EQUALITY_SCRIPT = TWO_CPUS + textwrap.dedent("""
    import json
    import sys

    import keras
    import numpy as np

    from wnet_tf import model as wnet_model
    from wnet_tf.config import LossConfig, ModelConfig, OptimConfig
    from wnet_tf.training.trainer import WNetTrainer, make_optimizer

    # The same batch-norm arithmetic on both sides (SyncBatchNormalization's, not the fused
    # kernel), so that what differs is the distribution alone.
    wnet_model.SyncBatchNormalization.synchronises = staticmethod(lambda context: True)
    model = ModelConfig(k=3, base_filters=4, depth=2, dropout_rate=0.0)
    optim = OptimConfig(optimizer="sgd", momentum=0.0, lr_boundaries=(100,),
                        lr_values=(1e-6, 1e-7))
    images = np.random.default_rng(0).random((4, 16, 16, 3), dtype=np.float32)
    keras.utils.set_random_seed(0)

    def make(strategy):
        with strategy.scope():
            encoder, decoder = wnet_model.build_wnet(model, sync_batch_norm=True)
            trainer = WNetTrainer(encoder, decoder, LossConfig(jit=False), optim)
            trainer.compile(make_optimizer(optim), make_optimizer(optim))
        data = tf.data.Dataset.from_tensor_slices(images).batch(4).repeat()
        trainer.make_train_function()
        return trainer, iter(strategy.experimental_distribute_dataset(data))

    def step(trainer, iterator, weights):
        \"\"\"One Algorithm 1 step from `weights`: the losses and the weights after it.\"\"\"
        trainer.set_weights(weights)
        trainer.reset_metrics()
        logs = trainer.train_function(iterator)
        return [float(logs["ncut_loss"]), float(logs["rec_loss"])], trainer.get_weights()

    single, mirrored = make(tf.distribute.get_strategy()), make(
        tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    trainable = [v.trainable for v in single[0].weights]
    weights, steps = single[0].get_weights(), []
    for _ in range(int(sys.argv[1])):
        losses_1, after_1 = step(*single, weights)
        losses_2, after_2 = step(*mirrored, weights)
        def relative(kind):
            pairs = [(a - w, b - w) for a, b, w, t in zip(after_1, after_2, weights, trainable)
                     if t == kind]
            size = np.sqrt(sum(np.sum(a ** 2) for a, _ in pairs))
            return float(np.sqrt(sum(np.sum((a - b) ** 2) for a, b in pairs)) / size), float(size)
        (update_error, update), (statistics_error, _) = relative(True), relative(False)
        steps.append({"single": losses_1, "mirrored": losses_2, "update": update,
                      "update_error": update_error, "statistics_error": statistics_error})
        weights = after_1
    json.dump(steps, sys.stdout)
""")

# Trains `config` (argv[1], a JSON file) into argv[2] on two logical CPUs.
TRAIN_SCRIPT = TWO_CPUS + textwrap.dedent("""
    import sys

    from wnet_tf.config import load_config
    from wnet_tf.training.loop import train

    train(load_config(sys.argv[1]), sys.argv[2], progress=False)
""")


def run_script(script, *args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True,
                         text=True, env=env, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_sync_batch_norm_is_batch_norm_with_its_gradients(monkeypatch):
    """SyncBatchNormalization's own arithmetic (forced on one device, where it all-reduces over
    one replica) against Keras' BatchNormalization: outputs, the three gradients, the moving
    statistics."""
    import keras
    import tensorflow as tf

    from wnet_tf.model import SyncBatchNormalization

    monkeypatch.setattr(SyncBatchNormalization, "synchronises", staticmethod(lambda c: True))
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(3.0, 2.0, (4, 5, 6, 3)), tf.float32)
    dy = tf.constant(rng.normal(0.0, 1.0, (4, 5, 6, 3)), tf.float32)
    results = []
    for layer in (SyncBatchNormalization(), keras.layers.BatchNormalization()):
        layer.build(x.shape)
        layer.gamma.assign([0.5, 1.0, 2.0])
        layer.beta.assign([0.1, -0.2, 0.3])
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * dy)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        results.append([y, *grads, layer.moving_mean, layer.moving_variance])
    names = ["outputs", "dx", "dgamma", "dbeta", "moving_mean", "moving_variance"]
    for name, ours, keras_value in zip(names, *results, strict=True):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(keras_value), rtol=1e-4,
                                   atol=1e-5, err_msg=name)


def test_mirrored_on_two_devices_equals_one_device():
    """Each of 5 steps starts both runs from the same weights (batch norm statistics
    included) and compares the losses and the change of the weights.

    The change is compared in the L2 norm, relative, and by its median over the steps: the
    float32 result of one step of this small W-Net jumps by about 1% at some weights whatever
    changes the rounding (measured: one device against itself on the batch in reverse order
    gave 1.6e-2 at one step of four and 4e-5 to 9e-5 at the others; two replicas gave 1.3e-2
    and 2e-3 at two steps of four), while an error in the distribution is there at every step.
    """
    steps = json.loads(run_script(EQUALITY_SCRIPT, 5).stdout.strip().splitlines()[-1])
    for step in steps:
        np.testing.assert_allclose(step["mirrored"], step["single"], rtol=1e-5)
        assert step["update"] > 1e-4  # the weights do change
        assert step["update_error"] < 5e-2
        assert step["statistics_error"] < 1e-3
    assert np.median([step["update_error"] for step in steps]) < 1e-3


def mirrored_config(tmp_path, **train):
    return tiny_config(tmp_path, strategy="mirrored", devices=["/cpu:0", "/cpu:1"], **train)


def test_a_mirrored_run_checkpoints_resumes_and_exports_like_one_device(tmp_path):
    import tensorflow as tf

    from wnet_tf.export import export_run

    data = mirrored_config(tmp_path, iterations=2)
    config_path = tmp_path / "mirrored.json"
    config_path.write_text(json.dumps(data))
    run_dir = tmp_path / "run"
    run_script(TRAIN_SCRIPT, config_path, run_dir)
    assert latest_checkpoint(run_dir).endswith("ckpt-2")

    data["train"]["iterations"] = 4
    config_path.write_text(json.dumps(data))
    out = run_script(TRAIN_SCRIPT, config_path, run_dir)
    assert "at step 2 from" in out.stderr
    _, step = restore(config_from_dict(data), latest_checkpoint(run_dir))
    assert step == 4
    found = summaries(run_dir)
    assert sorted(found["rec_loss"]) == [1, 2, 3, 4]
    assert sorted(found["inputs|segmentation|reconstruction"]) == [2, 4]

    model = tf.saved_model.load(str(export_run(run_dir, tmp_path / "model")))
    out = model.segment(tf.random.uniform((1, 20, 28, 3)))
    assert out["probabilities"].shape == (1, 20, 28, 3)


def test_the_global_batch_must_split_across_the_replicas(tmp_path):
    config_path = tmp_path / "odd.json"
    data = mirrored_config(tmp_path)
    data["data"]["batch_size"] = 3
    config_path.write_text(json.dumps(data))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, "-c", TRAIN_SCRIPT, str(config_path),
                          str(tmp_path / "run")], capture_output=True, text=True, env=env,
                         timeout=300, check=False)
    assert out.returncode != 0
    assert "data.batch_size=3: the global batch must be a multiple of the 2 replicas" in out.stderr


@pytest.mark.parametrize("tf_config, message", [
    (None, "needs the TF_CONFIG environment variable, which is not set"),
    ("{not json", "TF_CONFIG='{not json'"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}',
     "index in range"),
])
def test_multi_worker_names_a_missing_or_bad_tf_config(monkeypatch, tf_config, message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ConfigError, match=message.replace("{", r"\{")):
        make_strategy(TrainConfig(strategy="multi_worker"))


def test_devices_are_for_mirrored_only():
    with pytest.raises(ConfigError, match=r"train.devices=\['/gpu:0'\]: expected \[\] with "
                                          r"train.strategy='default'"):
        TrainConfig(devices=("/gpu:0",)).validate()


@pytest.mark.parametrize("cluster, task, chief", [
    ({"worker": ["a:1", "b:1"]}, ("worker", 0), True),
    ({"worker": ["a:1", "b:1"]}, ("worker", 1), False),
    ({"chief": ["c:1"], "worker": ["a:1"]}, ("chief", 0), True),
    ({"chief": ["c:1"], "worker": ["a:1"]}, ("worker", 0), False),
])
def test_the_chief_is_the_chief_task_else_worker_0(cluster, task, chief):
    import tensorflow as tf

    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster), task_type=task[0], task_id=task[1])
    assert is_chief(resolver) is chief
    assert is_chief(None)


def test_tpu_says_when_there_is_none(monkeypatch):
    monkeypatch.delenv("TPU_NAME", raising=False)
    with pytest.raises(ConfigError, match="train.strategy='tpu': no TPU found"):
        make_strategy(TrainConfig(strategy="tpu"))


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(config_path, run_dir, logs, *overrides):
    """Two `python -m wnet_tf.train` workers of one cluster on loopback ports."""
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index, log in enumerate(logs):
        os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": workers},
                                              "task": {"type": "worker", "index": index}})
        try:
            processes.append(train_process(config_path, run_dir, log, *overrides))
        finally:
            del os.environ["TF_CONFIG"]
    return processes


def _step(checkpoint):
    return int((checkpoint or "ckpt-0").rsplit("-", 1)[1])


def test_two_workers_train_checkpoint_and_resume_after_one_is_killed(tmp_path):
    data = tiny_config(tmp_path, strategy="multi_worker", iterations=100_000,
                       checkpoint_every=2, log_every=1, image_every=1000)
    config_path = tmp_path / "workers.json"
    config_path.write_text(json.dumps(data))
    run_dir = tmp_path / "run"
    first = [open(tmp_path / f"first-{i}.log", "w") for i in range(2)]  # noqa: SIM115
    processes = _start_workers(config_path, run_dir, first)
    try:
        deadline = time.monotonic() + 300
        while _step(latest_checkpoint(run_dir)) < 2:
            for process, log in zip(processes, first, strict=True):
                assert process.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.2)
        processes[1].send_signal(signal.SIGKILL)
        processes[1].wait()
        # The chief is left waiting for its peer in a collective (or fails): stop it too.
        time.sleep(2)
        processes[0].send_signal(signal.SIGKILL)
        processes[0].wait()
    finally:
        for process, log in zip(processes, first, strict=True):
            process.kill()
            process.wait()
            log.close()
    killed_at = latest_checkpoint(run_dir)
    step = _step(killed_at)
    assert step >= 2

    second = [open(tmp_path / f"second-{i}.log", "w") for i in range(2)]  # noqa: SIM115
    processes = _start_workers(config_path, run_dir, second, f"train.iterations={step + 2}")
    try:
        for process, log in zip(processes, second, strict=True):
            assert process.wait(timeout=300) == 0, Path(log.name).read_text()
    finally:
        for process, log in zip(processes, second, strict=True):
            process.kill()
            process.wait()
            log.close()
    for log in second:
        assert f"at step {step} from {killed_at}" in Path(log.name).read_text()
    _, resumed = restore(config_from_dict(data), latest_checkpoint(run_dir))
    assert resumed == step + 2
    # The chief alone wrote: one event file per start, its logs cover the resumed steps, the
    # other worker's checkpoint copies are gone.
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 2
    assert {step + 1, step + 2} <= set(summaries(run_dir)["rec_loss"])
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".worker")) == []
    assert (run_dir / CHECKPOINT_DIR).is_dir()
