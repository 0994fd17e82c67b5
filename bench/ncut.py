"""Soft N-cut loss plus its gradient: seconds (median) and peak memory at 224x224, batch 10,
K in {20, 64}, and how both grow with the image size (K = 20).

    python bench/ncut.py [--json PATH]

Target on the 2-core reference machine: at most 0.5 s at 224x224, batch 10, K = 20.
"""

from harness import main, median_seconds

CONFIGS = ([{"batch": 10, "size": 224, "k": k, "jit": True} for k in (20, 64)]
           + [{"batch": 10, "size": s, "k": 20, "jit": True} for s in (56, 112, 448)]
           + [{"batch": 10, "size": 224, "k": 20, "jit": False}])


def measure(config):
    import tensorflow as tf

    from wnet_tf.losses import soft_ncut_loss

    b, s, k = config["batch"], config["size"], config["k"]
    features = tf.random.uniform((b, s, s, 3), 0, 255, seed=1)
    probs = tf.nn.softmax(tf.random.normal((b, s, s, k), seed=2))

    @tf.function
    def loss_and_grad():
        with tf.GradientTape() as tape:
            tape.watch(probs)
            loss = tf.reduce_mean(soft_ncut_loss(features, probs, jit=config["jit"]))
        return loss, tape.gradient(loss, probs)

    def run():
        loss, grad = loss_and_grad()
        grad.numpy()

    run()  # trace and compile
    return {**config, "policy": "float32", "seconds": median_seconds(run, 5)}


if __name__ == "__main__":
    main(measure, CONFIGS, ["policy", "batch", "size", "k", "jit", "seconds", "peak_rss_gb"],
         __doc__)
