"""The BSDS region benchmark: hand-computed figures on tiny label maps, the fast hierarchy cut
against labelling the grid at every threshold, the official benchmark's own expected outputs for
its 5-image sample, the published gPb-owt-ucm figures, and the errors bad input gets."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
from click.testing import CliRunner
from scipy import ndimage

from wnet_tf import bsds
from wnet_tf.evaluate import command

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bsds_root():
    """The bsds500 folder named by WNET_BSDS_ROOT; the test is skipped without it."""
    root = os.environ.get("WNET_BSDS_ROOT")
    if not root or not (Path(root) / "bench_mini").is_dir():
        pytest.skip("set WNET_BSDS_ROOT to the bsds500 folder to run the tests on real data")
    return Path(root)


# --------------------------------------------------------------------------- writing inputs


def write_ground_truth(path, *annotators):
    """A BSDS ground-truth .mat: a 1xM cell of structs with 'Segmentation' and 'Boundaries'."""
    cell = np.empty((1, len(annotators)), dtype=object)
    for k, labels in enumerate(annotators):
        record = np.empty((1, 1), dtype=[("Segmentation", object), ("Boundaries", object)])
        record[0, 0] = (np.asarray(labels, np.uint16), np.zeros(np.shape(labels), np.uint8))
        cell[0, k] = record
    sio.savemat(path, {"groundTruth": cell})


def write_segs(path, *segmentations):
    cell = np.empty((1, len(segmentations)), dtype=object)
    for k, labels in enumerate(segmentations):
        cell[0, k] = np.asarray(labels, np.uint16)
    sio.savemat(path, {"segs": cell})


def save_png(path, array):
    from skimage import io as skio

    skio.imsave(path, array, check_contrast=False)


def ucm2_of(labels, strength=0.5):
    """A doubleSize hierarchy with one level: `strength` on every boundary of `labels`."""
    labels = np.asarray(labels)
    ucm2 = np.zeros((2 * labels.shape[0] + 1, 2 * labels.shape[1] + 1))
    ucm2[1::2, 2:-1:2] = strength * (labels[:, 1:] != labels[:, :-1])
    ucm2[2:-1:2, 1::2] = strength * (labels[1:] != labels[:-1])
    # A corner is as strong as the strongest boundary cell beside it. Corners on the frame count
    # too: were they 0, regions would join around the image border (8-connectivity).
    padded = np.pad(ucm2, 1)
    ucm2[::2, ::2] = np.maximum.reduce(
        [padded[:-2:2, 1:-1:2], padded[2::2, 1:-1:2], padded[1:-1:2, :-2:2], padded[1:-1:2, 2::2]]
    )
    return ucm2


# --------------------------------------------------------------------------- hand-computed figures

# 3x3: segments A (4 pixels), B (3), C (2) against regions X (6), Y (3).
# Contingency table: A = [4, 0], B = [2, 1], C = [0, 2].
SEG_3 = [[1, 1, 2], [1, 1, 2], [3, 3, 2]]
GT_3 = [[1, 1, 1], [1, 1, 1], [2, 2, 2]]


def test_3x3_one_annotator():
    scores = bsds.score_segmentation(SEG_3, [GT_3])
    # X is best covered by A (IoU 4/6), Y by C (2/3): (6 * 2/3 + 3 * 2/3) / 9.
    assert scores["SC"] == pytest.approx(2 / 3, abs=1e-15)
    # 36 pixel pairs; disagreements = (29 + 45) / 2 - 25 = 12.
    assert scores["PRI"] == pytest.approx(2 / 3, abs=1e-15)
    # H(G|S) = 3/9 h(1/3) (only B is mixed), H(S|G) = h(1/3) (X and Y are both split 2:1).
    h = math.log2(3) - 2 / 3
    assert scores["VI"] == pytest.approx(4 / 3 * h, abs=1e-14)


def test_3x3_two_annotators():
    whole = np.ones((3, 3))
    scores = bsds.score_segmentation(SEG_3, [GT_3, whole])
    # The second annotator's single region (9 pixels) is best covered by A: IoU 4/9.
    assert scores["SC"] == pytest.approx((6 * 2 / 3 + 3 * 2 / 3 + 9 * 4 / 9) / 18, abs=1e-15)
    # Against one region the Rand index counts the pairs inside one segment: 10 of 36.
    assert scores["PRI"] == pytest.approx((2 / 3 + 10 / 36) / 2, abs=1e-15)
    # Against one region VI is the segmentation's entropy.
    entropy = -sum(p * math.log2(p) for p in (4 / 9, 3 / 9, 2 / 9))
    assert scores["VI"] == pytest.approx((4 / 3 * (math.log2(3) - 2 / 3) + entropy) / 2, abs=1e-14)


QUADRANTS = [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
HALVES = [[1, 1, 2, 2]] * 4


@pytest.mark.parametrize(("seg", "gt"), [(QUADRANTS, HALVES), (HALVES, QUADRANTS)])
def test_4x4_quadrants_and_halves(seg, gt):
    scores = bsds.score_segmentation(seg, [gt])
    # Every region's best match overlaps half of the union: IoU 4/8.
    assert scores["SC"] == pytest.approx(1 / 2, abs=1e-15)
    # 120 pairs; disagreements = (64 + 128) / 2 - 64 = 32.
    assert scores["PRI"] == pytest.approx(11 / 15, abs=1e-15)
    # One partition refines the other by splitting every region in two halves: 1 bit.
    assert scores["VI"] == pytest.approx(1.0, abs=1e-14)


def test_relabelling_changes_nothing():
    rng = np.random.default_rng(0)
    seg = rng.integers(0, 5, (12, 9))
    annotators = [rng.integers(1, 4, (12, 9)), rng.integers(1, 7, (12, 9))]
    relabelled = np.array([17, 3, 250, 0, 9])[seg]  # a permutation onto other values, 0 included
    expected = bsds.score_segmentation(seg, annotators)
    assert bsds.score_segmentation(relabelled, annotators) == pytest.approx(expected, rel=1e-12)
    annotators_relabelled = [5 - a for a in annotators]
    assert bsds.score_segmentation(seg, annotators_relabelled) == pytest.approx(expected, rel=1e-12)


def test_segmentation_equal_to_every_annotator_is_perfect():
    labels = np.random.default_rng(1).integers(1, 6, (10, 7))
    scores = bsds.score_segmentation(labels + 40, [labels, labels, labels])
    assert scores["SC"] == 1.0
    assert scores["PRI"] == 1.0
    assert scores["VI"] == pytest.approx(0.0, abs=1e-12)


def test_hierarchy_of_the_ground_truth_recovers_it():
    gt = np.array(QUADRANTS)
    partitions = bsds.cut_hierarchy(ucm2_of(gt, 0.5), bsds.ucm_thresholds(3))
    scores = bsds.score_image([gt], partitions)
    # Below the boundary strength the cut is the ground truth, above it one region.
    assert scores.cnt_r / scores.sum_r == pytest.approx([1.0, 0.25, 0.25], abs=1e-15)
    # One region against four quadrants: the 4 x 6 pairs inside a quadrant of 120 agree.
    assert scores.ri == pytest.approx([1.0, 0.2, 0.2], abs=1e-15)
    assert scores.vi == pytest.approx([0.0, 2.0, 2.0], abs=1e-12)


# --------------------------------------------------------------------------- the hierarchy cut


def test_thresholds_are_matlab_linspace():
    assert np.array_equal(bsds.ucm_thresholds(1), [0.5])
    # 1/6 .. 5/6, as eval_cover_th.txt of bench_mini/test_1 prints them.
    assert [f"{t:g}" for t in bsds.ucm_thresholds(5)] == [
        "0.166667", "0.333333", "0.5", "0.666667", "0.833333"
    ]  # fmt: skip
    lo, hi = 1 / 100, 1 - 1 / 100
    thresholds = bsds.ucm_thresholds(99)
    assert thresholds[0] == lo and thresholds[-1] == hi
    # MATLAB's lo + (k * (hi - lo)) / (n - 1), which is not numpy's to the last bit.
    assert thresholds[3] == lo + (3 * (hi - lo)) / 98
    assert not np.array_equal(thresholds, np.linspace(lo, hi, 99))


def _same_partition(a, b):
    pairs = np.unique(a.astype(np.int64) * (b.max() + 1) + b).size
    return np.unique(a).size == np.unique(b).size == pairs


def test_cut_equals_labelling_the_grid_at_every_threshold():
    """The fast cut against MATLAB's recipe, on random grids where ties with thresholds, corners
    and 8-connectivity across boundary cells all occur."""
    rng = np.random.default_rng(2)
    levels = np.array([0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9])
    for trial in range(300):
        h, w = rng.integers(1, 8, 2)
        if trial % 2:
            ucm2 = rng.choice(levels, size=(2 * h + 1, 2 * w + 1))
        else:
            ucm2 = rng.random((2 * h + 1, 2 * w + 1))
        thresholds = np.sort(rng.choice(levels[1:], size=rng.integers(1, 6), replace=False))
        ucm2[1::2, 1::2] = 0
        partitions = bsds.cut_hierarchy(ucm2, thresholds)
        for k, t in enumerate(thresholds):
            grid = ndimage.label(ucm2 <= t, structure=np.ones((3, 3)))[0]
            assert _same_partition(partitions.segmentation(k), grid[1::2, 1::2]), (trial, k)


def test_stacked_segmentations_are_returned_unchanged():
    rng = np.random.default_rng(3)
    segs = [rng.integers(0, n, (6, 5)) for n in (2, 3, 9)]
    partitions = bsds.stack_segmentations(segs)
    for k, seg in enumerate(segs):
        assert _same_partition(partitions.segmentation(k), seg)


# --------------------------------------------------------------------------- the official sample


def _expected(path):
    return np.loadtxt(path, ndmin=2)


def printed(value):
    """A figure as fprintf('%10g') prints it: six significant digits."""
    return float(f"{value:.6g}")


MINI_CASES = {"test_1": ("ucm2", "ucm"), "test_4": ("segs", "segs"), "test_5": ("segs", "segs")}


@pytest.fixture(scope="module", params=sorted(MINI_CASES))
def mini(request, bsds_root):
    folder, kind = MINI_CASES[request.param]
    mini = bsds_root / "bench_mini"
    result = bsds.evaluate_dataset(mini / "groundTruth", mini / folder, kind, nthresh=5)
    return result.benchmark, mini / request.param


def test_mini_eval_cover(mini):
    """eval_cover.txt: ODS threshold, SC ODS, SC OIS, SC Best."""
    benchmark, expected = mini
    sc = benchmark.summary["SC"]
    ours = [sc["ODS_threshold"], sc["ODS"], sc["OIS"], sc["Best"]]
    assert [printed(v) for v in ours] == _expected(expected / "eval_cover.txt")[0].tolist()


def test_mini_eval_cover_img(mini):
    """eval_cover_img.txt: image number, its best threshold, SC there, reverse SC there."""
    benchmark, expected = mini
    ours = [
        [i + 1, r["sc_threshold"], r["sc"], r["sc_reverse"]]
        for i, r in enumerate(benchmark.per_image)
    ]
    assert [[printed(v) for v in row] for row in ours] == _expected(
        expected / "eval_cover_img.txt"
    ).tolist()


def test_mini_eval_cover_th(mini):
    """eval_cover_th.txt: threshold, dataset SC."""
    benchmark, expected = mini
    ours = np.stack([benchmark.thresholds, benchmark.sc], axis=1)
    assert [[printed(v) for v in row] for row in ours] == _expected(
        expected / "eval_cover_th.txt"
    ).tolist()


def test_mini_eval_ri_voi(mini):
    """eval_RI_VOI.txt: PRI ODS threshold, PRI ODS, PRI OIS, VI ODS threshold, VI ODS, VI OIS."""
    benchmark, expected = mini
    pri, vi = benchmark.summary["PRI"], benchmark.summary["VI"]
    ours = [pri["ODS_threshold"], pri["ODS"], pri["OIS"], vi["ODS_threshold"], vi["ODS"], vi["OIS"]]
    assert [printed(v) for v in ours] == _expected(expected / "eval_RI_VOI.txt")[0].tolist()


def test_mini_eval_ri_voi_thr(mini):
    """eval_RI_VOI_thr.txt: threshold, mean PRI, mean VI."""
    benchmark, expected = mini
    ours = np.stack([benchmark.thresholds, benchmark.pri, benchmark.vi], axis=1)
    assert [[printed(v) for v in row] for row in ours] == _expected(
        expected / "eval_RI_VOI_thr.txt"
    ).tolist()


@pytest.mark.slow
def test_gpb_owt_ucm_test_set_reproduces_published_figures(bsds_root):
    """Arbelaez et al. 2011, Table 2 (and W-Net's Table 2): gPb-owt-ucm on the BSDS500 test set."""
    hierarchies = bsds_root / "gpb_owt_ucm" / "test"
    if not hierarchies.is_dir():
        pytest.skip(f"no gPb-owt-ucm hierarchies in {hierarchies}")
    result = bsds.evaluate_dataset(
        bsds_root / "groundTruth" / "test",
        hierarchies,
        "ucm",
        nthresh=99,
        jobs=bsds.default_jobs(),
    )
    s = result.benchmark.summary
    assert s["images"] == 200 and s["nthresh"] == 99
    assert [round(s["SC"][k], 2) for k in ("ODS", "OIS", "Best")] == [0.59, 0.65, 0.74]
    assert [round(s["PRI"][k], 2) for k in ("ODS", "OIS")] == [0.83, 0.86]
    assert [round(s["VI"][k], 2) for k in ("ODS", "OIS")] == [1.69, 1.48]


# --------------------------------------------------------------------------- files and errors

LEFT_RIGHT = np.array([[1, 1, 2], [1, 1, 2], [1, 2, 2]])
TOP_BOTTOM = np.array([[1, 1, 1], [1, 1, 1], [2, 2, 2]])


@pytest.fixture
def dataset(tmp_path):
    """Two 3x3 images with two annotators each, hierarchies and segmentation lists."""
    for folder in ("gt", "ucm", "segs"):
        (tmp_path / folder).mkdir()
    for name in ("a", "b"):
        write_ground_truth(tmp_path / "gt" / f"{name}.mat", LEFT_RIGHT, TOP_BOTTOM)
        sio.savemat(tmp_path / "ucm" / f"{name}.mat", {"ucm2": ucm2_of(LEFT_RIGHT)})
        write_segs(tmp_path / "segs" / f"{name}.mat", LEFT_RIGHT, np.ones((3, 3)))
    return tmp_path


def evaluation_error(*args, **kwargs):
    """The message of the BSDSError that evaluate_dataset(*args, **kwargs) raises."""
    with pytest.raises(bsds.BSDSError) as caught:
        bsds.evaluate_dataset(*args, **kwargs)
    return str(caught.value)


def test_segmentation_formats_score_alike(dataset):
    expected = bsds.evaluate_dataset(dataset / "gt", dataset / "segs", "segs").benchmark.summary
    for folder in ("png", "npy"):
        (dataset / folder).mkdir()
    for name in ("a", "b"):
        save_png(dataset / "png" / f"{name}_1.png", LEFT_RIGHT.astype(np.uint16))
        save_png(dataset / "png" / f"{name}_2.png", np.ones((3, 3), np.uint8))
        np.save(dataset / "npy" / f"{name}.npy", np.stack([LEFT_RIGHT, np.ones((3, 3), int)]))
    for folder in ("png", "npy"):
        got = bsds.evaluate_dataset(dataset / "gt", dataset / folder, "segs").benchmark.summary
        assert got == expected, folder


def test_segment_command_output_is_read(dataset):
    """`wnet-tf segment` writes <id>_labels.png beside an overlay and the probabilities."""
    out = dataset / "segmented"
    out.mkdir()
    for name in ("a", "b"):
        write_segs(dataset / "segs" / f"{name}.mat", TOP_BOTTOM)
        save_png(out / f"{name}_labels.png", (TOP_BOTTOM - 1).astype(np.uint8))
        save_png(out / f"{name}_overlay.png", np.zeros((3, 3, 3), np.uint8))
        np.save(out / f"{name}_probabilities.npy", np.full((3, 3, 2), 0.5, np.float32))
    expected = bsds.evaluate_dataset(dataset / "gt", dataset / "segs", "segs").benchmark.summary
    assert bsds.evaluate_dataset(dataset / "gt", out, "segs").benchmark.summary == expected


def test_missing_images_are_named(dataset):
    (dataset / "ucm" / "b.mat").unlink()
    sio.savemat(dataset / "ucm" / "c.mat", {"ucm2": ucm2_of(LEFT_RIGHT)})
    message = evaluation_error(dataset / "gt", dataset / "ucm", "ucm", nthresh=3)
    assert f"without ground truth in {dataset / 'gt'}: c;" in message
    assert f"without input in {dataset / 'ucm'}: b;" in message
    result = bsds.evaluate_dataset(
        dataset / "gt", dataset / "ucm", "ucm", nthresh=3, allow_missing=True
    )
    assert result.benchmark.summary["images"] == 1
    assert (result.without_ground_truth, result.without_input) == (["c"], ["b"])
    ran = CliRunner().invoke(
        command,
        ["--gt", str(dataset / "gt"), "--ucm", str(dataset / "ucm"), "--allow-missing"],
    )
    assert ran.exit_code == 0, ran.output
    assert "skipped, no ground truth: c" in ran.output and "1 images" in ran.output


def test_hierarchy_of_the_wrong_size(dataset):
    sio.savemat(dataset / "ucm" / "b.mat", {"ucm2": np.zeros((7, 6))})
    message = evaluation_error(dataset / "gt", dataset / "ucm", "ucm")
    assert str(dataset / "ucm" / "b.mat") in message and "7x7" in message


def test_hierarchy_with_nan(dataset):
    ucm2 = ucm2_of(LEFT_RIGHT)
    ucm2[0, 2] = np.nan
    sio.savemat(dataset / "ucm" / "a.mat", {"ucm2": ucm2})
    message = evaluation_error(dataset / "gt", dataset / "ucm", "ucm")
    assert str(dataset / "ucm" / "a.mat") in message and "NaN" in message


def test_hierarchy_with_pixel_cells_above_zero(dataset):
    ucm2 = ucm2_of(LEFT_RIGHT)
    ucm2[1, 1] = 0.5
    sio.savemat(dataset / "ucm" / "a.mat", {"ucm2": ucm2})
    message = evaluation_error(dataset / "gt", dataset / "ucm", "ucm")
    assert str(dataset / "ucm" / "a.mat") in message and "doubleSize" in message


def test_label_map_of_the_wrong_size(dataset):
    write_segs(dataset / "segs" / "b.mat", LEFT_RIGHT, np.ones((3, 4)))
    message = evaluation_error(dataset / "gt", dataset / "segs", "segs")
    assert str(dataset / "segs" / "b.mat") in message and "segmentation 2 is 3x4" in message


def test_unreadable_mat(dataset):
    (dataset / "gt" / "a.mat").write_bytes(b"not a MATLAB file")
    message = evaluation_error(dataset / "gt", dataset / "ucm", "ucm")
    assert str(dataset / "gt" / "a.mat") in message and "unreadable" in message


def test_different_numbers_of_segmentations(dataset):
    write_segs(dataset / "segs" / "b.mat", LEFT_RIGHT)
    message = evaluation_error(dataset / "gt", dataset / "segs", "segs")
    assert "same number of segmentations" in message


# --------------------------------------------------------------------------- the command


def test_command_writes_the_summary(dataset):
    out = dataset / "out"
    result = CliRunner().invoke(
        command,
        ["--gt", str(dataset / "gt"), "--ucm", str(dataset / "ucm"), "--nthresh", "3",
         "--out", str(out), "--jobs", "2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "SC" in result.output and "PRI" in result.output and "VI" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary) == ["images", "nthresh", "SC", "PRI", "VI"]
    assert (summary["images"], summary["nthresh"]) == (2, 3)
    assert list(summary["SC"]) == ["ODS", "ODS_threshold", "OIS", "Best"]
    assert list(summary["PRI"]) == list(summary["VI"]) == ["ODS", "ODS_threshold", "OIS"]
    # The cut below the boundaries is the first annotator's segmentation.
    assert summary["SC"]["ODS_threshold"] == 0.25
    assert sorted(p.name for p in out.iterdir()) == [
        "per_image.csv", "per_threshold.csv", "summary.json"
    ]  # fmt: skip
    assert (out / "per_threshold.csv").read_text().count("\n") == 1 + 3


def test_command_error_is_a_message_not_a_traceback(dataset):
    (dataset / "ucm" / "a.mat").write_bytes(b"garbage")
    result = CliRunner().invoke(
        command, ["--gt", str(dataset / "gt"), "--ucm", str(dataset / "ucm")]
    )
    assert result.exit_code == 1
    assert str(dataset / "ucm" / "a.mat") in result.output
    assert "Traceback" not in result.output


def test_tools_script_runs(dataset):
    script = REPO / "tools" / "bsds_eval.py"
    run = subprocess.run(
        [sys.executable, str(script), "--gt", str(dataset / "gt"), "--segs", str(dataset / "segs")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "2 images, 2 thresholds" in run.stdout
