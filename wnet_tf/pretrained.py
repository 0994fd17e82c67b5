"""Models by name or by path: the W-Nets that ship inside the package, and exported SavedModels.

    model = wnet_tf.pretrained.load("bsds500")        # shipped weights + the config that made them
    model = wnet_tf.pretrained.open_model("bsds500")  # the same; a SavedModel folder works too
    probs = model.segment(images)["probabilities"]    # like a SavedModel's endpoint
    model.geometry                                     # how its training images were shaped

A shipped model is a folder `wnet_tf/models/NAME/` holding `config.json` (the run's resolved
config) and `weights.npz` (every variable of both networks, float32 unless saved smaller, in
the networks' variable order), or the same arrays in parts `weights-1.npz`, `weights-2.npz`, ...
when saved with a size limit per file. `ship_run` writes one from a training run on either
backend (`python tools/ship_model.py RUN_DIR NAME`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wnet_tf.files import atomic_write, numbered
from wnet_tf.rundir import CONFIG_FILE  # a shipped model's config has the run's name

MODELS_DIR = Path(__file__).parent / "models"
WEIGHTS_FILE = "weights.npz"


def available() -> list[str]:
    """The names of the models that ship inside the package."""
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p.name for p in MODELS_DIR.iterdir() if weight_files(p / WEIGHTS_FILE))


def weight_files(path) -> list[Path]:
    """The files that hold the weights saved as `path`: the file itself, or its parts
    (STEM-1.npz, STEM-2.npz, ...) in order; [] if neither is there."""
    path = Path(path)
    if path.is_file():
        return [path]
    return numbered(path.parent, path.stem)


@dataclass(frozen=True)
class Geometry:
    """The shape a model's training images had: the run's `data.preprocess` and
    `data.image_size`. "resize" squashed every image to image_size x image_size; the crops
    scaled its shorter side to image_size first, so the model saw objects at that scale."""

    preprocess: str
    image_size: int

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) at which the model should see an image of height x width, as training saw
        it: the whole image for "resize", the shorter side at image_size for the crops (with
        the rounding of wnet_tf.data.resize_short_side)."""
        size = self.image_size
        if self.preprocess == "resize":
            return size, size
        scale = size / min(height, width)
        return tuple(max(size, round(n * scale)) for n in (height, width))

    @classmethod
    def short_side(cls, size: int) -> Geometry:
        """The shorter side scaled to `size`, whatever the model was trained at."""
        return cls("center_crop", int(size))

    @classmethod
    def of_config(cls, config: dict) -> Geometry:
        """From a resolved config as a dict (the `data` section's two keys)."""
        return cls(config["data"]["preprocess"], int(config["data"]["image_size"]))


class Segmenter:
    """An encoder (and decoder) with the endpoints of an exported SavedModel, `segment` and
    `reconstruct` (float32 images in [0, 1] -> dicts), for any batch and size."""

    def __init__(self, encoder, decoder, config: dict):
        import tensorflow as tf

        from wnet_tf.export import images_spec

        self.encoder, self.decoder, self.config = encoder, decoder, config
        self.geometry = Geometry.of_config(config)
        # One trace for every size: the signature leaves B, H and W open.
        self._probabilities = tf.function(lambda x: encoder(x, training=False),
                                          input_signature=[images_spec()])
        self._reconstructions = tf.function(
            lambda x: decoder(encoder(x, training=False), training=False),
            input_signature=[images_spec()])

    def segment(self, images):
        import tensorflow as tf

        probs = self._probabilities(tf.convert_to_tensor(images, tf.float32))
        return {"probabilities": probs, "labels": tf.argmax(probs, axis=-1, output_type=tf.int32)}

    def reconstruct(self, images):
        import tensorflow as tf

        return {"reconstructions": self._reconstructions(tf.convert_to_tensor(images,
                                                                               tf.float32))}


class SavedModelSegmenter:
    """A SavedModel from `wnet-tf export`, with the geometry of the run it came from (read from
    its assets.extra/config.json; None for a SavedModel without one: it then runs as is)."""

    def __init__(self, path):
        import tensorflow as tf

        self.path = Path(path)
        self._model = tf.saved_model.load(str(path))
        config_path = self.path / "assets.extra" / CONFIG_FILE
        self.config = json.loads(config_path.read_text()) if config_path.is_file() else None
        self.geometry = Geometry.of_config(self.config) if self.config else None

    def segment(self, images):
        return self._model.segment(images)

    def reconstruct(self, images):
        return self._model.reconstruct(images)


def _variables(encoder, decoder):
    return [("enc", v) for v in encoder.weights] + [("dec", v) for v in decoder.weights]


def _key(i, net, variable):
    return f"{i:04d}:{net}/{re.sub(r'[^A-Za-z0-9_./-]', '_', variable.path)}"


