"""Images -> label maps and colour overlays with an exported W-Net (`wnet-tf segment`).

For every image: `<name>_labels.png` (the argmax class of each pixel; 8-bit, or 16-bit when
K > 255), `<name>_overlay.png` (the classes' colours blended over the image) and, on request,
`<name>_probabilities.npy` (H, W, K float32). Images are read by the data pipeline's decoder, so
any size and any format training accepts (JPEG, PNG, BMP, GIF; grey, RGB, RGBA; 8 or 16 bits).
"""

import colorsys
import re
import sys
from pathlib import Path

import click
import numpy as np
import tensorflow as tf

from wnet_tf.data import decode_image, find_images, resample, to_rgb
from wnet_tf.options import model_option, open_or_fail, parse_scale

_GOLDEN = 0.618033988749895


def palette(k):
    """(k, 3) uint8 colours, one per class. Hues step by the golden ratio, so any number of
    classes are spread around the colour wheel and class i has the same colour for every k."""
    colours = [colorsys.hsv_to_rgb((i * _GOLDEN) % 1.0, 0.85 - 0.3 * (i // 2 % 2),
                                   0.95 - 0.3 * (i % 2)) for i in range(k)]
    return np.round(np.array(colours) * 255).astype(np.uint8)


def overlay(image, labels, k, alpha=0.5):
    """The classes' colours blended over an image: (H, W, 3) float in [0, 1] -> uint8."""
    blend = (1 - alpha) * image + alpha * palette(k)[labels] / 255.0
    return np.round(np.clip(blend, 0, 1) * 255).astype(np.uint8)


def read_image(path):
    """(H, W, 3) float32 in [0, 1]. Raises tf.errors.OpError if the file does not decode."""
    return to_rgb(decode_image(tf.io.read_file(str(path)))).numpy()


def input_files(paths):
    """(file, output name) pairs: files as given, folders searched recursively. A file found in
    a folder keeps its relative path in its name (a/x.png -> a__x), and a name already taken gets
    a suffix (x-2), so that no output overwrites another."""
    found, taken = [], set()
    for path in map(Path, paths):
        if path.is_dir():
            pairs = [(f, f.relative_to(path).with_suffix("").as_posix().replace("/", "__"))
                     for f in find_images(path)]
        else:
            pairs = [(path, path.stem)]
        for file, name in pairs:
            unique, n = name, 1
            while unique in taken:
                n += 1
                unique = f"{name}-{n}"
            taken.add(unique)
            found.append((file, unique))
    return found


def _reason(err):
    """The first line of an error, without TensorFlow's op and device decorations."""
    text = getattr(err, "message", None) or str(err)
    text = re.sub(r"\{\{[^}]*\}\}|\[Op:[^\]]*\].*", "", text.strip().splitlines()[0])
    return text.strip() or type(err).__name__


def _write_png(path, array):
    path.write_bytes(tf.io.encode_png(array).numpy())


def predict(model, image, geometry="model"):
    """(H, W, K) probabilities for an (H, W, 3) float image in [0, 1].

    The image is shaped as the model's training images were (`geometry="model"`: the model's
    own `geometry`, see wnet_tf.pretrained.Geometry; "resize" runs squash it to image_size^2,
    the crops scale its shorter side to image_size), or by a given Geometry, or left as it is
    (None, or a model that records none), and the probabilities are scaled back to H x W.
    """
    if isinstance(geometry, str):
        if geometry != "model":
            raise ValueError(f"geometry={geometry!r}: expected 'model', None or a Geometry")
        geometry = getattr(model, "geometry", None)
    size = image.shape[:2]
    x = tf.constant(image, tf.float32)
    if geometry is not None:
        x = resample(x, geometry.input_size(*size))
    probs = model.segment(tf.clip_by_value(x, 0.0, 1.0)[None])["probabilities"][0]
    if geometry is not None:
        probs = resample(probs, size)
    return probs.numpy()


def segment_image(model, image, out_dir, name, *, geometry="model", probabilities=False,
                  alpha=0.5, crf=None):
    """Segments one (H, W, 3) float image with a loaded model (`predict`'s `geometry`); with
    `crf` (a PostprocessConfig) the labels are the argmax of the dense CRF's marginals.
    Returns the files written."""
    probs = predict(model, image, geometry)
    if crf is not None:
        from wnet_tf.postprocess.crf import dense_crf

        probs = dense_crf(image, probs, crf)
    labels = probs.argmax(axis=-1)
    k = probs.shape[-1]
    written = [out_dir / f"{name}_labels.png", out_dir / f"{name}_overlay.png"]
    label_dtype = np.uint16 if k > 255 else np.uint8
    _write_png(written[0], labels.astype(label_dtype)[..., None])
    _write_png(written[1], overlay(image, labels, k, alpha))
    if probabilities:
        written.append(out_dir / f"{name}_probabilities.npy")
        np.save(written[-1], probs)
    return written


def segment_files(model, paths, out_dir, *, geometry="model", probabilities=False, alpha=0.5,
                  crf=None, report=print):
    """Segments every image under `paths` into `out_dir`. A file that cannot be read is reported
    and skipped. Returns (number segmented, [(path, reason) of the files skipped])."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done, skipped = 0, []
    for path, name in input_files(paths):
        try:
            image = read_image(path)
        except (tf.errors.OpError, OSError) as err:
            skipped.append((path, _reason(err)))
            report(f"skipped {path}: {skipped[-1][1]}")
            continue
        segment_image(model, image, out_dir, name, geometry=geometry,
                      probabilities=probabilities, alpha=alpha, crf=crf)
        done += 1
    return done, skipped


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="IMAGES_OR_DIR...",
                type=click.Path(exists=True, path_type=Path))
@model_option(default="bsds500")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where the PNGs (and .npy files) go.")
@click.option("--resize", "scale", default="train", show_default=True,
              help="The scale the model sees: train (as its training images: the whole image "
                   "squashed to image_size^2 for a 'resize' run, the shorter side at image_size "
                   "for the crops), none (the image as it is), or N (the shorter side at N "
                   "pixels). The maps are scaled back to each image's size.")
@click.option("--crf", is_flag=True, help="Label maps from the dense CRF on the probabilities "
                                          "(the model's config's postprocess section).")
@click.option("--probabilities", is_flag=True, help="Also save the (H, W, K) probabilities.")
@click.option("--alpha", default=0.5, show_default=True, type=click.FloatRange(0, 1),
              help="Opacity of the class colours in the overlays.")
def command(inputs, model_spec, out_dir, scale, crf, probabilities, alpha):
    """Segment images (files, or folders searched recursively) with a W-Net.

    Exits with status 1 if any file could not be read; the others are still segmented.
    """
    geometry = parse_scale(scale)
    model = open_or_fail(model_spec)
    crf_config = None
    if crf:
        from wnet_tf.config import config_from_dict

        crf_config = config_from_dict(getattr(model, "config", None) or {}).postprocess
    done, skipped = segment_files(model, inputs, out_dir, geometry=geometry,
                                  probabilities=probabilities, alpha=alpha, crf=crf_config,
                                  report=lambda m: click.echo(m, err=True))
    click.echo(f"{done} image(s) segmented into {out_dir}/ (*_labels.png, *_overlay.png)"
               + (f"; {len(skipped)} skipped" if skipped else ""))
    if skipped:
        sys.exit(1)


if __name__ == "__main__":
    command(prog_name="python -m wnet_tf.segment")
