"""Which files a split reads: `input_files` and `check_inputs`, for both input paths.

Importing this module does not import TensorFlow, so that a machine without it (training on JAX,
`wnet_tf.arrays`) finds and checks its image folders. TFRecord globs and manifests are read with
`tf.io.gfile` (they may name gs:// paths), imported when one is read: that source needs
TensorFlow anyway.
"""

from __future__ import annotations

import json
from pathlib import Path

from wnet_tf.config import DataConfig
from wnet_tf.images import TF_EXTENSIONS, find_images


def _gfile():
    try:
        import tensorflow as tf
    except ImportError:
        raise ValueError("data.source='tfrecord' needs TensorFlow; install it, or use "
                         "data.source=folder with a folder of images") from None
    return tf.io.gfile


def skimage_images() -> list[Path]:
    """The sample images that ship inside the installed scikit-image wheel (about 25 PNG, JPEG
    and GIF files); the ones it would download on demand are not there and not used."""
    try:
        import skimage
    except ImportError as err:
        raise ImportError("source='skimage' needs scikit-image: pip install scikit-image") from err
    return [p for p in sorted(Path(skimage.data_dir).iterdir())
            if p.is_file() and p.suffix.lower() in TF_EXTENSIONS]


def read_manifest(path) -> list[str]:
    """The shard paths a make-records manifest lists, checked to exist."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such manifest") from None
    shards = [str(path.parent / shard["name"]) for shard in manifest["shards"]]
    exists = _gfile().exists
    missing = [s for s in shards if not exists(s)]
    if missing:
        raise FileNotFoundError(f"{path}: lists {len(missing)} missing shard(s), e.g. {missing[0]}")
    return shards


def input_files(config: DataConfig, split: str) -> list[str]:
    """The files `split` ("train" or "val") reads: TFRecord shards or image files, sorted."""
    if split not in ("train", "val"):
        raise ValueError(f"split={split!r}: expected 'train' or 'val'")
    if config.source == "skimage":
        return [str(p) for p in skimage_images()]
    where = getattr(config, split)
    if not where:
        raise ValueError(f"data.{split} is empty: set it to a TFRecord glob or manifest, or a "
                         "folder with data.source=folder (data.source=skimage needs no files)")
    if config.source == "folder":
        files = [str(p) for p in find_images(where, TF_EXTENSIONS)]
    elif where.endswith(".json"):
        files = read_manifest(where)
    else:
        files = sorted(_gfile().glob(where))
    if not files:
        raise FileNotFoundError(f"data.{split}={where!r} ({config.source}): matches no files")
    return files


def how_to_make(where: str) -> str:
    """The make-records command that writes the manifest `where` names, for an error message."""
    name, out = Path(where).name, Path(where).parent
    if name.startswith("voc-"):
        return f"wnet-tf make-records VOCdevkit/VOC2012 -o {out}"
    if name.startswith("bsds-"):
        split = name[len("bsds-"):].split(".")[0]
        return f"wnet-tf make-records BSDS500_ROOT --source bsds --split {split} -o {out}"
    return f"wnet-tf make-records IMAGES_DIR -o {out}"


def check_inputs(config: DataConfig) -> None:
    """Raises FileNotFoundError or ValueError, in one line that says what is missing and how to
    make it, unless every split the config reads (train; val when set) has its files."""
    for split in ("train", "val") if config.val else ("train",):
        try:
            input_files(config, split)
        except (FileNotFoundError, ValueError) as err:
            where = getattr(config, split)
            hint = (f"; make it with: {how_to_make(where)}"
                    if config.source == "tfrecord" and where.endswith(".json") else "")
            raise type(err)(f"data.{split}: {err}{hint}") from None
