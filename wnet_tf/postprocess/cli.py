"""`wnet-tf postprocess`: images -> W-Net softmax -> CRF -> ucm2 hierarchies, one per image.

    wnet-tf postprocess --model SAVED_MODEL --images DIR --out DIR [--gpb-ucm DIR]
                        [--config JSON] [--set postprocess.key=value] [--threshold T]

For every image NAME.{jpg,png,...} in DIR, writes NAME.mat (variable `ucm2`, the BSDS layout the
evaluator reads), NAME_ucm.png (the hierarchy, its strongest boundary white) and NAME_cut.png
(its cut at the threshold, each region painted with its mean colour), and the resolved config as
config.json. Without --model the hierarchy comes from image cues alone (the no-network baseline).
The network runs in this process; the CRF and the hierarchy run in `--workers` processes. An image
that fails is reported and the others are done; the exit status is then 1. Every file is written
under a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import click
import numpy as np

from wnet_tf.config import (
    ConfigError,
    PostprocessConfig,
    config_from_dict,
    load_config,
    save_config,
)
from wnet_tf.options import model_option, open_or_fail, parse_scale

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) float32 RGB in [0, 1] from any image file skimage reads."""
    from skimage import io, util

    image = util.img_as_float32(io.imread(path))
    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    return np.ascontiguousarray(image[..., :3])


def _write_atomic(path: Path, write) -> None:
    """`write(tmp_path)` then rename over `path`. The temporary name is unique to this process
    and keeps the suffix, which image writers read to choose the format."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def mean_colours(labels: np.ndarray, image: np.ndarray) -> np.ndarray:
    """(H, W, 3): every region of `labels` (H, W) painted with its mean colour in `image`."""
    flat = labels.ravel()
    counts = np.bincount(flat)
    means = np.stack([np.bincount(flat, image[..., c].ravel()) for c in range(3)], -1)
    return (means / np.maximum(counts, 1)[:, None])[labels]


def process_image(path: Path, probabilities: np.ndarray | None, gpb_path: Path | None,
                  config: PostprocessConfig, out: Path) -> None:
    """Everything after the network for one image, written into `out` (runs in a worker)."""
    import scipy.io
    from skimage import io

    from wnet_tf.postprocess import postprocess, segmentation_at, ucm_from_image

    image = read_image(path)
    if probabilities is None:
        ucm2 = ucm_from_image(image, config)
    else:
        gpb = None if gpb_path is None else scipy.io.loadmat(gpb_path)["ucm2"]
        if gpb is not None and gpb.shape != (2 * image.shape[0] + 1, 2 * image.shape[1] + 1):
            raise ValueError(f"{gpb_path.name}: ucm2 {gpb.shape} does not fit the image "
                             f"{image.shape[:2]}")
        ucm2 = postprocess(image, probabilities, config, gpb)
    cut = mean_colours(segmentation_at(ucm2, config.threshold), image)
    hierarchy = ucm2 / max(ucm2.max(), 1e-12)
    name = path.stem
    _write_atomic(out / f"{name}_ucm.png", lambda p: io.imsave(
        p, np.round(hierarchy * 255).astype(np.uint8), check_contrast=False))
    _write_atomic(out / f"{name}_cut.png", lambda p: io.imsave(
        p, np.round(np.clip(cut, 0, 1) * 255).astype(np.uint8), check_contrast=False))
    # The .mat last: its presence says the image is done.
    _write_atomic(out / f"{name}.mat", lambda p: scipy.io.savemat(
        p, {"ucm2": ucm2}, do_compression=True))


def _softmax_of(model, geometry="model"):
    """A function image path -> (H, W, K) probabilities from the model at `geometry` (see
    wnet_tf.segment.predict), or None without a model."""
    if model is None:
        return lambda path: None
    from wnet_tf.segment import predict

    return lambda path: predict(model, read_image(path), geometry)


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


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
@click.option("--workers", type=int, default=os.cpu_count() or 1, show_default=True,
              help="Processes for the CRF and the hierarchy.")
def command(model_spec, images, out, gpb_ucm, config_path, overrides, threshold, scale, workers):
    """CRF + boundary strength + hierarchical merging into BSDS ucm2 files (Algorithm 2).

    Without --model: the hierarchy of image cues alone, a baseline with no network."""
    if threshold is not None:
        overrides = (*overrides, f"postprocess.threshold={threshold!r}")
    if gpb_ucm and not model_spec:
        raise click.UsageError("--gpb-ucm combines W-Net boundaries with gPb: it needs --model")
    geometry = parse_scale(scale)
    model = open_or_fail(model_spec) if model_spec else None
    try:
        if config_path:
            config = load_config(config_path, overrides)
        else:  # the post-processing chosen with the model, when it carries its config
            config = config_from_dict(getattr(model, "config", None) or {}, overrides)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    files = sorted(p for p in Path(images).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise click.UsageError(f"no images in {images}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / "config.json")
    failures = _run(files, _softmax_of(model, geometry), config.postprocess, out,
                    Path(gpb_ucm) if gpb_ucm else None, max(1, workers))
    click.echo(f"{len(files) - len(failures)} of {len(files)} images written to {out}", err=True)
    if failures:
        click.echo("failed: " + ", ".join(failures), err=True)
        raise SystemExit(1)


def _run(files, softmax, config, out, gpb_dir, workers) -> list[str]:
    """Runs every image through `softmax` here and `process_image` in a pool of `workers`
    (inline for 1); returns the names of the images that failed."""
    from tqdm import tqdm

    failures = []
    bar = tqdm(total=len(files), unit="image", desc="postprocess")

    def finished(path, err=None):
        if err is not None:
            failures.append(path.name)
            bar.write(f"{path.name}: {_describe(err)}")
        bar.update()

    def job(path):
        gpb = None if gpb_dir is None else gpb_dir / f"{path.stem}.mat"
        return path, softmax(path), gpb, config, out

    if workers == 1:
        for path in files:
            try:
                process_image(*job(path))
                finished(path)
            except Exception as err:  # one bad image must not stop the others
                finished(path, err)
        bar.close()
        return failures
    # spawn, not fork: the parent may hold TensorFlow's threads, which do not survive a fork.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending = {}

        def drain(until):
            while len(pending) > until:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    finished(pending.pop(future), future.exception())

        for path in files:
            try:
                pending[pool.submit(process_image, *job(path))] = path
            except Exception as err:
                finished(path, err)
            # Bounded queue: each pending softmax can be tens of megabytes.
            drain(2 * workers)
        drain(0)
    bar.close()
    return failures
