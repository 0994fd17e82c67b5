"""The README's figure: a few images, each beside its W-Net segments (overlay) and its UCM cut.

    python tools/make_figure.py --images DIR --segments DIR --ucm DIR --out docs/figure.png \
        [--names astronaut coffee chelsea] [--height 150]

DIR arguments are what `wnet-tf segment` (NAME_overlay.png) and `wnet-tf postprocess`
(NAME_cut.png) wrote for the images in --images (`make demo` writes both).
"""

from pathlib import Path

import click
import numpy as np
from PIL import Image


def _tile(path, height):
    image = Image.open(path).convert("RGB")
    width = round(image.width * height / image.height)
    return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS))


@click.command()
@click.option("--images", required=True, type=click.Path(exists=True, file_okay=False,
                                                         path_type=Path))
@click.option("--segments", required=True, type=click.Path(exists=True, file_okay=False,
                                                           path_type=Path))
@click.option("--ucm", required=True, type=click.Path(exists=True, file_okay=False,
                                                      path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--names", multiple=True, default=("astronaut", "coffee", "chelsea"),
              show_default=True, help="Image names (file stems) to show, one row each.")
@click.option("--height", default=150, show_default=True, help="Pixels per row.")
def main(images, segments, ucm, out, names, height):
    rows, gap = [], 4
    for name in names:
        found = [p for p in images.iterdir() if p.stem == name]
        if not found:
            raise click.UsageError(f"no image named {name} in {images}")
        tiles = [_tile(found[0], height), _tile(segments / f"{name}_overlay.png", height),
                 _tile(ucm / f"{name}_cut.png", height)]
        spacer = np.full((height, gap, 3), 255, np.uint8)
        rows.append(np.concatenate([tiles[0], spacer, tiles[1], spacer, tiles[2]], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, gap), (0, width - r.shape[1]), (0, 0)), constant_values=255)
            for r in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows)[:-gap]).save(out, optimize=True)
    click.echo(f"figure: {out}")


if __name__ == "__main__":
    main()
