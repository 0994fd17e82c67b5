"""Shared fixtures. TensorFlow's start-up chatter is silenced before it is imported."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture
def policy():
    """Sets a Keras precision policy for one test and restores float32 afterwards."""
    import keras

    def set_policy(name):
        keras.mixed_precision.set_global_policy(name)

    yield set_policy
    keras.mixed_precision.set_global_policy("float32")
