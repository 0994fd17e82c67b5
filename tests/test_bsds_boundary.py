"""The BSDS boundary benchmark: boundary maps of label maps, hand-made matchings whose precision
and recall are known, the aggregation arithmetic, and the official benchmark's expected outputs
for its 5-image sample."""

import os
from pathlib import Path

import numpy as np
import pytest
from test_bsds import dataset  # noqa: F401, F811 (a fixture)

from wnet_tf import bsds
from wnet_tf.bsds import boundary

needs_matching = pytest.mark.skipif(
    __import__("importlib").util.find_spec("pyEdgeEval") is None,
    reason="the boundary benchmark's matching needs the 'bdry' extra (pyEdgeEval)",
)


def test_segmentation_boundaries_are_seg2bdry_image_size():
    seg = np.array([[1, 1, 2], [1, 1, 2], [3, 3, 3]])
    # The corner below-right of (i, j) touches two labels; last row / column copy their edges.
    # (1, 2) only: the last column copies the edge below it, (2, 2) is the frame corner.
    expected = np.array([[0, 1, 0], [1, 1, 1], [0, 0, 0]], bool)
    assert np.array_equal(boundary.segmentation_boundaries(seg), expected)


# The most pixels of 320 that the randomised matching may lose on maps that match exactly (see
# test_shift_within_and_beyond_the_tolerance for the measured spread).
DROPS = 8


def _line(shape, column):
    bmap = np.zeros(shape, bool)
    bmap[20:180, column] = True
    return bmap


@needs_matching
@pytest.mark.parametrize(("shift", "matched"), [(0, 1.0), (2, 1.0), (3, 0.0)])
def test_shift_within_and_beyond_the_tolerance(shift, matched):
    # 200x200: the tolerance is 0.0075 * 282.8 = 2.12 pixels.
    human = _line((200, 200), 100)
    scores = boundary.score_boundaries([_line((200, 200), 100 + shift)], [human, human])
    assert scores.sum_r[0] == 2 * 160 and scores.sum_p[0] == 160
    if matched:
        # The benchmark's C++ matching approximates the optimum through random outlier links
        # (seeded from the clock) and drops a pixel now and then, even on identical maps, as the
        # official one does. Measured over 3000 calls each, shift 0 and 2: annotators' pixels
        # lost 0 to 5 of 320 (5 in 0.1% of calls; mean 0.7), machine pixels 0 or 1 of 160. The
        # bounds, 8 and 4, lie where such drops are out of reach (Poisson tail < 1e-7), and
        # still far from the 0 of a shift beyond the tolerance.
        assert 2 * 160 - DROPS <= scores.cnt_r[0] <= 2 * 160
        assert 160 - DROPS // 2 <= scores.cnt_p[0] <= 160
    else:
        assert scores.cnt_r[0] == scores.cnt_p[0] == 0


@needs_matching
def test_machine_pixels_match_any_annotator():
    left, right = _line((200, 200), 50), _line((200, 200), 150)
    scores = boundary.score_boundaries([left | right], [left, right])
    # Every machine pixel matches one annotator, each annotator its own line: precision and recall
    # 1, up to the pixels the C++ code may drop (measured over 3000 calls: 0 to 5 of 320).
    assert (scores.sum_p[0], scores.sum_r[0]) == (320, 320)
    assert 320 - DROPS <= scores.cnt_p[0] <= 320 and 320 - DROPS <= scores.cnt_r[0] <= 320


def test_reach_is_the_matchings_window():
    # 200x200: the tolerance is 2.12 pixels, so offsets with u^2 + v^2 <= 4: 1 + 4 + 4 + 4 pixels.
    pixel = np.zeros((200, 200), bool)
    pixel[100, 100] = True
    assert np.count_nonzero(boundary.reach(pixel)) == 13
    within = boundary.reach(_line((200, 200), 100))
    assert within[20:180, 98:103].all() and not within[:, 103].any() and not within[:, 97].any()


@needs_matching
@pytest.mark.parametrize("shift", [2, 3])
def test_reach_holds_what_the_matching_can_match(shift):
    human, machine = _line((200, 200), 100), _line((200, 200), 100 + shift)
    matched, _ = boundary.correspond(machine, human)
    # Every match lies within reach (shift 2), none beyond it (shift 3).
    assert not (matched & ~boundary.reach(human)).any()
    assert matched.any() == (machine & boundary.reach(human)).any()


