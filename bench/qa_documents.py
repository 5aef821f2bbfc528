"""Question answering over documents on SQuAD v1.1 dev: retrieve with all-MiniLM-L6-v2
over all 2,067 dev paragraphs, read with a MiniLM reader fine-tuned on a SQuAD train
subset, rank by `combined_score` (bert_tf/retrieval/reader.py).

    python -m bench.qa_documents --workdir /tmp/qa_bench        # ~15-25 min on 2 cores
    python -m bench.qa_documents --reader_dir runs/squad/export  # a reader you trained

Prints, on `--num_questions` dev questions spread over the file (every n-th): the
reader's EM/F1 with the gold paragraph given, retrieval recall@1/5/20 of the gold
paragraph (a passage of it in the top k), and the end-to-end EM/F1 of retrieve-then-
read for each --weights value (score = reader start + end logit + weight x cosine),
with the gold-paragraph EM beside it. The reader is trained once per setting and
cached in --workdir (harness.cache_folder), and so is the index.
"""
import argparse
import os
import time

from bench import harness

K_RECALL = (1, 5, 20)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", default=None, help="cache of the reader and the index "
                   "(default: a temporary folder)")
    p.add_argument("--reader_dir", default=None, help="a saved QA reader (default: train one)")
    p.add_argument("--train_questions", type=int, default=3000,
                   help="SQuAD train questions the reader is fine-tuned on (1 epoch)")
    p.add_argument("--learning_rate", type=float, default=1e-4)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--max_seq_length", type=int, default=256)
    p.add_argument("--num_questions", type=int, default=300)
    p.add_argument("--k", type=int, default=5, help="passages read per question")
    p.add_argument("--weights", default="0,1,2,5,10,20",
                   help="comma-separated retrieval weights to score end to end")
    return p.parse_args(argv)


def train_reader(args, folder):
    import bert_tf
    from bert_tf.data import corpora
    from bert_tf.data.squad import read_squad
    train = read_squad(corpora.squad_path("train"))[:args.train_questions]
    reader = bert_tf.QuestionAnswerer.from_pretrained(
        corpora.minilm_path(), max_seq_length=args.max_seq_length, doc_stride=128)
    start = time.perf_counter()
    reader.fit(train, epochs=1, batch_size=args.batch_size, learning_rate=args.learning_rate,
               verbose=False)
    print(f"reader fine-tuned on {len(train)} SQuAD train questions in "
          f"{time.perf_counter() - start:.0f} s")
    reader.save(folder)


def squad_scores(examples, predicted):
    from bert_tf.tasks.qa import scoring
    return scoring.squad_metrics({ex.id: [text for text, _ in ex.answers] for ex in examples},
                                 {ex.id: text for ex, text in zip(examples, predicted)})


def main(argv=None):
    args = parse_args(argv)
    import bert_tf
    from bert_tf.data import corpora
    from bert_tf.data.squad import read_squad, read_squad_paragraphs
    from bert_tf.retrieval import (DocumentReader, Searcher, build_index, load_index,
                                   split_document)

    dev_path = corpora.squad_path("dev")
    paragraphs = read_squad_paragraphs(dev_path)
    gold = {qid: p.id for p in paragraphs for qid in p.question_ids}
    dev = read_squad(dev_path)
    examples = dev[::max(len(dev) // args.num_questions, 1)][:args.num_questions]
    questions = [ex.question for ex in examples]
    with harness.workdir(args.workdir, "qa_documents") as work:
        reader_dir = args.reader_dir or harness.cache_folder(work, "reader", {
            name: getattr(args, name) for name in ("train_questions", "learning_rate",
                                                   "batch_size", "max_seq_length")})
        if not args.reader_dir:
            harness.build_once(reader_dir, lambda folder: train_reader(args, folder))
        reader = bert_tf.load(reader_dir)
        encoder = bert_tf.TextEncoder.from_pretrained(corpora.minilm_path())
        index_dir = os.path.join(work, "index_squad_dev")
        if os.path.isfile(os.path.join(index_dir, "manifest.json")):
            index = load_index(index_dir)
        else:
            passages = [passage for p in paragraphs for passage in split_document(p.id, p.text)]
            start = time.perf_counter()
            index = build_index(encoder, passages, index_dir, model_path=corpora.minilm_path())
            print(f"indexed {len(passages)} passages of {len(paragraphs)} paragraphs in "
                  f"{time.perf_counter() - start:.0f} s")
        print(f"SQuAD v1.1 dev: {len(examples)} questions (every "
              f"{max(len(dev) // args.num_questions, 1)}th), corpus {len(paragraphs)} "
              f"paragraphs ({len(index.passages)} passages), reader {reader_dir}")

        with_gold = reader.predict(examples)
        reader_scores = squad_scores(examples, [p["text"] for p in with_gold])
        print(f"reader with the gold paragraph: EM {reader_scores['exact_match']:.1f} "
              f"F1 {reader_scores['f1']:.1f}")
        searcher = Searcher(encoder, index)
        hits = searcher.search(questions, max(K_RECALL))
        recall = {k: sum(gold[ex.id] in {h["doc_id"] for h in found[:k]}
                         for ex, found in zip(examples, hits)) / len(examples)
                  for k in K_RECALL}
        print("retrieval recall of the gold paragraph: " + ", ".join(
            f"@{k} {value:.3f}" for k, value in recall.items()))

        qa = DocumentReader(searcher, reader, k=args.k)
        start = time.perf_counter()
        read = qa.read(questions)
        print(f"read top-{args.k} passages of {len(questions)} questions in "
              f"{time.perf_counter() - start:.0f} s")
        for weight in (float(w) for w in args.weights.split(",")):
            qa.retrieval_weight = weight
            answers = [qa.best(question_hits) for question_hits in read]
            scores = squad_scores(examples, [a["answer"] for a in answers])
            found = sum(a["doc_id"] == gold[ex.id] for ex, a in zip(examples, answers))
            print(f"end to end, k={args.k}, score = reader + {weight:g} x cosine: "
                  f"EM {scores['exact_match']:.1f} F1 {scores['f1']:.1f} (answer from the "
                  f"gold paragraph {found / len(examples):.3f}; reader with the gold "
                  f"paragraph EM {reader_scores['exact_match']:.1f})")


if __name__ == "__main__":
    main()
