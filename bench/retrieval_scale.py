"""Retrieval at corpus scale with all-MiniLM-L6-v2, on SQuAD v1.1's paragraphs:

1. embedding throughput (passages/s) of bert_tf in-process (`TextEncoder.embed`), its
   exported SavedModel (the `embed` signature, batched as the Beam workers batch), the
   Beam pipeline (bert_tf.retrieval.beam, DirectRunner, 2 worker processes; its wall time
   includes starting the workers and loading the SavedModel) and sentence-transformers
   (torch; its ONNX backend if it loads), as ratios to bert_tf in-process. The passages:
   all 20,958 train + dev paragraphs, or a random sample of --throughput_passages train
   paragraphs (one passage each: the window is the longest paragraph);
2. query latency p50 / p99 of one query's exact (TF) and HNSW (FAISS) search, the query
   already embedded, and HNSW's recall@10 against exact, on the index of those passages
   plus the dev paragraphs, the queries --latency_queries dev questions;
3. open-domain recall@1/5/20 of the question's own paragraph on SQuAD dev (2,067
   paragraphs, 10,570 questions) for bert_tf, sentence-transformers (the same weights) and
   BM25 (bm25s).

    python -m bench.retrieval_scale                              # everything, all paragraphs
    python -m bench.retrieval_scale --throughput_passages 1000   # 2 shared cores: a sample

Needs apache-beam, bm25s, faiss-cpu and sentence-transformers (bert_tf[bench,test]).
"""
import argparse
import json
import os
import tempfile
import time

import numpy as np

from bench import machine

RECALL_KS = (1, 5, 20)
LATENCY_K = 10
BEAM_OPTIONS = ["--runner=DirectRunner", "--direct_num_workers=2",
                "--direct_running_mode=multi_processing",
                "--default_sdk_harness_log_level=WARNING"]  # no per-worker INFO chatter


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--throughput_passages", type=int, default=0,
                   help="0: all train + dev paragraphs; else a sample of train paragraphs")
    p.add_argument("--latency_queries", type=int, default=1000)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    return fn(*args, **kwargs), time.perf_counter() - start


def squad_paragraphs(split):
    """(paragraphs in file order, each question's (text, paragraph number))."""
    from bert_tf.data import corpora
    from bert_tf.data.squad import read_squad
    examples = read_squad(corpora.squad_path(split))
    number = {}
    for example in examples:
        number.setdefault(example.context, len(number))
    return list(number), [(example.question, number[example.context]) for example in examples]


