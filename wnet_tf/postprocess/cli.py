"""`wnet-tf postprocess`: images -> W-Net softmax -> CRF -> ucm2 hierarchies, one per image
(wnet_tf.postprocess.folder), and the resolved config as config.json.

    wnet-tf postprocess --model MODEL --images DIR --out DIR [--gpb-ucm DIR]
                        [--config JSON] [--set postprocess.key=value] [--threshold T]

Without --model the hierarchy comes from image cues alone (the no-network baseline). An image
that fails is reported and the others are done; the exit status is then 1.
"""

from pathlib import Path

import click

from wnet_tf.config import Config, ConfigError, load_config, save_config
from wnet_tf.options import (
    check_tiles,
    model_option,
    open_or_fail,
    parse_scale,
    scales_option,
    tile_options,
    with_scales,
)
from wnet_tf.workers import usable_cores


@click.command()
@model_option()
@click.option("--images", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of images.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for NAME.mat, NAME_ucm.png, NAME_cut.png and config.json.")
@click.option("--gpb-ucm", type=click.Path(exists=True, file_okay=False),
              help="Folder of NAME.mat gPb-owt-ucm hierarchies: W-Net+ucm.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="JSON config whose postprocess section is used (default: the model's own "
                   "config, else the defaults).")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a config value (repeatable).")
@click.option("--threshold", type=float,
              help="Where to cut the hierarchy for NAME_cut.png [postprocess.threshold].")
@click.option("--resize", "scale", default="train", show_default=True,
              help="The scale the encoder sees: train, none or N (as for `wnet-tf segment`); "
                   "the hierarchy is always at each image's own size.")
@click.option("--workers", type=click.IntRange(min=0), default=usable_cores(), show_default=True,
              help="Worker processes for the CRF and the hierarchy (1: one at a time, apart "
                   "from this process, so an image that kills its worker costs only itself); "
                   "0 runs them in this process.")
@scales_option
@tile_options
def command(model_spec, images, out, gpb_ucm, config_path, overrides, threshold, scale, workers,
            scales, tile, overlap):
    """CRF + boundary strength + hierarchical merging into BSDS ucm2 files (Algorithm 2).

    Without --model: the hierarchy of image cues alone, a baseline with no network."""
    from wnet_tf.postprocess.folder import postprocess_files, postprocess_folder

    if threshold is not None:
        overrides = (*overrides, f"postprocess.threshold={threshold!r}")
    if gpb_ucm and not model_spec:
        raise click.UsageError("--gpb-ucm combines W-Net boundaries with gPb: it needs --model")
    if scales and not model_spec:
        raise click.UsageError("--scales are the network's inference scales: it needs --model")
    geometry = parse_scale(scale)
    model = open_or_fail(model_spec) if model_spec else None
    if model is not None:
        geometry = with_scales(geometry, model, scales)
        check_tiles(model, tile, overlap)
    try:
        if config_path:
            config = load_config(config_path, overrides)
        else:  # the post-processing chosen with the model, when it carries its config
            config = ((model and model.config) or Config()).with_overrides(overrides)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    files = postprocess_files([images])  # listed once, for the whole command
    if not files:
        raise click.UsageError(f"no images in {images}")
    save_config(config, Path(out) / "config.json")
    done, failures = postprocess_folder([images], out, config.postprocess, model=model,
                                        geometry=geometry, gpb_dir=gpb_ucm, workers=workers,
                                        tile=tile, overlap=overlap, files=files)
    click.echo(f"{done} of {len(files)} images written to {out}", err=True)
    if failures:
        click.echo("failed: " + ", ".join(failures), err=True)
        raise SystemExit(1)
