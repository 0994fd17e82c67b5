"""Command-line options that `wnet-tf segment` and `wnet-tf postprocess` share. Importing this
module imports neither TensorFlow nor a model: postprocess's worker processes import its CLI
module, and must stay light."""

import click


def parse_scale(value):
    """`--resize`'s value: "train" (the model's training geometry), "none" (the image as it
    is) or N (the shorter side scaled to N pixels); the `geometry` that `predict` takes."""
    from wnet_tf.pretrained import Geometry

    text = str(value).strip().lower()
    if text == "train":
        return "model"
    if text == "none":
        return None
    if text.isdigit() and int(text) >= 1:
        return Geometry.short_side(int(text))
    raise click.BadParameter(f"{value!r}: expected train, none or a positive number of pixels")


def model_option(default=None):
    """`--model`, shared by segment and postprocess: a SavedModel folder or a shipped name."""
    from wnet_tf.pretrained import available

    names = ", ".join(available()) or "none yet"
    return click.option(
        "--model", "model_spec", default=default, show_default=default is not None,
        help=f"A SavedModel folder from `wnet-tf export`, or the name of a model that ships "
             f"with wnet-tf ({names}; `bsds500` is trained on the BSDS500 train images).")


def open_or_fail(spec):
    """The model behind `--model`, or a click usage error (exit 2) that says why not."""
    from wnet_tf.pretrained import open_model

    try:
        return open_model(spec)
    except (FileNotFoundError, ValueError) as err:
        raise click.BadParameter(str(err), param_hint="--model") from None
