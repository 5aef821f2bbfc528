"""The engines and data several benchmarks share besides bert_tf's own: keras-hub's
`BertBackbone` models, transformers' PyTorch fine-tuning loop and pipeline, an export run
through `bert-predict`'s `Predictor`, and the test texts (imports inside the functions,
in the children that need them). keras-hub's `BertBackbone` always uses the tanh GELU;
`use_config_activation` gives it the config's (exact erf) one, as bert_tf and HF use.
"""
import time

# transformers' fine-tuning recipe: AdamW's epsilon and the global gradient-norm clip.
ADAM_EPSILON = 1e-6
CLIP_NORM = 1.0
# PEFT's target modules for bert_tf's `lora_targets` (bert_tf/train/lora.py TARGETS): a
# name matches a module whose path ends with it ("output.dense" is the feed-forward's
# output and, again, the attention output).
PEFT_TARGETS = {"attention": ["query", "key", "value", "attention.output.dense"],
                "attention_ffn": ["query", "key", "value", "attention.output.dense",
                                  "intermediate.dense", "output.dense"]}


# --- data ------------------------------------------------------------------------------------
def load_split(dataset, split, max_examples=0):
    """(raw texts, gold labels) of a split's first `max_examples` (0: all): "rt"'s label per
    snippet, "conll"'s tags per sentence (its words joined by spaces)."""
    from bert_tf.data import corpora
    if dataset == "rt":
        pairs = corpora.rotten_tomatoes(split)
        texts, gold = [text for text, _ in pairs], [label for _, label in pairs]
    else:
        from bert_tf.data.conll import read_conll
        sentences = read_conll(corpora.conll2003_path(split))
        texts, gold = [" ".join(s.tokens) for s in sentences], [list(s.tags) for s in sentences]
    if max_examples:
        texts, gold = texts[:max_examples], gold[:max_examples]
    return texts, gold


def long_texts(num_pieces, count, seq_length):
    """`count` texts of consecutive RT test snippets, each joined until `num_pieces(text)`
    exceeds `seq_length`, so that every engine truncates it to exactly that length."""
    texts, current = [], []
    for snippet in load_split("rt", "test")[0]:
        current.append(snippet)
        if num_pieces(" ".join(current)) > seq_length:
            texts.append(" ".join(current))
            current = []
            if len(texts) == count:
                return texts
    raise ValueError(f"not enough test-split text for {count} texts of {seq_length} pieces")


# --- keras-hub ------------------------------------------------------------------------------
def use_config_activation(backbone, hidden_act):
    """Sets a keras-hub `BertBackbone`'s feed-forward activation to `hidden_act`."""
    from bert_tf.model.transformer import activation_fn
    for block in backbone.transformer_layers:
        block._feedforward_intermediate_dense.activation = activation_fn(hidden_act)
    return backbone


def keras_hub_backbone(config, dtype=None):
    """A keras-hub `BertBackbone` with the shapes, dropout and activation of a BertConfig."""
    import keras_hub
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=config.vocab_size, num_layers=config.num_hidden_layers,
        num_heads=config.num_attention_heads, hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size, dropout=config.hidden_dropout_prob,
        max_sequence_length=config.max_position_embeddings,
        num_segments=config.type_vocab_size, dtype=dtype)
    return use_config_activation(backbone, config.hidden_act)


def keras_hub_features(features):
    """bert_tf's encoder inputs under keras-hub's names."""
    return {"token_ids": features["input_word_ids"], "segment_ids": features["input_type_ids"],
            "padding_mask": features["input_mask"]}


# --- bert-predict's Predictor on an export ----------------------------------------------------
def savedmodel_runner(saved_model, inputs, batch_size):
    """(run, order, detail): `run()` predicts the raw inputs {name: list of str} through an
    export with `bert-predict`'s `Predictor` (length-sorted batches; one {output: value}
    per input, in input order); `order`: the batch order (for the padding figure)."""
    import numpy as np

    from bert_tf_serving.predictor import LENGTHS_SIGNATURE, Predictor

    predictor = Predictor(saved_model, batch_size=batch_size)
    order = np.argsort(predictor.lengths(inputs), kind="stable").tolist()
    key = ("exact lengths" if LENGTHS_SIGNATURE in predictor.loaded.signatures
           else "character-count order")
    return (lambda: predictor(inputs), order,
            f"bert-predict Predictor, serving_default, {key}, {predictor.dtype} export")


