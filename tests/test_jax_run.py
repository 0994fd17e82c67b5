"""Training on JAX (`KERAS_BACKEND=jax python -m wnet_tf.train`): the run directory, exact resume
from the backend-neutral state files, a wall-clock budget, mixed precision, and the export of a
JAX run by TensorFlow. Each JAX process is a subprocess: Keras picks its backend at import."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax")

from wnet_tf.config import ConfigError, config_from_dict  # noqa: E402
from wnet_tf.rundir import read_state, state_file  # noqa: E402
from wnet_tf.training.loop import check_resumable  # noqa: E402
from wnet_tf.training.scalars import read_scalars  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

CONFIG = {
    # Dropout on: resuming exactly needs the dropout seeds' state too.
    "model": {"k": 3, "base_filters": 4, "depth": 2, "dropout_rate": 0.2},
    "loss": {"jit": False, "radius": 2},
    "optim": {"lr_boundaries": [3], "lr_values": [0.01, 0.001]},
    "data": {"source": "folder", "image_size": 32, "preprocess": "resize", "batch_size": 1,
             "seed": 0},
    "train": {"iterations": 4, "log_every": 1, "checkpoint_every": 2, "seed": 0},
}


def jax_env(cache):
    # The persistent compilation cache lets the later processes skip most of XLA's compiling
    # (variable initialisers and the step), which is most of their time on a CPU.
    return {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT),
            "JAX_COMPILATION_CACHE_DIR": str(cache),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}


def run_jax(args, cache):
    done = subprocess.run([sys.executable, *map(str, args)], env=jax_env(cache), cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


# `python -m wnet_tf.train` as on a machine without TensorFlow (the GPU machines this is for).
WITHOUT_TENSORFLOW = """
import runpy, sys
sys.modules["tensorflow"] = None  # import tensorflow raises ImportError
sys.argv = ["wnet_tf.train", *sys.argv[1:]]
try:
    runpy.run_module("wnet_tf.train", run_name="__main__")
finally:
    print("TensorFlow modules:", sorted(m for m, v in sys.modules.items()
                                        if m.startswith("tensorflow") and v is not None))
"""


def train_on_jax(config_path, run_dir, cache, *overrides, tensorflow=True):
    sets = [arg for override in overrides for arg in ("--set", override)]
    command = ["-m", "wnet_tf.train"] if tensorflow else ["-c", WITHOUT_TENSORFLOW]
    return run_jax([*command, config_path, "--workdir", run_dir, "--no-progress", *sets], cache)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run "straight": 4 steps. Run "resumed": stopped by a time budget after its first step
    (which compiles, so it outlasts the budget), then trained again to 4 steps as on a machine
    without TensorFlow, its images read by wnet_tf.arrays instead of tf.data. The data are one
    32x32 PNG (which both pipelines read to the same floats, and "resize" leaves as it is), the
    same batch every step, so that the two runs must end equal."""
    from PIL import Image

    root = tmp_path_factory.mktemp("jax_runs")
    (root / "images").mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / "images" / "0.png")
    config = {**CONFIG, "data": {**CONFIG["data"], "train": str(root / "images")}}
    (root / "config.json").write_text(json.dumps(config))
    cache = root / "jax-cache"
    train_on_jax(root / "config.json", root / "straight", cache)
    first = train_on_jax(root / "config.json", root / "resumed", cache, "train.max_seconds=0.001")
    second = train_on_jax(root / "config.json", root / "resumed", cache, tensorflow=False)
    return root, first.stderr + second.stderr + second.stdout


def test_a_jax_run_resumes_exactly_from_its_state_files(runs):
    root, log = runs
    assert "stopped at step 1 after train.max_seconds=0.001" in log
    assert "resuming" in log and "state-1.npz" in log
    assert "TensorFlow modules: []" in log  # the second half ran without TensorFlow
    straight = read_state(state_file(root / "straight", 4))
    resumed = read_state(state_file(root / "resumed", 4))
    assert sorted(straight) == sorted(resumed)
    assert int(straight["step"]) == 4
    different = [key for key in straight if not np.array_equal(straight[key], resumed[key])]
    assert different == []  # networks, both optimizers, batch-norm statistics, dropout seeds
    before = read_state(state_file(root / "resumed", 2))
    assert any(not np.array_equal(before[k], resumed[k]) for k in before if k != "step")

    rows = {name: read_scalars(root / name / "scalars.csv") for name in ("straight", "resumed")}
    assert [row["step"] for row in rows["resumed"]] == [1, 2, 3, 4]
    for a, b in zip(rows["straight"], rows["resumed"], strict=True):
        for name in ("ncut_loss", "rec_loss", "encoder_lr", "wnet_lr"):
            assert a[name] == b[name], (a["step"], name)
    assert [row["encoder_lr"] for row in rows["straight"]] == pytest.approx(
        [0.01, 0.01, 0.01, 0.001])

    timing = json.loads((root / "resumed" / "timing.json").read_text())
    assert timing["backend"] == "jax" and timing["steps"] == 3  # this invocation's
    assert timing["seconds_per_step"] > 0
    # TensorFlow is installed here, so TensorBoard's events are written too.
    assert list((root / "straight").glob("events.out.tfevents.*"))


