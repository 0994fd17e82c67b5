"""The convolutions of one Algorithm 1 step, each layer timed alone: the paper's W-Net at
224x224, batch 10, K = 20, float32. Each convolution layer's forward pass plus its backward pass
(weight gradients, and the input gradient wherever the step needs one) is timed at the shape it
sees in the step, then counted as often as the step runs it: encoder layers twice (phases 1 and
2), decoder layers once.

    python bench/convs.py [--json PATH]

The sum is what the convolutions alone cost with TensorFlow's CPU kernels, a floor under the
step time that no change outside those kernels can go below (compare bench/step.py).
"""

from harness import main, median_seconds

CONFIGS = [{"policy": "float32", "batch": 10, "size": 224, "k": 20}]


def measure(config):
    import keras
    import tensorflow as tf
    from keras import layers

    from wnet_tf.config import ModelConfig
    from wnet_tf.model import build_wnet

    b, s, k = config["batch"], config["size"], config["k"]
    encoder, decoder = build_wnet(ModelConfig(k=k))
    convs = (layers.Conv2D, layers.SeparableConv2D, layers.Conv2DTranspose)
    seconds = {}
    for model, channels, passes in ((encoder, 3, 2), (decoder, k, 1)):
        model_convs = [layer for layer in model.layers if isinstance(layer, convs)]
        probe = keras.Model(model.input, [layer.input for layer in model_convs])
        shapes = [x.shape for x in probe(tf.random.uniform((b, s, s, channels)))]
        for i, (layer, shape) in enumerate(zip(model_convs, shapes, strict=True)):
            x = tf.random.normal(shape)
            # The step never needs the gradient with respect to the images.
            wrt_input = not (model is encoder and i == 0)

            @tf.function
            def forward_backward(x=x, layer=layer, wrt_input=wrt_input):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = layer(x)
                sources = ([x] if wrt_input else []) + layer.trainable_variables
                return tape.gradient(y, sources, output_gradients=tf.ones_like(y))

            def run(fn=forward_backward):
                for grad in fn():
                    grad.numpy()

            run()  # trace
            seconds[layer.name] = passes * median_seconds(run, 3)
    slowest = max(seconds, key=seconds.get)
    return {**config, "seconds": sum(seconds.values()), "layers": len(seconds),
            "slowest": slowest, "slowest_seconds": seconds[slowest], "per_layer": seconds}


if __name__ == "__main__":
    main(measure, CONFIGS, ["policy", "batch", "size", "k", "layers", "seconds", "slowest",
                            "slowest_seconds", "peak_rss_gb"], __doc__)