def throughput_corpus(args, folder):
    """The throughput passages, written as a JSONL corpus (one passage each), read back
    as `read_corpus` reads it: (corpus file, window, passages)."""
    from bert_tf.retrieval import read_corpus
    train, _ = squad_paragraphs("train")
    dev, _ = squad_paragraphs("dev")
    if args.throughput_passages:
        rows = np.random.default_rng(args.seed).permutation(len(train))[:args.throughput_passages]
        texts = [train[row] for row in sorted(rows)]
    else:
        texts = train + dev
    path = os.path.join(folder, "squad_paragraphs.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"p{i}", "text": text}) + "\n")
    window = max(len(text.split()) for text in texts)
    passages = read_corpus(path, window, window)
    assert len(passages) == len(texts)
    return path, window, passages


def onnx_model(path):
    """sentence-transformers' ONNX backend, or why it is not available."""
    import sentence_transformers
    try:
        return sentence_transformers.SentenceTransformer(path, device="cpu", backend="onnx"), None
    except Exception as e:  # noqa: BLE001 -- any failure is reported, not fatal
        return None, f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"


def throughput(args, encoder, reference, minilm, folder):
    """Prints the throughput table; returns bert_tf's passages and their embeddings."""
    from bert_tf.retrieval import load_index
    from bert_tf.retrieval.beam import build_index_pipeline
    from bert_tf.retrieval.beam_stages import SavedModelEmbedder
    corpus, window, passages = throughput_corpus(args, folder)
    texts = [passage.text for passage in passages]
    print(f"throughput: {len(texts)} SQuAD paragraphs "
          f"({'all train + dev' if not args.throughput_passages else 'a train sample'}), "
          f"{np.mean([len(t.split()) for t in texts]):.0f} words on average, batch "
          f"{args.batch_size}")
    encoder.embed(texts[:args.batch_size], args.batch_size)  # warm up: trace, oneDNN
    ours, ours_time = timed(encoder.embed, texts, args.batch_size)
    rows = [("bert_tf in-process", ours_time, ours)]

    saved_model = encoder.export(os.path.join(folder, "exports"), "minilm")
    embedder = SavedModelEmbedder(saved_model, args.batch_size)
    served = embedder.load_model()
    embedder.run_inference(texts[:args.batch_size], served)
    results, served_time = timed(embedder.run_inference, texts, served)
    rows.append(("bert_tf SavedModel", served_time, np.stack([r.inference for r in results])))

    _, beam_time = timed(build_index_pipeline, encoder, saved_model, corpus,
                         os.path.join(folder, "beam_index"), window, window, num_shards=4,
                         pipeline_options=BEAM_OPTIONS, batch_size=args.batch_size)
    rows.append(("Beam pipeline (DirectRunner, 2 processes)", beam_time,
                 load_index(os.path.join(folder, "beam_index")).embeddings))

    reference.encode(texts[:args.batch_size], batch_size=args.batch_size)
    theirs, theirs_time = timed(reference.encode, texts, batch_size=args.batch_size)
    rows.append(("sentence-transformers torch", theirs_time, theirs))
    onnx, why_not = onnx_model(minilm)
    if onnx is not None:
        onnx.encode(texts[:args.batch_size], batch_size=args.batch_size)
        onnx_embeddings, onnx_time = timed(onnx.encode, texts, batch_size=args.batch_size)
        rows.append(("sentence-transformers ONNX", onnx_time, onnx_embeddings))

    base = len(texts) / ours_time
    print(f"{'engine':<44}{'passages/s':>11}{'x bert_tf':>11}{'max |diff|':>12}")
    for name, seconds, embeddings in rows:
        rate = len(texts) / seconds
        diff = np.abs(embeddings - ours).max()
        print(f"{name:<44}{rate:>11.1f}{rate / base:>11.2f}{diff:>12.2g}")
    if why_not:
        print(f"sentence-transformers ONNX: not available ({why_not})")
    return passages, ours


def latency(args, encoder, passages, embeddings, dev):
    """Prints exact / HNSW single-query latency and HNSW recall@10."""
    from bert_tf.retrieval import Passage, PassageIndex, Searcher, recall_at_k
    from bert_tf.retrieval.index import model_manifest
    index_passages = list(passages) + [Passage(f"dev{i}", f"dev{i}", 0, len(t), t)
                                       for i, t in enumerate(dev["paragraphs"])]
    index = PassageIndex(index_passages, np.concatenate([embeddings, dev["embeddings"]]),
                         model_manifest(encoder))
    queries = dev["questions"][:args.latency_queries]
    print(f"latency: one query at a time, {len(queries)} SQuAD dev questions (embedded "
          f"beforehand) against {len(index_passages)} passages, top-{LATENCY_K}")
    found = {}
    for backend in ("exact", "hnsw"):
        searcher, build_time = timed(Searcher, encoder, index, backend)
        searcher.top_k(queries[:1], LATENCY_K)  # warm up
        times, rows = [], []
        for query in queries:
            (_, query_rows), seconds = timed(searcher.top_k, query[None], LATENCY_K)
            times.append(seconds * 1e3)
            rows.append(query_rows[0])
        found[backend] = np.array(rows)
        print(f"  {backend:<6} p50 {np.percentile(times, 50):.3f} ms, p99 "
              f"{np.percentile(times, 99):.3f} ms (built in {build_time:.2f} s)")
    print(f"  hnsw recall@{LATENCY_K} vs exact: "
          f"{recall_at_k(found['hnsw'], found['exact']):.4f}")


def recall(top_rows, gold):
    """{k: share of questions whose gold paragraph is in their top k} of rows [Q, >=20]."""
    hits = top_rows == np.asarray(gold)[:, None]
    return {k: float(hits[:, :k].any(axis=1).mean()) for k in RECALL_KS}


def open_domain(args, encoder, reference):
    """Prints recall@1/5/20 on SQuAD dev; returns bert_tf's dev embeddings for latency."""
    import bm25s

    from bert_tf.retrieval import Passage, PassageIndex, Searcher
    from bert_tf.retrieval.index import model_manifest
    paragraphs, questions = squad_paragraphs("dev")
    query_texts, gold = [q for q, _ in questions], [g for _, g in questions]
    k = max(RECALL_KS)
    print(f"open-domain SQuAD v1.1 dev: {len(paragraphs)} paragraphs, {len(query_texts)} "
          f"questions, recall@k of the question's own paragraph")
    results = {}
    ours_p = encoder.embed(paragraphs, args.batch_size)
    ours_q = encoder.embed(query_texts, args.batch_size)
    index = PassageIndex([Passage(str(i), str(i), 0, len(t), t) for i, t in enumerate(paragraphs)],
                         ours_p, model_manifest(encoder))
    results["bert_tf dense (exact)"] = recall(Searcher(encoder, index).top_k(ours_q, k)[1], gold)
    theirs_p = reference.encode(paragraphs, batch_size=args.batch_size)
    theirs_q = reference.encode(query_texts, batch_size=args.batch_size)
    theirs_rows = np.argsort(-(theirs_q @ theirs_p.T), axis=1, kind="stable")[:, :k]
    results["sentence-transformers dense"] = recall(theirs_rows, gold)
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(paragraphs, stopwords="en", show_progress=False),
                    show_progress=False)
    bm25_rows, _ = retriever.retrieve(bm25s.tokenize(query_texts, stopwords="en",
                                                     show_progress=False),
                                      k=k, show_progress=False, n_threads=0)
    results["BM25 (bm25s)"] = recall(np.asarray(bm25_rows), gold)
    print(f"  {'retriever':<30}" + "".join(f"{f'R@{k}':>9}" for k in RECALL_KS))
    for name, values in results.items():
        print(f"  {name:<30}" + "".join(f"{100 * values[k]:>8.2f}%" for k in RECALL_KS))
    gap = max(abs(results["bert_tf dense (exact)"][k] - results["sentence-transformers dense"][k])
              for k in RECALL_KS)
    print(f"  bert_tf vs sentence-transformers: largest recall gap {100 * gap:.2f} points "
          f"({'within' if gap <= 0.001 else 'NOT within'} 0.1)")
    return {"paragraphs": paragraphs, "embeddings": ours_p, "questions": ours_q}


def main(argv=None):
    args = parse_args(argv)
    import sentence_transformers

    import bert_tf
    from bert_tf.data import corpora
    print(machine.header("retrieval at corpus scale (SQuAD v1.1 paragraphs, all-MiniLM-L6-v2)",
                         ["tensorflow", "torch", "sentence-transformers", "apache-beam",
                          "bm25s", "faiss-cpu"], vars(args)))
    minilm = corpora.minilm_path()
    encoder = bert_tf.TextEncoder.from_pretrained(minilm)
    reference = sentence_transformers.SentenceTransformer(minilm, device="cpu")
    with tempfile.TemporaryDirectory() as folder:
        passages, embeddings = throughput(args, encoder, reference, minilm, folder)
    dev = open_domain(args, encoder, reference)
    latency(args, encoder, passages, embeddings, dev)
    print(machine.load_after_run_line())


if __name__ == "__main__":
    main()
