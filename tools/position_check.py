"""Does a model segment by content or by position? (wnet_tf/position.py says what is measured.)

    python tools/position_check.py --model bsds500 --images BSDS500/data/images/val \
        [--resize train] [--scales F,F,...] [--shift 60] [--crop 0.75] [--limit 12] \
        [--json out.json]

Uses the landscape images of the folder (the most common size, 321 x 481 for BSDS), the
encoder's argmax at the model's training geometry (or `--resize`), and prints the median shift
ARI, the median cross-image ARI, their margin, the median scale ARI (a bottom-right crop seen at
the same geometry) and the median number of classes used. The goals set for the shipped model:
margin >= 0.3 and cross ARI < 0.2; scale ARI >= 0.45 (3/4 crops, the first 12 images).
"""

import collections
import json
from pathlib import Path

import click

from wnet_tf.options import model_option, open_or_fail, parse_scale, scales_option, with_scales


@click.command()
@model_option(default="bsds500")
@click.option("--images", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of images (searched recursively).")
@click.option("--resize", "scale", default="train", show_default=True,
              help="train, none or N, as for `wnet-tf segment`.")
@click.option("--shift", default=60, show_default=True, type=click.IntRange(min=1),
              help="Columns removed from the left for the shifted crop.")
@click.option("--crop", default=0.75, show_default=True, type=click.FloatRange(0.1, 1.0),
              help="Side of the bottom-right crop for the scale ARI, as a share of the image's.")
@click.option("--limit", type=click.IntRange(min=2),
              help="Use only the first N images of the chosen size (sorted by name).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help="Also write the figures (and the per-image ones) here.")
@scales_option
def main(model_spec, images, scale, shift, crop, limit, json_path, scales):
    from wnet_tf.images import find_images, read_image
    from wnet_tf.inference import predict
    from wnet_tf.position import position_report

    model = open_or_fail(model_spec)
    geometry = with_scales(parse_scale(scale), model, scales)
    pictures = [read_image(p) for p in find_images(images)]
    landscape = [im for im in pictures if im.shape[1] > im.shape[0]]
    if not landscape:
        raise click.UsageError(f"no landscape images in {images}")
    size, _ = collections.Counter(im.shape[:2] for im in landscape).most_common(1)[0]
    chosen = [im for im in landscape if im.shape[:2] == size][:limit]
    report = position_report(lambda im: predict(model, im, geometry).argmax(-1), chosen, shift,
                             crop=crop)
    report["model"], report["image_size"] = str(model_spec), list(size)
    click.echo(f"{model_spec}: {len(chosen)} landscape images {size[0]}x{size[1]}, shift {shift}")
    click.echo("| shift ARI | cross ARI | margin | scale ARI | classes used |\n"
               "| --- | --- | --- | --- | --- |")
    click.echo(f"| {report['shift_ari_median']:.3f} | {report['cross_ari_median']:.3f} | "
               f"{report['margin']:.3f} | {report['scale_ari_median']:.3f} | "
               f"{report['classes_median']:.0f} |")
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