# --- transformers: a bert_tf task model's copy, its reference results, the pipeline --------------
def transformers_reference(clf, folder, source, labels, texts, args):
    """Writes `clf` (a classification or NER TaskModel on MiniLM from `source`) as a
    transformers model and tokenizer in `folder`; returns its results on `texts` called
    directly: {label, probabilities} per text ("rt") or a tag per word (its first piece's)."""
    import numpy as np
    import torch
    import transformers

    import bert_tf
    from bert_tf.model.encoder import find_encoder

    tagged = args.dataset != "rt"
    bert_tf.save_pretrained(find_encoder(clf.model), folder, checkpoint_format="hf",
                            vocab_path=f"{source}/vocab.txt", lower_case=True)
    kernel, bias = clf.model.get_layer("logits").get_weights()  # [H, C], [C]
    model = (transformers.BertForTokenClassification if tagged
             else transformers.BertForSequenceClassification).from_pretrained(
        folder, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={l: i for i, l in enumerate(labels)}, dtype=torch.float32).eval()
    with torch.no_grad():
        model.classifier.weight.copy_(torch.from_numpy(kernel.T))
        model.classifier.bias.copy_(torch.from_numpy(bias))
    model.save_pretrained(folder)
    tokenizer = transformers.BertTokenizerFast.from_pretrained(
        source, model_max_length=args.max_seq_length)
    tokenizer.save_pretrained(folder)
    reference = []
    with torch.inference_mode():
        for start in range(0, len(texts), args.batch_size):
            batch = texts[start:start + args.batch_size]
            encoded = tokenizer(batch, truncation=True, padding=True, return_tensors="pt",
                                return_offsets_mapping=tagged, return_special_tokens_mask=True)
            offsets = encoded.pop("offset_mapping", None)
            special = encoded.pop("special_tokens_mask").numpy().astype(bool)
            special |= encoded["attention_mask"].numpy() == 0
            logits = model(**encoded).logits
            if not tagged:
                reference += [{"label": labels[int(probs.argmax())],
                               "probabilities": probs.tolist()}
                              for probs in torch.softmax(logits, -1).numpy()]
                continue
            tag_ids = logits.argmax(-1).numpy()
            for row, text in enumerate(batch):
                kept = np.flatnonzero(~special[row])  # the text's pieces
                reference.append(tags_from_pieces(
                    text, offsets[row].numpy()[kept, 0].tolist(),
                    [labels[i] for i in tag_ids[row, kept]], "O"))
    return reference


def pipeline_engine(folder, texts, labels, args):
    """(run, results, detail): `transformers.pipeline` over `texts`, as `transformers_reference`."""
    import torch
    import transformers

    tagged = args.dataset != "rt"
    kind = "token-classification" if tagged else "text-classification"
    pipe = transformers.pipeline(kind, model=folder, device="cpu", dtype=torch.float32)
    options = ({"ignore_labels": []} if tagged  # every piece's tag, "O" included
               else {"truncation": True, "top_k": None})

    def run():
        with torch.inference_mode():
            return pipe(texts, batch_size=args.batch_size, **options)

    def results(outputs):
        if tagged:
            return [tags_from_pieces(text, [p["start"] for p in pieces],
                                     [p["entity"] for p in pieces], "O")
                    for text, pieces in zip(texts, outputs)]
        rows = []
        for scores in outputs:
            by_label = {s["label"]: s["score"] for s in scores}
            rows.append({"label": max(by_label, key=by_label.get),
                         "probabilities": [by_label[l] for l in labels]})
        return rows

    return run, results, f"pipeline('{kind}'), torch {torch.__version__}"


def export_results(rows, texts, tagged):
    """`savedmodel_runner`'s rows as `transformers_reference`'s results."""
    if not tagged:
        return [{"label": row["label"].decode(), "probabilities": row["probabilities"].tolist()}
                for row in rows]
    return [[tag.decode() for tag in row["tags"][:len(text.split(" "))]]
            for row, text in zip(rows, texts)]


def score(predicted, gold, tagged):
    """Accuracy of `predicted` labels on `gold`, or (`tagged`) tag lists' entity F1."""
    if not tagged:
        return sum(p == g for p, g in zip(predicted, gold)) / len(gold)
    from bert_tf.tasks import metrics
    return metrics.entity_metrics(gold, predicted)["f1"]


def agreement(got, reference, tagged):
    """{agreement: share of results with the reference's label (`tagged`: every tag),
    max_prob_diff: largest probability difference (None if `tagged`)}."""
    if tagged:
        return {"agreement": sum(g == r for g, r in zip(got, reference)) / len(reference),
                "max_prob_diff": None}
    return {"agreement": sum(g["label"] == r["label"] for g, r in zip(got, reference))
            / len(reference),
            "max_prob_diff": max(abs(a - b) for g, r in zip(got, reference)
                                 for a, b in zip(g["probabilities"], r["probabilities"]))}


def tags_from_pieces(text, piece_starts, piece_tags, outside):
    """A tag per space-separated word: its first piece's, `outside` if truncated."""
    by_start, word_starts, offset = {}, [], 0
    for start, tag in zip(piece_starts, piece_tags):
        by_start.setdefault(start, tag)  # the first piece at an offset
    for word in text.split(" "):
        word_starts.append(offset)
        offset += len(word) + 1
    return [by_start.get(start, outside) for start in word_starts]


