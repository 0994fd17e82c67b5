"""What the two training drivers share, without TensorFlow: `run` (the TensorFlow backend) and
`jax_run` (JAX) check a run directory before resuming it, stop on a non-finite loss, and decide
alike when a step logs, checkpoints or ends the run."""

import math
import time
import typing
from pathlib import Path

from wnet_tf.config import Config, ConfigError, config_to_dict, load_config
from wnet_tf.rundir import CONFIG_FILE, has_tf_checkpoints, latest_checkpoint, latest_state

LOSSES = ("ncut_loss", "rec_loss")


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
        before = config_to_dict(load_config(path))["model"]
        if before != config_to_dict(config)["model"]:
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
