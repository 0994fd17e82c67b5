"""Post-processing speed on BSDS500 test images (481x321): the dense CRF and the hierarchy, per
image on one core, and the 200-image test set through `wnet-tf postprocess`'s pool with all cores.

    python bench/postprocess.py [--data BSDS500_ROOT] [--json PATH] [--only I ...]

Targets on the 2-core reference machine: CRF <= 1 s and hierarchy <= 2 s per image, one core.
The spectral term (`postprocess.spectral_weight`, off by default) has its own row, to price it:
an eigenproblem per image, not held to that target.

Until a trained model is exported, W-Net's softmax is a stand-in (`standin_softmax`: soft k-means
of Lab colour and position, K = 20, computed before the clock starts). The CRF's cost depends on
K and the image, the hierarchy's on the image and on how many CRF boundaries there are, so the
figures should carry over. The test-set row runs a subset and extrapolates to 200 images; its
`images` column says how many were run.
"""

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

from harness import main, median_seconds

COLUMNS = ["part", "variant", "images", "cores", "seconds_per_image", "test_set_seconds",
           "peak_rss_gb"]


def configs(data):
    one_core = [{"part": "crf", "variant": "K=20", "images": 10},
                {"part": "hierarchy", "variant": "W-Net", "images": 10},
                {"part": "hierarchy", "variant": "W-Net+ucm", "images": 10},
                {"part": "hierarchy", "variant": "W-Net, class-aware merging 0.3", "images": 10},
                {"part": "hierarchy", "variant": "image cues only", "images": 10},
                {"part": "hierarchy", "variant": "image cues + spectral term", "images": 10},
                {"part": "hierarchy", "variant": "image cues + thinned spectral term",
                 "images": 10},
                {"part": "hierarchy", "variant": "W-Net as bsds500 ships it", "images": 10}]
    pool = [{"part": "CRF + hierarchy + files", "variant": "W-Net", "images": 40}]
    return [{**c, "data": data} for c in one_core + pool]


def standin_softmax(image, k=20, seed=0):
    """(H, W, k) float32: soft k-means of Lab colour (10 units apart = 1) and position (40 px =
    1), a stand-in for W-Net's softmax with the same shape and some of its spatial coherence."""
    import numpy as np
    from scipy.cluster.vq import kmeans2
    from skimage.color import rgb2lab

    h, w = image.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    features = np.concatenate([rgb2lab(image).reshape(-1, 3) / 10.0,
                               np.stack([yy, xx], -1).reshape(-1, 2) / 40.0], 1)
    rng = np.random.default_rng(seed)
    sample = features[rng.choice(len(features), 5000, replace=False)]
    centres, _ = kmeans2(sample, k, iter=10, minit="++", seed=rng)
    d2 = ((features[:, None, :] - centres[None]) ** 2).sum(-1)
    logits = -(d2 - d2.min(1, keepdims=True)) / 2.0
    p = np.exp(logits)
    return (p / p.sum(1, keepdims=True)).reshape(h, w, k).astype(np.float32)


def _test_images(data, n):
    return sorted((Path(data) / "images" / "test").glob("*.jpg"))[:n]


def measure(config):
    import numpy as np

    from wnet_tf.config import PostprocessConfig, load_config
    from wnet_tf.images import read_image
    from wnet_tf.postprocess import crf, hierarchy
    from wnet_tf.pretrained import WEIGHTS_DIR
    from wnet_tf.rundir import CONFIG_FILE

    cfg = PostprocessConfig()
    paths = _test_images(config["data"], config["images"])
    if config["part"] == "CRF + hierarchy + files":
        return _measure_pool(config, cfg, paths)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    images = [read_image(p) for p in paths]
    softmax = [standin_softmax(im) for im in images]
    if config["part"] == "crf":
        def run(i):
            crf.dense_crf(images[i], softmax[i], cfg)
    else:
        import scipy.io

        labels = [crf.dense_crf(im, p, cfg).argmax(-1)
                  for im, p in zip(images, softmax, strict=True)]
        gpb_dir = Path(config["data"]) / "gpb_owt_ucm" / "test"
        gpb = [scipy.io.loadmat(gpb_dir / f"{p.stem}.mat")["ucm2"] for p in paths]
        shipped = load_config(WEIGHTS_DIR / "bsds500" / CONFIG_FILE).postprocess

        def run(i):
            if config["variant"] == "image cues only":
                hierarchy.ucm_from_image(images[i], cfg)
            elif config["variant"] == "image cues + spectral term":
                # gPb's sPb: an eigenproblem on 2x2 cells per image (`cues.spectral_gradients`).
                hierarchy.ucm_from_image(images[i], dataclasses.replace(cfg, spectral_weight=4.0))
            elif config["variant"] == "image cues + thinned spectral term":
                # The same on the strength after non-maximum suppression, weight 8 (best on val).
                thinned = dataclasses.replace(cfg, spectral_weight=8.0, spectral_thin=True)
                hierarchy.ucm_from_image(images[i], thinned)
            elif config["variant"] == "W-Net as bsds500 ships it":
                # bsds500's own postprocess section: the thinned spectral term with the W-Net in
                # its affinities, the W-Net cue and the class-aware merging on every edge.
                hierarchy.ucm_from_labels(images[i], labels[i], shipped, probabilities=softmax[i])
            elif config["variant"].startswith("W-Net, class-aware"):
                # The merging's Python loop over every merge is what this row prices.
                aware = dataclasses.replace(cfg, wnet_region_weight=0.3)
                hierarchy.ucm_from_labels(images[i], labels[i], aware, probabilities=softmax[i])
            else:
                hierarchy.ucm_from_labels(images[i], labels[i], cfg,
                                          gpb[i] if config["variant"] == "W-Net+ucm" else None)
    run(0)  # warm-up: imports, caches
    per_image = [median_seconds(lambda i=i: run(i), 1) for i in range(len(images))]
    seconds = float(np.median(per_image))
    return {**config, "cores": 1, "seconds_per_image": seconds, "max_seconds": max(per_image),
            "test_set_seconds": None}


def _measure_pool(config, cfg, paths):
    """The CLI's own loop (`postprocess_folder`: reading, a spawn pool, PNG and .mat writing) with
    a stand-in model whose softmax is `standin_softmax`."""
    import tempfile

    import tensorflow as tf

    from wnet_tf.images import read_image
    from wnet_tf.postprocess.folder import postprocess_folder
    from wnet_tf.workers import usable_cores

    # Computed before the clock starts, as a network's softmax is not what this measures;
    # postprocess_folder asks for them in the order of `paths`.
    softmax = iter([standin_softmax(read_image(p)) for p in paths])

    class StandIn:
        def segment(self, images):
            return {"probabilities": tf.constant(next(softmax))[None]}

    cores = usable_cores()
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        _, failures = postprocess_folder(paths, out, cfg, model=StandIn(), workers=cores)
        seconds = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"failed: {failures}")
    return {**config, "cores": cores, "seconds_per_image": seconds / len(paths),
            "test_set_seconds": seconds / len(paths) * 200}


if __name__ == "__main__":
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--data", default=os.environ.get("BSDS500", "../shared/data/bsds500"),
                     help="BSDS500 root (images/test, gpb_owt_ucm/test)")
    args, rest = pre.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    main(measure, configs(str(Path(args.data).resolve())), COLUMNS, __doc__)
