import pytest

from mcnn_infer.errors import ConfigError
from mcnn_infer.runtime import MAX_BATCH, choose_batch_size
from mcnn_infer.scoring.options import ScoreOptions, default_model_dir, parse_channel_map


def test_parse_channel_map():
    assert parse_channel_map("DAPI=w1, Tubulin=w2") == {"DAPI": "w1", "Tubulin": "w2"}
    assert parse_channel_map(None) == {}
    with pytest.raises(ConfigError, match="'DAPI'"):
        parse_channel_map("DAPI")
    with pytest.raises(ConfigError, match="twice"):
        parse_channel_map("a=w1,a=w2")


def test_batch_size_rule_follows_input_size():
    assert choose_batch_size(64, 80, 3) == MAX_BATCH
    assert choose_batch_size(1024, 1280, 3) == 2
    assert choose_batch_size(4096, 4096, 3) == 1


def test_bad_options_are_refused():
    with pytest.raises(ConfigError, match="--on-error"):
        ScoreOptions(on_error="ignore")
    with pytest.raises(ConfigError, match="--batch-size"):
        ScoreOptions(batch_size=0)
    with pytest.raises(ConfigError, match="--backend"):
        ScoreOptions(backend="tensorflow")


def test_default_model_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HCS_MODEL_DIR", str(tmp_path / "nothing"))
    with pytest.raises(ConfigError, match="--model"):
        default_model_dir()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "card.json").write_text("{}")
    monkeypatch.setenv("HCS_MODEL_DIR", str(tmp_path / "m"))
    assert default_model_dir() == tmp_path / "m"
