"""Splitting paragraphs into sentences, for writing pretraining text (one sentence a line).

    split_sentences("Mr. Darcy bowed. She smiled!")   # ["Mr. Darcy bowed.", "She smiled!"]
    split_sentences("他来了。你呢？“好！”我说。")      # ["他来了。", "你呢？", "“好！”", "我说。"]

Two rules, one for each kind of script, applied together so mixed text works:
* full-width enders (。！？ and the ideographic full stop's kin, …… too) end a sentence
  wherever they stand: scripts written without spaces have no space to look for;
* . ! ? end a sentence only before a space and a capital letter (or an opening quote
  and one), and not after a title such as "Mr.".
Closing quotes and brackets right after an ender stay with the sentence they close.
"""
import re

# Ideographic, full-width and small-form sentence enders; "……" is the Chinese ellipsis.
_FULL_WIDTH_ENDERS = "。！？｡︒﹒﹗﹖…"
_CLOSERS = "\"'’”」』）)】》〉_"
_OPENERS = "\"'‘“「『（(【《〈_"
_SENTENCE_END = re.compile(
    # After a full-width ender (and its closers), unless more enders or closers follow.
    rf"(?<=[{_FULL_WIDTH_ENDERS}])[{_CLOSERS}]*(?![{_FULL_WIDTH_ENDERS}{_CLOSERS}])\s*"
    # After . ! ? (and closers), at spaces before a capital, maybe behind an opening quote.
    rf"|(?<=[.!?])[{_CLOSERS}]*\s+(?=[{_OPENERS}]*[A-Z])")
_ABBREVIATIONS = ("Mr.", "Mrs.", "Ms.", "Dr.", "St.", "Col.", "Capt.", "Prof.")


def split_sentences(paragraph):
    """The sentences of a paragraph, whitespace runs made one space, empty ones dropped.

    Args:
      paragraph: str, text in any language (line breaks count as spaces).
    Returns:
      list of str.
    """
    return [" ".join(paragraph[start:end].split()) for start, end in sentence_spans(paragraph)]


def sentence_spans(paragraph):
    """Where the sentences of a paragraph are: `split_sentences` as (start, end) character
    offsets into `paragraph`, without the spaces around each sentence.

    Returns:
      list of (int, int), in order; `paragraph[start:end]` is a sentence.
    """
    bounds, start = [], 0
    for match in _SENTENCE_END.finditer(paragraph):
        # The closers belong to the sentence they close; the spaces to neither.
        bounds.append((start, match.start() + len(match.group().rstrip())))
        start = match.end()
    bounds.append((start, len(paragraph)))
    spans = []
    for start, end in bounds:
        text = paragraph[start:end]
        if not text.strip():
            continue
        start, end = start + len(text) - len(text.lstrip()), end - (len(text) - len(text.rstrip()))
        if spans and paragraph[spans[-1][0]:spans[-1][1]].endswith(_ABBREVIATIONS):
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans
