"""The training loop, written once for both backends: Algorithm 1 for `train.iterations` steps
inside a run directory (wnet_tf.rundir):

    config.json            the resolved config; `export` rebuilds the networks from it
    checkpoints/           the last `train.keep_checkpoints`: TensorFlow checkpoints ckpt-<step>
                           (tf_engine) or state files state-<step>.npz (jax_engine)
    scalars.csv            both losses, both rates, images/s, one row per log (scalars.py)
    events.out.tfevents.*  the same for TensorBoard, and image panels on TensorFlow (events.py;
                           directly in the run directory, so that `tensorboard --logdir runs`
                           names each run by its directory)

`train` checks the run directory, sets the precision policy and the seed, writes the config,
resumes from the latest checkpoint (the same step, weights, optimizer states and rates; the data
pipeline starts afresh) and then, step by step, averages the logs and decides what falls due: a
log, an image panel, a checkpoint, the end at `train.iterations` or after `train.max_seconds`
(with a checkpoint; training again resumes). Below it an engine per backend builds and restores
the state, runs one step, saves, and draws the panel: `tf_engine.TFEngine` (a Keras train_step
under tf.distribute) and `jax_engine.JaxEngine` (one jitted step over explicit state, no
TensorFlow needed). This module imports neither TensorFlow nor JAX.
"""

import math
import sys
import time
import typing
from pathlib import Path

import keras
from tqdm import tqdm

from wnet_tf.config import Config, ConfigError, load_config, save_config
from wnet_tf.rundir import CONFIG_FILE, has_tf_checkpoints, latest_checkpoint, latest_state
from wnet_tf.training.scalars import ScalarLog

