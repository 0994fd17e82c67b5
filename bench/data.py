"""Input pipeline throughput: images/s from TFRecords of BSDS-sized JPEGs (481x321) to 224x224
training batches of 10, on 1 and 2 cores; and seconds to convert 500 JPEGs with make-records.

    python bench/data.py [--json PATH]

The images are BSDS500's 500 photos when $WNET_BSDS_ROOT or ../shared/data/bsds500 (beside the
repository) exists, else 500 synthetic 481x321 JPEGs of similar size; converted once into a cache
folder under the system's temp dir. Each configuration runs in its own process pinned to its
cores (sched_setaffinity), so "cores" is what TensorFlow could use.

Target on the 2-core reference machine: at least 300 images/s with 2 cores (preprocess=resize),
so that the pipeline never makes a training step wait.
"""

import contextlib
import os
import resource
import tempfile
from pathlib import Path

from harness import main, median_seconds

CACHE = Path(tempfile.gettempdir()) / "wnet-tf-bench-data"
CONFIGS = ([{"task": "pipeline", "cores": c, "preprocess": "resize", "flip": False}
            for c in (1, 2)]
           + [{"task": "pipeline", "cores": 2, "preprocess": "random_crop", "flip": True}]
           + [{"task": "convert", "cores": c, "images": 500} for c in (1, 2)])
BATCHES = 100


def bsds_root():
    for root in (os.environ.get("WNET_BSDS_ROOT"),
                 Path(__file__).resolve().parents[2] / "shared" / "data" / "bsds500"):
        if root and (Path(root) / "images" / "train").is_dir():
            return Path(root)
    return None


def synthetic_jpegs(folder, count=500):
    """481x321 JPEGs with photo-like content: smooth colour fields plus grain (about 50 KB;
    BSDS's average 75 KB)."""
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        low = tf.random.stateless_uniform((1, 11, 16, 3), seed=(i, 0))
        smooth = tf.image.resize(low, (321, 481), method="bicubic")[0]
        grain = tf.random.stateless_normal((321, 481, 3), seed=(i, 1), stddev=0.03)
        pixels = tf.cast(tf.clip_by_value(smooth + grain, 0, 1) * 255, tf.uint8)
        (folder / f"{i:03d}.jpg").write_bytes(tf.io.encode_jpeg(pixels, quality=90).numpy())
    return folder


def source():
    """The 500 JPEGs (a records.Source), made once."""
    from wnet_tf import records

    root = bsds_root()
    if root:
        return records.find_source(root, "bsds", "all")
    folder = CACHE / "synthetic"
    if len(list(folder.glob("*.jpg"))) < 500:
        synthetic_jpegs(folder)
    return records.find_source(folder, "folder")


def manifest():
    """Records of the 500 JPEGs in shards of 64, made once."""
    from wnet_tf import records

    images = source()
    path = records.manifest_path(CACHE, f"{images.kind}-{images.split}")
    if not path.exists():
        records.convert(images, CACHE, shard_size=64)
    return path


@contextlib.contextmanager
def cpu_time():
    """Yields a function giving the CPU milliseconds this process used inside the block: unlike
    images/s, it does not depend on what else the shared machine is running."""
    def used():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    start, end = used(), []
    yield lambda: 1000 * (end[0] - start)
    end.append(used())


def measure(config):
    os.sched_setaffinity(0, range(config["cores"]))  # before TensorFlow sizes its thread pools

    if config["task"] == "convert":
        return measure_convert(config)
    import tensorflow as tf

    from wnet_tf.config import DataConfig
    from wnet_tf.data import make_dataset

    data = DataConfig(train=str(manifest()), preprocess=config["preprocess"],
                      random_flip=config["flip"], batch_size=10, image_size=224)
    batches = iter(make_dataset(data, "train", training=True))
    for _ in range(20):  # warm-up: fills the shuffle buffer, lets AUTOTUNE settle
        next(batches)

    def run():
        for _ in range(BATCHES):
            batch = next(batches)
        tf.debugging.assert_equal(tf.shape(batch), [10, 224, 224, 3])

    with cpu_time() as cpu:
        rate = BATCHES * 10 / median_seconds(run, 3)
    return {**config, "source": Path(data.train).name, "images_per_s": rate,
            "per_core": rate / config["cores"], "cpu_ms_per_image": cpu() / (3 * BATCHES * 10)}


def measure_convert(config):
    from wnet_tf import records

    images = source()
    assert len(images.files) == config["images"], len(images.files)
    records.inspect_file(images.files[0])  # TensorFlow's import and first-call costs excluded
    with tempfile.TemporaryDirectory() as out, cpu_time() as cpu:
        seconds = median_seconds(
            lambda: records.convert(images, out, workers=config["cores"], overwrite=True), 3)
    rate = config["images"] / seconds
    return {**config, "source": images.kind, "seconds": seconds, "images_per_s": rate,
            "per_core": rate / config["cores"], "cpu_ms_per_image": cpu() / (3 * len(images.files))}



if __name__ == "__main__":
    main(measure, CONFIGS, ["task", "source", "cores", "preprocess", "flip", "images",
                            "images_per_s", "per_core", "cpu_ms_per_image", "seconds",
                            "peak_rss_gb"], __doc__)