def test_maps_differing_beyond_reach_are_matched_once(monkeypatch):
    calls = []

    def counted(machine, human, max_distance):
        calls.append(np.count_nonzero(machine))
        return machine.copy(), int(np.count_nonzero(human))

    monkeypatch.setattr(boundary, "correspond", counted)
    human = _line((200, 200), 100)
    near, far, more = _line((200, 200), 102), _line((200, 200), 20), np.zeros((200, 200), bool)
    more[10, 101] = more[100, 99] = True  # 10 rows above the human line's end; 1 pixel beside it
    maps = [near, near | far, near | far | more]
    scores = boundary.score_boundaries(maps, [human])
    # The far line is beyond reach: the second map reuses the first's matching; the third adds a
    # pixel within reach, and the matching sees only the pixels within reach.
    assert calls == [160, 161]
    assert scores.sum_p.tolist() == [160, 320, 322]
    assert scores.cnt_p.tolist() == [160, 160, 161]


def test_summary_arithmetic():
    # Two thresholds: (R, P) = (1, 0.5) then (0.5, 1); the best F lies on the line between.
    image = boundary.BoundaryScores(
        "a", np.array([10.0, 5]), np.array([10.0, 10]), np.array([5.0, 5]), np.array([10.0, 5])
    )
    result = boundary.summarize_boundaries([image], np.array([0.25, 0.75]))
    assert result.recall.tolist() == [1.0, 0.5] and result.precision.tolist() == [0.5, 1.0]
    ods = result.summary["ODS"]
    # On R + P = 1.5, F = 2RP / 1.5 is largest at R = P = 0.75, d = 50/99 or 49/99 away.
    assert ods["F"] == pytest.approx(0.75, abs=1e-4) and ods["F"] > 2 / 3
    # OIS takes the first best threshold, not interpolated: F = 2/3 at both.
    assert result.summary["OIS"]["F"] == pytest.approx(2 / 3, abs=1e-15)
    assert result.summary["OIS"]["recall"] == 1.0
    # AP: P interpolated over R in [0.5, 1], from 1 down to 0.5, 0 below R = 0.5.
    levels = np.round(np.arange(50, 101) / 100, 2)
    assert result.summary["AP"] == pytest.approx(0.01 * np.sum(1.5 - levels), abs=1e-12)


# --------------------------------------------------------------------------- the official sample

# The official code matches through random outlier links seeded with the time of day, so two of its
# own runs differ: test_3 and test_4 score the same segmentations and disagree by up to 5.6e-4
# (precision at threshold 2). The same C++ code runs here, as random: measured over 5 runs each of
# test_1 and test_4, our runs differ from each other by up to 1.1e-3 (per-image figures) and from
# the expected files by up to 1.4e-3, so 1e-3 failed one CI run in five. Ours is held to 3e-3,
# about twice the largest difference measured; the thresholds are exact.
SPREAD = 3e-3
MINI = {"test_1": ("ucm2", "ucm"), "test_2": ("png", "pb"), "test_4": ("segs", "segs")}


@pytest.fixture(scope="module")
def bench_mini():
    root = os.environ.get("WNET_BSDS_ROOT")
    if not root or not (Path(root) / "bench_mini").is_dir():
        pytest.skip("set WNET_BSDS_ROOT to the bsds500 folder to run the tests on real data")
    return Path(root) / "bench_mini"


def test_official_runs_differ_by_the_spread(bench_mini):
    runs = [np.loadtxt(bench_mini / t / "eval_bdry_thr.txt") for t in ("test_3", "test_4")]
    assert 2e-4 < np.abs(runs[0] - runs[1]).max() < SPREAD / 3


