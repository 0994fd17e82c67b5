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
from wnet_tf.files import atomic_write
from wnet_tf.images import error_reason, read_image, to_uint8, write_png


def mean_colours(labels: np.ndarray, image: np.ndarray) -> np.ndarray:
    """(H, W, 3): every region of `labels` (H, W) painted with its mean colour in `image`."""
    flat = labels.ravel()
    counts = np.bincount(flat)
    means = np.stack([np.bincount(flat, image[..., c].ravel()) for c in range(3)], -1)
    return (means / np.maximum(counts, 1)[:, None])[labels]


def process_image(image: np.ndarray, name: str, probabilities: np.ndarray | None,
                  gpb_path: Path | None, config: PostprocessConfig, out: Path) -> None:
    """Everything after the network for one (H, W, 3) image, written into `out` as NAME.*
    (runs in a worker). Without `probabilities`: the hierarchy of image cues alone."""
    import scipy.io

    from wnet_tf.postprocess import postprocess, segmentation_at, ucm_from_image

    if probabilities is None:
        ucm2 = ucm_from_image(image, config)
    else:
        gpb = None if gpb_path is None else scipy.io.loadmat(gpb_path)["ucm2"]
        if gpb is not None and gpb.shape != (2 * image.shape[0] + 1, 2 * image.shape[1] + 1):
            raise ValueError(f"{gpb_path.name}: ucm2 {gpb.shape} does not fit the image "
                             f"{image.shape[:2]}")
        ucm2 = postprocess(image, probabilities, config, gpb)
    cut = mean_colours(segmentation_at(ucm2, config.threshold), image)
    write_png(out / f"{name}_ucm.png", to_uint8(ucm2 / max(ucm2.max(), 1e-12)))
    write_png(out / f"{name}_cut.png", to_uint8(cut))
    # The .mat last: its presence says the image is done.
    atomic_write(out / f"{name}.mat", lambda p: scipy.io.savemat(
        p, {"ucm2": ucm2}, do_compression=True))


def postprocess_folder(paths, out, config: PostprocessConfig, *, model=None, geometry="model",
                       gpb_dir=None, workers=1, tile=inference.DEFAULT_TILE,
                       overlap=inference.DEFAULT_OVERLAP):
    """Post-processes every image under `paths` (files, or folders searched recursively) into
    `out` (see the module docstring), named as `wnet-tf segment` names its outputs
    (`wnet_tf.images.named_images`: a BSDS folder's <id>.jpg gives <id>.mat; x.jpg and x.png
    give x and x-2), with `model`'s softmax (`wnet_tf.inference.predict` at `geometry`, `tile`,
    `overlap`), or with image cues alone when `model` is None; with `gpb_dir`, each NAME.mat
    there is combined in (W-Net+ucm). One image's failure never costs the others: it is reported
    with the reason. Returns (number of images written, [names of the files that failed])."""
    from tqdm import tqdm

    from wnet_tf.images import named_images
    from wnet_tf.workers import each

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files, _ = named_images(paths)
    limit = inference.max_pixels(inference.classes(model))

    def prepare(file_name):
        path, name = file_name
        image = read_image(path, limit)
        probs = None if model is None else inference.predict(model, image, geometry, tile, overlap)
        gpb = None if gpb_dir is None else Path(gpb_dir) / f"{name}.mat"
        return image, name, probs, gpb, config, out

    failures = []
    with tqdm(total=len(files), unit="image", desc="postprocess") as bar:
        # spawn: this process holds TensorFlow's threads, which do not survive a fork.
        for (path, _), _, err in each(process_image, files, workers, prepare, spawn=True):
            if err is not None:
                failures.append(path.name)
                bar.write(f"{path.name}: {error_reason(err)}")
            bar.update()
    return len(files) - len(failures), failures
