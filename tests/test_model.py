import keras
import numpy as np
import pytest
from support import tiny

from wnet_tf.config import ModelConfig
from wnet_tf.model import PadToMultiple, build_wnet

TINY = tiny(k=5)

CONVS = (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.Conv2DTranspose)


@pytest.fixture(scope="module")
def paper_wnet():
    return build_wnet(ModelConfig())


def _module_convs(model):
    """{module name: [conv layers]} for the layers named <unet>_<module>_conv<j>."""
    modules = {}
    for layer in model.layers:
        if isinstance(layer, CONVS) and layer.name.rsplit("_", 1)[-1] in ("conv1", "conv2"):
            modules.setdefault(layer.name.rsplit("_", 1)[0], []).append(layer)
    return modules


def test_paper_architecture(paper_wnet):
    convs = [layer for net in paper_wnet for layer in net.layers if isinstance(layer, CONVS)]
    assert len(convs) == 46
    assert sum(isinstance(c, keras.layers.Conv2DTranspose) for c in convs) == 8
    modules = [m for net in paper_wnet for m in _module_convs(net).values()]
    assert len(modules) == 18 and all(len(m) == 2 for m in modules)
    # Modules 1, 9, 10 and 18 (first and last of each U-Net) are ordinary convolutions.
    for net in paper_wnet:
        by_name = _module_convs(net)
        plain = {name for name, m in by_name.items()
                 if not any(isinstance(c, keras.layers.SeparableConv2D) for c in m)}
        assert plain == {f"{net.name}_down1", f"{net.name}_up1"}
        assert by_name[f"{net.name}_bottom"][0].filters == 1024
        assert sorted({m[0].filters for m in by_name.values()}) == [64, 128, 256, 512, 1024]
        finals = [layer for layer in net.layers if layer.name.endswith("output_conv")]
        assert len(finals) == 1 and finals[0].kernel_size == (1, 1)
    assert paper_wnet[0].output.shape[-1] == 20 and paper_wnet[1].output.shape[-1] == 3


def test_module_order_is_conv_relu_bn_then_dropout():
    encoder, _ = build_wnet(tiny(k=3, dropout_rate=0.35))
    names = [layer.name for layer in encoder.layers if layer.name.startswith("enc_down2_")]
    assert names == ["enc_down2_conv1", "enc_down2_relu1", "enc_down2_bn1", "enc_down2_conv2",
                     "enc_down2_relu2", "enc_down2_bn2", "enc_down2_dropout"]
    assert encoder.get_layer("enc_down2_dropout").rate == pytest.approx(0.35)


@pytest.mark.parametrize("height, width", [(321, 481), (1, 1), (17, 5)])
def test_any_size_goes_through_unchanged(height, width):
    encoder, decoder = build_wnet(TINY)
    images = np.random.default_rng(0).random((2, height, width, 3), dtype=np.float32)
    probs = encoder(images)
    assert probs.shape == (2, height, width, 5)
    np.testing.assert_allclose(np.sum(probs, axis=-1), 1.0, atol=1e-5)
    assert decoder(probs).shape == (2, height, width, 3)


def test_padding_is_reflection():
    x = np.arange(2 * 5 * 3 * 1, dtype=np.float32).reshape(2, 5, 3, 1)
    padded = PadToMultiple(4)(x).numpy()
    expected = np.pad(x, [(0, 0), (0, 3), (0, 1), (0, 0)], mode="reflect")
    np.testing.assert_array_equal(padded, expected)


@pytest.mark.parametrize("name", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_outputs_are_float32_under_every_policy(policy, name):
    policy(name)
    encoder, decoder = build_wnet(TINY)
    probs = encoder(np.random.rand(1, 16, 16, 3).astype("float32"))
    assert probs.dtype == "float32" and decoder(probs).dtype == "float32"
    if name != "float32":
        assert encoder.get_layer("enc_down2_conv1").compute_dtype != "float32"


@pytest.mark.parametrize("training", [True, False])
def test_fused_batch_norm_equals_keras_batch_norm(training):
    from wnet_tf.model import FusedBatchNormalization

    x = np.random.default_rng(5).normal(2.0, 3.0, (4, 6, 5, 3)).astype(np.float32)
    ours, theirs = FusedBatchNormalization(), keras.layers.BatchNormalization()
    for layer in (ours, theirs):
        layer.build(x.shape)
        layer.set_weights([np.array([1.5, 0.5, 2.0], np.float32), np.array([0.1, -0.2, 0.3],
                                                                             np.float32),
                           np.array([1.0, 2.0, 3.0], np.float32), np.array([4.0, 1.0, 9.0],
                                                                            np.float32)])
    np.testing.assert_allclose(ours(x, training=training), theirs(x, training=training),
                               rtol=1e-4, atol=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    assert ours.get_config() == {**theirs.get_config(), "name": ours.name}
