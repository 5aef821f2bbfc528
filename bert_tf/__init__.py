"""bert_tf: pretrain, fine-tune, export and serve BERT with TensorFlow and Keras 3.

    import bert_tf
    encoder, tokenizer = bert_tf.from_pretrained("path/to/checkpoint")  # Google or HF layout
"""
from bert_tf.config import BertConfig
from bert_tf.model.encoder import BertEncoder
from bert_tf.model.pretraining import BertPretrainingModel
from bert_tf.pretrained import (from_pretrained, load_encoder, load_pretraining_model,
                                load_tokenizer, save_pretrained)
from bert_tf.text.packer import SegmentPacker
from bert_tf.text.tokenizer import BertTokenizer

__all__ = ["BertConfig", "BertEncoder", "BertPretrainingModel", "BertTokenizer",
           "SegmentPacker", "from_pretrained", "load_encoder", "load_pretraining_model",
           "load_tokenizer", "save_pretrained"]
