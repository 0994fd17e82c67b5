"""A training run (on either backend) shipped as a model inside the package (or any folder):
`WEIGHTS_DIR/NAME/` holding `config.json` (the config that made it) and its weights in Keras'
format (wnet_tf.saving). `python tools/ship_model.py RUN_DIR NAME` calls `ship_run`."""

from __future__ import annotations

from pathlib import Path

from wnet_tf.config import ConfigError, load_config, save_config
from wnet_tf.pretrained import WEIGHTS_DIR
from wnet_tf.rundir import CONFIG_FILE, trained_networks
from wnet_tf.saving import save_weights


def ship_run(run_dir, name, *, checkpoint=None, config_path=None, weights_dir=WEIGHTS_DIR,
             float16=False, max_shard_mib=None) -> Path:
    """Writes a run's latest checkpoint (or `checkpoint`) as the shipped model `name`:
    `weights_dir/name/` with config.json and the weights (float16 if asked, in shards of at most
    `max_shard_mib` MiB if given). The config is the run's, or `config_path`'s (for the
    post-processing chosen after training), whose model and data sections must then be the
    run's. Returns that folder."""
    run_dir = Path(run_dir)
    config = load_config(run_dir / CONFIG_FILE)
    if config_path is not None:
        chosen = load_config(config_path)
        for section in ("model", "data"):
            if getattr(chosen, section) != getattr(config, section):
                raise ConfigError(f"{config_path}: its {section} section is not the one "
                                  f"{run_dir} trained with")
        config = chosen
    encoder, decoder = trained_networks(run_dir, checkpoint, config.model, "ship")
    folder = Path(weights_dir) / name
    save_weights(encoder, decoder, folder, float16=float16, max_shard_mib=max_shard_mib)
    save_config(config, folder / CONFIG_FILE)
    return folder
