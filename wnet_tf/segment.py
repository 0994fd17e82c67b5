"""Images -> label maps and colour overlays with an exported W-Net (`wnet-tf segment`).

For every image: `<name>_labels.png` (the argmax class of each pixel; 8-bit, or 16-bit when
K > 255), `<name>_overlay.png` (the classes' colours blended over the image) and, on request,
`<name>_probabilities.npy` (H, W, K float32). Images of any size (large ones go through the
network in tiles, wnet_tf.inference) and format (wnet_tf.images: JPEG, PNG, BMP, GIF, TIFF, WebP;
grey, RGB, RGBA; 8 or 16 bits).
"""

import sys
from pathlib import Path

import click
import numpy as np

from wnet_tf import inference
from wnet_tf.images import (
    EXTENSIONS,
    ImageError,
    as_float_rgb,
    error_reason,
    named_images,
    overlay,
    read_samples,
    write_png,
)
from wnet_tf.options import (
    check_tiles,
    model_option,
    open_or_fail,
    parse_scale,
    scales_option,
    tile_options,
    with_scales,
)


def segment_image(model, image, out_dir, name, *, geometry="model", probabilities=False,
                  alpha=0.5, crf=None, tile=inference.DEFAULT_TILE,
                  overlap=inference.DEFAULT_OVERLAP):
    """Segments one (H, W, 3) image (floats in [0, 1], or a file's samples: `read_samples`) with
    a loaded model (`inference.predict`'s `geometry`, `tile` and `overlap`); with `crf` (a
    PostprocessConfig) the labels are the argmax of the dense CRF's marginals. Returns the
    files written.

    The probabilities come band by band (`inference.bands`) into the label map, the overlay
    and, with `probabilities`, the .npy file, and each band of the image is made float only
    for its overlay: memory follows the samples and the two PNGs' arrays, not H x W x K or a
    float image (the CRF alone needs both whole)."""
    if crf is None:
        bands = inference.bands(model, image, geometry, tile, overlap)
    else:
        from wnet_tf.postprocess.crf import dense_crf

        image = as_float_rgb(image)
        bands = [(0, dense_crf(image, inference.predict(model, image, geometry, tile, overlap),
                               crf))]
    h, w = image.shape[:2]
    written = [out_dir / f"{name}_labels.png", out_dir / f"{name}_overlay.png"]
    labels = blend = npy = None
    try:
        for top, band in bands:
            if labels is None:
                k = band.shape[-1]
                labels = np.empty((h, w), np.uint16 if k > 255 else np.uint8)
                blend = np.empty((h, w, 3), np.uint8)
                if probabilities:
                    written.append(out_dir / f"{name}_probabilities.npy")
                    npy = open(written[-1], "wb")  # noqa: SIM115 (closed in finally)
                    np.lib.format.write_array_header_1_0(npy, {
                        "descr": np.dtype(np.float32).str, "fortran_order": False,
                        "shape": (h, w, k)})
            rows = slice(top, top + len(band))
            labels[rows] = band.argmax(axis=-1)
            blend[rows] = overlay(as_float_rgb(image[rows]), labels[rows], k, alpha)
            if npy is not None:  # rows in order: the bands are the C-order array's chunks
                band.astype(np.float32, copy=False).tofile(npy)
    finally:
        if npy is not None:
            npy.close()
    write_png(written[0], labels)
    write_png(written[1], blend)
    return written


def segment_files(model, paths, out_dir, *, report=print, **options):
    """Segments every image under `paths` into `out_dir` (`options`: those of `segment_image`).

    One image never costs the others: a file that cannot be read, one too large for this
    machine's memory (refused before it is decoded) and one whose segmentation fails (e.g.
    TensorFlow's ResourceExhaustedError) are reported with the reason and skipped. Returns
    (number segmented, [(path, reason) of the files skipped], [files that are not images])."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done, skipped = 0, []
    files, others = named_images(paths)
    limit = inference.max_pixels(inference.bytes_per_pixel(
        inference.classes(model), whole=options.get("crf") is not None))
    for path, name in files:
        try:
            image = read_samples(path, limit)
            segment_image(model, image, out_dir, name, **options)
            done += 1
        except ImageError as err:
            skipped.append((path, err.reason))
        except Exception as err:  # one image's failure must not cost the others
            skipped.append((path, f"{type(err).__name__}: {error_reason(err)}"))
        else:
            continue
        report(f"skipped {path}: {skipped[-1][1]}")
    return done, skipped, others


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
@scales_option
@tile_options
def command(inputs, model_spec, out_dir, scale, crf, probabilities, alpha, scales, tile, overlap):
    """Segment images (files, or folders searched recursively) with a W-Net.

    Exits with status 1 if any image could not be segmented; the others still are.
    """
    geometry = parse_scale(scale)
    model = open_or_fail(model_spec)
    geometry = with_scales(geometry, model, scales)
    check_tiles(model, tile, overlap)
    crf_config = None
    if crf:
        from wnet_tf.config import Config

        crf_config = (model.config or Config()).postprocess
    done, skipped, others = segment_files(
        model, inputs, out_dir, geometry=geometry, probabilities=probabilities, alpha=alpha,
        crf=crf_config, tile=tile, overlap=overlap, report=lambda m: click.echo(m, err=True))
    click.echo(f"{done} image(s) segmented into {out_dir}/ (*_labels.png, *_overlay.png)"
               + (f"; {len(skipped)} skipped" if skipped else "")
               + (f"; {len(others)} other file(s) ignored (not {'/'.join(EXTENSIONS)})"
                  if others else ""))
    if skipped:
        sys.exit(1)


if __name__ == "__main__":
    from wnet_tf.entry import configure_tensorflow

    configure_tensorflow()
    command(prog_name="python -m wnet_tf.segment")
