"""CoNLL-format files of tagged sentences, and the tag schemes' entity rules.

One token per line, the token first and its tag last (`EU NNP B-NP B-ORG`); a blank line
ends a sentence; `-DOCSTART-` lines separate documents. Tags may be IOB1, IOB2 or BIOES;
`convert_tags` re-encodes them, and `entity_spans` reads entities as conlleval does, the
same in every scheme. Tokens are words as `bert_tf.text.words.split_words` cuts them (a
token of several CJK characters is an error naming the line).

    sentences = read_conll("train.txt", tag_scheme="iob2")
    write_conll("out.conll", sentences)
"""
import dataclasses
import io
import os

from bert_tf.data import files
from bert_tf.text.words import split_words

TAG_SCHEMES = ("iob1", "iob2", "bioes")
DOCSTART = "-DOCSTART-"
OUTSIDE = "O"


@dataclasses.dataclass(frozen=True)
class TaggedSentence:
    """One sentence of a CoNLL file.

    Attributes:
        tokens: tuple of str, the words.
        tags: tuple of str (one per token), or None for unlabelled prediction input.
        document: int, index of the `-DOCSTART-` document the sentence belongs to.
        source: "file:line" of its first token, for error messages.
    """
    tokens: tuple
    tags: tuple | None
    document: int = 0
    source: str = ""

    @property
    def is_labelled(self):
        return self.tags is not None


def _split_tag(tag):
    """("B", "PER") from "B-PER"; ("O", "") from "O"."""
    if tag == "O":
        return "O", ""
    prefix, _, entity_type = tag.partition("-")
    return prefix, entity_type


def _chunk_ends(prev_prefix, prefix, prev_type, entity_type):
    """conlleval's endOfChunk: does the chunk open before this tag end here?"""
    return (prev_prefix in ("E", "S")
            or (prev_prefix in ("B", "I") and prefix in ("B", "S", "O"))
            or (prev_prefix != "O" and prev_type != entity_type))


def _chunk_starts(prev_prefix, prefix, prev_type, entity_type):
    """conlleval's startOfChunk: does a chunk start at this tag?"""
    return (prefix in ("B", "S")
            or (prev_prefix in ("E", "S", "O") and prefix in ("E", "I"))
            or (prefix != "O" and prev_type != entity_type))


def entity_spans(tags):
    """The entities in one tag sequence, as conlleval reads them.

    Works for IOB1, IOB2 and BIOES alike: an I- after O or after another type starts an
    entity (IOB1), B-/S- always start one, E-/S- end one.

    Args:
        tags: list of str, e.g. ["B-PER", "I-PER", "O", "I-LOC"].
    Returns:
        list of (type, start, end_inclusive).
    """
    spans = []
    prev_prefix, prev_type, start = "O", "", None
    for i, tag in enumerate([*tags, "O"]):  # the sentinel closes a trailing entity
        prefix, entity_type = _split_tag(tag)
        if prefix not in ("B", "I", "E", "S", "O") or (prefix != "O" and not entity_type):
            raise ValueError(f"Tag {tag!r} at position {i} is not O or B-/I-/E-/S-<TYPE>")
        if start is not None and _chunk_ends(prev_prefix, prefix, prev_type, entity_type):
            spans.append((prev_type, start, i - 1))
            start = None
        if _chunk_starts(prev_prefix, prefix, prev_type, entity_type):
            start = i
        prev_prefix, prev_type = prefix, entity_type
    return spans


def convert_tags(tags, scheme):
    """Re-encodes a tag sequence's entities (as conlleval reads them) in `scheme`.

    Args:
        tags: list of str in IOB1, IOB2 or BIOES.
        scheme: "iob1" (B- only between two adjacent entities of one type), "iob2"
            (B- starts every entity) or "bioes" (S- single, B-/I-/E- longer).
    Returns:
        list of str, the same length.
    """
    if scheme not in TAG_SCHEMES:
        raise ValueError(f"Unknown tag scheme {scheme!r}; use one of {TAG_SCHEMES}")
    converted = [OUTSIDE] * len(tags)
    previous_end = {}  # entity type -> end index of its last entity
    for entity_type, start, end in entity_spans(tags):
        for i in range(start, end + 1):
            converted[i] = f"I-{entity_type}"
        if scheme == "iob2" or (scheme == "iob1" and previous_end.get(entity_type) == start - 1):
            converted[start] = f"B-{entity_type}"
        elif scheme == "bioes":
            if start == end:
                converted[start] = f"S-{entity_type}"
            else:
                converted[start], converted[end] = f"B-{entity_type}", f"E-{entity_type}"
        previous_end[entity_type] = end
    return converted


def read_conll(path, require_labels=True, tag_scheme=None):
    """Reads a CoNLL-format file into sentences.

    Args:
        path: the file.
        require_labels: every token line must end in a tag (training / evaluation). When
            False, a file whose lines hold only tokens gives sentences with `tags=None`.
        tag_scheme: None keeps the file's tags; else one of TAG_SCHEMES to convert to.
    Returns:
        list of TaggedSentence.
    Raises:
        FileNotFoundError; ValueError naming file:line for a malformed line or tag.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"CoNLL file not found: {path}")
    sentences = []
    tokens, tags, start_line, document = [], [], None, 0

    def end_sentence():
        nonlocal tokens, tags, start_line
        if tokens:
            has_tags = tags[0] is not None
            if has_tags and tag_scheme:
                tags = convert_tags(tags, tag_scheme)
            sentences.append(TaggedSentence(tuple(tokens), tuple(tags) if has_tags else None,
                                            document, f"{path}:{start_line}"))
        tokens, tags, start_line = [], [], None

    with io.StringIO(files.read_text(path)) as f:
        for line_number, line in enumerate(f, 1):
            fields = line.split()
            where = f"{path}:{line_number}"
            if not fields:
                end_sentence()
                continue
            if fields[0] == DOCSTART:
                end_sentence()
                document += 1 if sentences else 0
                continue
            tag = fields[-1] if len(fields) > 1 else None
            if tag is None and require_labels:
                raise ValueError(f"{where}: expected 'TOKEN ... TAG', got {line.strip()!r}")
            if tokens and (tag is None) != (tags[0] is None):
                raise ValueError(f"{where}: some lines of this sentence have a tag and "
                                 "some do not")
            if tag is not None:
                try:
                    entity_spans([tag])
                except ValueError:
                    raise ValueError(f"{where}: {tag!r} is not a tag (O or B-/I-/E-/S-TYPE)") \
                        from None
            if len(split_words(fields[0])) != 1:
                raise ValueError(f"{where}: token {fields[0]!r} holds several NER words "
                                 "(every CJK character is a word of its own): write one "
                                 "character a line")
            start_line = start_line or line_number
            tokens.append(fields[0])
            tags.append(tag)
    end_sentence()
    if not sentences:
        raise ValueError(f"{path} has no sentences")
    return sentences


def write_conll(path, sentences):
    """Writes labelled sentences as CoNLL (`token tag` a line, a blank line after each
    sentence), the input `read_conll` reads; returns `path`."""
    with open(path, "w", encoding="utf-8") as f:
        for sentence in sentences:
            f.write("".join(f"{token} {tag}\n" for token, tag in
                            zip(sentence.tokens, sentence.tags)) + "\n")
    return path


def label_vocabulary(sentences):
    """"O" first, then the other tags of labelled sentences, sorted."""
    tags = {tag for sentence in sentences if sentence.tags for tag in sentence.tags}
    return [OUTSIDE] + sorted(tags - {OUTSIDE})
