"""The soft N-cut against a dense float64 reference with the full N x N weight matrix.

Backend-neutral: tests/test_backends.py runs this file again under KERAS_BACKEND=jax."""

import keras
import numpy as np
import pytest

from wnet_tf.losses import reconstruction_loss, soft_ncut_loss, window_offsets


def dense_weights(features, radius, sigma_i, sigma_x):
    """The paper's W for one image, (N, N), float64, straight from equation (6)."""
    height, width, _ = features.shape
    ys, xs = np.mgrid[:height, :width]
    pos = np.stack([ys.ravel(), xs.ravel()], 1).astype(np.float64)
    f = features.reshape(height * width, -1).astype(np.float64)
    dist2 = ((pos[:, None] - pos[None]) ** 2).sum(-1)
    feat2 = ((f[:, None] - f[None]) ** 2).sum(-1)
    return np.exp(-feat2 / sigma_i**2) * np.exp(-dist2 / sigma_x**2) * (np.sqrt(dist2) < radius)


def reference_ncut(features, probs, radius=5, sigma_i=10.0, sigma_x=4.0):
    """Equation (2), per image, float64."""
    losses = []
    for f, p in zip(features, probs, strict=True):
        w = dense_weights(f, radius, sigma_i, sigma_x)
        p = p.reshape(-1, p.shape[-1]).astype(np.float64)
        assoc = np.einsum("uk,uv,vk->k", p, w, p)
        volume = p.T @ w.sum(1)
        losses.append(p.shape[1] - np.sum(assoc / volume))
    return np.array(losses)


def random_inputs(rng, batch, height, width, k, channels=3):
    features = rng.uniform(0, 255, (batch, height, width, channels)).astype(np.float32)
    logits = rng.normal(0, 2, (batch, height, width, k))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return features, probs.astype(np.float32)


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def gradient(f, x):
    """d f / d x at the array x, for a scalar function f of one tensor, on any backend."""
    if keras.backend.backend() == "jax":
        import jax

        return np.asarray(jax.grad(f)(x))
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    return tape.gradient(y, x).numpy()


def test_window_has_69_neighbours_for_radius_5():
    assert len(window_offsets(5)) == 69 and (0, 0) in window_offsets(5)
    assert len(window_offsets(1)) == 1


@pytest.mark.parametrize("height, width, k, radius, sigma_i, sigma_x, channels", [
    (24, 24, 4, 5, 10.0, 4.0, 3),
    (24, 17, 20, 5, 10.0, 4.0, 3),
    (9, 13, 2, 3, 30.0, 2.0, 3),
    (11, 6, 7, 1, 10.0, 4.0, 3),
    (4, 4, 3, 7, 50.0, 10.0, 1),  # radius larger than the image: every pixel sees every other
    (20, 20, 5, 2, 5.0, 1.0, 1),
])
@pytest.mark.parametrize("jit", [False, True])
def test_equals_dense_reference(height, width, k, radius, sigma_i, sigma_x, channels, jit):
    features, probs = random_inputs(np.random.default_rng(height * k), 2, height, width, k,
                                    channels)
    got = soft_ncut_loss(features, probs, radius=radius, sigma_i=sigma_i, sigma_x=sigma_x,
                         jit=jit)
    assert keras.backend.standardize_dtype(got.dtype) == "float32" and got.shape == (2,)
    want = reference_ncut(features, probs, radius, sigma_i, sigma_x)
    np.testing.assert_allclose(numpy(got), want, rtol=1e-6)


@pytest.mark.parametrize("jit", [False, True])
def test_gradient_equals_finite_differences_of_reference(jit):
    rng = np.random.default_rng(1)
    features, probs = random_inputs(rng, 2, 7, 6, 3)
    upstream = np.array([0.7, -1.3], np.float32)
    grad = gradient(lambda p: keras.ops.sum(upstream * soft_ncut_loss(features, p, radius=3,
                                                                       jit=jit)), probs)
    # Central differences of the float64 reference, at every entry (probs need not sum to 1:
    # the loss is a function of the free entries).
    eps = 1e-5
    p64 = probs.astype(np.float64)
    numeric = np.zeros_like(p64)
    for idx in np.ndindex(p64.shape):
        for sign in (1, -1):
            q = p64.copy()
            q[idx] += sign * eps
            numeric[idx] += sign * np.dot(upstream, reference_ncut(features, q, 3))
    numeric /= 2 * eps
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-6)


def test_class_permutation_leaves_loss_unchanged():
    features, probs = random_inputs(np.random.default_rng(2), 2, 12, 10, 6)
    perm = np.random.default_rng(3).permutation(6)
    np.testing.assert_allclose(numpy(soft_ncut_loss(features, probs)),
                               numpy(soft_ncut_loss(features, probs[..., perm])), rtol=1e-6)


@pytest.mark.parametrize("k", [2, 5, 20])
def test_uniform_softmax_gives_k_minus_1(k):
    # p_k = 1/K everywhere: A_k = sum(d) / K^2 and V_k = sum(d) / K, so J = K - K * (1/K).
    features, _ = random_inputs(np.random.default_rng(4), 1, 10, 12, k)
    probs = np.full((1, 10, 12, k), 1.0 / k, np.float32)
    np.testing.assert_allclose(numpy(soft_ncut_loss(features, probs)), [k - 1], rtol=1e-6)


def test_perfect_two_region_split_gives_zero():
    # Two flat regions 255 apart: cross weights exp(-3 * 255^2 / 100) vanish, so a hard split
    # along them has A_k = V_k and J = 2 - 2 = 0; assigning everything to one class gives
    # J = 2 - (1 + 0) = 1 (the empty class has A = V = 0, counted as 0).
    features = np.zeros((1, 8, 10, 3), np.float32)
    features[:, :, 6:] = 255.0
    split = np.zeros((1, 8, 10, 2), np.float32)
    split[:, :, :6, 0] = 1.0
    split[:, :, 6:, 1] = 1.0
    assert numpy(soft_ncut_loss(features, split)) == pytest.approx([0.0], abs=1e-6)
    single = np.zeros_like(split)
    single[..., 0] = 1.0
    assert numpy(soft_ncut_loss(features, single)) == pytest.approx([1.0], abs=1e-6)


def test_reconstruction_loss_is_the_squared_norm_per_image():
    images = np.zeros((2, 3, 4, 3), np.float32)
    recon = images.copy()
    recon[1, 0, 0] = [1.0, 2.0, 0.0]
    np.testing.assert_allclose(numpy(reconstruction_loss(images, recon)), [0.0, 5.0])
