"""Post-processing (Algorithm 2): CRF, half-disc cues, contour2ucm and the CLI, on synthetic
images whose right answer is known."""

import dataclasses
import sys

import numpy as np
import pytest
from scipy import ndimage

from wnet_tf.config import ConfigError, PostprocessConfig, config_from_dict
from wnet_tf.postprocess import (
    cues,
    dense_crf,
    postprocess,
    segmentation_at,
    ucm_from_image,
    ucm_from_labels,
)
from wnet_tf.postprocess import hierarchy as hier

COLOURS = np.array([[0.8, 0.2, 0.2], [0.2, 0.7, 0.3], [0.2, 0.3, 0.8]])


def three_regions(h=60, w=90, noise=0.05, seed=0):
    """A red band, and a blue disc inside a green rest, with Gaussian noise: image and truth."""
    yy, xx = np.mgrid[:h, :w]
    truth = np.where(xx < w // 3, 0, np.where((xx - 2 * w // 3) ** 2 + (yy - h // 2) ** 2
                                              < (h // 4) ** 2, 2, 1))
    rng = np.random.default_rng(seed)
    return np.clip(COLOURS[truth] + rng.normal(0, noise, (h, w, 3)), 0, 1), truth


def crafted_softmax(truth, k=4, seed=1):
    """A noisy softmax that is right at about 99% of the pixels, with one unused class."""
    rng = np.random.default_rng(seed)
    logits = 2.0 * np.eye(k)[truth] + rng.normal(0, 0.5, (*truth.shape, k))
    p = np.exp(logits)
    return (p / p.sum(-1, keepdims=True)).astype(np.float32)


def same_partition(a, b):
    """True when the label maps a and b are the same regions under some renaming."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return pairs.shape[1] == len(np.unique(a)) == len(np.unique(b))


def nested(fine, coarse):
    """Every region of `fine` lies inside one region of `coarse`."""
    pairs = np.unique(np.stack([fine.ravel(), coarse.ravel()]), axis=1)
    return pairs.shape[1] == len(np.unique(fine))


def assert_bsds_layout(ucm2, shape):
    h, w = shape
    assert ucm2.shape == (2 * h + 1, 2 * w + 1) and ucm2.dtype == np.float64
    assert ucm2.min() >= 0.0 and ucm2.max() <= 1.0
    assert not ucm2[1::2, 1::2].any(), "pixel cells must be 0"


@pytest.mark.parametrize("oriented", [False, True])
def test_three_regions_recovered_at_mid_height(oriented):
    image, truth = three_regions()
    config = PostprocessConfig(oriented_watershed=oriented)
    ucm2 = postprocess(image, crafted_softmax(truth), config)
    assert_bsds_layout(ucm2, truth.shape)
    segmentation = segmentation_at(ucm2, 0.5 * ucm2.max())
    assert same_partition(segmentation, truth)


def test_cuts_at_increasing_thresholds_are_nested():
    image, _ = three_regions(noise=0.1)
    ucm2 = ucm_from_image(image, PostprocessConfig())  # many levels: every edge has a strength
    assert_bsds_layout(ucm2, image.shape[:2])
    cuts = [segmentation_at(ucm2, t) for t in np.linspace(0.0, ucm2.max(), 12)]
    counts = [len(np.unique(c)) for c in cuts]
    assert counts[0] > 50 and counts[-1] == 1 and counts == sorted(counts, reverse=True)
    assert all(nested(f, c) for f, c in zip(cuts[:-1], cuts[1:], strict=True))


def test_crf_moves_a_blurred_boundary_to_the_image_edge():
    h, w, edge = 40, 80, 40
    xx = np.broadcast_to(np.arange(w), (h, w))
    truth = (xx >= edge).astype(np.float32)
    rng = np.random.default_rng(0)
    image = np.clip(np.where(truth[..., None] > 0, 0.75, 0.25)
                    + rng.normal(0, 0.03, (h, w, 3)), 0, 1)
    # A soft ramp 8 px wide whose 0.5 crossing is 4 px right of the true edge.
    p1 = 1 / (1 + np.exp(-(xx - edge - 4 + 0.5) / 8.0))
    p = np.stack([1 - p1, p1], -1)
    q = dense_crf(image, p, PostprocessConfig())
    assert q.shape == p.shape and np.allclose(q.sum(-1), 1, atol=1e-4)
    error_before = np.abs(p[..., 1] - truth).mean()
    error_after = np.abs(q[..., 1] - truth).mean()
    assert error_before > 0.1 and error_after < 0.01 * error_before
    assert (p[..., 1] < 0.5).sum(1).mean() == edge + 4  # the argmax edge, before
    assert np.all((q[..., 1] < 0.5).sum(1) == edge)  # and after: on the image edge


def test_zero_crf_iterations_is_the_identity():
    image, truth = three_regions(h=12, w=15)
    p = crafted_softmax(truth)
    q = dense_crf(image, p, PostprocessConfig(crf_iterations=0))
    np.testing.assert_allclose(q, p, atol=1e-6)


def test_missing_pydensecrf_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydensecrf", None)
    monkeypatch.setitem(sys.modules, "pydensecrf.densecrf", None)
    image, truth = three_regions(h=12, w=15)
    with pytest.raises(ImportError, match=r'pip install "wnet-tf\[crf\]"'):
        dense_crf(image, crafted_softmax(truth), PostprocessConfig())


@pytest.mark.parametrize("radius", [2, 3, 5])
def test_half_discs_are_reflections_that_tile_the_disc(radius):
    disc, halves = cues.half_discs(radius, 8)
    centre = np.zeros_like(disc)
    centre[radius, radius] = True
    for half in halves:
        other = half[::-1, ::-1]  # point reflection through the centre
        assert not (half & other).any() and not (half & centre).any()
        assert np.array_equal(half | other | centre, disc)


def brute_force_gradient(stack, radius, orientations, y, x):
    """chi-square between the two half-disc histograms at (y, x), one pixel at a time."""
    padded = np.pad(stack, ((0, 0), (radius, radius), (radius, radius)), mode="symmetric")
    patch = padded[:, y:y + 2 * radius + 1, x:x + 2 * radius + 1]
    _, halves = cues.half_discs(radius, orientations)
    out = []
    for half in halves:
        left = patch[:, half].sum(1)
        right = patch[:, half[::-1, ::-1]].sum(1)
        left, right = left / left.sum(), right / right.sum()
        both = left + right
        out.append(0.5 * np.sum(np.where(both > 0, (left - right) ** 2 / np.maximum(both, 1e-30),
                                         0)))
    return np.array(out)


def test_oriented_gradients_match_a_brute_force_reference():
    rng = np.random.default_rng(3)
    values = rng.random((17, 23))
    stack = cues.soft_bins(values, 6)
    labels = rng.integers(0, 5, (17, 23))
    onehot = (labels == np.arange(5)[:, None, None]).astype(np.float32)
    for radius in (2, 4):
        soft, hard = cues.oriented_gradients([stack, onehot], radius, 8)
        for y, x in [(0, 0), (8, 11), (16, 22), (3, 20)]:
            np.testing.assert_allclose(soft[:, y, x], brute_force_gradient(stack, radius, 8, y, x),
                                       atol=1e-5)
            np.testing.assert_allclose(hard[:, y, x], brute_force_gradient(onehot, radius, 8, y, x),
                                       atol=1e-5)


def test_soft_bins_and_pooling_keep_counts():
    values = np.random.default_rng(0).random((7, 9))
    stack = cues.soft_bins(values, 5)
    np.testing.assert_allclose(stack.sum(0), 1, atol=1e-6)
    centres = (stack * np.linspace(0, 1, 5)[:, None, None]).sum(0)
    np.testing.assert_allclose(centres, values, atol=1e-6)  # linear binning keeps the mean
    pooled = cues.pool2(stack)
    assert pooled.shape == (5, 4, 5) and np.allclose(pooled.sum(0), 4)


@pytest.mark.parametrize("degrees", [0, 45, 90, 135])
def test_orientations_are_normals_as_higra_reads_them(degrees):
    import higra as hg

    h = w = 48
    yy, xx = np.mgrid[:h, :w]
    t = np.deg2rad(degrees)
    side = ((xx - w / 2) * np.cos(t) + (yy - h / 2) * np.sin(t)) > 0
    image = np.where(side[..., None], COLOURS[0], COLOURS[2])
    strength, orientation = cues.boundary_strength(cues.oriented_cues(image,
                                                                      PostprocessConfig()))
    graph, weights, orientations = hier.grid_edges(strength, orientation, side.astype(int))
    assert np.median(orientations[weights > 0]) == pytest.approx(t)
    # higra's oriented watershed keeps a boundary whose orientation agrees with its course
    # and suppresses one said to be perpendicular to it.
    _, plain = hg.oriented_watershed(graph, weights, (h, w))
    _, right = hg.oriented_watershed(graph, weights, (h, w), orientations)
    _, wrong = hg.oriented_watershed(graph, weights, (h, w), orientations + np.pi / 2)
    assert right[0] > 0.95 * plain[0] and wrong[0] < 0.3 * plain[0]


def test_ucm_edge_weights_read_back_a_hierarchy():
    image, truth = three_regions(h=20, w=30)
    ucm2 = ucm_from_labels(image, truth, PostprocessConfig())
    weights = hier.ucm_edge_weights(ucm2)
    graph, _, _ = hier.grid_edges(np.zeros(truth.shape), np.zeros(truth.shape))
    rebuilt = hier.ucm_from_edges(graph, truth.shape, weights)
    np.testing.assert_allclose(rebuilt, ucm2, atol=1e-6)


@pytest.mark.parametrize("combine, oriented", [("mean", False), ("max", False), ("gate", False),
                                               ("mean", True)])
def test_wnet_plus_ucm_combines_the_two_boundary_maps(combine, oriented):
    image, truth = three_regions()
    config = PostprocessConfig(combine=combine, oriented_watershed=oriented, gpb_weight=0.5)
    # A gPb stand-in that only knows the red band; W-Net (the crafted softmax) knows all three.
    band = (truth == 0).astype(int)
    gpb = ucm_from_labels(image, band, config)
    ucm2 = postprocess(image, crafted_softmax(truth), config, gpb)
    assert_bsds_layout(ucm2, truth.shape)
    cut = segmentation_at(ucm2, 0.5 * ucm2.max())
    # mean and max keep a boundary either side has; gate keeps W-Net's boundaries ranked by gPb,
    # so the disc, where gPb has nothing, is gone.
    assert same_partition(cut, band if combine == "gate" else truth)


@pytest.mark.parametrize("override, key", [
    ("postprocess.crf_iterations=-1", "postprocess.crf_iterations"),
    ("postprocess.crf_bilateral_srgb=0", "postprocess.crf_bilateral_srgb"),
    ("postprocess.colour_levels=[1,1]", "postprocess.colour_levels"),
    ("postprocess.cue_weights=[1,1]", "postprocess.cue_weights"),
    ("postprocess.combine=\"sum\"", "postprocess.combine"),
    ("postprocess.gpb_weight=2", "postprocess.gpb_weight"),
    ("postprocess.threshold=1", "postprocess.threshold"),
    ("postprocess.spectral_weight=-1", "postprocess.spectral_weight"),
    ("postprocess.spectral_rho=0", "postprocess.spectral_rho"),
    ("postprocess.spectral_vectors=0", "postprocess.spectral_vectors"),
    ("postprocess.spectral_thin=1", "postprocess.spectral_thin"),
    ("postprocess.wnet_affinity_weight=-0.1", "postprocess.wnet_affinity_weight"),
])
def test_config_errors_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config_from_dict({}, [override])


# -- the command ---------------------------------------------------------------------------------

def save_colour_model(path, k=4):
    """A SavedModel with W-Net's `segment` signature: a fixed softmax over colour distances."""
    import tensorflow as tf

    class ColourModel(tf.Module):
        def __init__(self):
            super().__init__()
            centres = np.concatenate([COLOURS, np.full((k - 3, 3), 0.5)])
            self.centres = tf.constant(centres, tf.float32)

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def segment(self, images):
            distance = tf.reduce_sum(tf.square(images[..., None, :] - self.centres), -1)
            p = tf.nn.softmax(-distance / 0.02)
            return {"probabilities": p, "labels": tf.argmax(p, -1, output_type=tf.int32)}

    tf.saved_model.save(ColourModel(), str(path))


def test_cli_writes_ucm2_and_pngs_and_reports_a_bad_image(tmp_path):
    import scipy.io
    from click.testing import CliRunner
    from skimage import io

    from wnet_tf.postprocess.cli import command

    images = tmp_path / "images"
    images.mkdir()
    for i, (h, w) in enumerate([(40, 60), (36, 50)]):
        image, _ = three_regions(h, w, seed=i)
        io.imsave(images / f"im{i}.png", (image * 255).astype(np.uint8), check_contrast=False)
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    save_colour_model(tmp_path / "model")
    out = tmp_path / "out"
    result = CliRunner().invoke(command, [
        "--model", str(tmp_path / "model"), "--images", str(images), "--out", str(out),
        "--threshold", "0.3", "--workers", "2"])
    assert result.exit_code == 1, result.output
    assert "broken.jpg" in result.output and "2 of 3 images" in result.output
    for i, shape in enumerate([(40, 60), (36, 50)]):
        assert_bsds_layout(scipy.io.loadmat(out / f"im{i}.mat")["ucm2"], shape)
        assert io.imread(out / f"im{i}_ucm.png").shape == (2 * shape[0] + 1, 2 * shape[1] + 1)
        assert io.imread(out / f"im{i}_cut.png").shape == (*shape, 3)
    assert not list(out.glob(".*")), "temporary files left behind"
    assert config_from_dict({}).postprocess.threshold != 0.3
    assert '"threshold": 0.3' in (out / "config.json").read_text()


def test_cli_without_a_model_builds_the_image_cue_baseline(tmp_path):
    import scipy.io
    from click.testing import CliRunner
    from skimage import io

    from wnet_tf.postprocess.cli import command

    images = tmp_path / "images"
    images.mkdir()
    image, _ = three_regions(30, 40)
    io.imsave(images / "a.png", (image * 255).astype(np.uint8), check_contrast=False)
    result = CliRunner().invoke(command, ["--images", str(images), "--out",
                                          str(tmp_path / "out"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert_bsds_layout(scipy.io.loadmat(tmp_path / "out" / "a.mat")["ucm2"], (30, 40))


def test_an_image_without_boundaries_is_one_region():
    image = np.full((10, 12, 3), 0.5)
    ucm2 = ucm_from_labels(image, np.zeros((10, 12), int), PostprocessConfig())
    assert_bsds_layout(ucm2, (10, 12))
    assert not ucm2.any() and len(np.unique(segmentation_at(ucm2, 0.5))) == 1


def test_boundaries_that_enclose_nothing_leave_one_region():
    graph, _, _ = hier.grid_edges(np.zeros((10, 12)), np.zeros((10, 12)))
    weights = np.zeros(graph.num_edges())
    weights[[5, 40, 41]] = 0.7  # a few edges that separate no region from another
    ucm2 = hier.ucm_from_edges(graph, (10, 12), weights)
    assert_bsds_layout(ucm2, (10, 12))
    assert not ucm2.any()


def test_oriented_watershed_weights_are_arc_means_on_boundaries_only():
    image, truth = three_regions(h=30, w=45)
    strength, orientation = cues.boundary_strength(cues.oriented_cues(image,
                                                                      PostprocessConfig()))
    graph, weights, orientations = hier.grid_edges(strength, orientation, truth)
    arcs = hier.oriented_watershed_weights(graph, truth.shape, weights, orientations)
    src, dst = graph.edge_list()
    flat = truth.ravel()
    assert not arcs[flat[src] == flat[dst]].any()
    for a, b in [(0, 1), (1, 2)]:  # one arc per pair of regions: one value, at most the mean
        on_arc = ((flat[src] == a) & (flat[dst] == b)) | ((flat[src] == b) & (flat[dst] == a))
        assert np.ptp(arcs[on_arc]) < 1e-12
        assert 0 < arcs[on_arc][0] <= weights[on_arc].mean() + 1e-12


def test_pyramid_levels_line_up_with_the_pixels():
    # Averaging 2x2 cells and interpolating back is exact for a linear ramp, away from the
    # borders, only if each cell's value lands at the centre of the four pixels it pooled.
    yy, xx = np.mgrid[:12, :17]
    ramp = (0.3 * xx + 0.7 * yy)[None].astype(np.float32)
    back = cues.upsample2(cues.pool2(ramp) / 4, ramp.shape[1:])
    assert back.shape == ramp.shape
    np.testing.assert_allclose(back[0, 1:-2, 1:-2], ramp[0, 1:-2, 1:-2], atol=1e-5)


@pytest.mark.parametrize("weights", [(1, 1, 1, 1), (2, 0.5, 1, 0), (0, 0, 0, 3)])
def test_cue_weights_mix_the_cues_computed_once(weights):
    # tools/tune_postprocess.py scores many cue_weights from one cue_gradients per image: the
    # same gradients as image_gradients under each weighting, and not all weightings alike.
    image = np.random.default_rng(3).random((37, 45, 3))
    config = dataclasses.replace(PostprocessConfig(), cue_weights=weights)
    per_cue = cues.cue_gradients(image, config)
    mixed = cues.weighted_cues(per_cue, weights)
    np.testing.assert_allclose(mixed, cues.image_gradients(image, config), atol=1e-6)
    if weights != (1, 1, 1, 1):
        assert np.abs(mixed - cues.weighted_cues(per_cue, (1, 1, 1, 1))).max() > 1e-3


def test_mean_colours_paint_each_region_with_its_mean():
    from wnet_tf.postprocess.folder import mean_colours

    labels = np.array([[1, 1, 2], [3, 3, 2]])
    image = np.arange(18, dtype=float).reshape(2, 3, 3)
    painted = mean_colours(labels, image)
    np.testing.assert_allclose(painted[0, 0], (image[0, 0] + image[0, 1]) / 2)
    np.testing.assert_allclose(painted[1, 2], (image[0, 2] + image[1, 2]) / 2)
    np.testing.assert_allclose(painted[1, 0], painted[1, 1])


def test_off_boundary_strength_scales_the_edges_inside_regions():
    rng = np.random.default_rng(0)
    strength, orientation = rng.uniform(0.1, 1, (6, 8)), np.zeros((6, 8))
    labels = np.zeros((6, 8), int)
    labels[:, 4:] = 1
    _, full, _ = hier.grid_edges(strength, orientation)
    graph, paper, _ = hier.grid_edges(strength, orientation, labels)
    _, half, _ = hier.grid_edges(strength, orientation, labels, off_boundary=0.5)
    src, dst = graph.edge_list()
    across = labels.ravel()[src] != labels.ravel()[dst]
    assert across.sum() == 6
    np.testing.assert_array_equal(paper[across], full[across])
    assert not paper[~across].any()
    np.testing.assert_allclose(half[~across], 0.5 * full[~across])
    np.testing.assert_array_equal(half[across], full[across])
    # Through the config: 1 keeps every cue edge, as the hierarchy of image cues alone does.
    image, _ = three_regions(24, 30)
    config = PostprocessConfig(off_boundary_strength=1.0)
    np.testing.assert_allclose(ucm_from_labels(image, np.zeros((24, 30), int), config),
                               ucm_from_image(image, config))


def test_the_wnet_cue_sees_class_boundaries_the_image_does_not_show():
    image = np.full((32, 120, 3), 0.5)  # no image cue anywhere
    probabilities = np.zeros((32, 120, 2), np.float32)
    probabilities[:, :60, 0] = probabilities[:, 60:, 1] = 1.0
    plain = cues.oriented_cues(image, PostprocessConfig(), probabilities)  # weight 0: ignored
    assert np.abs(plain).max() < 1e-6
    cue = cues.oriented_cues(image, PostprocessConfig(wnet_cue_weight=1.0), probabilities)
    strength, orientation = cues.boundary_strength(cue)
    # Strongest at the class boundary; nothing beyond the largest radius (24 px, level 3).
    assert set(strength.argmax(1)) <= {59, 60} and strength[:, 59:61].min() > 0.1
    assert strength[:, :20].max() < 1e-6
    assert orientation[16, 59] == pytest.approx(0.0)  # the normal points along the rows
    with pytest.raises(ConfigError, match="wnet_cue_weight"):
        config_from_dict({"postprocess": {"wnet_cue_weight": -1}})


def test_the_wnet_cue_reads_the_softmax_or_the_crf_marginals():
    image, _ = three_regions(24, 30)
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(3), (24, 30)).astype(np.float32)  # soft, unlike the CRF
    config = PostprocessConfig(wnet_cue_weight=1.0, off_boundary_strength=1.0)
    labels = dense_crf(image, probabilities, config).argmax(-1)
    by_source = {}
    for source, cue in (("network", probabilities),
                        ("crf", dense_crf(image, probabilities, config))):
        sourced = dataclasses.replace(config, wnet_cue_source=source)
        by_source[source] = postprocess(image, probabilities, sourced)
        np.testing.assert_allclose(by_source[source],
                                   ucm_from_labels(image, labels, sourced, probabilities=cue))
    assert np.abs(by_source["network"] - by_source["crf"]).max() > 1e-4  # measured 1e-3
    # With off_boundary_strength 1 the CRF's labels change nothing: the same without them.
    np.testing.assert_allclose(by_source["network"], ucm_from_labels(
        image, rng.integers(0, 3, (24, 30)), dataclasses.replace(config, wnet_cue_source="network"),
        probabilities=probabilities))
    # The mix is a weighted mean: the image cues weigh sum(cue_weights) = 4, the W-Net cue 1.
    mixed = cues.oriented_cues(image, config, probabilities)
    np.testing.assert_allclose(mixed, 0.8 * cues.image_gradients(image, config)
                               + 0.2 * cues.wnet_gradients(probabilities, config), atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (3, 50)])
@pytest.mark.parametrize("with_softmax", [True, False])
def test_degenerate_sizes_get_a_valid_hierarchy(tmp_path, shape, with_softmax):
    import scipy.io
    from skimage import io

    from wnet_tf.postprocess.folder import process_image

    rng = np.random.default_rng(0)
    image = rng.random((*shape, 3))
    probs = crafted_softmax(rng.integers(0, 3, shape)) if with_softmax else None
    gpb = None
    if with_softmax:  # W-Net+ucm too, through the oriented watershed
        gpb = np.zeros((2 * shape[0] + 1, 2 * shape[1] + 1))
    config = PostprocessConfig(oriented_watershed=with_softmax)
    process_image(image, "x", probs, gpb, config, tmp_path)
    assert_bsds_layout(scipy.io.loadmat(tmp_path / "x.mat")["ucm2"], shape)
    assert io.imread(tmp_path / "x_cut.png").shape[:2] == shape


def test_inputs_that_share_a_name_keep_their_own_outputs(tmp_path):
    import scipy.io
    from click.testing import CliRunner
    from skimage import io

    from wnet_tf.postprocess.cli import command

    images = tmp_path / "images"
    images.mkdir()
    shapes = {"good.jpg": (20, 30), "good.png": (24, 18), "photo.png": (16, 16)}
    for name, shape in shapes.items():
        image, _ = three_regions(*shape)
        io.imsave(images / name, (image * 255).astype(np.uint8), check_contrast=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(command, ["--images", str(images), "--out", str(out),
                                          "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "3 of 3 images written" in result.output
    # Named as `wnet-tf segment` names them: the second `good` gets a suffix.
    for stem, shape in [("good", (20, 30)), ("good-2", (24, 18)), ("photo", (16, 16))]:
        assert_bsds_layout(scipy.io.loadmat(out / f"{stem}.mat")["ucm2"], shape)
        assert io.imread(out / f"{stem}_cut.png").shape == (*shape, 3)
    assert len(list(out.glob("*.mat"))) == 3


@pytest.mark.parametrize("shape", [(60, 90), (61, 37), (23, 200)])  # at least 20x30
def test_a_hierarchy_scaled_up_cuts_as_the_scaled_up_cuts(shape):
    from wnet_tf.postprocess.folder import khalimsky_index, nearest

    image, _ = three_regions(h=20, w=30, noise=0.1)
    ucm2 = ucm_from_image(image, PostprocessConfig())
    cells = np.ix_(khalimsky_index(shape[0], 20), khalimsky_index(shape[1], 30))
    big = ucm2[cells]
    assert_bsds_layout(big, shape)
    pixels = np.ix_(nearest(shape[0], 20), nearest(shape[1], 30))
    for t in np.linspace(0.05, 0.95, 7) * ucm2.max():
        assert same_partition(segmentation_at(big, t), segmentation_at(ucm2, t)[pixels])


def test_a_large_image_is_post_processed_at_the_working_size(tmp_path):
    import json

    import scipy.io
    from click.testing import CliRunner
    from skimage import io

    from wnet_tf.postprocess.cli import command

    images = tmp_path / "images"
    images.mkdir()
    image, truth = three_regions(60, 90, noise=0.02)
    io.imsave(images / "big.png", (image * 255).astype(np.uint8), check_contrast=False)
    save_colour_model(tmp_path / "model")
    out = tmp_path / "out"
    result = CliRunner().invoke(command, [
        "--model", str(tmp_path / "model"), "--images", str(images), "--out", str(out),
        "--resize", "none", "--workers", "1", "--set", "postprocess.working_pixels=1350"])
    assert result.exit_code == 0, result.output
    # Worked on at 30x45, written at the image's own size, the setting recorded.
    ucm2 = scipy.io.loadmat(out / "big.mat")["ucm2"]
    assert_bsds_layout(ucm2, (60, 90))
    cut = segmentation_at(ucm2, 0.5 * ucm2.max())
    # The three regions, their boundaries within the one pixel that scaling by 2 can move them.
    match = {t: np.bincount(cut[truth == t]).argmax() for t in range(3)}
    assert len(np.unique(cut)) == 3 and len(set(match.values())) == 3
    wrong = cut != np.vectorize(match.get)(truth)
    near_boundary = ndimage.morphological_gradient(truth, size=3) > 0
    assert wrong.any() and not (wrong & ~ndimage.binary_dilation(near_boundary)).any()
    assert io.imread(out / "big_ucm.png").shape == ucm2.shape
    assert io.imread(out / "big_cut.png").shape == (60, 90, 3)
    assert json.loads((out / "config.json").read_text())["postprocess"]["working_pixels"] == 1350


def test_an_image_whose_outputs_would_not_fit_is_refused_before_any_work(tmp_path, monkeypatch,
                                                                         capsys):
    from skimage import io

    from wnet_tf import inference
    from wnet_tf.postprocess import folder

    image, _ = three_regions(40, 50)
    io.imsave(tmp_path / "big.png", (image * 255).astype(np.uint8), check_contrast=False)
    monkeypatch.setattr(inference, "available_memory",
                        lambda: 2 * 1999 * folder.OUTPUT_BYTES_PER_PIXEL)
    monkeypatch.setattr(folder, "process_image", lambda *args: pytest.fail("work was done"))
    done, failed = folder.postprocess_folder([tmp_path / "big.png"], tmp_path / "out",
                                             PostprocessConfig())
    assert (done, failed) == (0, ["big.png"])
    report = capsys.readouterr().out
    assert "big.png" in report and "50x40 pixels" in report and "1,999" in report


def strip_with_two_boundaries(ab=0.5, bc=0.4):
    """A 6x30 strip of three regions A | B | C (columns 0-9, 10-19, 20-29), with boundary
    strength `ab` between A and B and `bc` between B and C, and class probabilities that make
    A and B one class and C another: graph, weights, probabilities."""
    shape = (6, 30)
    strength = np.zeros(shape)
    strength[:, 9:11], strength[:, 19:21] = ab, bc
    graph, weights, _ = hier.grid_edges(strength, np.zeros(shape))
    classes = np.where(np.arange(30) < 20, 0, 1)[None].repeat(6, 0)
    probabilities = np.eye(2)[classes] * 0.8 + 0.1
    return graph, shape, weights, probabilities


def test_class_aware_merging_without_weight_is_contour2ucms():
    rng = np.random.default_rng(0)
    shape = (16, 20)
    graph, weights, _ = hier.grid_edges(rng.random(shape), np.zeros(shape))
    probabilities = rng.dirichlet(np.ones(5), shape)
    tree, altitudes = hier.class_aware_tree(graph, weights, probabilities, 0.0)
    rebuilt = hg_ucm(graph, shape, tree, altitudes)
    # higra's mean_pb_hierarchy averages in float32: equal to its rounding.
    np.testing.assert_allclose(rebuilt, hier.ucm_from_edges(graph, shape, weights), atol=1e-6)


def higra_class_aware_tree(graph, weights, probabilities, region_weight):
    """The reference: the same merging through higra's binary_partition_tree and a Python
    callback (what class_aware_tree was before its heap)."""
    import higra as hg

    labels = hg.labelisation_watershed(graph, weights)
    rag = hg.make_region_adjacency_graph_from_labelisation(graph, labels)
    n, k = rag.num_vertices(), probabilities.shape[-1]
    frontier = hg.rag_accumulate_on_edges(rag, hg.Accumulators.sum, weights).astype(np.float64)
    length = hg.rag_accumulate_on_edges(rag, hg.Accumulators.sum, np.ones_like(weights))
    length = length.astype(np.float64)
    area = np.zeros(2 * n)
    area[:n] = np.bincount(hg.CptRegionAdjacencyGraph.get_vertex_map(rag), minlength=n)
    mean = np.zeros((2 * n, k))
    mean[:n] = hg.rag_accumulate_on_vertices(rag, hg.Accumulators.sum,
                                             probabilities.reshape(-1, k)) / area[:n, None]

    def altitude(arc, a, b):
        d = hier.class_distance(mean[a], mean[b])
        return frontier[arc] / length[arc] * (1 - region_weight + region_weight * d)

    def merged(_graph, _arc, new, a, b, neighbours):
        area[new] = area[a] + area[b]
        mean[new] = (area[a] * mean[a] + area[b] * mean[b]) / area[new]
        for nb in neighbours:
            arcs = [nb.first_edge_index()]
            if nb.num_edges() > 1:
                arcs.append(nb.second_edge_index())
            arc = nb.new_edge_index()
            frontier[arc], length[arc] = frontier[arcs].sum(), length[arcs].sum()
            nb.set_new_edge_weight(altitude(arc, new, nb.neighbour_vertex()))

    src, dst = rag.edge_list()
    initial = np.array([altitude(e, a, b) for e, (a, b) in enumerate(zip(src, dst, strict=True))])
    tree, altitudes = hg.binary_partition_tree(rag, merged, initial)
    return tree, hg.tree_monotonic_regression(tree, altitudes, "max")


def test_class_aware_merging_is_higras_binary_partition_tree():
    from scipy import ndimage

    rng = np.random.default_rng(1)
    shape = (40, 60)
    strength = ndimage.gaussian_filter(rng.random(shape), 1.0)  # a few hundred regions
    graph, weights, _ = hier.grid_edges(strength, np.zeros(shape))
    probabilities = rng.dirichlet(np.ones(6), shape)
    ours = hg_ucm(graph, shape, *hier.class_aware_tree(graph, weights, probabilities, 0.4))
    reference = hg_ucm(graph, shape, *higra_class_aware_tree(graph, weights, probabilities, 0.4))
    assert len(np.unique(reference)) > 50  # a deep hierarchy, not a few levels
    np.testing.assert_array_equal(ours, reference)


def hg_ucm(graph, shape, tree, altitudes):
    import higra as hg

    saliency = hg.saliency(tree, altitudes)
    return np.asarray(hg.graph_4_adjacency_2_khalimsky(graph, saliency, shape,
                                                       add_extra_border=True))


def test_regions_of_one_class_merge_first_with_the_region_weight():
    graph, shape, weights, probabilities = strip_with_two_boundaries()
    plain = hier.ucm_from_edges(graph, shape, weights)
    aware = hier.ucm_from_edges(graph, shape, weights, probabilities=probabilities,
                                region_weight=0.5)
    # Odd rows are pixel rows; a vertical boundary between columns c and c+1 sits at 2c + 2.
    ab, bc = (slice(1, None, 2), 2 * 9 + 2), (slice(1, None, 2), 2 * 19 + 2)
    assert plain[ab].min() > plain[bc].max()  # by strength alone, B and C merge first
    assert aware[ab].max() < aware[bc].min()  # A and B are one class: they merge first
    distance = hier.class_distance(probabilities[0, 0], probabilities[0, -1])
    # B|C keeps 0.4 * (1 - w + w d); A|B (d = 0) falls to half of its 0.5 strength.
    np.testing.assert_allclose(aware[bc], 0.4 * (0.5 + 0.5 * distance), atol=1e-6)
    np.testing.assert_allclose(aware[ab], 0.25, atol=1e-6)


def test_too_many_regions_fall_back_to_contour2ucms_merging_with_a_warning(monkeypatch):
    graph, shape, weights, probabilities = strip_with_two_boundaries()
    monkeypatch.setattr(hier, "MAX_CLASS_AWARE_REGIONS", 2)  # the strip has three
    with pytest.warns(UserWarning, match="3 watershed regions, over the 2"):
        fallback = hier.ucm_from_edges(graph, shape, weights, probabilities=probabilities,
                                       region_weight=0.5)
    np.testing.assert_array_equal(fallback, hier.ucm_from_edges(graph, shape, weights))


def test_postprocess_uses_the_region_weight():
    graph, shape, weights, probabilities = strip_with_two_boundaries()
    image = np.zeros((*shape, 3))
    image[:, :20] = COLOURS[0]
    image[:, 20:] = COLOURS[1]
    image[:, :10] *= 0.8  # a weaker A|B edge in the image as well
    config = PostprocessConfig(off_boundary_strength=1.0, wnet_cue_source="network")
    aware = dataclasses.replace(config, wnet_region_weight=0.5)
    assert not np.allclose(postprocess(image, probabilities, config),
                           postprocess(image, probabilities, aware))


def test_region_weight_out_of_range_is_named():
    with pytest.raises(ConfigError, match="wnet_region_weight"):
        config_from_dict({"postprocess": {"wnet_region_weight": 1.5}})


def test_postprocess_lists_the_input_folder_once(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from skimage import io

    from wnet_tf import images as images_module
    from wnet_tf.postprocess.cli import command

    images = tmp_path / "images"
    images.mkdir()
    image, _ = three_regions(20, 24)
    io.imsave(images / "a.png", (image * 255).astype(np.uint8), check_contrast=False)
    listed = []
    list_folder = images_module.list_folder
    monkeypatch.setattr(images_module, "list_folder",
                        lambda *args: listed.append(args) or list_folder(*args))
    result = CliRunner().invoke(command, ["--images", str(images), "--out",
                                          str(tmp_path / "out"), "--workers", "0"])
    assert result.exit_code == 0, result.output
    assert len(listed) == 1 and (tmp_path / "out" / "a.mat").exists()


def test_each_bad_gpb_hierarchy_is_named_and_costs_only_its_image(tmp_path):
    import scipy.io
    from click.testing import CliRunner
    from skimage import io

    from wnet_tf.postprocess.cli import command

    images, gpb = tmp_path / "images", tmp_path / "gpb"
    images.mkdir()
    gpb.mkdir()
    h, w = 12, 16
    full = (2 * h + 1, 2 * w + 1)
    bad = {"missing": None, "text": b"not a mat file",
           "other": {"boundaries": np.zeros(full)}, "small": {"ucm2": np.zeros((2 * h - 1, 5))},
           "nan": {"ucm2": np.where(np.eye(*full) > 0, np.nan, 0.0)}}
    for name in [*bad, "good"]:
        image, _ = three_regions(h, w, seed=len(name))
        io.imsave(images / f"{name}.png", (image * 255).astype(np.uint8), check_contrast=False)
    for name, content in bad.items():
        if isinstance(content, bytes):
            (gpb / f"{name}.mat").write_bytes(content)
        elif content is not None:
            scipy.io.savemat(gpb / f"{name}.mat", content)
    scipy.io.savemat(gpb / "good.mat", {"ucm2": np.zeros(full)})
    save_colour_model(tmp_path / "model")
    out = tmp_path / "out"
    result = CliRunner().invoke(command, [
        "--model", str(tmp_path / "model"), "--images", str(images), "--out", str(out),
        "--gpb-ucm", str(gpb), "--resize", "none", "--workers", "0"])
    assert result.exit_code == 1, result.output
    assert "1 of 6 images written" in result.output
    assert_bsds_layout(scipy.io.loadmat(out / "good.mat")["ucm2"], (h, w))
    lines = {line.split(":")[0]: line for line in result.output.splitlines()}
    expected = {"missing": "no gPb hierarchy there", "text": "not a MATLAB .mat file",
                "other": "no `ucm2` variable (it has: boundaries)",
                "small": "`ucm2` is 23x5; its image (16x12 pixels) needs (2H+1)x(2W+1) = 25x33",
                "nan": "25 values that are not finite"}
    for name, reason in expected.items():
        line = lines[f"{name}.png"]
        assert reason in line and f"{name}.mat" in line, line
        assert "25x33" in line or "[0, 1]" in line, line  # what was expected
        assert not (out / f"{name}.mat").exists()


def test_an_image_over_the_working_size_with_a_gpb_hierarchy_is_refused_before_any_work(
        tmp_path, monkeypatch):
    import scipy.io
    from click.testing import CliRunner
    from skimage import io

    from wnet_tf import images as images_module
    from wnet_tf.postprocess.cli import command

    images, gpb = tmp_path / "images", tmp_path / "gpb"
    images.mkdir()
    gpb.mkdir()
    image, _ = three_regions(30, 40)
    io.imsave(images / "big.png", (image * 255).astype(np.uint8), check_contrast=False)
    scipy.io.savemat(gpb / "big.mat", {"ucm2": np.zeros((61, 81))})
    save_colour_model(tmp_path / "model")
    monkeypatch.setattr(images_module, "decode", lambda *args: pytest.fail("decoded"))
    result = CliRunner().invoke(command, [
        "--model", str(tmp_path / "model"), "--images", str(images), "--out", str(tmp_path / "o"),
        "--gpb-ucm", str(gpb), "--workers", "0", "--set", "postprocess.working_pixels=1000"])
    assert result.exit_code == 1, result.output
    assert "big.png: 40x30 pixels, more than postprocess.working_pixels (1,000)" in result.output
    assert "big.mat is at full size" in result.output


def test_a_ucm2_written_in_bands_reads_back_as_scipy_writes_it(tmp_path, monkeypatch):
    """The streamed .mat holds what scipy.io.savemat would: one float64 `ucm2`, scaled up by
    indices on both axes when given, whatever the band of columns."""
    import scipy.io

    from wnet_tf.postprocess import matfile

    ucm2 = np.random.default_rng(0).random((21, 31))
    rows, columns = np.repeat(np.arange(21), 3), np.arange(31)[::-1]
    scipy.io.savemat(tmp_path / "scipy.mat", {"ucm2": ucm2[np.ix_(rows, columns)]},
                     do_compression=True)
    for band_bytes in (1, 8 * 63 * 4, matfile.COLUMN_BYTES):  # a column a band, 4, all at once
        monkeypatch.setattr(matfile, "COLUMN_BYTES", band_bytes)
        matfile.write_ucm2(tmp_path / "ours.mat", ucm2, rows, columns)
        ours, theirs = (scipy.io.loadmat(tmp_path / f"{n}.mat") for n in ("ours", "scipy"))
        assert [k for k in ours if not k.startswith("__")] == ["ucm2"]
        assert ours["ucm2"].dtype == np.float64
        np.testing.assert_array_equal(ours["ucm2"], theirs["ucm2"])
    matfile.write_ucm2(tmp_path / "same.mat", ucm2)
    np.testing.assert_array_equal(scipy.io.loadmat(tmp_path / "same.mat")["ucm2"], ucm2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours.mat", "same.mat", "scipy.mat"]


def test_a_ucm2_scaled_up_is_never_held_whole(tmp_path, monkeypatch):
    import tracemalloc

    from wnet_tf.postprocess import matfile
    from wnet_tf.postprocess.folder import khalimsky_index

    monkeypatch.setattr(matfile, "COLUMN_BYTES", 2**20)
    ucm2 = np.random.default_rng(0).random((41, 61))
    rows, columns = khalimsky_index(1500, 20), khalimsky_index(2000, 30)  # 3001 x 4001 cells
    tracemalloc.start()
    matfile.write_ucm2(tmp_path / "big.mat", ucm2, rows, columns)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * len(rows) * len(columns) / 10  # 96 MB whole; bands of 1 MB
    # A variable over MATLAB 5's 4 GiB is refused with its size, before anything is written.
    with pytest.raises(ValueError, match="ucm2 is .* more than a MATLAB 5 file can hold"):
        matfile.write_ucm2(tmp_path / "huge.mat", ucm2, np.zeros(30001, int),
                           np.zeros(20001, int))
    assert not (tmp_path / "huge.mat").exists()


def test_an_ensembles_side_by_side_classes_average_both_uses_of_the_softmax():
    """wnet_tf.endpoints.Ensemble puts its members' class maps side by side, each times 1/M:
    the W-Net cue's chi-square and the merging's squared Hellinger distance are then the mean
    of the members' own (what makes a split that one member makes at random count 1/M)."""
    rng = np.random.default_rng(5)
    members = [rng.dirichlet(np.ones(k), (20, 26)).astype(np.float32) for k in (3, 5)]
    joint = np.concatenate(members, -1) / 2
    np.testing.assert_allclose(joint.sum(-1), 1.0, atol=1e-6)
    config = PostprocessConfig()
    np.testing.assert_allclose(cues.wnet_gradients(joint, config),
                               np.mean([cues.wnet_gradients(p, config) for p in members], 0),
                               atol=1e-6)
    a, b = (0, 0), (15, 20)
    np.testing.assert_allclose(hier.class_distance(joint[a], joint[b]),
                               np.mean([hier.class_distance(p[a], p[b]) for p in members]),
                               atol=1e-6)


# -- the spectral term (gPb's sPb) ---------------------------------------------------------------

def test_intervening_contour_affinity_is_cut_by_a_boundary():
    strength = np.zeros((12, 12), np.float32)
    strength[:, 6] = 1.0
    w = cues.intervening_contour_affinity(strength, 3, 0.5).toarray()

    def at(r, c):
        return r * 12 + c

    np.testing.assert_allclose(w, w.T)
    assert w[at(5, 2), at(5, 4)] == pytest.approx(1.0)  # same side: no contour between
    assert w[at(5, 5), at(5, 7)] == pytest.approx(np.exp(-1 / 0.5))  # across the line
    assert w[at(4, 5), at(6, 7)] == pytest.approx(np.exp(-1 / 0.5))  # diagonally across it
    assert w[at(5, 2), at(5, 5)] == 0  # 3 apart: outside the (strict) radius
    assert (w[at(6, 6)] > 0).sum() == 2 * len(cues.half_window(3)) + 1


@pytest.mark.parametrize("cells", [None, 600])  # f = 1, and f = 2 (cells of 2 x 2 pixels)
def test_the_spectral_term_peaks_on_a_closed_boundary_along_its_normal(monkeypatch, cells):
    if cells:
        monkeypatch.setattr(cues, "SPECTRAL_CELLS", cells)
    strength = np.random.default_rng(0).uniform(0, 0.2, (40, 60)).astype(np.float32)
    strength[:, 30] = 1.0  # splits the image in two
    spectral = cues.spectral_gradients(strength, PostprocessConfig(spectral_vectors=4))
    assert spectral.shape == (8, 40, 60) and spectral.dtype == np.float32
    assert spectral.min() >= 0 and spectral.max() <= 1
    across = spectral[0]  # orientation 0: the normal runs along the rows, across the line
    on_line = across[:, 28:33].max(1)
    assert on_line.min() > 0.3
    assert np.median(on_line) > 5 * np.median(across[:, 5:20])
    assert np.median(on_line) > 5 * np.median(spectral[4][:, 28:33].max(1))  # along the line


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (3, 50)])
def test_the_spectral_term_of_degenerate_sizes_is_finite(shape):
    strength = np.random.default_rng(0).random(shape).astype(np.float32)
    spectral = cues.spectral_gradients(strength, PostprocessConfig())
    assert spectral.shape == (8, *shape)
    assert np.isfinite(spectral).all() and spectral.min() >= 0 and spectral.max() <= 1


def test_thinning_keeps_the_ridge_along_each_normal():
    # A blurred vertical line (normal along the columns, angle 0) and a blurred horizontal one
    # (normal along the rows, angle pi/2): only their centre lines survive.
    ramp = np.array([0.2, 0.5, 1.0, 0.5, 0.2], np.float32)
    strength = np.zeros((20, 20), np.float32)
    strength[:, 3:8] = ramp
    strength[12:17, :] = np.maximum(strength[12:17, :], ramp[:, None] * 0.8)
    orientation = np.zeros((20, 20))
    orientation[10:, 9:] = np.pi / 2
    ridges = cues.thin(strength, orientation)
    np.testing.assert_array_equal(ridges[:10, 5], strength[:10, 5])  # the vertical centre line
    assert not ridges[:10, [3, 4, 6, 7]].any()
    np.testing.assert_array_equal(ridges[14, 9:], strength[14, 9:])  # the horizontal one
    assert not ridges[[12, 13, 15, 16], 9:].any()
    assert ridges.dtype == np.float32


def test_thinning_the_image_cues_leaves_one_line_on_each_step():
    # The orientations `boundary_strength` gives are the ones `thin` reads: a vertical and a
    # horizontal colour step, each thinned to the line where it is.
    image = np.zeros((40, 60, 3), np.float32)
    image[:25, :30], image[:25, 30:] = (0.1, 0.3, 0.8), (0.9, 0.2, 0.1)
    image[25:, :30], image[25:, 30:] = (0.5, 0.9, 0.2), (0.2, 0.2, 0.2)
    local = cues.image_gradients(image, PostprocessConfig())
    ridges = cues.thin(*cues.boundary_strength(local))
    assert (local.max(0)[10] > 0.05).sum() > 20  # the strength itself is wide
    np.testing.assert_array_equal(np.flatnonzero(ridges[10] > 0.05), [30])
    np.testing.assert_array_equal(np.flatnonzero(ridges[:, 10] > 0.05), [24])


def test_the_spectral_term_measures_thinned_strength_only_when_asked():
    image, _ = three_regions()
    local = cues.image_gradients(image, PostprocessConfig())
    strength, orientation = cues.boundary_strength(local)
    np.testing.assert_array_equal(cues.spectral_strength(local, PostprocessConfig()), strength)
    thinned = cues.spectral_strength(local, PostprocessConfig(spectral_thin=True))
    np.testing.assert_array_equal(thinned, cues.thin(strength, orientation))
    assert 0 < (thinned > 0).sum() < 0.5 * (strength > 0).sum()
    config = PostprocessConfig(spectral_weight=1.0, spectral_thin=True)
    spectral = cues.spectral_gradients(thinned, config)
    np.testing.assert_allclose(cues.oriented_cues(image, config), 0.8 * local + 0.2 * spectral,
                               atol=1e-6)


def test_the_network_classes_lower_the_affinity_by_their_hellinger_distance():
    strength = np.zeros((8, 8), np.float32)
    strength[:, 5] = 0.5  # a contour between columns 4 and 6
    p = np.zeros((8, 8, 3), np.float32)
    p[:, :3] = (1, 0, 0)  # columns 0-2 one class, columns 3-7 half and half
    p[:, 3:] = (0, 0.5, 0.5)
    plain = cues.intervening_contour_affinity(strength, 3, 0.5).toarray()
    w = cues.intervening_contour_affinity(strength, 3, 0.5, np.sqrt(p), 0.4).toarray()

    def at(r, c):
        return r * 8 + c

    assert w[at(2, 0), at(2, 2)] == pytest.approx(1.0)  # same class, no contour
    assert w[at(2, 2), at(2, 3)] == pytest.approx(np.exp(-0.4 / 0.5))  # squared Hellinger 1
    assert w[at(2, 4), at(2, 6)] == pytest.approx(np.exp(-0.5 / 0.5))  # the contour alone
    assert w[at(2, 2), at(2, 4)] == pytest.approx(np.exp(-0.4 / 0.5))
    np.testing.assert_array_equal(w != 0, plain != 0)  # the same pairs, only their weights
    np.testing.assert_allclose(w, w.T)
    np.testing.assert_array_equal(cues.intervening_contour_affinity(strength, 3, 0.5, np.sqrt(p),
                                                                    0.0).toarray(), plain)


def test_the_spectral_term_parts_what_the_network_parts_only_when_asked():
    # No contour at all: without the network the term has nothing to part; with the network's
    # two classes (left and right halves) in the affinities, it peaks on their boundary.
    strength = np.random.default_rng(0).uniform(0, 0.02, (40, 60)).astype(np.float32)
    p = np.zeros((40, 60, 2), np.float32)
    p[:, :30, 0] = p[:, 30:, 1] = 1.0
    plain = PostprocessConfig(spectral_vectors=4)
    informed = PostprocessConfig(spectral_vectors=4, wnet_affinity_weight=0.5)
    np.testing.assert_array_equal(cues.spectral_gradients(strength, plain, p),
                                  cues.spectral_gradients(strength, plain))
    np.testing.assert_array_equal(cues.spectral_gradients(strength, informed),
                                  cues.spectral_gradients(strength, plain))
    across = cues.spectral_gradients(strength, informed, p)[0]
    assert across[:, 28:32].max(1).min() > 0.3
    assert np.median(across[:, 28:32].max(1)) > 5 * np.median(across[:, 5:20])


def test_the_network_enters_the_spectral_term_through_oriented_cues():
    image, truth = three_regions()
    probabilities = crafted_softmax(truth)
    config = PostprocessConfig(spectral_weight=1.0, wnet_affinity_weight=0.2)
    local = cues.image_gradients(image, config)
    spectral = cues.spectral_gradients(local.max(0), config, probabilities)
    np.testing.assert_allclose(cues.oriented_cues(image, config, probabilities),
                               0.8 * local + 0.2 * spectral, atol=1e-6)
    assert np.abs(spectral - cues.spectral_gradients(local.max(0), config)).max() > 0.01
    # Without the network (the ablation) the affinities are the image's alone.
    np.testing.assert_array_equal(cues.oriented_cues(image, config),
                                  cues.oriented_cues(image, PostprocessConfig(spectral_weight=1.0)))


def test_the_spectral_weight_mixes_the_spectral_term_into_the_image_cues():
    image, _ = three_regions()
    local = cues.image_gradients(image, PostprocessConfig())
    np.testing.assert_array_equal(cues.oriented_cues(image, PostprocessConfig()), local)
    config = PostprocessConfig(spectral_weight=1.0)
    # A weighted mean: the local cues weigh sum(cue_weights) = 4, the spectral term 1.
    spectral = cues.spectral_gradients(local.max(0), config)
    np.testing.assert_allclose(cues.oriented_cues(image, config), 0.8 * local + 0.2 * spectral,
                               atol=1e-6)
    assert np.abs(spectral - local).max() > 0.1
