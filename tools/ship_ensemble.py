"""Ship several shipped models (folders from tools/ship_model.py) as one ensemble inside the
package: wnet_tf/weights/NAME/{config.json, members/*/}, which `--model NAME` and
`wnet_tf.pretrained.load(NAME)` then use (wnet_tf.endpoints.Ensemble).

    python tools/ship_ensemble.py NAME MEMBER_FOLDER MEMBER_FOLDER... [--config JSON]
        [--weights-dir DIR]
"""

from pathlib import Path

import click


@click.command()
@click.argument("name")
@click.argument("member_folders", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="The ensemble's config (its post-processing), instead of the first "
                   "member's.")
@click.option("--weights-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write NAME/ here instead of inside the package (wnet_tf/weights).")
def main(name, member_folders, config_path, weights_dir):
    from wnet_tf.config import ConfigError
    from wnet_tf.ship import ship_ensemble

    try:
        folder = ship_ensemble(member_folders, name, config_path=config_path,
                               **({"weights_dir": weights_dir} if weights_dir else {}))
    except (FileNotFoundError, FileExistsError, ValueError, ConfigError) as err:
        raise click.ClickException(str(err)) from None
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    click.echo(f"shipped {len(member_folders)} members as {name}: {folder} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
