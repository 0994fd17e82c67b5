"""The training driver: run directory, TensorBoard logs, checkpoints, resume after SIGKILL, NaN
stop, the shipped configs and the command line."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from wnet_tf.config import config_from_dict, load_config
from wnet_tf.rundir import CHECKPOINT_DIR, latest_checkpoint, make_checkpoint
from wnet_tf.train import command
from wnet_tf.training.loop import NonFiniteLossError, train
from wnet_tf.training.scalars import read_scalars
from wnet_tf.training.trainer import build_trainer

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def write_images(folder, n=6, seed=0):
    """Random PNGs of a few sizes (the pipeline resizes them)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        image = rng.integers(0, 256, (30 + 4 * i, 40, 3), dtype=np.uint8)
        (folder / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    return folder


def tiny_config(tmp_path, **train):
    """A config for seconds-long runs: a 4-filter W-Net of depth 1 on 32x32 images."""
    return {
        "model": {"k": 3, "base_filters": 4, "depth": 1, "dropout_rate": 0.0},
        "loss": {"jit": False, "radius": 2},  # 9 neighbours: a small graph to trace
        "optim": {"lr_boundaries": [3], "lr_values": [0.01, 0.001]},
        "data": {"source": "folder", "train": str(write_images(tmp_path / "images")),
                 "image_size": 32, "batch_size": 2, "seed": 1},
        "train": {"iterations": 4, "log_every": 1, "image_every": 2, "checkpoint_every": 2,
                  "keep_checkpoints": 2, **train},
    }


def summaries(run_dir):
    """{tag: {step: value}} from a run's event files; image summaries as their PNG shapes."""
    found = {}
    for path in sorted(Path(run_dir).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                if value.metadata.plugin_data.plugin_name == "images":
                    tensor = [tf.io.decode_png(png).shape for png in tensor[2:]]
                found.setdefault(value.tag, {})[event.step] = tensor
    return found


def restore(config, checkpoint):
    """A trainer and step counter holding `checkpoint`."""
    trainer = build_trainer(config)
    make_checkpoint(trainer, trainer.step).restore(checkpoint).assert_existing_objects_matched()
    return trainer, int(trainer.step)


def state(trainer):
    """Every number a resumed run must get back: weights, BN statistics, both optimizers."""
    variables = (trainer.encoder.variables + trainer.decoder.variables
                 + trainer.encoder_optimizer.variables + trainer.wnet_optimizer.variables)
    return [(v.path, np.asarray(v)) for v in variables if "seed_generator" not in v.path]


def test_a_run_writes_its_config_logs_panels_and_last_checkpoints(tmp_path):
    config = config_from_dict(tiny_config(tmp_path, iterations=5))
    logs = train(config, tmp_path / "run", progress=False)
    assert load_config(tmp_path / "run" / "config.json") == config
    assert np.isfinite(logs["ncut_loss"]) and np.isfinite(logs["rec_loss"])
    # Every 2 steps and at the end, the last 2 kept.
    names = sorted(p.name for p in (tmp_path / "run" / CHECKPOINT_DIR).glob("*.index"))
    assert names == ["ckpt-4.index", "ckpt-5.index"]
    found = summaries(tmp_path / "run")
    for tag in ("ncut_loss", "rec_loss", "encoder_lr", "wnet_lr", "images_per_sec"):
        assert sorted(found[tag]) == [1, 2, 3, 4, 5], tag
    assert found["encoder_lr"][3] == pytest.approx(0.01)
    assert found["wnet_lr"][4] == pytest.approx(0.001)
    panels = found["inputs|segmentation|reconstruction"]
    assert sorted(panels) == [2, 4, 5]
    assert panels[5] == [(32, 96, 3), (32, 96, 3)]  # the batch of 2, three 32x32 images wide
    # The same curves as a plain file.
    rows = read_scalars(tmp_path / "run" / "scalars.csv")
    assert [row["step"] for row in rows] == [1, 2, 3, 4, 5]
    for row in rows:
        for tag in ("ncut_loss", "rec_loss", "encoder_lr", "wnet_lr", "images_per_sec"):
            assert row[tag] == pytest.approx(found[tag][row["step"]], rel=1e-6), tag


def test_a_time_budget_stops_with_a_checkpoint_and_the_next_run_resumes(tmp_path):
    config = config_from_dict(tiny_config(tmp_path, iterations=5, max_seconds=1e-3))
    train(config, tmp_path / "run", progress=False)
    assert latest_checkpoint(tmp_path / "run").endswith("ckpt-1")  # the first step outlasts it
    config = config_from_dict(tiny_config(tmp_path, iterations=5))
    train(config, tmp_path / "run", progress=False)
    assert latest_checkpoint(tmp_path / "run").endswith("ckpt-5")
    # The resumed run's rows continue the first run's.
    steps = [row["step"] for row in read_scalars(tmp_path / "run" / "scalars.csv")]
    assert steps == [1, 2, 3, 4, 5]


def test_a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from wnet_tf.training import tf_engine

    def poisoned(data_config, split, *, training, input_context=None):
        # Batches 1-4 are images, batch 5 on are NaN.
        images = tf.random.stateless_uniform((4, 2, 32, 32, 3), seed=(1, 2))
        nan = tf.fill((1, 2, 32, 32, 3), np.nan)
        return tf.data.Dataset.from_tensor_slices(tf.concat([images, nan], 0)).repeat()

    monkeypatch.setattr(tf_engine, "make_dataset", poisoned)
    config = config_from_dict(tiny_config(tmp_path, iterations=10, keep_checkpoints=5))
    with pytest.raises(NonFiniteLossError, match=r"step 5: ncut_loss=nan.*ckpt-4"):
        train(config, tmp_path / "run", progress=False)
    checkpoint = latest_checkpoint(tmp_path / "run")
    assert checkpoint.endswith("ckpt-4")
    assert not list((tmp_path / "run" / CHECKPOINT_DIR).glob("ckpt-5*"))
    trainer, step = restore(config, checkpoint)
    assert step == 4
    assert all(np.all(np.isfinite(value)) for _, value in state(trainer))


def train_process(config_path, run_dir, log, *overrides):
    command = [sys.executable, "-m", "wnet_tf.train", str(config_path), "--workdir",
               str(run_dir), "--no-progress"]
    for override in overrides:
        command += ["--set", override]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    # Output to a file: a pipe nobody reads would block the child when it fills.
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


def test_sigkill_then_restart_resumes_step_optimizers_and_learning_rates(tmp_path):
    data = tiny_config(tmp_path, iterations=100_000, checkpoint_every=2, log_every=1000,
                       image_every=1000)
    config_path = tmp_path / "tiny.json"
    config_path.write_text(json.dumps(data))
    config = config_from_dict(data)
    run_dir = tmp_path / "run"
    with open(tmp_path / "first.log", "w") as log:
        process = train_process(config_path, run_dir, log)
        try:
            deadline = time.monotonic() + 300
            while int((latest_checkpoint(run_dir) or "ckpt-0").rsplit("-", 1)[1]) < 4:
                assert process.poll() is None, (tmp_path / "first.log").read_text()
                assert time.monotonic() < deadline, "no checkpoint at step 4 after 300 s"
                time.sleep(0.2)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    killed_at = latest_checkpoint(run_dir)
    trainer, step = restore(config, killed_at)  # a complete checkpoint despite the kill
    assert step >= 4
    for optimizer in (trainer.encoder_optimizer, trainer.wnet_optimizer):
        assert int(optimizer.iterations) == step
        assert float(optimizer.learning_rate) == pytest.approx(0.001)  # past the boundary at 3

    with open(tmp_path / "second.log", "w") as log:
        process = train_process(config_path, run_dir, log, f"train.iterations={step + 1}")
        assert process.wait(timeout=300) == 0, (tmp_path / "second.log").read_text()
    assert f"at step {step} from {killed_at}" in (tmp_path / "second.log").read_text()
    resumed, resumed_step = restore(config, latest_checkpoint(run_dir))
    assert resumed_step == step + 1

    # The restarted process made exactly the step that the checkpointed state makes on the
    # first batch of the (seeded) data: weights and both optimizers' states included.
    from wnet_tf.data import make_dataset

    batch = next(iter(make_dataset(config.data, "train", training=True)))
    trainer.train_on_batch(batch)
    expected, got = state(trainer), state(resumed)
    assert len(expected) == len(got)
    for (path, value), (_, resumed_value) in zip(expected, got, strict=True):
        np.testing.assert_allclose(resumed_value, value, rtol=1e-4, atol=1e-6, err_msg=path)


def test_the_shipped_configs_load_and_say_what_they_are_for():
    paper = load_config(CONFIGS / "paper.json")
    quickstart = load_config(CONFIGS / "quickstart.json")
    assert paper.about and quickstart.about
    assert (paper.data.image_size, paper.data.batch_size, paper.train.iterations) == (224, 10,
                                                                                      50000)
    assert (paper.loss.sigma_i, paper.loss.sigma_x, paper.loss.radius) == (10.0, 4.0, 5)
    assert paper.optim.lr_values[0] == 0.003 and paper.data.source == "tfrecord"
    assert quickstart.data.source == "skimage"
    readme = (CONFIGS / "README.md").read_text()
    assert "paper.json" in readme and "quickstart.json" in readme


def test_the_gpu_script_trains_the_shipped_recipe_at_the_papers_scale():
    # tools/gpu_train.sh runs only where a GPU is lent, rarely: its default config and SCALE
    # overrides are checked here, so that a renamed key fails now rather than on the GPU.
    script = (CONFIGS.parent / "tools" / "gpu_train.sh").read_text()
    default = re.search(r"config=\$\{CONFIG:-([^}]+)\}", script).group(1)
    scale = re.search(r"scale=\$\{SCALE-([^}]*)\}", script).group(1).split()
    scaled = load_config(CONFIGS.parent / default, scale)
    shipped = load_config(CONFIGS / "bsds500.json")
    paper = load_config(CONFIGS / "paper.json")
    assert default == "configs/bsds500.json"
    assert (scaled.model.base_filters, scaled.data.image_size, scaled.data.batch_size) == (
        paper.model.base_filters, paper.data.image_size, paper.data.batch_size)
    # Everything else is the shipped recipe.
    assert (scaled.model.padding, scaled.data.scale_jitter, scaled.optim, scaled.loss) == (
        shipped.model.padding, shipped.data.scale_jitter, shipped.optim, shipped.loss)


def test_the_command_names_a_bad_override(tmp_path):
    config_path = tmp_path / "tiny.json"
    config_path.write_text(json.dumps(tiny_config(tmp_path)))
    result = CliRunner().invoke(command, [str(config_path), "--set", "model.k=1"])
    assert result.exit_code == 2 and "model.k=1" in result.output


@pytest.mark.parametrize("setting, configure, pooled",
                         [(None, True, True), ("false", True, False), (None, False, False)])
def test_entry_points_pick_the_pooling_cpu_allocator_unless_told_otherwise(setting, configure,
                                                                           pooled):
    # Only the BFC allocator keeps statistics; the default one raises when asked for them.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    # With oneDNN's CPU ops (TensorFlow's default on CPUs with AVX-512 VNNI / bf16) the default
    # allocator keeps statistics too, which would hide the choice this test observes.
    env["TF_ENABLE_ONEDNN_OPTS"] = "0"
    if setting is not None:
        env["TF_CPU_ALLOCATOR_USE_BFC"] = setting
    # Importing the package changes nothing; the entry points call configure_tensorflow.
    setup = "import wnet_tf.entry; wnet_tf.entry.configure_tensorflow()" if configure else \
        "import wnet_tf.data, wnet_tf.bsds"
    script = (f"{setup}\nimport tensorflow as tf\n"
              "tf.zeros((256, 256)).numpy()\n"
              "try:\n"
              "    print(tf.config.experimental.get_memory_info('CPU:0')['peak'] > 0)\n"
              "except ValueError:\n"
              "    print('no statistics')\n")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split()[-1] == ("True" if pooled else "statistics")
