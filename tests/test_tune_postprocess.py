"""tools/tune_postprocess.py: the val search behind configs/README.md's tables."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_bsds import save_png, write_ground_truth

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location(
        "tune_postprocess", REPO / "tools" / "tune_postprocess.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """A two-image 'val' split: two-colour images (split down or across) and that partition as
    their one annotator's ground truth."""
    root = tmp_path_factory.mktemp("bsds")
    (root / "images" / "val").mkdir(parents=True)
    (root / "groundTruth" / "val").mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :64]
    for name, labels in (("a", (xx >= 30).astype(int)), ("b", (yy >= 20).astype(int))):
        colours = np.array([[200, 60, 40], [40, 90, 190]], float)
        image = colours[labels] + rng.normal(0, 12, labels.shape + (3,))
        save_png(root / "images" / "val" / f"{name}.png", image.clip(0, 255).astype(np.uint8))
        write_ground_truth(root / "groundTruth" / "val" / f"{name}.mat", labels + 1)
    return root


def test_grid_keeps_list_values_whole(tool):
    combos = tool._grid(["postprocess.cue_weights=[1,1,1,1],[2, 1,1,1]",
                         "postprocess.wnet_region_weight=0,0.3"])
    assert combos == [
        ("postprocess.cue_weights=[1,1,1,1]", "postprocess.wnet_region_weight=0"),
        ("postprocess.cue_weights=[1,1,1,1]", "postprocess.wnet_region_weight=0.3"),
        ("postprocess.cue_weights=[2, 1,1,1]", "postprocess.wnet_region_weight=0"),
        ("postprocess.cue_weights=[2, 1,1,1]", "postprocess.wnet_region_weight=0.3"),
    ]


def run_grid(tool, split, tmp_path, *grids):
    """The tool on `split` with `--grid` per item of `grids` (5 thresholds, in process): its
    printed table and its JSON rows."""
    out = tmp_path / "rows.json"
    args = ["--bsds", str(split), "--nthresh", "5", "--jobs", "0", "--json", str(out)]
    result = CliRunner().invoke(tool.main, args + [a for g in grids for a in ("--grid", g)])
    assert result.exit_code == 0, result.output
    return result.output, json.loads(out.read_text())


def test_each_cue_weighting_gets_its_own_ablation(tool, split, tmp_path):
    output, rows = run_grid(tool, split, tmp_path, "postprocess.cue_weights=[1,1,1,1],[0,0,0,1]",
                            "postprocess.wnet_region_weight=0,0.3")
    assert [r["setting"][0] for r in rows[:2]] == ["without the network"] * 2
    assert [r["setting"][1] for r in rows[:2]] == ["cue_weights=[1.0, 1.0, 1.0, 1.0]",
                                                     "cue_weights=[0.0, 0.0, 0.0, 1.0]"]
    assert len(rows) == 6
    # Texture alone and the four cues make different hierarchies of these images.
    assert rows[0]["summary"] != rows[1]["summary"]
    for row in rows[2:]:
        no_net = rows[0] if "[1,1,1,1]" in row["setting"][0] else rows[1]
        assert row["sc_ods_vs_no_net"] == pytest.approx(
            row["summary"]["SC"]["ODS"] - no_net["summary"]["SC"]["ODS"])
    assert "SC ODS vs no net" in output


def test_each_spectral_setting_gets_its_own_ablation(tool, split, tmp_path):
    _, rows = run_grid(tool, split, tmp_path, "postprocess.spectral_weight=0,1",
                       "postprocess.spectral_rho=0.1,0.2")
    # rho does not matter while the weight is 0: one ablation there, one per rho at weight 1.
    assert [r["setting"] for r in rows[:3]] == [
        ["without the network", "spectral_weight=0.0"],
        ["without the network", "spectral_weight=1.0", "spectral_rho=0.1"],
        ["without the network", "spectral_weight=1.0", "spectral_rho=0.2"]]
    assert len(rows) == 7
    for row in rows[3:]:
        weight = "weight=1" in row["setting"][0]
        no_net = rows[1 + ("rho=0.2" in row["setting"][1])] if weight else rows[0]
        assert row["sc_ods_vs_no_net"] == pytest.approx(
            row["summary"]["SC"]["ODS"] - no_net["summary"]["SC"]["ODS"])


def test_thinning_gets_its_own_ablation_only_with_a_spectral_term(tool, split, tmp_path):
    _, rows = run_grid(tool, split, tmp_path, "postprocess.spectral_weight=0,1",
                       "postprocess.spectral_thin=false,true")
    assert [r["setting"] for r in rows[:3]] == [
        ["without the network", "spectral_weight=0.0"],
        ["without the network", "spectral_weight=1.0", "spectral_thin=False"],
        ["without the network", "spectral_weight=1.0", "spectral_thin=True"]]
    assert len(rows) == 7


def test_the_network_in_the_affinities_shares_the_plain_spectral_ablation(tool, split, tmp_path):
    _, rows = run_grid(tool, split, tmp_path, "postprocess.spectral_weight=1",
                       "postprocess.wnet_affinity_weight=0,0.5")
    assert [r["setting"] for r in rows[:2]] == [
        ["without the network"],
        ["postprocess.spectral_weight=1", "postprocess.wnet_affinity_weight=0"]]
    assert len(rows) == 3
    for row in rows[1:]:
        assert row["sc_ods_vs_no_net"] == pytest.approx(
            row["summary"]["SC"]["ODS"] - rows[0]["summary"]["SC"]["ODS"])


def test_a_cue_parameter_that_varies_is_refused(tool, split):
    result = CliRunner().invoke(tool.main, [
        "--bsds", str(split), "--jobs", "0", "--grid", "postprocess.textons=8,16"])
    assert result.exit_code == 2
    assert "postprocess.textons" in result.output and "only their cue_weights" in result.output
