"""`wnet-tf view DIR`: the page of a folder of `postprocess` outputs (wnet_tf.view.write_view)."""

from pathlib import Path

import click

from wnet_tf.workers import usable_cores

_FOLDER = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command()
@click.argument("folder", type=_FOLDER)
@click.option("--images", type=_FOLDER,
              help="The photos, NAME.<ext> [default: FOLDER itself, else FOLDER/../images].")
@click.option("--segments", type=_FOLDER,
              help="segment's NAME_labels.png [default: FOLDER, else FOLDER/../segments].")
@click.option("--eval", "evals", type=_FOLDER, multiple=True,
              help="`evaluate --out` results (repeat for several) [default: found in FOLDER].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write index.html and index_files/ [default: FOLDER].")
@click.option("--workers", type=click.IntRange(min=1), default=usable_cores(),
              show_default=True, help="Processes writing the images' data.")
@click.option("--open", "open_page", is_flag=True, help="Open the page in the default browser.")
def command(folder, images, segments, evals, out, workers, open_page):
    """Write a page to browse the hierarchies in FOLDER: a threshold slider that cuts each UCM
    live, region boundaries or mean colours, the W-Net's segments, and the evaluations."""
    from wnet_tf.view import ViewError, write_view

    try:
        page, problems = write_view(folder, out, images, segments, evals or None, workers)
    except ViewError as err:
        raise click.ClickException(str(err)) from None
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)
    click.echo(f"open {page.resolve().as_uri()}")
    if open_page:
        import webbrowser

        webbrowser.open(page.resolve().as_uri())


if __name__ == "__main__":
    command()
