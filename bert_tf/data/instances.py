"""Sequence pairs for BERT pretraining, with next-sentence labels: google-research/bert's
`create_instances_from_document`, rewritten around numpy arrays and one seeded generator.

    rng = np.random.default_rng(seed)
    instances = create_instances(documents, max_seq_length=128, short_seq_prob=0.1,
                                 dupe_factor=10, rng=rng)

Every random choice draws from `rng`, in a fixed order, so the same documents and the same
seed give the same instances.
"""
import dataclasses

import numpy as np

# [CLS] A [SEP] B [SEP]
NUM_SPECIAL_TOKENS = 3


@dataclasses.dataclass(frozen=True)
class Instance:
    """One pretraining sequence pair, before packing and masking.

    Attributes:
        segment_a: int32 [(Ta)], word-piece ids of the first segment (non-empty).
        segment_b: int32 [(Tb)], word-piece ids of the second segment (non-empty).
        is_random_next: bool, whether B comes from another document (NSP label 1).
    """
    segment_a: np.ndarray
    segment_b: np.ndarray
    is_random_next: bool


def create_instances(documents, max_seq_length, short_seq_prob, dupe_factor, rng):
    """Sequence pairs from all documents, `dupe_factor` times over, in shuffled order.

    Each pass draws new segment boundaries and new random partners from `rng`, so the
    duplicates differ (Google's `dupe_factor`; the masks differ too when they are drawn).

    Args:
        documents: list of documents, each a non-empty list of int32 sentence arrays.
            Random next segments come from the other documents, so there must be two.
        max_seq_length: int S, the packed length including [CLS] and two [SEP].
        short_seq_prob: float, probability of a document pass aiming at a random shorter
            length (see `create_instances_from_document`).
        dupe_factor: int, passes over the documents.
        rng: numpy.random.Generator.
    Returns:
        list of `Instance`.
    """
    if len(documents) < 2:
        raise ValueError(f"Next-sentence pairs need at least 2 documents (separated by a "
                         f"blank line) to draw random segments from; got {len(documents)}")
    if max_seq_length < NUM_SPECIAL_TOKENS + 2:
        raise ValueError(f"max_seq_length must be >= {NUM_SPECIAL_TOKENS + 2} to hold two "
                         f"segments and the special tokens, got {max_seq_length}")
    if not 0.0 <= short_seq_prob <= 1.0:
        raise ValueError(f"short_seq_prob must be in [0, 1], got {short_seq_prob}")
    if dupe_factor < 1:
        raise ValueError(f"dupe_factor must be >= 1, got {dupe_factor}")
    instances = []
    for _ in range(dupe_factor):
        for document_index in range(len(documents)):
            instances.extend(create_instances_from_document(
                documents, document_index, max_seq_length, short_seq_prob, rng))
    rng.shuffle(instances)
    return instances


def create_instances_from_document(documents, document_index, max_seq_length,
                                   short_seq_prob, rng):
    """Sequence pairs from one document (a list of sentence id arrays).

    Whole sentences are gathered into a chunk until it reaches the target length; a random
    number of them become segment A. Half the time segment B is the rest of the chunk (the
    actual next text); otherwise it is text from a random place in another document, and
    the unused sentences go back to be read again. Pairs longer than the target are
    truncated.

    Args: as `create_instances`, plus `document_index`, the document to read.
    Returns:
        list of `Instance`.
    """
    document = documents[document_index]
    max_num_tokens = max_seq_length - NUM_SPECIAL_TOKENS
    # Pretraining mostly fills whole sequences, which would leave the model unused to the
    # short inputs of fine-tuning; short_seq_prob of the passes aim at a random shorter
    # length to close that gap.
    target_length = max_num_tokens
    if rng.random() < short_seq_prob:
        target_length = int(rng.integers(2, max_num_tokens + 1))

    instances = []
    chunk, chunk_length = [], 0
    i = 0
    while i < len(document):
        chunk.append(document[i])
        chunk_length += len(document[i])
        if i == len(document) - 1 or chunk_length >= target_length:
            # Sentences [0, a_end) of the chunk form A.
            a_end = int(rng.integers(1, len(chunk))) if len(chunk) >= 2 else 1
            segment_a = np.concatenate(chunk[:a_end])
            if len(chunk) == 1 or rng.random() < 0.5:
                is_random_next = True
                segment_b = _random_segment(documents, document_index,
                                            target_length - len(segment_a), rng)
                # The chunk's sentences after A were not used: read them again.
                i -= len(chunk) - a_end
            else:
                is_random_next = False
                segment_b = np.concatenate(chunk[a_end:])
            segment_a, segment_b = truncate_pair(segment_a, segment_b, max_num_tokens, rng)
            instances.append(Instance(segment_a, segment_b, is_random_next))
            chunk, chunk_length = [], 0
        i += 1
    return instances


def _random_segment(documents, document_index, target_length, rng):
    """Sentences from a random other document, from a random sentence on, until they hold
    `target_length` tokens or the document ends."""
    other = int(rng.integers(0, len(documents) - 1))
    other += other >= document_index  # uniform over the documents other than this one
    document = documents[other]
    start = int(rng.integers(0, len(document)))
    sentences, length = [], 0
    for sentence in document[start:]:
        sentences.append(sentence)
        length += len(sentence)
        if length >= target_length:
            break
    return np.concatenate(sentences)


def truncate_pair(segment_a, segment_b, max_num_tokens, rng):
    """Shortens the longer segment one token at a time until both fit in `max_num_tokens`.

    Each token comes off the front or the back at random: always cutting the back would
    teach the model that sequences end mid-sentence and never start there.

    Returns:
        (segment_a, segment_b), views of the inputs, each at least one token long.
    """
    bounds = [[0, len(segment_a)], [0, len(segment_b)]]  # [start, end) of A and B
    while (bounds[0][1] - bounds[0][0]) + (bounds[1][1] - bounds[1][0]) > max_num_tokens:
        longer = bounds[0] if bounds[0][1] - bounds[0][0] > bounds[1][1] - bounds[1][0] \
            else bounds[1]
        if rng.random() < 0.5:
            longer[0] += 1
        else:
            longer[1] -= 1
    return segment_a[bounds[0][0]:bounds[0][1]], segment_b[bounds[1][0]:bounds[1][1]]
