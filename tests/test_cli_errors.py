"""The first commands fail well: a user's mistake in any `wnet-tf` subcommand gives one message
that names the file, key or value, exit status 2 (click's usage errors), and no traceback."""

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from wnet_tf.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_train_without_its_records_says_how_to_make_them_and_leaves_no_run(tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)  # a fresh checkout: no data/records
    result = invoke("train", CONFIGS / "paper.json")
    assert result.exit_code == 2
    assert "data/records/voc-trainval.manifest.json" in result.output
    assert "wnet-tf make-records VOCdevkit/VOC2012 -o data/records" in result.output
    assert not (tmp_path / "runs").exists()


def test_train_with_a_missing_folder(tmp_path):
    config = json.loads((CONFIGS / "quickstart.json").read_text())
    config["data"].update(source="folder", train=str(tmp_path / "nowhere"))
    (tmp_path / "c.json").write_text(json.dumps(config))
    result = invoke("train", tmp_path / "c.json", "--workdir", tmp_path / "run")
    assert result.exit_code == 2 and "nowhere: no such folder" in result.output
    assert not (tmp_path / "run").exists()


def test_train_with_an_unknown_key(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"model": {"kk": 3}}))
    result = invoke("train", tmp_path / "c.json")
    assert result.exit_code == 2 and "kk" in result.output


def test_make_records_of_a_folder_that_is_not_a_collection(tmp_path):
    (tmp_path / "images").mkdir()
    result = invoke("make-records", tmp_path / "images", "--source", "voc", "-o", tmp_path / "o")
    assert result.exit_code == 2 and "VOC2012" in result.output


def test_segment_with_a_model_that_does_not_exist(tmp_path):
    result = invoke("segment", tmp_path, "--model", tmp_path / "nothing", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "nothing" in result.output


def test_postprocess_with_a_bad_override(tmp_path):
    (tmp_path / "images").mkdir()
    result = invoke("postprocess", "--images", tmp_path / "images", "--out", tmp_path / "o",
                    "--set", "postprocess.nothing=1")
    assert result.exit_code == 2 and "nothing" in result.output


def test_postprocess_with_scales_but_no_network(tmp_path):
    (tmp_path / "images").mkdir()
    result = invoke("postprocess", "--images", tmp_path / "images", "--out", tmp_path / "o",
                    "--scales", "1,2")
    assert result.exit_code == 2 and "--scales" in result.output and "--model" in result.output
    assert not (tmp_path / "o").exists()  # refused before anything is written


def test_export_of_a_folder_that_is_not_a_run(tmp_path):
    result = invoke("export", tmp_path, "--out", tmp_path / "model")
    assert result.exit_code == 2 and str(tmp_path) in result.output


def test_evaluate_with_a_missing_ground_truth_folder(tmp_path):
    (tmp_path / "ucm").mkdir()
    result = invoke("evaluate", "--gt", tmp_path / "gt", "--ucm", tmp_path / "ucm")
    assert result.exit_code == 2 and "gt" in result.output


@pytest.mark.skipif(sys.platform != "linux", reason="the console script is installed on Linux CI")
def test_the_console_script_is_configured_before_any_subcommand():
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "wnet-tf"]
    assert script.value == "wnet_tf.cli:run"
