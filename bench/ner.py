"""Fine-tuning benchmark on CoNLL-2003 NER (CPU): bert_tf vs Hugging Face transformers,
both starting from the real pretrained all-MiniLM-L6-v2 weights, trained with the same
recipe in one run; reports test entity F1 and training throughput.

    . .venv/bin/activate
    python bench/ner.py --max_train_examples 1000

Recipe: configs/finetune/conll2003.json (flags override), applied as in
bench/sentiment.py (AdamW, no decay on bias/LayerNorm, linear warmup/decay, clipping 1.0,
dropout 0.1, batches padded to their longest sentence, reshuffled each epoch). Each
whitespace token of a sentence is split into word pieces on its own; the label sits on
its first piece and the other pieces are left out of the loss (bert_tf: sample weight 0;
transformers: label -100); sentences are truncated to the max length and truncated
words are predicted "O"; a word's prediction is the one at its first piece.

  * bert_tf: `NerTask` + `bert_tf.train.trainer.train`, Keras AdamW, length-bucketed
    batches (the library default);
  * bert_tf_fixed: the same with `pad_to_max_length=True` (every batch padded to the
    max length): the fine-tuning speed-up of bucketing and the padding it saves are
    printed (also bert_tf_unbucketed: random batches padded to their longest; and
    bert_tf_bf16: mixed_bfloat16; see bench/sentiment.py);
  * transformers: `BertForTokenClassification` in a plain PyTorch loop.

The test metric is entity-level F1 computed by `seqeval` (conlleval's definition) for both
engines. Throughput as in bench/sentiment.py.
"""
import os
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make `bench` and `bert_tf` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common  # noqa: E402
from bench import sentiment as shared  # noqa: E402  (the fine-tuning benchmark helpers)


def _data(args):
    from bert_tf import corpora
    from bert_tf.tasks.ner import read_conll

    train = read_conll(corpora.conll2003_path("train"), tag_scheme="iob2")
    test = read_conll(corpora.conll2003_path("test"), tag_scheme="iob2")
    return (train[:args.max_train_examples] if args.max_train_examples else train,
            test[:args.max_test_examples] if args.max_test_examples else test)


def _f1(test, predicted):
    from seqeval.metrics import f1_score
    return f1_score([list(s.tags) for s in test], predicted)


def run_bert_tf(args):
    common.set_threads(args.threads, tf=True)
    from bert_tf.tasks.ner import NerTask, label_vocabulary

    train, test = _data(args)

    def make_task(tokenizer, pad_to_max_length):
        return NerTask(tokenizer, args.max_seq_length, pad_to_max_length=pad_to_max_length,
                       labels=label_vocabulary(train), tag_scheme="iob2")

    task, model, stats = shared.fit_bert_tf(args, make_task, train)
    start = time.perf_counter()
    predicted = task.predict(model, test, args.eval_batch_size)
    eval_seconds = time.perf_counter() - start
    common.emit_result({"engine": args.engine, "f1": _f1(test, predicted),
                        "eval_seconds": eval_seconds, **stats, **common.memory_report()})


def run_transformers(args):
    common.set_threads(args.threads, torch=True)
    import torch
    import transformers

    from bert_tf import corpora
    from bert_tf.tasks.ner import OUTSIDE, label_vocabulary

    torch.manual_seed(args.seed)
    train, test = _data(args)
    labels = label_vocabulary(train)
    path = corpora.minilm_path()
    tokenizer = transformers.BertTokenizer(os.path.join(path, "vocab.txt"), do_lower_case=True)
    model = transformers.BertForTokenClassification.from_pretrained(
        path, num_labels=len(labels), dtype=torch.float32)

    def encode(sentence):
        """(input ids, first-piece position of each word or None if truncated)."""
        ids, positions = [tokenizer.cls_token_id], []
        budget = args.max_seq_length - 1  # room left before [SEP]
        for word in sentence.tokens:
            pieces = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word))
            kept = pieces[:max(budget - len(ids), 0)]
            positions.append(len(ids) if kept else None)
            ids += kept
        return ids + [tokenizer.sep_token_id], positions

    def pad(rows, value):
        width = max(len(row) for row in rows)
        return torch.tensor([row + [value] * (width - len(row)) for row in rows])

    def model_inputs(encoded):
        ids = [e[0] for e in encoded]
        return {"input_ids": pad(ids, tokenizer.pad_token_id),
                "attention_mask": pad([[1] * len(row) for row in ids], 0),
                "token_type_ids": pad([[0] * len(row) for row in ids], 0)}

    train_encoded = [encode(s) for s in train]  # tokenized once, like bert_tf
    train_targets = []
    for sentence, (ids, positions) in zip(train, train_encoded):
        target = [-100] * len(ids)
        for tag, position in zip(sentence.tags, positions):
            if position is not None:
                target[position] = labels.index(tag)
        train_targets.append(target)
    rng = np.random.default_rng(args.seed)
    padding_counter = shared.PositionCounter()

    def batches():
        order = rng.permutation(len(train))
        for start in range(0, len(order), args.train_batch_size):
            rows = order[start:start + args.train_batch_size]
            inputs = model_inputs([train_encoded[i] for i in rows])
            padding_counter.add(inputs["attention_mask"])
            yield inputs, pad([train_targets[i] for i in rows], -100)

    steps = shared.torch_train(model, batches, args, len(train))
    start = time.perf_counter()
    predicted = []
    with torch.inference_mode():
        for begin in range(0, len(test), args.eval_batch_size):
            encoded = [encode(s) for s in test[begin:begin + args.eval_batch_size]]
            tag_ids = model(**model_inputs(encoded)).logits.argmax(-1).tolist()
            for (_, positions), row in zip(encoded, tag_ids):
                predicted.append([OUTSIDE if p is None else labels[row[p]] for p in positions])
    eval_seconds = time.perf_counter() - start
    common.emit_result({"engine": "transformers", "f1": _f1(test, predicted),
                        "eval_seconds": eval_seconds, "padding": padding_counter.padding_fraction(),
                        **shared.throughput(steps, args.skip_steps), **common.memory_report()})


def main(args):
    train, test = _data(args)
    return shared.report(
        "CoNLL-2003 NER fine-tuning from all-MiniLM-L6-v2 (CPU)", args, "f1",
        f"data    : {len(train)} training / {len(test)} test sentences "
        "(bert_tf.corpora.conll2003_path), IOB2 tags, entity F1 by seqeval")


def run_engine(args):
    (run_transformers if args.engine == "transformers" else run_bert_tf)(args)


if __name__ == "__main__":
    common.dispatch(shared.parse_args(__doc__.split("\n\n")[0], "conll2003.json",
                                      default_max_train=1000,
                                      default_engines=("bert_tf", "bert_tf_fixed", "transformers")),
                    run_engine, main)
