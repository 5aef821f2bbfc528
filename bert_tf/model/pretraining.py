"""BertPretrainingModel: the encoder with its masked-LM and next-sentence heads.

    model = BertPretrainingModel(BertEncoder.from_bert_config(config))
    outputs = model({**encoder_features, "masked_lm_positions": positions})
    outputs["mlm_logits"]   # [B, P, V]
    outputs["nsp_logits"]   # [B, 2]
"""
import keras

from bert_tf.model.encoder import INPUT_NAMES, encoder_inputs
from bert_tf.model.heads import MaskedLMHead, NextSentenceHead


@keras.saving.register_keras_serializable(package="bert_tf")
class BertPretrainingModel(keras.Model):
    """Encoder + MLM head (tied to the word embeddings) + NSP head."""

    def __init__(self, encoder, **kwargs):
        config = encoder.bert_config
        # === Layers ===
        self.encoder = encoder
        self.masked_lm = MaskedLMHead(
            encoder.embeddings.word_embeddings, hidden_act=config.hidden_act,
            initializer_range=config.initializer_range, layer_norm_eps=config.layer_norm_eps,
            dtype=encoder.dtype_policy, name="masked_lm")
        self.next_sentence = NextSentenceHead(
            initializer_range=config.initializer_range, dtype=encoder.dtype_policy,
            name="next_sentence")

        # === Functional model ===
        inputs = encoder_inputs()
        inputs["masked_lm_positions"] = keras.Input(
            shape=(None,), dtype="int32", name="masked_lm_positions")
        encoder_outputs = encoder({name: inputs[name] for name in INPUT_NAMES})
        super().__init__(
            inputs=inputs,
            outputs={
                "mlm_logits": self.masked_lm(encoder_outputs["sequence_output"],
                                             inputs["masked_lm_positions"]),
                "nsp_logits": self.next_sentence(encoder_outputs["pooled_output"]),
            },
            **kwargs)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "encoder": keras.saving.serialize_keras_object(self.encoder)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)
