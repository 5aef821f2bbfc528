"""Text to BERT inputs inside the TF graph: HF-exact WordPiece, segment packing, vocabs.

    tokenizer = BertTokenizer.from_vocab_file("vocab.txt")
    packer = SegmentPacker(128, tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id)
    features = packer([tokenizer.tokenize(texts)])   # input_word_ids, input_mask, ...
"""
from bert_tf.text.basic_tokenizer import BasicTokenizer
from bert_tf.text.packer import SegmentPacker
from bert_tf.text.tokenizer import BertTokenizer
from bert_tf.text.vocab import (RESERVED_TOKENS, WordCounter, learn_vocab, text_files,
                                vocab_from_counts, write_vocab)

__all__ = [
    "BasicTokenizer", "BertTokenizer", "RESERVED_TOKENS", "SegmentPacker", "WordCounter",
    "learn_vocab", "text_files", "vocab_from_counts", "write_vocab",
]
