"""A W-Net's weights in Keras' own format: the one format of shipped models (wnet_tf/weights/)
and of weights handed from one process to another.

    save_weights(encoder, decoder, folder)   # folder/wnet.weights.h5
    load_weights(encoder, decoder, folder)   # checks that they fit, then assigns them

Both networks are saved as one Keras model (`wnet`: images -> encoder -> decoder) with
`keras.Model.save_weights`, so the file is keyed by the networks' layers and loading refuses
weights of another model section. `float16=True` stores them in half precision (half the
file; they load into float32 networks; a layer with a weight beyond float16's range is kept
in float32); `max_shard_mib` splits a large file into Keras' shards, `wnet.weights.json` and
`wnet_00000.weights.h5`, ... beside it.

Training runs keep their own formats (wnet_tf.rundir): they also hold the optimizers' and the
seed generators' states, which a resumed run needs and a shipped model does not.
"""

from __future__ import annotations

import warnings
from pathlib import Path

WEIGHTS_FILE = "wnet.weights.h5"
SHARDS_FILE = "wnet.weights.json"  # the index of a sharded save (Keras' name for it)


def weights_file(folder) -> Path | None:
    """What `load_weights` reads in `folder`: the shards' index, else the single file; None if
    neither is there."""
    for name in (SHARDS_FILE, WEIGHTS_FILE):
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    return None


def wnet(encoder, decoder):
    """Both networks as one Keras model, images -> reconstructions, whose weights are theirs."""
    import keras

    images = keras.Input((None, None, 3))
    return keras.Model(images, decoder(encoder(images)), name="wnet")


def _in_float16(network):
    """A copy of a network for storage only (Keras' public clone_model): its layers in float16,
    but a layer with a weight beyond float16's range stays float32. A batch norm's moving variance
    can pass 65504 (the rotations model's reached 97,885), and in float16 it would be stored as
    inf, which holds that layer's channels constant."""
    import keras
    import numpy as np

    largest = float(np.finfo(np.float16).max)

    def clone(layer):
        fits = all(float(np.max(np.abs(v.numpy()))) <= largest for v in layer.weights)
        return layer.__class__.from_config({**layer.get_config(),
                                            "dtype": "float16" if fits else "float32"})

    return keras.models.clone_model(network, clone_function=clone)


def save_weights(encoder, decoder, folder, *, float16=False, max_shard_mib=None) -> list[Path]:
    """Writes both networks' weights into `folder` (replacing any there before), as float16 if
    asked, in shards of at most `max_shard_mib` MiB if given. Returns the files written.

    The files are written into a temporary folder beside `folder` and moved in only once all are
    written (the shards' index last), so a failed save leaves the old weights as they were."""
    import shutil
    import tempfile

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = wnet(encoder, decoder)
    if float16:
        half = wnet(_in_float16(encoder), _in_float16(decoder))
        half.set_weights(model.get_weights())
        model = half
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        if max_shard_mib:
            model.save_weights(staging / SHARDS_FILE, max_shard_size=max_shard_mib / 1024)
        else:
            model.save_weights(staging / WEIGHTS_FILE)
        new = sorted(staging.iterdir(), key=lambda path: path.name == SHARDS_FILE)
        for old in _weight_files(folder):
            if old.name not in {path.name for path in new}:
                old.unlink()  # no stale shard may mix with the new ones
        for path in new:
            path.replace(folder / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _weight_files(folder)


def _weight_files(folder: Path) -> list[Path]:
    return sorted([*folder.glob("wnet.weights.*"), *folder.glob("wnet_*.weights.h5")])


def load_weights(encoder, decoder, folder) -> None:
    """Assigns the weights `save_weights` wrote into `folder`; weights of another model (another
    depth, K, width...) raise a ValueError before the networks are used."""
    path = weights_file(folder)
    if path is None:
        raise FileNotFoundError(f"{folder}: no {WEIGHTS_FILE} (nor {SHARDS_FILE})")
    with warnings.catch_warnings():
        # Keras warns about containers it skips whenever the layers do not match; the
        # ValueError below says it once, with the reason.
        warnings.filterwarnings("ignore", "Skipping nested container", UserWarning)
        try:
            wnet(encoder, decoder).load_weights(path)
        except ValueError as err:
            raise ValueError(f"{path} does not fit variables of this model (is config.json "
                             f"the one these weights were saved with?): "
                             f"{str(err).splitlines()[0]}") from None
