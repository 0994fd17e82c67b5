"""Every layer wnet_tf.model registers with Keras, through the shared layer harness."""

import keras
import numpy as np
import pytest
from support import run_layer_test

from wnet_tf import model

X = np.random.default_rng(0).random((2, 5, 7, 3)).astype(np.float32)

CASES = [
    (model.PadToMultiple, {"multiple": 4}, X, (2, 8, 8, 3)),
    (model.CropLike, {}, [np.zeros((2, 8, 8, 3), np.float32), X], (2, 5, 7, 3)),
    (model.BorderPad, {"width": 1, "mode": "circular"}, X, (2, 7, 9, 3)),
    (model.BorderPad, {"width": 2, "mode": "symmetric"}, X, (2, 9, 11, 3)),
    (model.FusedBatchNormalization, {"momentum": 0.9}, X, (2, 5, 7, 3)),
    (model.SyncBatchNormalization, {"epsilon": 1e-3}, X, (2, 5, 7, 3)),
]


def registered_layers():
    return {obj for name, obj in vars(model).items() if isinstance(obj, type)
            and issubclass(obj, keras.layers.Layer)
            and keras.saving.get_registered_name(obj).startswith("wnet_tf>")}


def test_every_registered_layer_has_a_case():
    assert registered_layers() == {case[0] for case in CASES}


@pytest.mark.parametrize("cls, kwargs, inputs, shape", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_layer(cls, kwargs, inputs, shape, tmp_path):
    run_layer_test(cls, kwargs, inputs, shape, tmp_path)
