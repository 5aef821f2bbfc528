"""Reading pretraining text: Google's format, one sentence per line and a blank line
between documents, turned into word-piece ids.

    documents = read_documents("wiki_00.txt")             # [[sentence str, ...], ...]
    documents = tokenize_documents(documents, tokenizer)  # [[int32 ids [(T)], ...], ...]
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


def tokenize_documents(documents, tokenizer, batch_size=4096):
    """Word-piece ids of every sentence, tokenized in batches through `tokenizer`.

    Sentences that tokenize to nothing (e.g. only control characters) are dropped, then
    documents left empty.

    Args:
        documents: list of lists of sentence strings (`read_documents`).
        tokenizer: `bert_tf.text.BertTokenizer`.
        batch_size: int, sentences per tokenizer call.
    Returns:
        list of documents, each a non-empty list of int32 arrays [(T)].
    """
    sentences = [sentence for document in documents for sentence in document]
    pieces = []
    for start in range(0, len(sentences), batch_size):
        ids = tokenizer.tokenize(sentences[start:start + batch_size])  # ragged [b, (T)]
        values, splits = ids.flat_values.numpy(), ids.row_splits.numpy()
        pieces.extend(np.split(values, splits[1:-1]))
    tokenized, offset = [], 0
    for document in documents:
        kept = [p for p in pieces[offset:offset + len(document)] if len(p)]
        offset += len(document)
        if kept:
            tokenized.append(kept)
    return tokenized


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
