"""Inference at any size: seconds per megapixel and peak memory of `wnet_tf.inference.predict` at
the image's own size (no resampling), the paper's network and the quickstart's, on a BSDS-size
image (481x321, whole) and on 12- and 48-Mpx photos (tiled, the default tile and overlap).

    python bench/inference.py [--json PATH] [--only I ...]

Random weights and a random image: the cost of a convolution does not depend on either. The
ratio column is each row's seconds per megapixel over the same network's on the BSDS-size image,
measured in the same run (target: at most 1.2 for the paper's network at 12 Mpx, in 3 GB).

The `command` rows run `wnet-tf segment` and `wnet-tf postprocess` (one worker) as a user
would, through `segment_files` and `postprocess_folder`, with the shipped bsds500 model on
photo-like JPEGs of 12, 36 and 100 Mpx (made once, before and outside the measured process):
seconds per megapixel and the whole command's peak RSS, bounded by the sum of this process's
peak and that of postprocess's worker process (`worker_rss_gb`). Targets: segment 36 Mpx within
1.5 GB and 100 Mpx within 3 GB; postprocess 36 Mpx within 6 GB.
"""

import resource
from pathlib import Path

from harness import main, peak_rss_gb

ROOT = Path(__file__).resolve().parents[1]
SIZES = [(321, 481), (3000, 4000), (6000, 8000)]
CONFIGS = [{"network": net, "height": h, "width": w, "tile": None}
           for net in ("paper", "quickstart") for h, w in SIZES]
# The tile against memory and speed, for the choice of the default.
CONFIGS += [{"network": "paper", "height": 3000, "width": 4000, "tile": t} for t in (512, 768)]


COMMAND_SIZES = [(3000, 4000), (6000, 6000), (8660, 11547)]
CONFIGS += [{"command": c, "height": h, "width": w} for c in ("segment", "postprocess")
            for h, w in COMMAND_SIZES]

MAKE_PHOTO = """
import sys
import numpy as np
from PIL import Image
h, w = int(sys.argv[2]), int(sys.argv[3])
small = np.random.default_rng(0).integers(0, 256, (h // 200 + 2, w // 200 + 2, 3), np.uint8)
Image.fromarray(small).resize((w, h), Image.BICUBIC).save(sys.argv[1], quality=90)
"""


def photo(height, width):
    """A smooth photo-like JPEG of height x width in the temporary folder, made once."""
    import subprocess
    import sys
    import tempfile

    path = Path(tempfile.gettempdir()) / f"wnet-bench-{height}x{width}.jpg"
    if not path.exists():
        subprocess.run([sys.executable, "-c", MAKE_PHOTO, str(path), str(height), str(width)],
                       check=True)
    return path


def prepare(config):
    """The command rows' photo, made in the parent process: a child that made it would count
    among the measured process's children."""
    if "command" in config:
        photo(config["height"], config["width"])


def measure_command(config):
    import tempfile
    import time

    from wnet_tf import pretrained

    path = photo(config["height"], config["width"])
    model = pretrained.open_model("bsds500")
    # Importing TensorFlow runs a short child process, which counts as resident what it shares
    # with this one: only a larger peak after the command is the worker's.
    children = peak_rss_gb(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        if config["command"] == "segment":
            from wnet_tf.segment import segment_files

            done, skipped, _ = segment_files(model, [path], out)
            failed = skipped
        else:
            from wnet_tf.postprocess.folder import postprocess_folder

            settings = model.config.postprocess
            done, failed = postprocess_folder([path], out, settings, model=model)
        seconds = time.perf_counter() - start
    if failed or done != 1:
        raise RuntimeError(f"{config}: {failed}")
    mpx = config["height"] * config["width"] / 1e6
    # postprocess's CRF and hierarchy run in a worker process, whose peak is its own: the
    # command's peak is at most the sum of the two.
    worker = peak_rss_gb(resource.RUSAGE_CHILDREN)
    if worker <= children:
        worker = 0.0 if config["command"] == "segment" else children  # an upper bound
    return {**config, "mpx": mpx, "seconds": seconds, "s_per_mpx": seconds / mpx,
            "worker_rss_gb": worker, "peak_rss_gb": peak_rss_gb() + worker}


def measure(config):
    if "command" in config:
        return measure_command(config)
    import time

    import numpy as np

    from wnet_tf import inference
    from wnet_tf.config import load_config
    from wnet_tf.endpoints import Segmenter
    from wnet_tf.model import build_wnet

    run_config = load_config(ROOT / "configs" / f"{config['network']}.json")
    model_config = run_config.model
    encoder, decoder = build_wnet(model_config)
    model = Segmenter(encoder, decoder, run_config)
    tile = config["tile"] or inference.DEFAULT_TILE
    rng = np.random.default_rng(0)
    image = rng.random((config["height"], config["width"], 3), dtype=np.float32)
    inference.predict(model, image[:64, :64], None)  # trace and allocate outside the timing
    start = time.perf_counter()
    probs = inference.predict(model, image, None, tile=tile)
    seconds = time.perf_counter() - start
    assert probs.shape == (*image.shape[:2], model_config.k)
    mpx = image.shape[0] * image.shape[1] / 1e6
    return {**config, "tile": tile, "overlap": inference.context(model_config.depth), "mpx": mpx,
            "seconds": seconds, "s_per_mpx": seconds / mpx}


def with_ratios(records):
    base = {r["network"]: r["s_per_mpx"] for r in records
            if "network" in r and r["height"] == SIZES[0][0]}
    for r in records:
        r["ratio"] = r["s_per_mpx"] / base[r["network"]] if r.get("network") in base else None
    return records


if __name__ == "__main__":
    main(measure, CONFIGS, ["network", "command", "height", "width", "tile", "overlap", "seconds",
                            "s_per_mpx", "ratio", "worker_rss_gb", "peak_rss_gb"], __doc__,
         finish=with_ratios, prepare=prepare)
