"""A training run (on either backend) shipped as a model inside the package (or any folder):
`WEIGHTS_DIR/NAME/` holding `config.json` (the config that made it) and its weights in Keras'
format (wnet_tf.saving). `python tools/ship_model.py RUN_DIR NAME` calls `ship_run`; `python
tools/ship_ensemble.py NAME MEMBER_FOLDER...` calls `ship_ensemble`."""

from __future__ import annotations

import shutil
from pathlib import Path

from wnet_tf.config import ConfigError, load_config, save_config
from wnet_tf.files import replacing_folder
from wnet_tf.pretrained import MEMBERS_DIR, WEIGHTS_DIR, is_shipped, load_folder
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


def ship_ensemble(member_folders, name, *, config_path=None, weights_dir=WEIGHTS_DIR) -> Path:
    """Writes shipped models (folders from `ship_run`) as one shipped ensemble `name`
    (wnet_tf.endpoints.Ensemble): `weights_dir/name/` with config.json (`config_path`'s, for the
    post-processing chosen for the ensemble, else the first member's) and a copy of each member
    in `members/<its folder's name>/`. The ensemble is loaded once before it replaces anything
    (members that see images differently are refused), and it replaces an earlier `name` whole.
    Returns that folder."""
    folders = [Path(f) for f in member_folders]
    for folder in folders:
        if not is_shipped(folder) or (folder / MEMBERS_DIR).exists():
            raise FileNotFoundError(f"{folder}: not a shipped model (config.json and weights)")
    if len(folders) < 2 or len({f.name for f in folders}) < len(folders):
        raise ValueError(f"an ensemble needs two or more members with distinct folder names, "
                         f"got {[f.name for f in folders]}")
    config = load_config(config_path or folders[0] / CONFIG_FILE)
    out = Path(weights_dir) / name
    if out.exists() and not is_shipped(out):
        raise FileExistsError(f"{out} exists and is not a shipped model: not replacing it")
    with replacing_folder(out) as staging:
        for folder in folders:
            shutil.copytree(folder, staging / MEMBERS_DIR / folder.name)
        save_config(config, staging / CONFIG_FILE)
        load_folder(staging)  # every member loads and sees images as the ensemble says
    return out
