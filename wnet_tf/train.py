"""`python -m wnet_tf.train CONFIG [--workdir DIR] [--set section.key=value ...]`, also
`wnet-tf train`: load the config, then `wnet_tf.training.loop.train` does the rest, on TensorFlow
or, under KERAS_BACKEND=jax, on JAX."""

import typing
from pathlib import Path

import click

from wnet_tf.config import ConfigError, TrainConfig, load_config

STRATEGIES = typing.get_args(typing.get_type_hints(TrainConfig)["strategy"])


@click.command()
@click.argument("config_path", metavar="CONFIG",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              help="The run directory (default: runs/<CONFIG's name>). If it holds a "
                   "checkpoint, training resumes from it.")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a config value (JSON), e.g. --set train.iterations=100. Repeatable.")
@click.option("--strategy", type=click.Choice(STRATEGIES),
              help="Where to train (sets train.strategy): one device, all local GPUs, the "
                   "workers of TF_CONFIG, or a TPU. data.batch_size stays the global batch.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar.")
def command(config_path, workdir, overrides, strategy, progress):
    """Train W-Net from a JSON config (see configs/README.md)."""
    if strategy:
        overrides = (*overrides, f"train.strategy={strategy}")
    try:
        config = load_config(config_path, overrides)
    except ConfigError as err:
        raise click.BadParameter(str(err), param_hint="CONFIG / --set") from None
    # Imported here so that --help and config errors do not wait for TensorFlow or JAX.
    from wnet_tf.inputs import check_inputs
    from wnet_tf.training.loop import NonFiniteLossError, train

    try:  # before the run directory exists: a run that cannot start leaves nothing behind
        check_inputs(config.data)
    except (FileNotFoundError, ValueError) as err:
        raise click.UsageError(str(err)) from None

    run_dir = workdir or Path("runs") / config_path.stem
    try:
        train(config, run_dir, progress=progress)
    except (NonFiniteLossError, ConfigError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"run directory: {run_dir}")


if __name__ == "__main__":
    from wnet_tf.entry import configure_tensorflow

    configure_tensorflow()
    command(prog_name="python -m wnet_tf.train")
