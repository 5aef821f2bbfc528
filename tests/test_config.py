import json

import pytest

from bert_tf.model.config import BertConfig, preset_names


def test_presets_have_published_shapes():
    shapes = {name: (c.num_hidden_layers, c.hidden_size, c.num_attention_heads)
              for name in preset_names() for c in [BertConfig.from_preset(name)]}
    assert shapes == {"tiny": (2, 128, 2), "mini": (4, 256, 4), "small": (4, 512, 8),
                      "medium": (8, 512, 8), "base": (12, 768, 12), "large": (24, 1024, 16)}
    assert BertConfig.from_preset("base").intermediate_size == 3072


@pytest.mark.parametrize("checkpoint_format", ["google", "hf"])
def test_json_round_trip(tmp_path, checkpoint_format):
    config = BertConfig.from_preset("mini", vocab_size=1000, hidden_act="gelu_new")
    path = tmp_path / "config.json"
    config.to_json_file(path, checkpoint_format)
    assert BertConfig.from_json_file(path) == config
    written = json.loads(path.read_text())
    assert ("model_type" in written) == (checkpoint_format == "hf")
    assert ("layer_norm_eps" in written) == (checkpoint_format == "hf")


def test_reads_hf_config_with_bookkeeping_fields(minilm_path):
    config = BertConfig.from_json_file(f"{minilm_path}/config.json")
    assert (config.num_hidden_layers, config.hidden_size, config.vocab_size) == (6, 384, 30522)


@pytest.mark.parametrize("values, message", [
    ({"hidden_size": 100, "num_attention_heads": 3}, "divisible"),
    ({"hidden_act": "swish2"}, "hidden_act"),
    ({"num_hidden_layers": 0}, "positive integer"),
    ({"hidden_dropout_prob": 1.5}, r"\[0, 1\)"),
    ({"frobnicate": 1}, "Unknown BERT config fields"),
    ({"position_embedding_type": "relative_key"}, "absolute"),
])
def test_bad_configs_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        BertConfig.from_dict({**BertConfig().to_dict(), **values})


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        BertConfig.from_json_file(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        BertConfig.from_json_file(broken)
    other = tmp_path / "gpt.json"
    other.write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match="not BERT"):
        BertConfig.from_json_file(other)
    with pytest.raises(ValueError, match="Unknown BERT preset"):
        BertConfig.from_preset("huge")
