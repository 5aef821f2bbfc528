"""Pretraining data: text to TFRecords (NSP pairs, masked-LM masking) and back to batches.

    create_pretraining_data(["books/*.txt"], "data/books", "vocab.txt")   # writes shards
    dataset = pretraining_dataset("data/books/*.tfrecord", batch_size=256, max_seq_length=128,
                                  max_predictions_per_seq=20)
"""
from bert_tf.data.create import (METADATA_FILE, PretrainingDataOptions,
                                 create_pretraining_data)
from bert_tf.data.dataset import pretraining_dataset
from bert_tf.data.masking import MaskedLMMasker
from bert_tf.data.schema import feature_spec

__all__ = ["METADATA_FILE", "MaskedLMMasker", "PretrainingDataOptions",
           "create_pretraining_data", "feature_spec", "pretraining_dataset"]