LOSSES = ("ncut_loss", "rec_loss")
PANEL_NAME = "inputs|segmentation|reconstruction"


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; training stopped without saving."""


def check_resumable(config: Config, run_dir, backend: str) -> None:
    """Resuming with other networks, or another backend's checkpoints, would fail deep inside
    the restore; say why here instead."""
    run_dir = Path(run_dir)
    tf_run, jax_run = has_tf_checkpoints(run_dir), latest_state(run_dir) is not None
    if (backend == "jax" and tf_run) or (backend == "tensorflow" and jax_run and not tf_run):
        kind, other = ("TensorFlow", "tensorflow") if tf_run else ("JAX", "jax")
        raise ConfigError(f"{run_dir} holds the checkpoints of a run on {kind}; resume it with "
                          f"KERAS_BACKEND={other} (or use another run directory)")
    path = run_dir / CONFIG_FILE
    if path.exists() and (tf_run or jax_run):
        before = load_config(path).model
        if before != config.model:
            raise ConfigError(f"{run_dir} holds a run with model={before}; resuming it needs "
                              "the same model section (or use another run directory)")


def raise_if_not_finite(logs, step, run_dir) -> None:
    # The logged losses are means since the last log: finite exactly when every step's losses
    # were (they are never negative), so the first non-finite one names the bad step.
    bad = {name: logs[name] for name in LOSSES if not math.isfinite(logs[name])}
    if bad:
        losses = ", ".join(f"{name}={value}" for name, value in bad.items())
        kept = latest_checkpoint(run_dir) or "none (no checkpoint was written yet)"
        raise NonFiniteLossError(f"non-finite loss at step {step}: {losses}. Training stopped "
                                 f"without saving; the last good checkpoint is {kept}")


class Due(typing.NamedTuple):
    log: bool
    images: bool
    checkpoint: bool
    stop: bool


class Clock:
    """What falls due after a step: its log, image panel and checkpoint, and the end of the run
    at `train.iterations`, or once `train.max_seconds` (0: no limit) have passed since the clock
    was made (the run's start, compilation included). A run stopped for time checkpoints at the
    step it reached, and resumes from there when started again."""

    def __init__(self, train_config):
        self.config = train_config
        self.start = time.monotonic()

    def due(self, step: int) -> Due:
        cfg = self.config
        stop = step >= cfg.iterations or (
            cfg.max_seconds > 0 and time.monotonic() - self.start >= cfg.max_seconds)
        return Due(log=stop or step % cfg.log_every == 0,
                   images=stop or step % cfg.image_every == 0,
                   checkpoint=stop or step % cfg.checkpoint_every == 0, stop=stop)


class Engine(typing.Protocol):
    """What the loop asks of a backend (tf_engine.TFEngine, jax_engine.JaxEngine), made with
    (config, run_dir) before anything is built."""

    chief: bool  # this process writes the config, the logs and the checkpoints
    tensorflow: bool  # TensorFlow is there to write TensorBoard's events
    # What each step takes: a batch, or on TensorFlow the iterator that the compiled step draws
    # its batch from (set by `start`).
    batches: typing.Iterator

    def start(self) -> tuple[int, typing.Any]:
        """Builds the state, restores the latest checkpoint, opens the data: returns the step
        and the checkpoint restored (None for a new run)."""

    def step(self, batch) -> dict[str, float]:
        """One Algorithm 1 step; once it is done, its losses and rates."""

    def image_panel(self):
        """(N, H, 3W, 3): inputs | segmentations | reconstructions, or None (no panels)."""

    def save(self, step: int) -> None:
        """A checkpoint at `step`; the last `train.keep_checkpoints` kept."""

    def finish(self, seconds: list[float]) -> None:
        """After the run's steps, given how long each took."""


def make_engine(config: Config, run_dir) -> Engine:
    """The engine of the current Keras backend (imported here: each needs its own framework)."""
    if keras.backend.backend() == "jax":
        from wnet_tf.training.jax_engine import JaxEngine

        return JaxEngine(config, run_dir)
    from wnet_tf.training.tf_engine import TFEngine

    return TFEngine(config, run_dir)


def train(config: Config, run_dir, *, progress=True):
    """Trains (or resumes) the run in `run_dir` up to `config.train.iterations` steps on the
    current Keras backend.

    Sets the global precision policy and random seed, writes `run_dir/config.json`, and returns
    the last logs (losses and learning rates averaged since the previous log; empty if the run
    was already complete). Raises NonFiniteLossError when a loss becomes NaN or infinite.
    """
    clock = Clock(config.train)
    run_dir = Path(run_dir)
    train_cfg = config.train
    check_resumable(config, run_dir, "jax" if keras.backend.backend() == "jax" else "tensorflow")
    engine = make_engine(config, run_dir)  # first: a multi-worker strategy precedes all of TF
    # The policy decides the layers' dtypes when they are built: set it before anything is.
    keras.mixed_precision.set_global_policy(train_cfg.precision)
    keras.utils.set_random_seed(train_cfg.seed)
    if engine.chief:
        save_config(config, run_dir / CONFIG_FILE)
    step, restored = engine.start()
    if restored:
        tqdm.write(f"resuming {run_dir} at step {step} from {restored}", file=sys.stderr)

    events = None
    if engine.chief and engine.tensorflow:
        from wnet_tf.training.events import EventLog

        events = EventLog(run_dir)
    scalars = ScalarLog(run_dir, step) if engine.chief else None
    bar = tqdm(total=train_cfg.iterations, initial=step, unit="step",
               disable=not (progress and engine.chief), dynamic_ncols=True)
    logs, sums, busy, since_log, seconds = {}, {}, 0.0, 0, []
    try:
        while step < train_cfg.iterations:
            batch = next(engine.batches)
            start = time.perf_counter()
            step_logs = engine.step(batch)  # returns when the step is done
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
                if scalars:
                    scalars.write(step, values)
                if events:
                    events.scalars(step, values)
                bar.set_postfix(ncut=f"{logs['ncut_loss']:.3f}", rec=f"{logs['rec_loss']:.4g}",
                                lr=f"{logs['encoder_lr']:.1e}/{logs['wnet_lr']:.1e}",
                                img_s=f"{values['images_per_sec']:.1f}", refresh=False)
                sums, busy, since_log = {}, 0.0, 0
            if due.images and events:
                panel = engine.image_panel()
                if panel is not None:
                    events.images(PANEL_NAME, panel, step)
            if due.checkpoint:
                engine.save(step)
            if due.stop:
                break
    finally:
        bar.close()
        if events:
            events.close()
    if step < train_cfg.iterations:
        tqdm.write(f"stopped at step {step} after train.max_seconds="
                   f"{train_cfg.max_seconds:g}; train again to resume", file=sys.stderr)
    if seconds:
        engine.finish(seconds)
    return logs
