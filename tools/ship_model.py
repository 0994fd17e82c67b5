"""Ship a training run as a model inside the package: wnet_tf/models/NAME/{config.json,
weights.npz}, which `--model NAME` and `wnet_tf.pretrained.load(NAME)` then use.

    python tools/ship_model.py RUN_DIR NAME [--checkpoint PREFIX] [--float16]
"""

from pathlib import Path

import click
import numpy as np


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("name")
@click.option("--checkpoint", help="A checkpoint prefix (default: the run's latest).")
@click.option("--float16", is_flag=True, help="Store the weights as float16 (half the size).")
def main(run_dir, name, checkpoint, float16):
    from wnet_tf.pretrained import ship_run

    try:
        folder = ship_run(run_dir, name, checkpoint=checkpoint,
                          dtype=np.float16 if float16 else np.float32)
    except FileNotFoundError as err:
        raise click.ClickException(str(err)) from None
    size = sum(p.stat().st_size for p in folder.iterdir())
    click.echo(f"shipped {run_dir} as {name}: {folder} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
