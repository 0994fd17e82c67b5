"""One Algorithm 1 step, K = 20, in float32 and mixed_bfloat16: seconds per step (median), the
share spent in the N-cut loss and its gradient, peak memory, and achieved FLOP/s as a fraction of
a large matrix multiply timed in the same process and dtype. Rows: the 16-256 network (the shipped
model's width) at 96 and 224 px, batch 8, then the paper's 64-1024 network at 224 px, batch 10.
Each record names the CPU and its matrix features (AMX, AVX-512 BF16), which decide whether
mixed_bfloat16 pays on a CPU.

    python bench/step.py [--json PATH] [--only 0 1]

FLOPs: the forward graphs' float operations counted by TensorFlow's profiler, times 3 for a
forward plus backward pass: phase 1 is 3 x encoder, phase 2 is 3 x (encoder + decoder).
Targets for the paper's network on the 2-core reference machine: float32 <= 18 s and < 8 GB;
mixed_bfloat16 <= 12 s and < 6 GB.
"""

from harness import main, median_seconds, peak_rss_gb

CONFIGS = [{"policy": p, "filters": f, "batch": b, "size": s, "k": 20}
           for f, b, s in ((16, 8, 96), (16, 8, 224), (64, 10, 224))
           for p in ("float32", "mixed_bfloat16")]


def forward_flops(model, shape):
    import tensorflow as tf

    fn = tf.function(model, autograph=False).get_concrete_function(
        tf.TensorSpec(shape, tf.float32))
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=fn.graph, options=options).total_float_ops


def gemm_flops_per_second(dtype, n=4096):
    import tensorflow as tf

    a = tf.cast(tf.random.normal((n, n)), dtype)
    b = tf.cast(tf.random.normal((n, n)), dtype)
    matmul = tf.function(lambda: tf.matmul(a, b))
    matmul().numpy()
    return 2 * n**3 / median_seconds(lambda: matmul().numpy(), 5)


def measure(config):
    import keras
    import numpy as np
    import tensorflow as tf

    from wnet_tf.config import LossConfig, ModelConfig, OptimConfig
    from wnet_tf.model import build_wnet
    from wnet_tf.training.tf_engine import make_train_function
    from wnet_tf.training.trainer import WNetTrainer, make_optimizer

    keras.mixed_precision.set_global_policy(config["policy"])
    b, s, k = config["batch"], config["size"], config["k"]
    encoder, decoder = build_wnet(ModelConfig(k=k, base_filters=config["filters"]))
    optim = OptimConfig()
    trainer = WNetTrainer(encoder, decoder, LossConfig(), optim)
    trainer.compile(make_optimizer(optim, config["policy"]),
                    make_optimizer(optim, config["policy"]))
    images = tf.constant(np.random.default_rng(0).random((b, s, s, 3), dtype=np.float32))
    step = make_train_function(trainer, tf.distribute.get_strategy())  # what `train` runs
    data = tf.data.Dataset.from_tensors(images).repeat()
    iterator = iter(data)

    def run():
        logs = step(iterator)
        float(logs["ncut_loss"])

    run()  # trace
    seconds = median_seconds(run, 3)
    step_rss = peak_rss_gb()  # before the measurements below add their own tensors

    probs = encoder(images)

    @tf.function
    def ncut_and_grad():
        with tf.GradientTape() as tape:
            tape.watch(probs)
            loss = tf.reduce_mean(trainer.ncut_losses(images, probs))
        return tape.gradient(loss, probs)

    ncut_and_grad().numpy()
    ncut_seconds = median_seconds(lambda: ncut_and_grad().numpy(), 3)

    flops = 3 * (2 * forward_flops(encoder, (b, s, s, 3)) + forward_flops(decoder, (b, s, s, k)))
    dtype = tf.bfloat16 if config["policy"] == "mixed_bfloat16" else tf.float32
    gemm = gemm_flops_per_second(dtype)
    return {**config, "seconds": seconds, "loss_share": ncut_seconds / seconds,
            "peak_rss_gb": step_rss,
            "step_tflop": flops / 1e12, "achieved_gflops": flops / seconds / 1e9,
            "gemm_gflops": gemm / 1e9, "gemm_fraction": flops / seconds / gemm}


if __name__ == "__main__":
    main(measure, CONFIGS, ["policy", "filters", "batch", "size", "k", "seconds", "loss_share",
                            "peak_rss_gb", "step_tflop", "achieved_gflops", "gemm_gflops",
                            "gemm_fraction"], __doc__)
