"""Sentence splitting for pretraining text, in scripts with and without spaces."""
import pytest

from bert_tf.text.sentences import sentence_spans, split_sentences


@pytest.mark.parametrize("paragraph, sentences", [
    ("Mr. Darcy bowed. She smiled! \"Go,\" he said. Then he left... and? no",
     ["Mr. Darcy bowed.", "She smiled!", "\"Go,\" he said.", "Then he left... and? no"]),
    ("他来了。你呢？“好！”我说。", ["他来了。", "你呢？", "“好！”", "我说。"]),
    # Repeated enders and the Chinese ellipsis end once; closing quotes stay.
    ("然后走了！！对吗？”他问……好吧。", ["然后走了！！", "对吗？”", "他问……", "好吧。"]),
    # Mixed scripts; a full stop in a number or before lower case does not end one.
    ("iPhone 6 很好。Price was 3.5 dollars. ok then", ["iPhone 6 很好。",
                                                       "Price was 3.5 dollars. ok then"]),
    ("  空白  \n 也行。 ", ["空白 也行。"]),
    ("", []),
])
def test_split_sentences(paragraph, sentences):
    assert split_sentences(paragraph) == sentences


def test_spans_point_into_the_paragraph():
    paragraph = " 第一句。 Second one. Third!  "
    spans = sentence_spans(paragraph)
    assert [paragraph[a:b] for a, b in spans] == ["第一句。", "Second one.", "Third!"]
