"""Masked-LM masking in the TensorFlow graph, for data creation and for dynamic masking in
`tf.data` alike: one implementation of BERT's rules.

    masker = MaskedLMMasker.from_tokenizer(tokenizer, max_predictions_per_seq=20)
    features = masker(features, seed=[7, batch_index])   # adds the masked-LM features

The rules (google-research/bert `create_masked_lm_predictions`):

* candidates are the real tokens, not [CLS], [SEP] or padding;
* `round(mask_rate * candidates)` of them are predicted (at least 1, at most
  `max_predictions_per_seq`);
* with whole-word masking, a word's pieces ("##" continues a word, or the caller's
  `word_starts` say where words start) are chosen together: words are taken in random
  order, and a word that would overshoot the count is skipped;
* each chosen token becomes [MASK] 80% of the time, a random vocabulary id 10% and stays
  as it is 10%. The model cannot tell which inputs are originals, so it must predict every
  position from context, yet [MASK], which never occurs in fine-tuning inputs, is not the
  only input it learns to read.

Randomness comes from stateless ops keyed by the `seed` argument, not from TF's global
random state: the masks are then a pure function of (seed, batch), so they are the same
whichever process or worker computes them, and a checkpointed input pipeline replays them
exactly. (`tensorflow_text.mask_language_model` draws from stateful random ops, which
neither property holds for.)
"""
import numpy as np
import tensorflow as tf

CONTINUATION_PREFIX = "##"


