"""NER's served outputs: text in, entities with type, text and character offsets out.

    module = TaskServingModule.for_task(ner_task, model)     # bert_tf/export/task.py
    out = module.serve_text({"text": tf.constant(["Angela Merkel visited Paris ."])})
    out["entity_type"]    # string [B, E]: "PER", "LOC", ... ("" pads rows with fewer)
    out["entity_text"]    # string [B, E]: "Angela Merkel", "Paris"
    out["entity_start"]   # int32 [B, E]: character offset of the entity in the text (-1 pads)
    out["entity_end"]     # int32 [B, E]: offset just past its last character (-1 pads)
    out["num_entities"]   # int32 [B]
    out["tags"]           # string [B, W]: the tag of every word ("" pads)

Words are those of the NER task (`bert_tf.text.words.split_words`: whitespace-separated
tokens, each CJK ideograph apart); the task predicts a tag per word (on its first word
piece) and entities are read from the tags with conlleval's rules (`bert_tf.data.conll.entity_spans`, for IOB1, IOB2 and
BIOES). Offsets count Unicode code points of the request's text (Python `str` indexes):
`text[entity_start:entity_end] == entity_text`. The ids signature has no text, so it
returns the tag of every sequence position instead, named apart from the per-word
outputs: `position_tags`, `position_tag_ids` [B, S].
"""
import numpy as np
import tensorflow as tf

from bert_tf.data.conll import OUTSIDE, entity_spans
from bert_tf.text.words import split_words_with_offsets


def chunk_tables(labels):
    """conlleval's chunk rules over a tag vocabulary, as boolean tables [T, T].

    Built from `entity_spans` on every tag pair, so the graph reads entities
    exactly as evaluation does.

    Returns:
      (starts, ends): starts[a, b] is whether an entity starts at tag b after tag a;
      ends[a, b] whether the entity holding tag a ends there when tag b follows.
    """
    size = len(labels)
    starts, ends = np.zeros((size, size), bool), np.zeros((size, size), bool)
    for a, first in enumerate(labels):
        for b, second in enumerate(labels):
            spans = entity_spans([first, second])
            starts[a, b] = any(start == 1 for _, start, _ in spans)
            ends[a, b] = any(end == 0 for _, _, end in spans)
    return starts, ends


def entity_word_spans(tag_ids, labels, outside_id):
    """Entities of tagged words: their row, first and last word, in the graph.

    Args:
      tag_ids: ragged int32 [B, (words)], ids into `labels`.
      labels: list of T tag strings.
      outside_id: id of "O" (what precedes a sentence and follows it).

    Returns:
      (rows, first, last): int64 [N] each, over all N entities of the batch in order;
      `first`/`last` index the flat words (`tag_ids.flat_values`).
    """
    starts, ends = (tf.constant(table) for table in chunk_tables(labels))
    tags = tag_ids.flat_values                                  # [total words]
    position = tf.range(tf.size(tags, out_type=tf.int64))
    first_in_row = tf.equal(position, tf.gather(tag_ids.row_starts(), tag_ids.value_rowids()))
    last_in_row = tf.equal(position + 1, tf.gather(tag_ids.row_limits(), tag_ids.value_rowids()))
    previous = tf.where(first_in_row, outside_id, tf.roll(tags, 1, axis=0))
    following = tf.where(last_in_row, outside_id, tf.roll(tags, -1, axis=0))
    # Every non-O word is inside exactly one entity, so the k-th start and the k-th end
    # of the batch belong to the same entity.
    first = tf.where(tf.gather_nd(starts, tf.stack([previous, tags], axis=1)))[:, 0]
    last = tf.where(tf.gather_nd(ends, tf.stack([tags, following], axis=1)))[:, 0]
    return tf.gather(tag_ids.value_rowids(), first), first, last


class NerServing:
    """The serving hooks of `NerTask` (see `Task.serving_outputs`)."""

    def serving_preprocess(self, texts):
        preprocessed = dict(self.preprocess(texts))
        text = texts["text"]
        _, word_starts, word_ends = split_words_with_offsets(text)
        tf.debugging.assert_equal(
            word_starts.row_lengths(), preprocessed["word_positions"].row_lengths(),
            message="NER serving split the text into other words than the task did")
        preprocessed.update(text=text, word_starts=word_starts, word_ends=word_ends)
        return preprocessed

    def serving_outputs(self, model_outputs, preprocessed):
        tag_ids = self.postprocess(model_outputs, preprocessed)["tag_ids"]  # [B, (W)]
        labels = self.labels
        rows, first, last = entity_word_spans(tag_ids, labels,
                                              self.label_ids[OUTSIDE])
        types = [entity_spans([tag])[0][0] if tag != OUTSIDE else ""
                 for tag in labels]
        entity_type = tf.gather(tf.constant(types), tf.gather(tag_ids.flat_values, first))
        # Byte offsets of the entity's first and last word in its text, to code points.
        text = tf.gather(preprocessed["text"], rows)
        byte_start = tf.gather(preprocessed["word_starts"].flat_values, first)
        byte_end = tf.gather(preprocessed["word_ends"].flat_values, last)
        entity_text = tf.strings.substr(text, byte_start, byte_end - byte_start)
        char_start = tf.strings.length(
            tf.strings.substr(text, tf.zeros_like(byte_start), byte_start), unit="UTF8_CHAR")
        char_end = char_start + tf.strings.length(entity_text, unit="UTF8_CHAR")

        num_texts = tf.shape(preprocessed["text"], out_type=tf.int64)[0]

        def per_text(values):  # [N] -> ragged [B, (entities)]
            return tf.RaggedTensor.from_value_rowids(values, rows, nrows=num_texts)

        # Dense [B, E] outputs, E the most entities of a text in the batch, padded.
        return {"entity_type": per_text(entity_type).to_tensor(""),
                "entity_text": per_text(entity_text).to_tensor(""),
                "entity_start": per_text(char_start).to_tensor(-1),
                "entity_end": per_text(char_end).to_tensor(-1),
                "num_entities": tf.cast(per_text(rows).row_lengths(), tf.int32),
                "tags": tf.gather(tf.constant(labels), tag_ids).to_tensor("")}

    def serving_outputs_ids(self, model_outputs, features):
        tag_ids = tf.argmax(model_outputs, axis=-1, output_type=tf.int32)  # [B, S]
        return {"position_tag_ids": tag_ids,
                "position_tags": tf.gather(tf.constant(self.labels), tag_ids)}
