import json

import pytest

from wnet_tf.config import (
    Config,
    ConfigError,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)


def test_defaults_are_the_paper_and_valid():
    config = config_from_dict({})
    assert config == Config()
    assert (config.loss.radius, config.loss.sigma_i, config.loss.sigma_x) == (5, 10.0, 4.0)
    assert config.data.image_size == 224 and config.data.batch_size == 10
    assert config.optim.lr_values[0] == 0.003


def test_round_trip_through_json(tmp_path):
    config = config_from_dict({"about": "x", "model": {"k": 7}, "optim": {"lr_boundaries": [5],
                                                                          "lr_values": [1, 0.5]}})
    save_config(config, tmp_path / "c.json")
    again = load_config(tmp_path / "c.json")
    assert again == config
    assert config_to_dict(again) == json.loads((tmp_path / "c.json").read_text())
    assert isinstance(again.optim.lr_values[0], float)


def test_overrides_parse_json_or_take_strings():
    config = config_from_dict({}, ["model.k=4", "train.precision=mixed_bfloat16",
                                   "data.seed=null", "loss.sigma_i=2", "data.random_flip=true"])
    assert config.model.k == 4 and config.train.precision == "mixed_bfloat16"
    assert config.data.seed is None and config.loss.sigma_i == 2.0 and config.data.random_flip


@pytest.mark.parametrize("data, words", [
    ({"model": {"kk": 3}}, ["model.kk", "k,"]),
    ({"modle": {}}, ["modle"]),
    ({"model": {"k": 1}}, ["model.k", "1", ">= 2"]),
    ({"model": {"k": 2.5}}, ["model.k", "2.5", "integer"]),
    ({"model": {"k": True}}, ["model.k", "True"]),
    ({"loss": {"radius": 0}}, ["loss.radius", "0"]),
    ({"loss": {"sigma_i": "ten"}}, ["loss.sigma_i", "'ten'", "number"]),
    ({"data": {"image_size": 100}}, ["data.image_size", "100", "16"]),
    ({"train": {"precision": "fp8"}}, ["train.precision", "'fp8'", "mixed_float16"]),
    ({"optim": {"lr_values": [1.0]}}, ["optim.lr_values", "5 values"]),
    ({"optim": {"ncut_lr_scale": 0}}, ["optim.ncut_lr_scale", "positive"]),
    ({"optim": {"lr_boundaries": [3, 2, 1, 0], "lr_values": [1, 1, 1, 1, 1]}},
     ["optim.lr_boundaries", "increasing"]),
    ({"model": 3}, ["model", "object"]),
    ({"data": {"inference_scales": []}}, ["data.inference_scales", "non-empty"]),
    ({"data": {"inference_scales": [1, 0]}}, ["data.inference_scales", "positive"]),
])
def test_bad_values_name_the_key_and_value(data, words):
    with pytest.raises(ConfigError) as err:
        config_from_dict(data)
    for word in words:
        assert word in str(err.value)


def test_bad_override_and_file_errors_name_the_source(tmp_path):
    with pytest.raises(ConfigError, match="section.key=value"):
        config_from_dict({}, ["model.k"])
    with pytest.raises(ConfigError, match="model.depth"):
        config_from_dict({}, ["model.depth=9"])
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json"):
        load_config(bad)
    with pytest.raises(ConfigError, match="missing.json"):
        load_config(tmp_path / "missing.json")


def test_frozen():
    with pytest.raises(AttributeError):
        Config().model.k = 3


def test_saved_config_is_readable_by_others_and_leaves_no_temporary(tmp_path):
    import os
    import stat

    path = tmp_path / "run" / "config.json"
    save_config(Config(), path)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]


def test_with_overrides_applies_them_as_loading_does():
    base = Config().with_overrides(["model.k=5"])
    assert base.model.k == 5 and base.with_overrides().model.k == 5
    changed = base.with_overrides(["postprocess.threshold=0.3", "data.preprocess=center_crop"])
    assert (changed.postprocess.threshold, changed.data.preprocess, changed.model.k) == (
        0.3, "center_crop", 5)
    with pytest.raises(ConfigError, match="model.depth"):
        base.with_overrides(["model.depth=0"])
