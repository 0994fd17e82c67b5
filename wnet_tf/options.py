"""Command-line options that `wnet-tf segment` and `wnet-tf postprocess` share. Importing this
module imports neither TensorFlow nor a model: postprocess's worker processes import its CLI
module, and must stay light."""

import click


def parse_scale(value):
    """`--resize`'s value: "train" (the model's training geometry), "none" (the image as it
    is) or N (the shorter side scaled to N pixels); the `geometry` that `predict` takes."""
    from wnet_tf.geometry import Geometry

    text = str(value).strip().lower()
    if text == "train":
        return "model"
    if text == "none":
        return None
    if text.isdigit() and int(text) >= 1:
        return Geometry.short_side(int(text))
    raise click.BadParameter(f"{value!r}: expected train, none or a positive number of pixels")


def model_option(default=None):
    """`--model`, shared by segment and postprocess: a SavedModel folder, a shipped-model
    folder or a shipped name."""
    from wnet_tf.pretrained import available

    names = ", ".join(available()) or "none yet"
    return click.option(
        "--model", "model_spec", default=default, show_default=default is not None,
        help=f"A SavedModel folder from `wnet-tf export`, a shipped-model folder (config.json "
             f"and weights, e.g. from tools/gpu_train.sh), or the name of a model that ships "
             f"with wnet-tf ({names}; `bsds500` is trained on the BSDS500 train images).")


def open_or_fail(spec):
    """The model behind `--model`, or a click usage error (exit 2) that says why not."""
    from wnet_tf.pretrained import open_model

    try:
        return open_model(spec)
    except (FileNotFoundError, ValueError) as err:
        raise click.BadParameter(str(err), param_hint="--model") from None


def tile_options(command):
    """`--tile` and `--overlap`: the tiles that bound inference's memory (wnet_tf.inference)."""
    from wnet_tf.inference import DEFAULT_OVERLAP, DEFAULT_TILE

    command = click.option(
        "--overlap", default=DEFAULT_OVERLAP, type=click.IntRange(min=0),
        help="Context kept around each tile's centre, in pixels [default: the network's "
             "receptive field, 6 * 2**depth: tiles then give the whole image's maps].")(command)
    return click.option(
        "--tile", default=DEFAULT_TILE, show_default=True, type=click.IntRange(min=0),
        help="Images larger than this many pixels on a side go through the network in "
             "overlapping tiles of this size (memory bounded by the tile); 0: always whole. "
             "Both must be multiples of 2**depth.")(command)


def check_tiles(model, tile, overlap):
    """`--tile` and `--overlap` checked against the model's grid: a usage error (exit 2), not a
    failure of every image."""
    from wnet_tf.inference import check_tiling, grid

    multiple = grid(model)[0]
    if tile and multiple is not None:
        try:
            check_tiling(tile, overlap, multiple)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="--tile / --overlap") from None


def scales_option(command):
    """`--scales`: the inference scales (`data.inference_scales`) for this command."""
    return click.option(
        "--scales", callback=_parse_scales, metavar="F,F,...",
        help="Factors of the scale --resize gives at which the network sees each image, its "
             "probabilities averaged (e.g. 0.75,1,1.333,1.778) [default: the model's "
             "data.inference_scales, 1 alone unless its config says otherwise].")(command)


def _parse_scales(_ctx, _param, value):
    if value is None:
        return None
    try:
        scales = tuple(float(v) for v in value.split(","))
    except ValueError:
        scales = ()
    if not scales or not all(s > 0 for s in scales):
        raise click.BadParameter(f"{value!r}: expected positive factors such as 0.75,1,1.5")
    return scales


def with_scales(geometry, model, scales):
    """`parse_scale`'s geometry for `model`, at `scales` (`--scales`) when given: "model"
    becomes the model's own geometry at those scales, N the shorter side N at them."""
    import dataclasses

    if scales is None:
        return geometry
    if isinstance(geometry, str):
        geometry = getattr(model, "geometry", None)
    if geometry is None:
        raise click.BadParameter("needs a scale to multiply: --resize N, or a model whose config "
                                 "records its training geometry", param_hint="--scales")
    return dataclasses.replace(geometry, scales=scales)