def test_tensorflow_exports_a_jax_run_with_the_jax_models_probabilities(runs, tmp_path):
    import tensorflow as tf

    from wnet_tf.export import export_run

    root, _ = runs
    images = np.random.default_rng(1).uniform(size=(2, 37, 45, 3)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    code = (
        "import sys, numpy as np\n"
        "from wnet_tf.config import load_config\n"
        "from wnet_tf.model import build_wnet\n"
        "from wnet_tf.rundir import latest_state, restore_networks\n"
        "run, images, out = sys.argv[1:]\n"
        "encoder, decoder = build_wnet(load_config(run + '/config.json').model)\n"
        "restore_networks(encoder, decoder, latest_state(run))\n"
        "np.save(out, np.asarray(encoder(np.load(images), training=False)))\n"
    )
    run_jax(["-c", code, root / "straight", tmp_path / "images.npy", tmp_path / "jax.npy"],
            root / "jax-cache")
    export_run(root / "straight", tmp_path / "model")
    model = tf.saved_model.load(str(tmp_path / "model"))  # kept: it owns the variables
    probs = model.segment(images)["probabilities"]
    # Measured 1.5e-7: float32 round-off between XLA's and TensorFlow's convolutions.
    np.testing.assert_allclose(probs.numpy(), np.load(tmp_path / "jax.npy"), atol=1e-5)


def test_a_run_directory_resumes_only_on_the_backend_that_wrote_it(tmp_path):
    config = config_from_dict(CONFIG)
    tf_run, jax_run = tmp_path / "tf" / "checkpoints", tmp_path / "jax" / "checkpoints"
    tf_run.mkdir(parents=True)
    (tf_run / "checkpoint").write_text('model_checkpoint_path: "ckpt-2"\n')
    jax_run.mkdir(parents=True)
    np.savez(jax_run / "state-2.npz", step=np.asarray(2))
    with pytest.raises(ConfigError, match="run on TensorFlow; resume it with KERAS_BACKEND=tens"):
        check_resumable(config, tmp_path / "tf", "jax")
    with pytest.raises(ConfigError, match="run on JAX; resume it with KERAS_BACKEND=jax"):
        check_resumable(config, tmp_path / "jax", "tensorflow")
    check_resumable(config, tmp_path / "jax", "jax")
    check_resumable(config, tmp_path / "tf", "tensorflow")


MIXED_STEPS = """
import sys, numpy as np, keras
from wnet_tf.config import config_from_dict
from wnet_tf.training.jax_engine import JaxAlgorithm1
from wnet_tf.training.trainer import build_trainer
results = {}
for precision in ("mixed_bfloat16", "mixed_float16"):
    keras.mixed_precision.set_global_policy(precision)
    config = config_from_dict({**CONFIG, "train": {**CONFIG["train"], "precision": precision}})
    algorithm = JaxAlgorithm1(build_trainer(config))
    start = algorithm.arrays(algorithm.initial_state())
    state, logs = algorithm.step(algorithm.initial_state(), np.load(sys.argv[1]))
    end = algorithm.arrays(state)
    kernel = "enc_trainable/0000"
    results[precision] = {
        "losses": [float(np.mean(logs["ncut_loss"])), float(np.mean(logs["rec_loss"]))],
        "dtype": str(end[kernel].dtype),
        "moved": float(np.max(np.abs(end[kernel] - start[kernel]))),
        "compute": algorithm.trainer.encoder.compute_dtype}
print(__import__("json").dumps(results))
"""


def test_one_mixed_precision_step_on_jax(tmp_path):
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    code = f"CONFIG = {CONFIG!r}\n" + MIXED_STEPS
    done = run_jax(["-c", code, tmp_path / "images.npy"], tmp_path / "cache")
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for precision, compute in (("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")):
        found = results[precision]
        assert found["compute"] == compute
        assert all(np.isfinite(found["losses"])), precision
        assert found["dtype"] == "float32"  # the variables stay float32
        # Adam's first step moves a weight by about the rate, 0.01: the step did update.
        assert 1e-3 < found["moved"] < 0.05, precision