class MaskedLMMasker(tf.Module):
    """Chooses the tokens the masked LM predicts and replaces them in the input.

    Args:
        vocab_size: int V; random replacements are drawn from [0, V).
        mask_id: int, id of [MASK].
        special_ids: ints never chosen ([CLS], [SEP], [PAD]).
        max_predictions_per_seq: int P, prediction slots per sequence.
        continuation_ids: ids of "##" pieces, which continue the word before them (used
            only with `whole_word`).
        whole_word: bool, choose all pieces of a word together.
        mask_rate: float, fraction of candidate tokens predicted.
        mask_token_rate: float, fraction of chosen tokens replaced by [MASK].
        random_token_rate: float, fraction of chosen tokens replaced by a random id.
        name: module name.
    """

    def __init__(self, vocab_size, mask_id, special_ids, max_predictions_per_seq,
                 continuation_ids=(), whole_word=True, mask_rate=0.15, mask_token_rate=0.8,
                 random_token_rate=0.1, name=None):
        super().__init__(name=name)
        if max_predictions_per_seq < 1:
            raise ValueError(
                f"max_predictions_per_seq must be >= 1, got {max_predictions_per_seq}")
        if not 0.0 < mask_rate <= 1.0:
            raise ValueError(f"mask_rate must be in (0, 1], got {mask_rate}")
        if mask_token_rate < 0 or random_token_rate < 0 or \
                mask_token_rate + random_token_rate > 1.0:
            raise ValueError("mask_token_rate and random_token_rate must be >= 0 with a sum "
                             f"<= 1, got {mask_token_rate} and {random_token_rate}")
        for token_id in (mask_id, *special_ids, *continuation_ids):
            if not 0 <= token_id < vocab_size:
                raise ValueError(f"Token id {token_id} is outside the vocab [0, {vocab_size})")
        self.vocab_size = int(vocab_size)
        self.mask_id = int(mask_id)
        self.max_predictions_per_seq = int(max_predictions_per_seq)
        self.whole_word = bool(whole_word)
        self.mask_rate = float(mask_rate)
        self.mask_token_rate = float(mask_token_rate)
        self.random_token_rate = float(random_token_rate)
        is_special = np.zeros(vocab_size, bool)
        is_special[list(special_ids)] = True
        is_continuation = np.zeros(vocab_size, bool)
        is_continuation[list(continuation_ids)] = True
        self._is_special = tf.constant(is_special)            # [V]
        self._is_continuation = tf.constant(is_continuation)  # [V]

    @classmethod
    def from_tokenizer(cls, tokenizer, max_predictions_per_seq, **kwargs):
        """A masker for `tokenizer`'s vocab (a `bert_tf.text.BertTokenizer`)."""
        continuation_ids = [i for i, token in enumerate(tokenizer.vocab)
                            if token.startswith(CONTINUATION_PREFIX)]
        return cls(tokenizer.vocab_size, tokenizer.mask_id,
                   (tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id),
                   max_predictions_per_seq, continuation_ids=continuation_ids, **kwargs)

    def __call__(self, features, seed, word_starts=None):
        """Masks a batch.

        Args:
            features: dict with int32 `input_word_ids` and `input_mask` [B, S] (other
                entries pass through).
            seed: int tensor [2], the key of every random draw.
            word_starts: None, or bool/int [B, S], nonzero where a word starts: with
                whole-word masking, words end there as well as before every piece that
                is not "##" (see `documents.tokenize_documents` for words separated by
                spaces, as in segmented Chinese).
        Returns:
            `features` with `input_word_ids` masked, plus `masked_lm_positions` and
            `masked_lm_ids` int32 [B, P] and `masked_lm_weights` float32 [B, P].
        """
        word_ids = tf.convert_to_tensor(features["input_word_ids"], tf.int32)  # [B, S]
        input_mask = tf.convert_to_tensor(features["input_mask"], tf.int32)
        tf.debugging.assert_less(
            word_ids, self.vocab_size,
            message=f"input_word_ids hold an id >= the masker's vocab size {self.vocab_size}")
        tf.debugging.assert_non_negative(word_ids, message="input_word_ids hold negative ids")
        choose_seed, replace_seed, random_id_seed = tf.unstack(
            tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3))

        candidate = (input_mask > 0) & ~tf.gather(self._is_special, word_ids)  # [B, S]
        chosen = self._choose(word_ids, candidate, choose_seed, word_starts)    # [B, S]

        draw = tf.random.stateless_uniform(tf.shape(word_ids), replace_seed)
        random_ids = tf.random.stateless_uniform(
            tf.shape(word_ids), random_id_seed, minval=0, maxval=self.vocab_size,
            dtype=tf.int32)
        masked_word_ids = tf.where(
            chosen & (draw < self.mask_token_rate), self.mask_id,
            tf.where(chosen & (draw < self.mask_token_rate + self.random_token_rate),
                     random_ids, word_ids))

        # The chosen positions in ascending order, padded to P with weight 0. Sorting by
        # (not chosen, position) puts them first; at most P are chosen.
        seq_length = tf.shape(word_ids)[1]
        order_key = tf.where(chosen, 0, seq_length) + tf.range(seq_length)[tf.newaxis, :]
        positions = tf.argsort(order_key, axis=1, stable=True)[:, :self.max_predictions_per_seq]
        weights = tf.gather(chosen, positions, batch_dims=1)
        padding = [[0, 0], [0, self.max_predictions_per_seq - tf.shape(positions)[1]]]
        positions, weights = tf.pad(positions, padding), tf.pad(weights, padding)  # [B, P]
        positions = tf.where(weights, positions, 0)
        return {**features,
                "input_word_ids": masked_word_ids,
                "masked_lm_positions": positions,
                "masked_lm_ids": tf.where(weights, tf.gather(word_ids, positions, batch_dims=1),
                                          0),
                "masked_lm_weights": tf.cast(weights, tf.float32)}

    def _choose(self, word_ids, candidate, seed, word_starts=None):
        """Which candidates to predict: bool [B, S], at most P per row."""
        batch_size, seq_length = tf.shape(word_ids)[0], tf.shape(word_ids)[1]
        # A word starts at every candidate, except (with whole-word masking) at a
        # candidate that follows another one and is a "##" piece, or, when `word_starts`
        # are given, is not marked as a start.
        word_start = candidate
        if self.whole_word:
            follows_candidate = tf.pad(candidate[:, :-1], [[0, 0], [1, 0]])
            if word_starts is None:
                continues = tf.gather(self._is_continuation, word_ids)
            else:
                continues = ~tf.cast(word_starts, tf.bool)
            word_start &= ~(continues & follows_candidate)
        word_index = tf.maximum(tf.cumsum(tf.cast(word_start, tf.int32), axis=1) - 1, 0)
        # Pieces per word, [B, S] (a row has at most S words); words past the last are 0.
        row_offset = tf.range(batch_size)[:, tf.newaxis] * seq_length
        word_length = tf.reshape(tf.math.unsorted_segment_sum(
            tf.reshape(tf.cast(candidate, tf.int32), [-1]),
            tf.reshape(word_index + row_offset, [-1]), batch_size * seq_length),
            [batch_size, seq_length])

        num_candidates = tf.reduce_sum(tf.cast(candidate, tf.int32), axis=1)  # [B]
        num_to_predict = tf.cast(tf.round(tf.cast(num_candidates, tf.float32) * self.mask_rate),
                                 tf.int32)
        num_to_predict = tf.minimum(tf.maximum(num_to_predict, 1),
                                    tf.minimum(num_candidates, self.max_predictions_per_seq))

        # Words in random order (absent words last), then greedily: take a word if its
        # pieces still fit in the count, else skip it.
        priority = tf.where(word_length > 0,
                            tf.random.stateless_uniform([batch_size, seq_length], seed), 2.0)
        order = tf.argsort(priority, axis=1, stable=True)                        # [B, S]
        length_in_order = tf.gather(word_length, order, batch_dims=1)            # [B, S]

        # The scan runs down the positions, so on [S, B]. The counts go through it as
        # float32 (exact: they are at most S): TF's oneDNN graph rewrite turns down every
        # Transpose that is not floating point, on every CPU, and logs it as an error
        # ("oneDNN supports DT_INT32 only on platforms with AVX-512").
        budget = tf.cast(num_to_predict, tf.float32)

        def take_if_fits(count, length):  # [B], [B] -> [B]
            return count + tf.where(count + length <= budget, length, 0.0)

        count_after = tf.cast(tf.transpose(tf.scan(
            take_if_fits, tf.transpose(tf.cast(length_in_order, tf.float32)),
            initializer=tf.zeros([batch_size], tf.float32))), tf.int32)
        count_before = tf.pad(count_after[:, :-1], [[0, 0], [1, 0]])
        taken_in_order = count_after > count_before                              # [B, S]
        taken = tf.gather(taken_in_order, tf.argsort(order, axis=1), batch_dims=1)  # by word
        return candidate & tf.gather(taken, word_index, batch_dims=1)
