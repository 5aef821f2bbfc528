"""BertConfig: the encoder's hyperparameters, read from and written to the two file
formats in the wild — Google's `bert_config.json` and Hugging Face's `config.json`.

Both formats share the field names below; HF adds `layer_norm_eps`, `model_type` and
bookkeeping fields, which are ignored on read.

    config = BertConfig.from_preset("base")
    config = BertConfig.from_json_file("uncased_L-12_H-768_A-12/bert_config.json")
    config.to_json_file("out/config.json", checkpoint_format="hf")
"""
import dataclasses
import json
import os

# bert_tf/presets links to configs/bert, so the presets install with the package.
PRESETS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "presets")

# The activations that Google and HF configs name; "gelu" is the exact (erf) form in HF
# and in the weights both publish, the tanh forms are the approximation.
ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "tanh")

# Fields a config file may carry that do not change the encoder we build.
_IGNORED_FIELDS = {
    "architectures", "model_type", "transformers_version", "_name_or_path", "torch_dtype",
    "dtype", "gradient_checkpointing", "use_cache", "pad_token_id", "classifier_dropout",
    "output_past", "directionality", "pooler_fc_size", "pooler_num_attention_heads",
    "pooler_num_fc_layers", "pooler_size_per_head", "pooler_type", "is_decoder",
    "add_cross_attention", "tie_word_embeddings", "bos_token_id", "eos_token_id",
    "position_embedding_type",  # checked in from_dict: only "absolute" is BERT.
}


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Hyperparameters of a BERT encoder.

    Args:
        vocab_size: word-piece vocabulary size V.
        hidden_size: width H of every layer.
        num_hidden_layers: number L of Transformer blocks.
        num_attention_heads: heads N; H must divide by N.
        intermediate_size: width of the feed-forward inner layer (4H in published models).
        hidden_act: feed-forward activation, one of ACTIVATIONS.
        hidden_dropout_prob: dropout on embeddings and every residual branch.
        attention_probs_dropout_prob: dropout on attention probabilities.
        max_position_embeddings: longest sequence the position table covers.
        type_vocab_size: number of segment (token type) ids.
        initializer_range: stddev of the truncated-normal initializer.
        layer_norm_eps: LayerNorm epsilon (1e-12 in every published BERT).
    """
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12

    def __post_init__(self):
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"BertConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"BertConfig.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(
                f"BertConfig.hidden_act {self.hidden_act!r} is not supported; use one of "
                f"{ACTIVATIONS}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"BertConfig.{name} must be in [0, 1), got {getattr(self, name)}")

    @property
    def head_size(self):
        return self.hidden_size // self.num_attention_heads

    # --- reading -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values):
        """Builds a config from a Google or HF config dict; unknown fields are an error."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields - _IGNORED_FIELDS)
        if unknown:
            raise ValueError(f"Unknown BERT config fields: {unknown}")
        if values.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("Only absolute position embeddings are supported, got "
                             f"{values['position_embedding_type']!r}")
        return cls(**{k: v for k, v in values.items() if k in fields})

    @classmethod
    def from_json_file(cls, path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"BERT config file not found: {path}")
        with open(path, encoding="utf-8") as f:
            try:
                values = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"BERT config file {path} is not valid JSON: {e}") from e
        if values.get("model_type", "bert") != "bert":
            raise ValueError(f"{path} describes a {values['model_type']!r} model, not BERT")
        return cls.from_dict(values)

    @classmethod
    def from_preset(cls, name, **overrides):
        """One of the presets in configs/bert: tiny, mini, small, medium, base, large."""
        path = os.path.join(PRESETS_DIR, f"{name}.json")
        if not os.path.isfile(path):
            raise ValueError(f"Unknown BERT preset {name!r}; available: {preset_names()}")
        return dataclasses.replace(cls.from_json_file(path), **overrides)

    # --- writing -------------------------------------------------------------------
    def to_dict(self, checkpoint_format="google"):
        """The config as Google's bert_config.json ("google") or HF's config.json ("hf")."""
        values = dataclasses.asdict(self)
        if checkpoint_format == "google":
            values.pop("layer_norm_eps")  # Google's code hard-codes 1e-12.
            return values
        if checkpoint_format == "hf":
            return {"architectures": ["BertModel"], "model_type": "bert", "pad_token_id": 0,
                    "position_embedding_type": "absolute", **values}
        raise ValueError(f"checkpoint_format must be 'google' or 'hf', got "
                         f"{checkpoint_format!r}")

    def to_json_file(self, path, checkpoint_format="google"):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(checkpoint_format), f, indent=2, sort_keys=True)
            f.write("\n")


def preset_names():
    return sorted(name[:-5] for name in os.listdir(PRESETS_DIR) if name.endswith(".json"))
