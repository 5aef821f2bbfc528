"""Writes the public corpora (`bert_tf.data.corpora`) as the files the binaries read:
what `bert-write-corpus` does.

    write_corpus("rotten_tomatoes", "data/rt")   # {train,validation,test}.jsonl
    write_corpus("conll2003", "data/conll")      # {train,valid,test}.txt
    write_corpus("chinese", "data/zh")           # pretraining/, sentiment/, ner/
    write_corpus("squad_dev", "data/squad")      # paragraphs.jsonl, questions.jsonl,
                                                 # dev-v1.1.json

SQuAD v1.1 dev as documents to answer questions from: `paragraphs.jsonl` holds its
2,067 paragraphs, one {"id": "<title>/<n>", "title", "text"} a line (the corpus of
`bert-index`), `questions.jsonl` its 10,570 questions, one {"question"} a line (the
--input_file of `bert-predict`), and `dev-v1.1.json` the official file they come from.

The Chinese corpus is three sets of files, for pretraining a Chinese BERT from scratch
and fine-tuning it on the two labelled corpora:

    pretraining/train/news.txt     People's Daily train paragraphs, one sentence a line,
                                   words separated by spaces (the corpus's segmentation)
    pretraining/train/reviews.txt  train reviews, one document each
    pretraining/train/novels.txt   the novels' paragraphs, one document each
    pretraining/validation/{news,reviews}.txt   the same of the validation split, for
                                   held-out masked-LM accuracy
    sentiment/{train,validation,test}.jsonl   {"text", "label"}: negative / positive
    ner/{train,validation,test}.txt           CoNLL, a character and its BIO tag a line

Pretraining text is Google's format (one sentence a line, a blank line between
documents) with a space between words wherever words are known. Text whose words are
not known (reviews, novels) has a space between every CJK character instead, so whole-
word masking by spaces (`word_boundaries="whitespace"`) masks it character by character.
BERT's tokenizer splits CJK characters anyway: the spaces change no token id. Only
train paragraphs and reviews are pretraining text: nothing the fine-tuned models are
validated or tested on is seen in pretraining; no test text is written as pretraining
text at all.
"""
import json
import os
import re
import shutil

from bert_tf.data import corpora
from bert_tf.data.documents import write_documents
from bert_tf.data.conll import TaggedSentence, write_conll
from bert_tf.data.squad import read_squad, read_squad_paragraphs
from bert_tf.text.sentences import sentence_spans, split_sentences
from bert_tf.text.unicode_tables import CJK_PY_CLASS

CORPORA = ("rotten_tomatoes", "conll2003", "chinese", "squad_dev")
_CJK = re.compile(f"({CJK_PY_CLASS})")


def write_corpus(name, output_dir, seed=0):
    """Writes corpus `name` (one of CORPORA) into `output_dir` (created if missing).

    Args:
      name: str, the corpus.
      output_dir: str, the folder.
      seed: int, seeds the Chinese corpus's split (the others have fixed splits).
    Returns:
      dict {file path: what it holds}, for the caller to report.
    """
    if name not in CORPORA:
        raise ValueError(f"Unknown corpus {name!r}; choose one of {CORPORA}")
    os.makedirs(output_dir, exist_ok=True)
    if name == "rotten_tomatoes":
        return {write_jsonl(os.path.join(output_dir, f"{split}.jsonl"),
                            corpora.rotten_tomatoes(split)): f"Rotten Tomatoes {split}"
                for split in corpora.RT_SPLITS}
    if name == "conll2003":
        return {shutil.copyfile(corpora.conll2003_path(split),
                                os.path.join(output_dir, f"{split}.txt")):
                f"CoNLL-2003 English {split}" for split in ("train", "valid", "test")}
    if name == "squad_dev":
        return write_squad_documents(corpora.squad_path("dev"), output_dir)
    return write_chinese(output_dir, seed)


def write_squad_documents(squad_file, output_dir):
    """Writes a SQuAD file's paragraphs and questions as JSONL (see the module
    docstring) and a copy of the file; returns {path: summary}."""
    paragraphs = read_squad_paragraphs(squad_file)
    questions = read_squad(squad_file, require_labels=False, version_2_with_negative=True)
    written = {}
    for name, rows, what in (
            ("paragraphs.jsonl", [{"id": p.id, "title": p.title, "text": p.text}
                                  for p in paragraphs], "paragraphs"),
            ("questions.jsonl", [{"question": ex.question} for ex in questions], "questions")):
        path = os.path.join(output_dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        written[path] = f"{len(rows)} SQuAD v1.1 dev {what}"
    path = shutil.copyfile(squad_file, os.path.join(output_dir, "dev-v1.1.json"))
    written[path] = "the official SQuAD v1.1 dev file"
    return written


def write_jsonl(path, examples):
    """Writes (text, label) pairs as JSON lines {"text", "label"}; returns `path`."""
    with open(path, "w", encoding="utf-8") as f:
        for text, label in examples:
            f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
    return path


def write_chinese(output_dir, seed=0):
    """Writes the Chinese corpus (see the module docstring); returns {path: summary}."""
    written = {}
    for folder in ("pretraining/train", "pretraining/validation", "sentiment", "ner"):
        os.makedirs(os.path.join(output_dir, folder), exist_ok=True)
    for split in corpora.SPLITS:
        reviews = corpora.chinese_reviews(split, seed)
        path = write_jsonl(os.path.join(output_dir, "sentiment", f"{split}.jsonl"), reviews)
        written[path] = f"{len(reviews)} reviews"
        paragraphs = [tagged_sentences(p) for p in corpora.peoples_daily(split, seed)]
        sentences = [TaggedSentence(*corpora.peoples_daily_bio(words))
                     for paragraph in paragraphs for words in paragraph]
        path = write_conll(os.path.join(output_dir, "ner", f"{split}.txt"), sentences)
        written[path] = f"{len(sentences)} People's Daily sentences"
        if split != "test":
            documents = {
                "news": [[" ".join(word for word, _ in words) for words in paragraph]
                         for paragraph in paragraphs],
                "reviews": [[space_cjk(s) for s in split_sentences(text)]
                            for text, _ in reviews]}
            if split == "train":
                documents["novels"] = [[space_cjk(s) for s in split_sentences(paragraph)]
                                       for novel in corpora.chinese_novels().values()
                                       for paragraph in novel]
            for name, docs in documents.items():
                path = os.path.join(output_dir, "pretraining", split, f"{name}.txt")
                docs = [d for d in docs if d]
                write_documents(path, docs)
                written[path] = (f"{len(docs)} documents, "
                                 f"{sum(len(d) for d in docs)} sentences")
    return written


def tagged_sentences(words):
    """Splits a paragraph of (word, tag) into sentences (`sentence_spans` of its text);
    a word belongs to the sentence its first character is in."""
    text = "".join(word for word, _ in words)
    spans = sentence_spans(text)
    sentences = [[] for _ in spans]
    offset, index = 0, 0
    for word in words:
        while index < len(spans) - 1 and offset >= spans[index + 1][0]:
            index += 1
        if word[0].strip():
            sentences[index].append(word)
        offset += len(word[0])
    return [s for s in sentences if s]


def space_cjk(text):
    """`text` with a space between CJK characters (each a word of its own)."""
    return " ".join(_CJK.sub(r" \1 ", text).split())
