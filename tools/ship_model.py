"""Ship a training run (on either backend) as a model inside the package:
wnet_tf/weights/NAME/{config.json, wnet.weights.h5}, which `--model NAME` and
`wnet_tf.pretrained.load(NAME)` then use.

    python tools/ship_model.py RUN_DIR NAME [--checkpoint PATH] [--config JSON] [--float16]
        [--weights-dir DIR] [--max-mib N]
"""

from pathlib import Path

import click


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("name")
@click.option("--checkpoint", help="A checkpoint prefix, or a state file of a run on JAX "
                                   "(default: the run's latest).")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="Ship this config (same model and data sections) instead of the run's: "
                   "e.g. with the post-processing chosen after training.")
@click.option("--float16", is_flag=True, help="Store the weights as float16 (half the size).")
@click.option("--weights-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write NAME/ here instead of inside the package (wnet_tf/weights).")
@click.option("--max-mib", type=click.FloatRange(min=0, min_open=True),
              help="Split the weights into Keras shards of at most this many MiB each.")
def main(run_dir, name, checkpoint, config_path, float16, weights_dir, max_mib):
    from wnet_tf.config import ConfigError
    from wnet_tf.ship import ship_run

    try:
        folder = ship_run(run_dir, name, checkpoint=checkpoint, config_path=config_path,
                          float16=float16, max_shard_mib=max_mib,
                          **({"weights_dir": weights_dir} if weights_dir else {}))
    except (FileNotFoundError, ValueError, ConfigError) as err:
        raise click.ClickException(str(err)) from None
    size = sum(p.stat().st_size for p in folder.iterdir())
    click.echo(f"shipped {run_dir} as {name}: {folder} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
