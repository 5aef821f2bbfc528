"""Reading pretraining text: Google's format, one sentence per line and a blank line
between documents, turned into word-piece ids.

    documents = read_documents("wiki_00.txt")             # [[sentence str, ...], ...]
    documents = tokenize_documents(documents, tokenizer)  # [[int32 ids [(T)], ...], ...]

With `word_boundaries="whitespace"` each piece also says whether it starts a word, a
word being the pieces between two spaces of the text: the words of text segmented with
spaces (Chinese, for whole-word masking), where the tokenizer alone would see one word
per character.
"""
import numpy as np

from bert_tf.data import files


def read_documents(path):
    """The documents of a text file in Google's pretraining format.

    Lines are stripped; a blank line ends a document; empty documents are dropped.

    Args:
        path: str, a UTF-8 text file.
    Returns:
        list of documents, each a non-empty list of sentence strings.
    Raises:
        FileNotFoundError if `path` does not exist; ValueError if it is not UTF-8 text or
        holds no text.
    """
    text = files.read_text(path, "text file")
    if "\0" in text:
        raise ValueError(f"{path} contains NUL bytes; it is not a text file")
    documents, current = [], []
    # Lines end at \n, \r\n or \r only (as Python's text files read them), not at the other
    # Unicode breaks str.splitlines() knows.
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.strip()
        if line:
            current.append(line)
        elif current:
            documents.append(current)
            current = []
    if current:
        documents.append(current)
    if not documents:
        raise ValueError(f"{path} holds no text (expected one sentence per line, a blank "
                         "line between documents)")
    return documents


WORD_BOUNDARIES = ("wordpiece", "whitespace")
# A piece and whether it starts a whitespace-separated word.
PIECE_DTYPE = np.dtype([("id", np.int32), ("word_start", bool)])


def tokenize_documents(documents, tokenizer, batch_size=4096, word_boundaries="wordpiece"):
    """Word-piece ids of every sentence, tokenized in batches through `tokenizer`.

    Sentences that tokenize to nothing (e.g. only control characters) are dropped, then
    documents left empty.

    Args:
        documents: list of lists of sentence strings (`read_documents`).
        tokenizer: `bert_tf.text.BertTokenizer`.
        batch_size: int, sentences per tokenizer call.
        word_boundaries: "wordpiece" (ids only: words are a piece and its "##" pieces)
            or "whitespace" (also where each whitespace-separated word starts).
    Returns:
        list of documents, each a non-empty list of sentences: int32 arrays [(T)], or
        with "whitespace" `PIECE_DTYPE` arrays [(T)] (fields "id", "word_start").
    """
    if word_boundaries not in WORD_BOUNDARIES:
        raise ValueError(f"word_boundaries must be one of {WORD_BOUNDARIES}, got "
                         f"{word_boundaries!r}")
    sentences = [sentence for document in documents for sentence in document]
    pieces = []
    for start in range(0, len(sentences), batch_size):
        batch = sentences[start:start + batch_size]
        if word_boundaries == "wordpiece":
            ids = tokenizer.tokenize(batch)  # ragged [b, (T)]
            values = ids.flat_values.numpy()
        else:
            ids, word, word_start, word_end = tokenizer.tokenize_with_offsets(batch)
            values = np.empty(len(ids.flat_values), PIECE_DTYPE)
            values["id"] = ids.flat_values.numpy()
            values["word_start"] = _starts_whitespace_word(
                *(x.flat_values.numpy() for x in (word, word_start, word_end)))
            first = ids.row_starts().numpy()[ids.row_lengths().numpy() > 0]
            values["word_start"][first] = True
        pieces.extend(np.split(values, ids.row_splits.numpy()[1:-1]))
    tokenized, offset = [], 0
    for document in documents:
        kept = [p for p in pieces[offset:offset + len(document)] if len(p)]
        offset += len(document)
        if kept:
            tokenized.append(kept)
    return tokenized


def _starts_whitespace_word(word, word_start, word_end):
    """Whether each piece starts a whitespace-separated word: it starts a tokenizer word
    (another word index than the piece before) that does not touch the word before it
    in the text. Flat arrays [N]; the first piece of each sentence is set by the caller."""
    new_word = np.ones(len(word), bool)
    new_word[1:] = word[1:] != word[:-1]
    gap = np.ones(len(word), bool)
    gap[1:] = word_start[1:] > word_end[:-1]
    return new_word & gap


def write_documents(path, documents):
    """Writes documents in Google's format (the inverse of `read_documents`).

    Args:
        path: str, the text file to write.
        documents: list of lists of sentence strings; sentences must be single lines.
    """
    for document in documents:
        for sentence in document:
            if not sentence.strip() or "\n" in sentence or "\r" in sentence:
                raise ValueError(f"Sentences must be non-empty single lines, got {sentence!r}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n\n".join("\n".join(document) for document in documents) + "\n")
