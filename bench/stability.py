"""Seed stability and model selection for `bench/finetune.py --seeds N` (classification):
the datasets (Rotten Tomatoes, and an imbalanced subsample of it), the per-epoch record a
bert_tf child keeps, and the parent's summaries: mean ± std of test accuracy and macro-F1
per engine over seeds, and what each epoch-selection rule would have kept.

    python -m bench.finetune --task=classification --seeds 5 --datasets rt,rt_3to1

`rt_3to1` keeps the first `--max_train_examples` training (and `--max_validation_examples`
validation) snippets at 3 "fresh" to 1 "rotten", as a user's skewed data; the test split
stays whole and balanced. bert_tf evaluates the validation split after every epoch (the
trainer's epoch selection) and, for this benchmark alone, the test split too: so one run
per seed shows the test score each rule (`SELECTION_RULES`) would have ended with, the
last epoch being the library's default (`TrainingConfig.keep_epoch`).
"""
import statistics

DATASETS = {"rt": None, "rt_3to1": 3}  # name -> majority:minority ratio (None: as is)
# What fit could keep: the last epoch, or the best epoch by a validation metric.
SELECTION_RULES = (("last", None, None), ("best val_loss", "val_loss", "min"),
                   ("best val_accuracy", "val_accuracy", "max"),
                   ("best val_macro_f1", "val_macro_f1", "max"),
                   ("best val_mcc", "val_mcc", "max"))
TARGET_POINTS, TARGET_STD_RATIO = 0.5, 1.5


def subsample(pairs, labels, ratio, size):
    """The first `size` (text, label) pairs at `ratio` of labels[0] to 1 of labels[1]
    (`ratio` None: the first `size` as they come; `size` 0: all)."""
    if ratio is None:
        return pairs[:size] if size else pairs
    size = size or len(pairs)
    minority = size // (ratio + 1)
    wanted = {labels[0]: size - minority, labels[1]: minority}
    kept = []
    for text, label in pairs:
        if wanted.get(label, 0) > 0:
            wanted[label] -= 1
            kept.append((text, label))
    return kept


def epoch_record(history, test_by_epoch):
    """Per epoch: the validation metrics (`val_*` of the History) and the test metrics."""
    names = [name for name in history.history if name.startswith("val_")]
    return [{**{name: history.history[name][i] for name in names}, "test": test}
            for i, test in enumerate(test_by_epoch)]


def kept_epoch(epochs, monitor, mode):
    """The index of the epoch a rule keeps: the last, or the first best `monitor`."""
    if monitor is None:
        return len(epochs) - 1
    values = [epoch[monitor] for epoch in epochs]
    best = (max if mode == "max" else min)(values)
    return values.index(best)


def _mean_std(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _format(values):
    mean, std = _mean_std(values)
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def print_summary(rows, seeds):
    """Per dataset: each engine's test accuracy / macro-F1 mean ± std over the seeds, the
    targets (bert_tf ≥ transformers − 0.5 points, std ≤ 1.5x), and the selection rules."""
    for dataset in dict.fromkeys(row["dataset"] for row in rows):
        in_dataset = [row for row in rows if row["dataset"] == dataset]
        print(f"\n[{dataset}] test accuracy / macro-F1 in points, mean ± std over "
              f"{len(seeds)} seeds ({', '.join(map(str, seeds))}):")
        by_engine = {}
        for row in in_dataset:
            by_engine.setdefault(row["engine"], []).append(row)
        for engine, runs in by_engine.items():
            print(f"  {engine:<22} accuracy {_format([r['accuracy'] for r in runs])}   "
                  f"macro-F1 {_format([r['macro_f1'] for r in runs])}")
        if "bert_tf" in by_engine and "transformers" in by_engine:
            for metric in ("accuracy", "macro_f1"):
                ours, theirs = (_mean_std([r[metric] for r in by_engine[name]])
                                for name in ("bert_tf", "transformers"))
                difference = 100 * (ours[0] - theirs[0])
                ratio = ours[1] / theirs[1] if theirs[1] else (1.0 if not ours[1]
                                                                else float("inf"))
                met = difference >= -TARGET_POINTS and ratio <= TARGET_STD_RATIO
                print(f"  bert_tf - transformers {metric:<9} {difference:+.2f} points, std "
                      f"{ratio:.2f}x (targets >= -{TARGET_POINTS}, <= {TARGET_STD_RATIO}x: "
                      f"{'met' if met else 'NOT met'})")
        runs = [row for row in in_dataset if row.get("epochs")]
        if runs:
            print_selection_rules(runs)


def print_selection_rules(runs):
    """What each rule would have kept, over the bert_tf runs' per-epoch records."""
    print("  bert_tf by epoch-selection rule (test points of the epoch each rule keeps; "
          "kept epochs per seed):")
    for name, monitor, mode in SELECTION_RULES:
        kept = [kept_epoch(run["epochs"], monitor, mode) for run in runs]
        tests = [run["epochs"][i]["test"] for run, i in zip(runs, kept)]
        print(f"    {name:<18} accuracy {_format([t['accuracy'] for t in tests])}   "
              f"macro-F1 {_format([t['macro_f1'] for t in tests])}   epochs "
              f"{' '.join(str(i + 1) for i in kept)}")
