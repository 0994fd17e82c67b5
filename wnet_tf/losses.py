"""W-Net's losses as pure tensor functions, computed in float32.

Soft normalized cut, the paper's equation (2), per image, for soft assignments p (B, H, W, K):

    J(p) = K - sum_k A_k / V_k,   A_k = sum_u p_k(u) (W p_k)(u),   V_k = sum_u p_k(u) d(u),

    d(u) = sum_v w(u, v),
    w(u, v) = exp(-|F(u) - F(v)|^2 / sigma_i^2) exp(-|X(u) - X(v)|^2 / sigma_x^2)

for pixels u, v closer than `radius` (strictly), else 0 (equation (6)). This is exact: W is never
formed; (W q)(u) is accumulated offset by offset over the (2r-1)^2 window (69 offsets for r = 5),
so memory is linear in B*H*W*K. Because W is symmetric, the gradient has a closed form,

    dJ/dp_k(u) = -(2 (W p_k)(u) V_k - A_k d(u)) / V_k^2,

which needs only W p and d from the forward pass: autodiff through the window loop would keep one
(B, H, W, K) tensor per offset alive for the backward pass. The weights are treated as constants
(no gradient flows into the images through them).
"""

import functools

import keras
from keras import ops

# A class whose total probability mass is below this contributes nothing to the N-cut; the floor
# only keeps 0 / 0 out of the loss when a softmax output underflows to 0 everywhere.
_MIN_VOLUME = 1e-6


def window_offsets(radius):
    """(dy, dx) with dy^2 + dx^2 < radius^2, the origin included (69 for radius 5)."""
    reach = int(radius)
    return tuple((dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)
                 if dy * dy + dx * dx < radius * radius)


def affinity_matvec(features, q, *, radius, sigma_i, sigma_x):
    """(W q)(u) = sum_v w(u, v) q(v) for every channel of q, and the degree d(u) = sum_v w(u, v).

    Args:
        features: (B, H, W, C) pixel values F, exactly as they enter the weights.
        q: (B, H, W, M) values to multiply, of the features' float dtype.
    Returns:
        (B, H, W, M) W q and (B, H, W, 1) d, with pixels outside the image contributing nothing.
    """
    offsets = window_offsets(radius)
    reach = max(dy for dy, _ in offsets)
    height, width = ops.shape(q)[1], ops.shape(q)[2]
    pad = [[0, 0], [reach, reach], [reach, reach], [0, 0]]
    # Zero padding of q and of the mask removes out-of-image neighbours from every sum.
    f_pad, q_pad = ops.pad(features, pad), ops.pad(q, pad)
    inside = ops.pad(ops.ones_like(q[..., :1]), pad)
    # Two accumulators rather than d as one more channel of q: XLA then fuses each into a single
    # loop; slicing d back out of a (K + 1)-channel product made it recompute the whole window
    # sum once per consumer (0.51 s against 0.31 s at 224x224, batch 10, K = 20).
    total, degree = ops.zeros_like(q), ops.zeros_like(q[..., :1])
    for dy, dx in offsets:
        rows, cols = reach + dy, reach + dx
        distance2 = ops.sum(ops.square(features - f_pad[:, rows:rows + height, cols:cols + width]),
                            axis=-1, keepdims=True)
        weight = inside[:, rows:rows + height, cols:cols + width] * ops.exp(
            -distance2 / sigma_i**2 - (dy * dy + dx * dx) / sigma_x**2)
        total += weight * q_pad[:, rows:rows + height, cols:cols + width]
        degree += weight
    return total, degree


@functools.cache
def _ncut_function(radius, sigma_i, sigma_x, jit, backend):
    """A soft N-cut with its closed-form gradient, built once per setting and backend (one XLA
    program each under TensorFlow with `jit`; JAX compiles it with the step that calls it)."""
    matvec = functools.partial(affinity_matvec, radius=radius, sigma_i=sigma_i, sigma_x=sigma_x)

    def forward(features, probs):
        wp, degree = matvec(features, probs)
        assoc = ops.sum(probs * wp, axis=[1, 2])
        volume = ops.maximum(ops.sum(probs * degree, axis=[1, 2]), _MIN_VOLUME)
        k = ops.cast(ops.shape(probs)[-1], probs.dtype)
        return k - ops.sum(assoc / volume, axis=-1), wp, degree, assoc, volume

    def backward(upstream, wp, degree, assoc, volume):
        assoc, volume = assoc[:, None, None, :], volume[:, None, None, :]
        grad = (assoc * degree - 2.0 * wp * volume) / ops.square(volume)
        return upstream[:, None, None, None] * grad

    if jit and backend == "tensorflow":
        import tensorflow as tf

        forward = tf.function(forward, jit_compile=True)
        backward = tf.function(backward, jit_compile=True)

    @ops.custom_gradient
    def ncut(features, probs):
        loss, wp, degree, assoc, volume = forward(features, probs)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            # No gradient flows into the weights: None where the backend takes it (TensorFlow),
            # zeros where it wants a cotangent per input (JAX; they cost nothing once jitted).
            features_grad = None if backend == "tensorflow" else ops.zeros_like(features)
            return features_grad, backward(upstream, wp, degree, assoc, volume)

        return loss, grad

    return ncut


def _float(x, dtype="float32"):
    """float32 (float64 stays float64, for the reference tests)."""
    x = ops.convert_to_tensor(x)
    return x if x.dtype == "float64" else ops.cast(x, dtype)


def soft_ncut_loss(images, probs, *, radius=5, sigma_i=10.0, sigma_x=4.0, jit=False):
    """The soft N-cut of each image, equation (2) with the weights of equation (6).

    Args:
        images: (B, H, W, C) pixel values F exactly as they enter the weights (the caller picks
            the scale; sigma_i = 10 is meant for 0..255).
        probs: (B, H, W, K) soft assignments summing to 1 over K.
        radius: pixels are neighbours when their distance is strictly below it.
        jit: under TensorFlow, compile with XLA (several times faster on CPU; one compilation
            per shape). Other backends compile it with the step around it.
    Returns:
        (B,) float32 losses in [0, K - 1] for probabilities that sum to 1 (float64 when both
        inputs are float64).
    """
    ncut = _ncut_function(int(radius), float(sigma_i), float(sigma_x), bool(jit),
                          keras.backend.backend())
    images, probs = _float(images), _float(probs)
    if images.dtype != probs.dtype:
        images, probs = ops.cast(images, "float32"), ops.cast(probs, "float32")
    return ncut(images, probs)


def ncut_features(images, *, intensity_scale=255.0, features="rgb"):
    """The pixel values F of the weights from images in [0, 1]: RGB or luma (ITU-R 601), scaled."""
    images = ops.cast(images, "float32") * intensity_scale
    if features == "grey":
        luma = ops.convert_to_tensor([0.299, 0.587, 0.114], "float32")
        return ops.sum(images * luma, axis=-1, keepdims=True)
    return images


def reconstruction_loss(images, reconstructions):
    """||X - U_dec(U_enc(X))||_2^2 of each image, the paper's equation (3): (B,) float32."""
    diff = ops.cast(images, "float32") - ops.cast(reconstructions, "float32")
    return ops.sum(ops.square(diff), axis=[1, 2, 3])
