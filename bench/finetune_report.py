"""What `bench/finetune.py` prints after its table for one run of each engine: bert_tf
against its variants (fixed padding, unbucketed, bf16) and the transformers peer, and
LoRA against full fine-tuning and HF PEFT (over several seeds: bench/stability.py)."""


def columns(task, spec):
    """The table's columns for `task` (its `spec`: bench/finetune.py's TASKS entry)."""
    timing = [("train_seconds", "train s", "{:.1f}"),
              ("train_seq_per_sec", "train seq/s", "{:.2f}"),
              ("steady_seq_per_sec", "steady seq/s", "{:.2f}"),
              ("padding", "padding", "{:.1%}")]
    memory = [("peak_rss_mib", "peak RSS MiB", "{:.0f}")]
    if task != "qa":
        return ([("engine", "engine", "{}"),
                 (spec["metric"], f"test {spec['metric']}", spec["metric_format"]),
                 ("trainable", "trainable", "{:,}")]
                + timing + [("eval_seconds", "test s", "{:.1f}")] + memory)
    return ([("engine", "engine", "{}"), ("version", "version", "{}"),
             ("train_examples", "train q", "{}"), ("windows", "windows", "{}"),
             ("test_examples", "dev q", "{}")]
            + timing + [("predict_per_sec", "predict q/s", "{:.1f}")]
            + [(key, key, "{:.2f}" if key == "best_f1_thresh" else "{:.1f}")
               for key in ("exact_match", "f1", "HasAns_f1", "NoAns_f1", "best_f1",
                           "best_f1_thresh")] + memory)


def compare(by_engine, spec):
    """Prints bert_tf (bucketed, float32) against its other variants and the peer."""
    metric, fmt = spec["metric"], spec["metric_format"]
    ours = by_engine["bert_tf"]
    for name, what in (("bert_tf_fixed", "bert_tf length bucketing vs fixed padding "
                                         "(pad_to_max_length)"),
                       ("bert_tf_unbucketed", "bert_tf length bucketing vs random batches "
                                              "padded to their longest"),
                       ("transformers", "bert_tf / transformers")):
        if name not in by_engine:
            continue
        other = by_engine[name]
        print(f"\n{what}:")
        for key in ("train_seq_per_sec", "steady_seq_per_sec"):
            if ours.get(key) and other.get(key):
                print(f"  {key:<20} {ours[key] / other[key]:.2f}x")
        if name != "transformers":
            print(f"  padding             {other['padding']:.1%} -> {ours['padding']:.1%} of "
                  f"the token positions ({other['padding'] - ours['padding']:.1%} saved; "
                  f"{(1 - ours['padding']) / (1 - other['padding']):.2f}x fewer positions)")
        print(f"  test {metric:<15} {fmt.format(ours[metric])} vs {fmt.format(other[metric])}"
              + (f" ({ours[metric] - other[metric]:+.4f})" if name == "transformers" else ""))
    if "bert_tf_bf16" in by_engine:
        bf16 = by_engine["bert_tf_bf16"]
        difference = spec["points"] * (bf16[metric] - ours[metric])
        print(f"\nbert_tf mixed_bfloat16 vs float32: test {metric} "
              f"{fmt.format(bf16[metric])} vs {fmt.format(ours[metric])} ({difference:+.2f} "
              f"points; target within 0.3: {'met' if abs(difference) <= 0.3 else 'NOT met'}); "
              f"train seq/s {bf16['train_seq_per_sec'] / ours['train_seq_per_sec']:.2f}x")
    if "bert_tf_lora" in by_engine:
        compare_lora(by_engine, metric, fmt, spec["points"])


def compare_lora(by_engine, metric, fmt, points):
    """LoRA against full fine-tuning (the target: at most 1.0 point below it), and
    bert_tf's LoRA against PEFT's: metric, trainable parameters, peak RSS, train seq/s."""
    full, lora = by_engine["bert_tf"], by_engine["bert_tf_lora"]
    difference = points * (lora[metric] - full[metric])
    print(f"\nbert_tf LoRA vs full fine-tuning: test {metric} {fmt.format(lora[metric])} vs "
          f"{fmt.format(full[metric])} ({difference:+.2f} points; target at most 1.0 "
          f"below: {'met' if difference >= -1.0 else 'NOT met'}); trainable "
          f"{lora['trainable'] / full['trainable']:.2%}")
    for name, other in (("peft", by_engine.get("peft")), ("transformers full",
                                                          by_engine.get("transformers"))):
        if other is None:
            continue
        print(f"bert_tf LoRA / {name}: test {metric} {points * (lora[metric] - other[metric]):+.2f}"
              f" points, trainable {lora['trainable']:,} vs {other['trainable']:,}, peak RSS "
              f"{lora['peak_rss_mib']:.0f} vs {other['peak_rss_mib']:.0f} MiB, train seq/s "
              f"{lora['train_seq_per_sec'] / other['train_seq_per_sec']:.2f}x")
