"""Post-processing a folder of images into BSDS ucm2 files: the library behind `wnet-tf
postprocess`, which the benchmark (bench/postprocess.py) and the tests call too.

For every image NAME: NAME.mat (variable `ucm2`, the layout the evaluator reads), NAME_ucm.png
(the hierarchy, its strongest boundary white) and NAME_cut.png (its cut at the threshold, each
region painted with its mean colour). The image is read and the network run in this process; the
CRF and the hierarchy run in worker processes. Every file is written under a temporary name and
renamed, the .mat last, so a reader never sees half an image's output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wnet_tf import inference
from wnet_tf.config import PostprocessConfig
from wnet_tf.images import (
    as_float_rgb,
    error_reason,
    image_size,
    read_samples,
    to_uint8,
    write_png,
)

# Memory per pixel of an image's full-size part: its decoded samples (16 bits at most), its
# hierarchy as a picture (four uint8 cells a pixel) and its cut (RGB), each with the PNG
# encoder's copy; the full-size ucm2 is written a band at a time (`matfile.write_ucm2`).
OUTPUT_BYTES_PER_PIXEL = 3 * 2 + 2 * (4 + 3)


def mean_colours(labels: np.ndarray, image: np.ndarray) -> np.ndarray:
    """(H, W, 3): every region of `labels` (H, W) painted with its mean colour in `image`."""
    flat = labels.ravel()
    counts = np.bincount(flat)
    means = np.stack([np.bincount(flat, image[..., c].ravel()) for c in range(3)], -1)
    return (means / np.maximum(counts, 1)[:, None])[labels]


def working_size(size, max_pixels: int) -> tuple[int, int]:
    """`size` = (H, W), or the same shape scaled down to at most `max_pixels` pixels."""
    h, w = size
    if h * w <= max_pixels:
        return h, w
    scale = (max_pixels / (h * w)) ** 0.5
    return max(1, int(h * scale)), max(1, int(w * scale))


def nearest(n_out: int, n_in: int) -> np.ndarray:
    """For each of `n_out` cells along an axis, the nearest of `n_in` cells spanning the same
    length: nearest-neighbour scaling as an index."""
    return (2 * np.arange(n_out) + 1) * n_in // (2 * n_out)


def khalimsky_index(n_out: int, n_in: int) -> np.ndarray:
    """`nearest` for a ucm2 axis ((2n + 1) cells: borders, pixels, the edges between them): a
    pixel cell takes its nearest pixel's cell, an edge cell the edge between the two pixels it
    separates, or a pixel cell (0) when both have the same nearest pixel. Indexing a ucm2 with it
    on both axes gives the ucm2 of the nearest-neighbour scaled hierarchy."""
    pixel = nearest(n_out, n_in)
    index = np.empty(2 * n_out + 1, np.int64)
    index[0], index[-1], index[1::2] = 0, 2 * n_in, 2 * pixel + 1
    index[2:-1:2] = np.where(pixel[1:] > pixel[:-1], 2 * pixel[:-1] + 2, 2 * pixel[:-1] + 1)
    return index


class GpbError(ValueError):
    """A gPb hierarchy (`--gpb-ucm`) that cannot be used for its image; the message names the
    file and what was expected."""


def read_gpb(path, size) -> np.ndarray:
    """The `ucm2` of the gPb-owt-ucm hierarchy in the .mat file `path`, checked against the
    (H, W) `size` of its image: a finite (2H+1) x (2W+1) array. Raises GpbError naming the
    file and what was expected: a missing file, one that is not a MATLAB .mat, one without a
    `ucm2` variable, one of another size, one with values that are not finite."""
    import scipy.io

    path = Path(path)
    expected = (2 * size[0] + 1, 2 * size[1] + 1)
    if not path.is_file():
        raise GpbError(f"{path}: no gPb hierarchy there (expected a .mat file with a `ucm2` "
                       f"of {expected[0]}x{expected[1]})")
    try:
        variables = scipy.io.loadmat(path)
    except Exception as err:  # scipy's readers raise ValueError, TypeError, OSError...
        raise GpbError(f"{path}: not a MATLAB .mat file ({error_reason(err)}); expected one "
                       f"with a `ucm2` of {expected[0]}x{expected[1]}") from None
    if "ucm2" not in variables:
        found = ", ".join(k for k in variables if not k.startswith("__")) or "none"
        raise GpbError(f"{path}: no `ucm2` variable (it has: {found}); expected a `ucm2` of "
                       f"{expected[0]}x{expected[1]}")
    ucm2 = variables["ucm2"]
    if ucm2.shape != expected:
        shape = "x".join(map(str, ucm2.shape))
        raise GpbError(f"{path}: `ucm2` is {shape}; its image ({size[1]}x{size[0]} pixels) "
                       f"needs (2H+1)x(2W+1) = {expected[0]}x{expected[1]}")
    try:
        ucm2 = np.asarray(ucm2, np.float64)
    except (TypeError, ValueError):
        raise GpbError(f"{path}: `ucm2` is not numeric ({ucm2.dtype}); expected numbers in "
                       "[0, 1]") from None
    if not np.isfinite(ucm2).all():
        raise GpbError(f"{path}: `ucm2` has {np.count_nonzero(~np.isfinite(ucm2)):,} values "
                       "that are not finite (NaN or infinite); expected numbers in [0, 1]")
    return ucm2


def process_image(image: np.ndarray, name: str, probabilities: np.ndarray | None,
                  gpb: np.ndarray | None, config: PostprocessConfig, out: Path,
                  size: tuple[int, int] | None = None) -> None:
    """Everything after the network for one (h, w, 3) image, written into `out` as NAME.*
    (runs in a worker). Without `probabilities`: the hierarchy of image cues alone. `gpb`: the
    image's gPb ucm2 for W-Net+ucm, as `read_gpb` checked it against the image. `size`:
    the (H, W) of the original when `image` is it scaled down to the working size; the outputs
    are then scaled back up to it (nearest neighbour)."""
    from wnet_tf.postprocess import postprocess, segmentation_at, ucm_from_image
    from wnet_tf.postprocess.matfile import write_ucm2

    if probabilities is None:
        ucm2 = ucm_from_image(image, config)
    else:
        ucm2 = postprocess(image, probabilities, config, gpb)
    cut = to_uint8(mean_colours(segmentation_at(ucm2, config.threshold), image))
    picture = to_uint8(ucm2 / max(ucm2.max(), 1e-12))
    rows = columns = None  # the ucm2's cells as they are, or scaled up (nearest neighbour)
    if size is not None and tuple(size) != image.shape[:2]:
        (h, w), (height, width) = image.shape[:2], size
        cut = cut[np.ix_(nearest(height, h), nearest(width, w))]
        rows, columns = khalimsky_index(height, h), khalimsky_index(width, w)
        picture = picture[np.ix_(rows, columns)]
    write_png(out / f"{name}_ucm.png", picture)
    write_png(out / f"{name}_cut.png", cut)
    del picture, cut
    # The .mat last: its presence says the image is done. Scaled up a band at a time: the
    # full-size ucm2 is never held.
    write_ucm2(out / f"{name}.mat", ucm2, rows, columns)


def postprocess_files(paths) -> list[tuple[Path, str]]:
    """[(image file, output name)] for the files and folders in `paths`, named as `wnet-tf
    segment` names its outputs (`wnet_tf.images.named_images`): the one listing of the input
    that a whole `postprocess` uses."""
    from wnet_tf.images import named_images

    return named_images(paths)[0]


def postprocess_folder(paths, out, config: PostprocessConfig, *, model=None, geometry="model",
                       gpb_dir=None, workers=1, tile=inference.DEFAULT_TILE,
                       overlap=inference.DEFAULT_OVERLAP, files=None):
    """Post-processes every image under `paths` (files, or folders searched recursively) into
    `out` (see the module docstring), named as `wnet-tf segment` names its outputs
    (`wnet_tf.images.named_images`: a BSDS folder's <id>.jpg gives <id>.mat; x.jpg and x.png
    give x and x-2), with `model`'s softmax (`wnet_tf.inference.predict` at `geometry`, `tile`,
    `overlap`), or with image cues alone when `model` is None; with `gpb_dir`, each NAME.mat
    there is combined in (W-Net+ucm).

    An image of more than `config.working_pixels` is scaled down to that before the network,
    the CRF and the hierarchy, and its outputs scaled back up; one whose full-size outputs
    would not fit in memory is refused before it is decoded. One image's failure never costs
    the others, even one that kills its worker process (`wnet_tf.workers.each`; `workers` 0
    runs the CRF and the hierarchy in this process instead): it is reported with the reason.
    `files`: `postprocess_files(paths)`, where the caller has listed them already. Returns
    (number of images written, [names of the files that failed])."""
    from tqdm import tqdm

    from wnet_tf.workers import each

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = postprocess_files(paths) if files is None else list(files)
    limit = inference.max_pixels(OUTPUT_BYTES_PER_PIXEL)

    def prepare(file_name):
        path, name = file_name
        gpb_path = None if gpb_dir is None else Path(gpb_dir) / f"{name}.mat"
        if gpb_path is not None:
            check_gpb_size(gpb_path, image_size(path), config.working_pixels)
        samples = read_samples(path, limit)  # no full-size float image: 4x less memory
        size = samples.shape[:2]
        gpb = None
        if gpb_path is not None:
            check_gpb_size(gpb_path, size, config.working_pixels)
            gpb = read_gpb(gpb_path, size)  # before the network: a bad file costs no work
        work = working_size(size, config.working_pixels)
        image = as_float_rgb(samples) if work == size else scaled(samples, work)
        del samples
        probs = None if model is None else inference.predict(model, image, geometry, tile, overlap)
        return image, name, probs, gpb, config, out, size

    failures = []
    with tqdm(total=len(files), unit="image", desc="postprocess") as bar:
        # spawn: this process holds TensorFlow's threads, which do not survive a fork.
        for (path, _), _, err in each(process_image, files, workers, prepare, spawn=True):
            if err is not None:
                failures.append(path.name)
                bar.write(f"{path.name}: {error_reason(err)}")
            bar.update()
    return len(files) - len(failures), failures


def check_gpb_size(gpb_path, size, working_pixels: int) -> None:
    """Refuses (GpbError) an image of (H, W) `size`, more than `working_pixels`, that comes
    with the gPb hierarchy `gpb_path`: that is at the image's full size, where the
    post-processing does not run. `size` None (a header that does not say) passes."""
    if size is not None and size[0] * size[1] > working_pixels:
        raise GpbError(f"{size[1]}x{size[0]} pixels, more than postprocess.working_pixels "
                       f"({working_pixels:,}), and its gPb hierarchy {gpb_path} is at full size: "
                       "raise postprocess.working_pixels to post-process it at its own size")


def scaled(image: np.ndarray, size) -> np.ndarray:
    """An (H, W, 3) image (floats in [0, 1] or a file's samples) resampled to `size` as the
    network's inputs are: float32 in [0, 1]."""
    return np.clip(inference.resampled(image, size, as_float_rgb), 0.0, 1.0)
