"""What NER explains: a tag at a word, whose score is that tag's logit at the word's first
piece. Words are those of `split_words`, as everywhere in this task."""
import tensorflow as tf

from bert_tf.tasks.explain_target import ExplainTarget, piece_positions
from bert_tf.text.packer import packed_lengths
from bert_tf.text.words import NO_POSITION, split_words_with_offsets

class NerExplainTarget(ExplainTarget):
    """The `ExplainTarget` hooks of `NerTask`."""

    def explain_target_spec(self):
        return {"word": tf.TensorSpec([None], tf.int32, name="word"),
                "tag_id": tf.TensorSpec([None], tf.int32, name="tag_id")}

    def explain_target_ranges(self):
        return {"word": (0, 2 ** 31 - 1), "tag_id": (-1, len(self.labels))}

    def parse_target(self, target, example, index):
        """`target`: a word index (the tag predicted there), or a (word index, tag) pair,
        or as a string "3" / "3:B-PER"; None: the first word."""
        if isinstance(target, str):
            word, _, tag = target.partition(":")
            if not word.strip().isdigit():
                raise ValueError(f"input {index}: a target is WORD_INDEX or "
                                 f"WORD_INDEX:TAG, got {target!r}")
            target = (int(word), tag or None)
        word, tag = (target, None) if not isinstance(target, (tuple, list)) else target
        word = 0 if word is None else word
        if isinstance(word, bool) or not isinstance(word, int) or word < 0:
            raise ValueError(f"input {index}: the target word must be a word index >= 0, "
                             f"got {word!r}")
        if word >= len(example.tokens):
            raise ValueError(f"input {index}: target word {word} is past the text, which "
                             f"has {len(example.tokens)} words")
        if tag is not None and str(tag) not in self.label_ids:
            raise ValueError(f"input {index}: unknown target tag {tag!r}; the task's tags "
                             f"are {self.labels}")
        return {"word": word, "tag_id": -1 if tag is None else self.label_ids[str(tag)]}

    def _target_position(self, preprocessed, target):
        positions = preprocessed["word_positions"].to_tensor(NO_POSITION)  # [B, W]
        word = tf.minimum(target["word"], tf.shape(positions)[1] - 1)
        return tf.gather(positions, tf.maximum(word, 0), batch_dims=1)  # [B]

    def resolve_target(self, logits, preprocessed, target):
        position = self._target_position(preprocessed, target)
        predicted = tf.argmax(tf.gather(logits, tf.maximum(position, 0), batch_dims=1),
                              axis=-1, output_type=tf.int32)  # [B]
        tag_id = target["tag_id"]
        return {"word": target["word"], "position": position,
                "tag_id": tf.where(tag_id < 0, predicted, tag_id)}

    def target_score(self, logits, target, rows):
        position = tf.maximum(tf.gather(target["position"], rows), 0)
        at_word = tf.gather(logits, position, batch_dims=1)  # [R, T]
        return tf.gather(at_word, tf.gather(target["tag_id"], rows), batch_dims=1)

    def describe_target(self, target, words):
        word = target["word"]
        if target.get("position", 0) == NO_POSITION:
            raise ValueError(f"target word {word} ({words[word]!r}) has no piece in the "
                             f"model's input (truncated at max_seq_length "
                             f"{self.max_seq_length}, or no text)")
        return f"tag {self.labels[target['tag_id']]!r} at word {word} ({words[word]!r})"

    def explain_words(self, raw, preprocessed, target):
        texts = raw["text"]
        _, starts, ends = split_words_with_offsets(texts)
        pieces = self.tokenize(raw)["pieces"]  # [B, (words), (pieces)]
        # Word index of each piece within its sentence.
        sentence_of_word = pieces.value_rowids()  # [total words]
        word_in_sentence = tf.cast(
            tf.range(tf.size(sentence_of_word, out_type=tf.int64))
            - tf.gather(pieces.row_splits, sentence_of_word), tf.int32)
        flat_pieces = pieces.merge_dims(1, 2)  # [B, (pieces)]
        piece_word = flat_pieces.with_flat_values(
            tf.gather(word_in_sentence, pieces.values.value_rowids()))
        kept = packed_lengths(preprocessed) - 2
        return {"text": texts, "word_start": starts, "word_end": ends,
                "piece_word": piece_word,
                "piece_position": piece_positions(flat_pieces,
                                                                tf.ones_like(kept), kept)}
