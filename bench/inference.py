"""Inference at any size: seconds per megapixel and peak memory of `wnet_tf.inference.predict` at
the image's own size (no resampling), the paper's network and the quickstart's, on a BSDS-size
image (481x321, whole) and on 12- and 48-Mpx photos (tiled, the default tile and overlap).

    python bench/inference.py [--json PATH] [--only I ...]

Random weights and a random image: the cost of a convolution does not depend on either. The
ratio column is each row's seconds per megapixel over the same network's on the BSDS-size image,
measured in the same run (target: at most 1.2 for the paper's network at 12 Mpx, in 3 GB).
"""

import json
from pathlib import Path

from harness import main

ROOT = Path(__file__).resolve().parents[1]
SIZES = [(321, 481), (3000, 4000), (6000, 8000)]
CONFIGS = [{"network": net, "height": h, "width": w, "tile": None}
           for net in ("paper", "quickstart") for h, w in SIZES]
# The tile against memory and speed, for the choice of the default.
CONFIGS += [{"network": "paper", "height": 3000, "width": 4000, "tile": t} for t in (512, 768)]


def measure(config):
    import time

    import numpy as np

    from wnet_tf import inference, pretrained
    from wnet_tf.config import load_config
    from wnet_tf.model import build_wnet

    model_config = load_config(ROOT / "configs" / f"{config['network']}.json").model
    encoder, decoder = build_wnet(model_config)
    model = pretrained.Segmenter(encoder, decoder, {
        "model": json.loads(json.dumps(model_config.__dict__)),
        "data": {"preprocess": "resize", "image_size": 224}})
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
    base = {r["network"]: r["s_per_mpx"] for r in records if r["height"] == SIZES[0][0]}
    for r in records:
        r["ratio"] = r["s_per_mpx"] / base[r["network"]] if r["network"] in base else None
    return records


if __name__ == "__main__":
    main(measure, CONFIGS, ["network", "height", "width", "tile", "overlap", "seconds",
                            "s_per_mpx", "ratio", "peak_rss_gb"], __doc__, finish=with_ratios)
