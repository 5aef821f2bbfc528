"""Export module for feature extraction: text in, the encoder's vectors out.

    module = EncoderServingModule(encoder, tokenizer, max_seq_length=128)
    outputs = module.serve_text({"text": tf.constant(["a fine film"])})
    outputs["pooled_output"]     # float32 [B, H]
    outputs["sequence_output"]   # float32 [B, S, H]
    outputs["input_mask"]        # int32 [B, S]: 1 on real tokens, to pool over them
"""
import tensorflow as tf

from bert_tf.export.serving_module import ServingModule
from bert_tf.text.packer import SegmentPacker


class EncoderServingModule(ServingModule):
    """Serves a BertEncoder on one text, or a text pair with `text_pair=True`.

    Outputs are float32 also under mixed precision.

    Args:
      encoder: BertEncoder.
      tokenizer: its `BertTokenizer`.
      max_seq_length: int, the longest packed sequence, [CLS] and [SEP]s included.
      text_pair: bool, `serving_default` takes `text` and `text_b`.
      name: module name.
    """

    def __init__(self, encoder, tokenizer, max_seq_length, text_pair=False, name=None):
        super().__init__(encoder, tokenizer, max_seq_length,
                         ("text", "text_b") if text_pair else ("text",), name=name)
        self.packer = SegmentPacker(max_seq_length, tokenizer.cls_id, tokenizer.sep_id,
                                    tokenizer.pad_id, pad_to_max_length=False)

    def export_config(self):
        return {**super().export_config(), "task": "encoder"}

    def preprocess(self, texts):
        return self.packer([self.tokenizer.tokenize(texts[name]) for name in self.text_inputs])

    def postprocess(self, model_outputs, preprocessed):
        return {"sequence_output": tf.cast(model_outputs["sequence_output"], tf.float32),
                "pooled_output": tf.cast(model_outputs["pooled_output"], tf.float32),
                "input_mask": preprocessed["input_mask"]}