@needs_matching
@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(MINI))
def test_bench_mini(bench_mini, case):
    folder, kind = MINI[case]
    result = bsds.evaluate_dataset(
        bench_mini / "groundTruth", bench_mini / folder, kind, nthresh=5, jobs=2, boundaries=True
    )
    files = bsds.benchmark_files(result.boundary)
    for name in ("eval_bdry.txt", "eval_bdry_thr.txt", "eval_bdry_img.txt"):
        ours = np.loadtxt(files[name].splitlines(), ndmin=2)
        expected = np.loadtxt(bench_mini / case / name, ndmin=2)
        assert ours.shape == expected.shape, name
        if name == "eval_bdry_thr.txt":
            assert np.array_equal(ours[:, 0], expected[:, 0])
        np.testing.assert_allclose(ours, expected, rtol=0, atol=SPREAD, err_msg=name)


@needs_matching
def test_command_writes_boundary_files_for_several_methods(dataset):  # noqa: F811
    import json

    import scipy.io as sio
    from click.testing import CliRunner
    from test_bsds import TOP_BOTTOM, ucm2_of

    from wnet_tf.evaluate import command

    # test_bsds's two images, their annotators and hierarchies ("ucm"), and a second method.
    tmp_path = dataset
    (tmp_path / "theirs").mkdir()
    for name in ("a", "b"):
        sio.savemat(tmp_path / "theirs" / f"{name}.mat", {"ucm2": ucm2_of(TOP_BOTTOM)})
    out = tmp_path / "out"
    args = ["--gt", str(tmp_path / "gt"), "--ucm", str(tmp_path / "ucm")]
    args += ["--ucm", str(tmp_path / "theirs"), "--boundaries", "--nthresh", "3", "--out", str(out)]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 0, result.output
    assert (out / "pr_curve.png").stat().st_size > 0
    for name in ("ucm", "theirs"):
        summary = json.loads((out / name / "summary.json").read_text())
        assert list(summary["boundary"]) == ["ODS", "OIS", "AP"]
        assert list(summary["boundary"]["ODS"]) == ["threshold", "recall", "precision", "F"]
        assert (out / name / "eval_bdry_thr.txt").read_text().count("\n") == 3


# --------------------------------------------------------------------------- --pb errors


def _pb_command(dataset, *extra):  # noqa: F811
    from click.testing import CliRunner

    from wnet_tf.evaluate import command

    args = ["--gt", str(dataset / "gt"), "--pb", str(dataset / "pb"), *extra]
    return CliRunner().invoke(command, args)


def _write_pb(folder, names, array):
    from test_bsds import save_png

    folder.mkdir(exist_ok=True)
    for name in names:
        save_png(folder / f"{name}.png", array)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.zeros((3, 3, 3), np.uint8), "a boundary map must be a single-channel 8-bit image"),
        (np.zeros((3, 3), np.uint16), "a boundary map must be a single-channel 8-bit image"),
        (np.zeros((3, 4), np.uint8), "boundary map is 3x4, its ground truth"),
    ],
    ids=["rgb", "16-bit", "wrong-size"],
)
def test_pb_bad_maps_are_named(dataset, array, expected):  # noqa: F811
    _write_pb(dataset / "pb", ["a", "b"], array)
    result = _pb_command(dataset)
    assert result.exit_code == 1, result.output
    assert str(dataset / "pb" / "a.png") in result.output and expected in result.output


def test_pb_unreadable_map_is_named(dataset):  # noqa: F811
    _write_pb(dataset / "pb", ["a", "b"], np.zeros((3, 3), np.uint8))
    (dataset / "pb" / "b.png").write_bytes(b"not a PNG")
    result = _pb_command(dataset)
    assert result.exit_code == 1, result.output
    assert f"{dataset / 'pb' / 'b.png'}: unreadable image" in result.output


def test_pb_missing_map_is_named(dataset):  # noqa: F811
    _write_pb(dataset / "pb", ["a"], np.zeros((3, 3), np.uint8))
    result = _pb_command(dataset)
    assert result.exit_code == 1, result.output
    assert f"1 in {dataset / 'gt'} without input in {dataset / 'pb'}: b" in result.output
    result = _pb_command(dataset, "--allow-missing")
    assert result.exit_code == 0, result.output
    assert "skipped, no pb input: b" in result.output and "1 images" in result.output


def test_pb_missing_folder_is_named(dataset):  # noqa: F811
    result = _pb_command(dataset)
    assert result.exit_code == 2 and str(dataset / "pb") in result.output
    assert "does not exist" in result.output