def save_weights(encoder, decoder, path, dtype=np.float32, max_bytes=None) -> list[Path]:
    """Every variable of both networks as `dtype` arrays (float16 halves the file) in one
    compressed .npz, keyed by order and name so that loading checks both; with `max_bytes`,
    in as many parts as keep each file's arrays within it (see `weight_files`). Returns the
    files written."""
    path = Path(path)
    arrays = {_key(i, net, v): np.asarray(v.numpy(), dtype)
              for i, (net, v) in enumerate(_variables(encoder, decoder))}
    parts = [{}]
    for key, array in arrays.items():
        if max_bytes and parts[-1] and _bytes(parts[-1]) + array.nbytes > max_bytes:
            parts.append({})
        parts[-1][key] = array
    if max_bytes and any(_bytes(part) > max_bytes for part in parts):
        raise ValueError(f"{path}: a single variable holds more than max_bytes={max_bytes}")
    names = [path] if len(parts) == 1 else [path.with_name(f"{path.stem}-{i}.npz")
                                            for i in range(1, len(parts) + 1)]
    for old in weight_files(path):
        old.unlink()  # no stale part may mix with the new ones
    for name, part in zip(names, parts, strict=True):
        atomic_write(name, lambda tmp, part=part: np.savez_compressed(tmp, **part))
    return names


def _bytes(arrays):
    return sum(a.nbytes for a in arrays.values())


def load_weights(encoder, decoder, path) -> None:
    """Assigns the arrays `save_weights` wrote (one file or its parts), after checking that they
    are the same variables (names, order and shapes): another model section raises a
    ValueError naming the first mismatch."""
    files = weight_files(path)
    if not files:
        raise FileNotFoundError(f"{path}: no such weights file (nor its parts)")
    arrays = {}
    for file in files:
        with np.load(file) as data:
            arrays.update((key, data[key]) for key in data.files)
    keys = sorted(arrays)
    variables = _variables(encoder, decoder)
    if len(keys) != len(variables):
        raise ValueError(f"{path}: {len(keys)} arrays for a model with {len(variables)} "
                         "variables (is config.json the one these weights were saved with?)")
    for key, (i, (net, variable)) in zip(keys, enumerate(variables), strict=True):
        array = arrays[key]
        if key != _key(i, net, variable) or array.shape != tuple(variable.shape):
            raise ValueError(f"{path}: array {key} {array.shape} does not fit variable "
                             f"{net}/{variable.path} {tuple(variable.shape)}")
        variable.assign(array.astype(variable.dtype))


def load(name: str) -> Segmenter:
    """A model that ships inside the package, by name (see `available()`)."""
    folder = MODELS_DIR / name
    if not weight_files(folder / WEIGHTS_FILE):
        names = ", ".join(available()) or "none"
        raise FileNotFoundError(f"no shipped model named {name!r} (shipped: {names})")
    return load_folder(folder)


def load_folder(folder) -> Segmenter:
    """A shipped-model folder anywhere (config.json and weights), e.g. one that
    tools/gpu_train.sh brought back."""
    from wnet_tf.config import config_from_dict
    from wnet_tf.model import build_wnet, float32_policy

    config = json.loads((folder / CONFIG_FILE).read_text())
    with float32_policy():
        encoder, decoder = build_wnet(config_from_dict(config).model)
    load_weights(encoder, decoder, folder / WEIGHTS_FILE)
    return Segmenter(encoder, decoder, config)


def open_model(spec) -> Segmenter | SavedModelSegmenter:
    """A SavedModel folder (from `wnet-tf export`), a shipped-model folder (config.json and
    weights), or the name of a model shipped inside the package."""
    path = Path(spec)
    if path.is_dir():
        if weight_files(path / WEIGHTS_FILE) and (path / CONFIG_FILE).is_file():
            return load_folder(path)
        if not (path / "saved_model.pb").is_file():
            raise FileNotFoundError(f"{path}: neither a SavedModel folder (no saved_model.pb) "
                                    f"nor a shipped-model folder (no {WEIGHTS_FILE})")
        return SavedModelSegmenter(path)
    if str(spec) in available():
        return load(str(spec))
    names = ", ".join(available()) or "none"
    raise FileNotFoundError(f"{spec}: neither a SavedModel folder nor a shipped model "
                            f"(shipped: {names})")


def ship_run(run_dir, name, *, checkpoint=None, config_path=None, models_dir=MODELS_DIR,
             dtype=np.float32, max_bytes=None) -> Path:
    """Writes a run's latest checkpoint (or `checkpoint`; a run on either backend) as the
    shipped model `name`: `models_dir/name/{config.json, weights.npz}` (the weights in parts of
    at most `max_bytes` each, if given). The config is the run's, or `config_path`'s (for the
    post-processing chosen after training), whose model and data sections must then be the
    run's. Returns that folder."""
    from wnet_tf.config import ConfigError, config_to_dict, load_config, save_config
    from wnet_tf.model import build_wnet, float32_policy
    from wnet_tf.rundir import latest_checkpoint, restore_networks

    run_dir = Path(run_dir)
    checkpoint = checkpoint or latest_checkpoint(run_dir)
    if checkpoint is None:
        raise FileNotFoundError(f"{run_dir}: no checkpoint to ship (train it first)")
    config = load_config(run_dir / CONFIG_FILE)
    if config_path is not None:
        chosen = load_config(config_path)
        for section in ("model", "data"):
            if config_to_dict(chosen)[section] != config_to_dict(config)[section]:
                raise ConfigError(f"{config_path}: its {section} section is not the one "
                                  f"{run_dir} trained with")
        config = chosen
    with float32_policy():
        encoder, decoder = build_wnet(config.model)
    restore_networks(encoder, decoder, checkpoint)
    folder = Path(models_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(encoder, decoder, folder / WEIGHTS_FILE, dtype, max_bytes)
    save_config(config, folder / CONFIG_FILE)
    return folder
