"""What the tests share: one tiny model config, and `run_layer_test`, a harness in the spirit of
keras-hub's `TestCase.run_layer_test` that every registered layer of wnet_tf.model goes through."""

import dataclasses

import keras
import numpy as np

from wnet_tf.config import ModelConfig

# The model every test builds unless it needs another: two levels (grid 4), four filters.
TINY = ModelConfig(k=4, base_filters=4, depth=2, dropout_rate=0.0)


def tiny(**changes):
    """TINY with some fields changed, e.g. tiny(k=3, padding="circular")."""
    return dataclasses.replace(TINY, **changes)


POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def run_layer_test(cls, init_kwargs, inputs, expected_output_shape, tmp_path):
    """Checks one layer class: config and serialization round trips, eager and symbolic output
    shapes, the output dtype under each precision policy, and save / load of a model holding it
    (same outputs). `inputs` is an array, or a list of arrays for a layer of several inputs."""
    layer = cls(**init_kwargs)
    config = layer.get_config()
    assert cls.from_config(config).get_config() == config
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is cls and revived.get_config() == config

    many = isinstance(inputs, list)
    arrays = inputs if many else [inputs]
    outputs = layer(arrays if many else arrays[0])
    assert tuple(outputs.shape) == expected_output_shape
    symbolic = [keras.Input(a.shape[1:], batch_size=a.shape[0], dtype=str(a.dtype))
                for a in arrays]
    symbolic_out = cls(**init_kwargs)(symbolic if many else symbolic[0])
    assert all(s in (None, e) for s, e in zip(symbolic_out.shape, expected_output_shape,
                                               strict=True))

    for policy in POLICIES:
        mixed = cls(**init_kwargs, dtype=policy)
        out = mixed(arrays if many else arrays[0])
        assert keras.backend.standardize_dtype(out.dtype) == mixed.compute_dtype, policy

    model = keras.Model(symbolic, cls(**init_kwargs)(symbolic if many else symbolic[0]))
    path = tmp_path / f"{cls.__name__}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(arrays)),
                               keras.ops.convert_to_numpy(model(arrays)), rtol=1e-6, atol=1e-6)