# --- transformers: BERT's fine-tuning recipe in a plain PyTorch loop -----------------------------
def transformers_finetune(args, train, test, labels, ner, lora=False):
    """Fine-tunes `BertFor{Sequence,Token}Classification` from all-MiniLM-L6-v2 on `train`
    ((text, label) pairs or tagged sentences) with the recipe in `args` and predicts `test` with its Python `BertTokenizer`; a word's
    label sits on its first piece (others: -100), a truncated word is predicted "O".
    `lora`: HF PEFT's LoRA instead (`peft_lora`), at `args.lora_learning_rate`.
    Returns ([(start, 0), (end time, rows) per step], predictions, padding, predict s,
    trainable parameters)."""
    import numpy as np
    import torch
    import transformers

    from bert_tf.data import corpora
    from bert_tf.data.conll import OUTSIDE

    torch.manual_seed(args.seed)
    path = corpora.minilm_path()
    tokenizer = transformers.BertTokenizer(f"{path}/vocab.txt", do_lower_case=True)
    model = (transformers.BertForTokenClassification if ner else
             transformers.BertForSequenceClassification).from_pretrained(
        path, num_labels=len(labels), dtype=torch.float32)
    if lora:
        model = peft_lora(model, args, ner)

    def encode(example):
        """(input ids, first-piece position of each word or None if truncated)."""
        if not ner:
            return tokenizer(example[0], truncation=True,
                             max_length=args.max_seq_length)["input_ids"], None
        ids, positions = [tokenizer.cls_token_id], []
        budget = args.max_seq_length - 1  # room left before [SEP]
        for word in example.tokens:
            kept = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word))[
                :max(budget - len(ids), 0)]
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

    train_encoded = [encode(e) for e in train]  # tokenized once, like bert_tf
    targets = []
    for example, (ids, positions) in zip(train, train_encoded):
        target = [-100] * len(ids) if ner else labels.index(example[1])
        for tag, position in zip(example.tags if ner else (), positions or ()):
            if position is not None:
                target[position] = labels.index(tag)
        targets.append(target)
    rng = np.random.default_rng(args.seed)
    positions_seen = [0, 0]  # real, all

    def batches():
        order = rng.permutation(len(train))
        for start in range(0, len(train), args.batch_size):
            rows = order[start:start + args.batch_size]
            inputs = model_inputs([train_encoded[i] for i in rows])
            positions_seen[0] += int(inputs["attention_mask"].sum())
            positions_seen[1] += inputs["attention_mask"].numel()
            yield inputs, (pad([targets[i] for i in rows], -100) if ner
                           else torch.tensor([targets[i] for i in rows]))

    # AdamW (no weight decay on biases and LayerNorm), linear warmup/decay over the
    # recipe's steps, gradients clipped to CLIP_NORM.
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(parameter)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lora_learning_rate if lora else args.learning_rate, betas=(0.9, 0.999),
        eps=ADAM_EPSILON)
    total = -(-len(train) // args.batch_size) * args.epochs
    schedule = transformers.get_linear_schedule_with_warmup(
        optimizer, int(total * args.warmup_proportion), total)
    model.train()
    times = [(time.perf_counter(), 0)]
    for _ in range(args.epochs):
        for inputs, target in batches():
            model(**inputs, labels=target).loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            times.append((time.perf_counter(), len(target)))
    model.eval()
    start = time.perf_counter()
    predicted = []
    with torch.inference_mode():
        for begin in range(0, len(test), args.eval_batch_size):
            encoded = [encode(e) for e in test[begin:begin + args.eval_batch_size]]
            best = model(**model_inputs(encoded)).logits.argmax(-1).tolist()
            for (_, positions), row in zip(encoded, best):
                predicted.append([OUTSIDE if p is None else labels[row[p]] for p in positions]
                                 if ner else labels[row])
    return (times, predicted, 1 - positions_seen[0] / positions_seen[1],
            time.perf_counter() - start,
            sum(p.numel() for p in model.parameters() if p.requires_grad))


def peft_lora(model, args, ner):
    """`model` with HF PEFT's LoRA as bert_tf's `lora_rank` makes it (bert_tf/train/lora.py):
    rank `args.lora_rank`, scale lora_alpha / r, no adapter dropout (Keras' LoRA has
    none), adapters on `PEFT_TARGETS[args.lora_targets]`, the classifier and the pooler
    trained fully (`modules_to_save`), everything else frozen."""
    import peft
    config = peft.LoraConfig(
        r=args.lora_rank, lora_alpha=args.lora_alpha, lora_dropout=0.0, bias="none",
        target_modules=PEFT_TARGETS[args.lora_targets],
        modules_to_save=["classifier", "pooler"],
        task_type=peft.TaskType.TOKEN_CLS if ner else peft.TaskType.SEQ_CLS)
    return peft.get_peft_model(model, config)

