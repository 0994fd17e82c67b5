"""Models by name or by path: the W-Nets that ship inside the package, and exported SavedModels.

    model = wnet_tf.pretrained.load("bsds500")        # shipped weights + the config that made them
    model = wnet_tf.pretrained.open_model("bsds500")  # the same; a SavedModel folder works too
    probs = model.segment(images)["probabilities"]    # like a SavedModel's endpoint
    model.config, model.geometry    # its typed Config; how its training images were shaped

A shipped model is a folder `wnet_tf/weights/NAME/` holding `config.json` (the run's resolved
config) and its weights in Keras' format (`wnet.weights.h5`, wnet_tf.saving). wnet_tf.ship
writes one from a training run (`python tools/ship_model.py RUN_DIR NAME`). A shipped ensemble
(wnet_tf.endpoints.Ensemble) holds `config.json` and, instead of weights, `members/*/`, each a
shipped model (`python tools/ship_ensemble.py NAME MEMBER_FOLDER...`).
"""

from __future__ import annotations

from pathlib import Path

from wnet_tf.config import Config, load_config
from wnet_tf.endpoints import Ensemble, Segmenter
from wnet_tf.geometry import Geometry
from wnet_tf.rundir import CONFIG_FILE  # a shipped model's config has the run's name
from wnet_tf.saving import load_weights, weights_file

WEIGHTS_DIR = Path(__file__).parent / "weights"
MEMBERS_DIR = "members"  # an ensemble's members, inside its folder


def available() -> list[str]:
    """The names of the models that ship inside the package."""
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p.name for p in WEIGHTS_DIR.iterdir() if is_shipped(p))


def is_shipped(folder) -> bool:
    """Whether `folder` holds a shipped model: config.json and weights, or config.json and
    members that are shipped models (an ensemble)."""
    folder = Path(folder)
    return (folder / CONFIG_FILE).is_file() and (weights_file(folder) is not None
                                                 or bool(members(folder)))


def members(folder) -> list[Path]:
    """The member folders of a shipped ensemble, in name order ([] for a single model)."""
    inside = Path(folder) / MEMBERS_DIR
    return sorted(p for p in inside.iterdir() if is_shipped(p)) if inside.is_dir() else []


class SavedModelSegmenter:
    """A SavedModel from `wnet-tf export`, with the Config of the run it came from (read from
    its assets.extra/config.json) and so its geometry; both None for a SavedModel without one:
    it then runs as is."""

    def __init__(self, path):
        import tensorflow as tf

        self.path = Path(path)
        self._model = tf.saved_model.load(str(path))
        config_path = self.path / "assets.extra" / CONFIG_FILE
        self.config: Config | None = load_config(config_path) if config_path.is_file() else None
        self.geometry = Geometry.of(self.config.data) if self.config else None

    def segment(self, images):
        return self._model.segment(images)

    def reconstruct(self, images):
        return self._model.reconstruct(images)


def load(name: str) -> Segmenter | Ensemble:
    """A model that ships inside the package, by name (see `available()`)."""
    folder = WEIGHTS_DIR / name
    if not is_shipped(folder):
        names = ", ".join(available()) or "none"
        raise FileNotFoundError(f"no shipped model named {name!r} (shipped: {names})")
    return load_folder(folder)


def load_folder(folder) -> Segmenter | Ensemble:
    """A shipped-model folder anywhere (config.json and weights, or an ensemble's config.json
    and members), e.g. one that tools/gpu_train.sh brought back."""
    from wnet_tf.model import build_wnet, float32_policy

    config = load_config(Path(folder) / CONFIG_FILE)
    if weights_file(folder) is None and members(folder):
        return Ensemble([_member(p, config) for p in members(folder)], config)
    with float32_policy():
        encoder, decoder = build_wnet(config.model)
    load_weights(encoder, decoder, folder)
    return Segmenter(encoder, decoder, config)


def _member(folder: Path, config: Config) -> Segmenter:
    """An ensemble's member, which must see images as the ensemble does (the same geometry,
    depth and padding, which inference reads from the ensemble's config)."""
    model = load_folder(folder)
    if isinstance(model, Ensemble):
        raise ValueError(f"{folder}: an ensemble inside an ensemble; expected one model")
    # The ensemble's own inference scales are the ones used; the members' training must agree.
    ours = (model.geometry.training, model.config.model.depth, model.config.model.padding)
    theirs = (Geometry.of(config.data).training, config.model.depth, config.model.padding)
    if ours != theirs:
        raise ValueError(f"{folder}: geometry, depth and padding {ours}, but the ensemble's "
                         f"config.json says {theirs}")
    return model


def open_model(spec) -> Segmenter | Ensemble | SavedModelSegmenter:
    """A SavedModel folder (from `wnet-tf export`), a shipped-model folder (config.json and
    weights, or an ensemble's members), or the name of a model shipped inside the package."""
    path = Path(spec)
    if path.is_dir():
        if is_shipped(path):
            return load_folder(path)
        if not (path / "saved_model.pb").is_file():
            raise FileNotFoundError(f"{path}: neither a SavedModel folder (no saved_model.pb) "
                                    "nor a shipped-model folder (no config.json and weights)")
        return SavedModelSegmenter(path)
    if str(spec) in available():
        return load(str(spec))
    names = ", ".join(available()) or "none"
    raise FileNotFoundError(f"{spec}: neither a SavedModel folder nor a shipped model "
                            f"(shipped: {names})")
