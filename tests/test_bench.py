"""The benchmarks' pure helpers: FLOP counts, MFU and peak look-up, memory verdicts, engine
selection and recipes, and how benchmarks are laid out (modules run with `python -m`,
none importing another). (The benchmarks themselves are run by hand, not as tests: see
bench/.)"""
import ast
import os
import subprocess
import sys

import pytest

from bench import compute, e2e, encoder, finetune, harness, machine, pretrain, train_step

BENCH_DIR = os.path.join(machine.REPO_ROOT, "bench")
# The shared harness: the only bench modules a benchmark imports.
# Shared modules, not benchmarks (stability.py, finetune_report.py: finetune.py's summaries;
# runtimes.py: e2e.py's OpenVINO engines).
HARNESS = {"harness", "machine", "compute", "peers", "stability", "finetune_report", "runtimes"}


def test_bert_base_forward_flops_per_sequence():
    # 12 x (8 s H^2 + 4 s^2 H + 4 s H I) at s=128, H=768, I=3072: the 22.35 GFLOP.
    flops = compute.encoder_forward_flops(12, 768, 3072, [128])
    assert flops == 12 * (8 * 128 * 768**2 + 4 * 128**2 * 768 + 4 * 128 * 768 * 3072)
    assert flops / 1e9 == pytest.approx(22.35, abs=0.005)


def test_flops_sum_over_sequences_and_count_real_lengths():
    padded = compute.encoder_forward_flops(2, 64, 256, [16, 16, 16])
    assert padded == 3 * compute.encoder_forward_flops(2, 64, 256, [16])
    real = compute.encoder_forward_flops(2, 64, 256, [16, 8, 4])
    assert real < padded
    assert real == sum(compute.encoder_forward_flops(2, 64, 256, [s]) for s in (16, 8, 4))
    assert compute.encoder_forward_flops(2, 64, 256, []) == 0


def test_nvidia_bert_large_pretraining_mfu_is_about_37_percent():
    # NVIDIA's TF2 BERT-large pretraining, seq 128, one A100-80GB: 486 seq/s (FP16).
    per_sequence = compute.TRAIN_FLOPS_FACTOR * compute.encoder_forward_flops(
        24, 1024, 4096, [128])
    peak, source = compute.peak_tflops("bf16", device_name="NVIDIA A100-SXM4-80GB")
    assert (peak, source) == (312.0, "A100 bf16 data sheet")
    assert compute.mfu(486 * per_sequence, peak) == pytest.approx(0.37, abs=0.005)


def test_mlm_head_flops():
    assert compute.mlm_head_flops(768, 30522, 20) == 20 * (2 * 768 * 768 + 2 * 768 * 30522)


@pytest.mark.parametrize("name, math, expected", [
    ("NVIDIA H100 NVL", "bf16", 835.0),           # the longer key wins over "H100"
    ("NVIDIA H100 80GB HBM3", "tf32", 494.7),
    ("NVIDIA H100 PCIe", "bf16", 756.0),
    ("NVIDIA A10", "bf16", 125.0),                 # not A100
    ("NVIDIA L40S", "bf16", 362.1),                # not L4 or L40
    ("NVIDIA L4", "tf32", 60.0),
    ("NVIDIA H200", "bf16", 989.4),
])
def test_peak_tflops_table(name, math, expected):
    assert compute.peak_tflops(math, device_name=name)[0] == expected


def test_peak_tflops_explicit_wins_and_unknown_is_none():
    assert compute.peak_tflops("bf16", explicit=100, device_name="NVIDIA A100") == (
        100.0, "--peak_tflops")
    peak, why = compute.peak_tflops("bf16", device_name="Some Future GPU")
    assert peak is None and "--peak_tflops" in why
    assert compute.peak_tflops("tf32")[0] is None
    assert compute.mfu(1e12, None) is None
    assert compute.mfu(50e12, 100) == pytest.approx(0.5)


def test_memory_verdict():
    assert harness.memory_verdict(8 * 1024, 8) == "PASS"
    assert harness.memory_verdict(8 * 1024 + 1, 8) == "FAIL"
    assert harness.memory_verdict(None, 8) == "FAIL"


def test_cpu_flags_lists_the_relevant_flags():
    flags = machine.cpu_flags()
    assert set(flags) == set(machine.RELEVANT_CPU_FLAGS)
    assert all(v in (True, False, None) for v in flags.values())
    assert "avx512_bf16" in machine.cpu_flags_line()
    # The library's check (bert-export's bf16 warning), read without importing TensorFlow.
    assert machine.hardware.__file__ == os.path.join(machine.REPO_ROOT, "bert_tf", "common",
                                                     "hardware.py")
    script = "import sys, bench.machine; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], cwd=machine.REPO_ROOT,
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_gemm_shapes_are_the_encoders_dense_layers():
    assert compute.gemm_shapes(32, 128, 768, 3072) == [
        (4096, 768, 768), (4096, 768, 3072), (4096, 3072, 768)]


def test_encoder_inputs_have_padding_and_real_lengths():
    inputs = compute.make_inputs(30522, 8, 64, seed=0)
    lengths = inputs["input_mask"].sum(1)
    assert ((lengths >= 32) & (lengths <= 64)).all() and lengths.min() < 64
    assert (inputs["input_word_ids"][inputs["input_mask"] == 0] == 0).all()


def test_engine_selection():
    args = encoder.parse_args(["--jit"])
    assert "bert_tf" not in args.engine_list and "bert_tf_bf16" not in args.engine_list
    assert {"gemm", "bert_tf_jit", "bert_tf_bf16_jit"} <= set(args.engine_list)
    assert train_step.parse_args([]).engine_list == list(train_step.DEFAULT_ENGINES)
    chosen = pretrain.parse_args([]).engine_list
    assert chosen == list(pretrain.DEFAULT_ENGINES) and "bert_tf_synthetic" in chosen
    assert "gemm" in chosen and "gemm_bf16" not in chosen  # the fp32 peak, by default
    with pytest.raises(SystemExit):
        pretrain.parse_args(["--engines", "bert_tf_nope"])


@pytest.mark.parametrize("task, engines, recipe", [
    ("classification", ["bert_tf", "transformers"],
     {"batch_size": 32, "epochs": 2, "max_seq_length": 64, "max_train_examples": 1000}),
    ("ner", ["bert_tf", "bert_tf_fixed", "transformers"],
     {"batch_size": 32, "epochs": 3, "max_seq_length": 128, "max_train_examples": 1000}),
    # The hand-written SQuAD files' settings over configs/finetune/squad.json.
    ("qa", ["bert_tf"],
     {"batch_size": 16, "epochs": 6, "max_seq_length": 192, "doc_stride": 64,
      "max_query_length": 48, "learning_rate": 1e-4, "weight_decay": 0.01,
      "max_train_examples": 0}),
])
def test_finetune_defaults_per_task(task, engines, recipe):
    args = finetune.parse_args([f"--task={task}"])
    assert args.engine_list == engines
    assert {key: getattr(args, key) for key in recipe} == recipe
    assert args.version_list == (["v1.1", "v2.0"] if task == "qa" else [None])


def test_finetune_flags_override_the_recipe_and_bad_choices_are_usage_errors():
    args = finetune.parse_args(["--task=ner", "--epochs=1", "--batch_size=8",
                                "--engines=bert_tf_bf16,bert_tf", "--max_train_examples=64"])
    assert (args.epochs, args.batch_size, args.max_train_examples) == (1, 8, 64)
    assert args.engine_list == ["bert_tf", "bert_tf_bf16"]
    explicit = finetune.parse_args(["--task=qa", "--config_file",
                                    os.path.join(finetune.CONFIGS, "squad.json")])
    assert (explicit.max_seq_length, explicit.epochs) == (384, 2)  # the file alone
    for argv in (["--task=qa", "--engines=bert_tf,transformers"],  # no QA peer
                 ["--task=qa", "--versions=v3"], ["--task=sentiment"], []):
        with pytest.raises(SystemExit):
            finetune.parse_args(argv)


def test_finetune_throughput_skips_the_first_steps():
    steps = [(0.0, 0)] + [(1.0 + i, 4) for i in range(10)]  # 10 steps of 4, 1 s apart
    result = finetune.throughput(steps, skip_steps=2)
    assert result["train_seq_per_sec"] == pytest.approx(40 / 10)
    assert result["steady_seq_per_sec"] == pytest.approx(4.0)
    assert "steady_seq_per_sec" not in finetune.throughput(steps[:3], skip_steps=2)


def test_e2e_engines_and_finetuned_head_settings():
    args = e2e.parse_args([])
    assert args.engine_list == list(e2e.DEFAULT_ENGINES) and args.head == "random"
    args = e2e.parse_args(["--head=finetuned", "--engines=savedmodel_bf16,savedmodel",
                           "--workdir=/w"])
    assert args.engine_list == ["savedmodel", "savedmodel_bf16"]
    args.dataset = "conll"
    assert e2e._finetune_settings(args) == e2e.FINETUNE["conll"]
    cached = e2e._paths(args)["finetuned"]
    args.epochs = 1  # another model, another cache folder
    assert e2e._paths(args)["finetuned"] != cached and cached.startswith("/w/finetuned/conll-")
    assert e2e._paths(args)["savedmodel_bf16"] == "/w/run_conll/exports/e2e_bf16/1"


def _e2e_row(engine, per_sec, quality, fp32_agreement, dtype="float32"):
    return {"engine": engine, "dtype": dtype, "reps": 5, "per_sec_min": per_sec,
            "per_sec_median": per_sec, "per_sec_max": per_sec, "quality": quality,
            "fp32_agreement": fp32_agreement, "padding": 0.03, "agreement": 1.0,
            "detail": "-"}


def test_e2e_bf16_and_int8_verdicts(capsys):
    def rows(bf16_speed, bf16_labels):
        return [_e2e_row("savedmodel", 100, 0.850, 1.0),
                _e2e_row("savedmodel_bf16", bf16_speed, 0.848, bf16_labels, "bfloat16"),
                _e2e_row("savedmodel_int8", 50, 0.840, 0.98, "int8")]

    assert e2e.report("rt", rows(170, 0.997), native_bf16=True) == 0
    out = capsys.readouterr().out
    assert "bf16 export / float32 export: 1.70x" in out and "labels equal 99.70%" in out
    assert "-0.20 points" in out and out.count(": met") == 1
    assert "0.50x, accuracy 0.8500 -> 0.8400 (1.00 points lost): not worth" in out
    assert e2e.report("rt", rows(170, 0.990), native_bf16=True) == 1  # labels: NOT met
    assert e2e.report("rt", rows(90, 0.997), native_bf16=True) == 1  # speed: NOT met
    capsys.readouterr()
    # Without native bf16 the speed target does not apply: reported, not failed.
    assert e2e.report("rt", rows(90, 0.997), native_bf16=False) == 0
    assert "this CPU has no native bf16" in capsys.readouterr().out


def test_children_run_as_modules_from_the_repository_root():
    assert harness.bench_argv("finetune", "--engine=x") == [
        sys.executable, "-m", "bench.finetune", "--engine=x"]
    assert os.path.isfile(os.path.join(machine.REPO_ROOT, "bench", "finetune.py"))


def _benchmarks():
    return sorted(name[:-3] for name in os.listdir(BENCH_DIR)
                  if name.endswith(".py") and name != "__init__.py" and name[:-3] not in HARNESS)


@pytest.mark.parametrize("name", _benchmarks())
def test_benchmarks_import_only_the_harness_and_leave_sys_path_alone(name):
    with open(os.path.join(BENCH_DIR, f"{name}.py"), encoding="utf-8") as f:
        source = f.read()
    tree = ast.parse(source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "bench":
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bench."):
            imported.add(node.module.split(".", 1)[1])
        elif isinstance(node, ast.Import):
            imported |= {alias.name.split(".", 1)[1] for alias in node.names
                         if alias.name.startswith("bench.")}
    assert imported <= HARNESS, f"bench/{name}.py imports {imported - HARNESS}"
    assert "sys.path" not in source
    assert f"python -m bench.{name}" in ast.get_docstring(tree)  # how to run it


def test_profile_ops_finds_the_matmuls_and_the_phases():
    import keras
    import tensorflow as tf

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256),
                              keras.layers.Dense(2)])
    model.compile(keras.optimizers.AdamW(), keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    x, y = tf.random.normal((128, 64)), tf.zeros((128,), tf.int32)
    model.train_on_batch(x, y)  # traces
    profile = compute.profile_ops(lambda: model.train_on_batch(x, y), steps=2)
    ops = {row["op"] for row in profile["ops"]}
    assert ops & compute.MATMUL_OPS and "Process" not in ops
    assert 0 < profile["matmul_share"] < 1
    assert {"forward", "backward", "optimizer"} <= set(profile["phases"])
    assert sum(profile["phases"].values()) == pytest.approx(1.0)
    assert sum(row["share"] for row in profile["ops"]) == pytest.approx(1.0)
    assert "matmuls" in compute.format_profile(profile)


def test_gemm_rows_give_the_fp32_peak_and_no_sequences_per_second():
    rows = [{"engine": "gemm_bf16", "gemm_peak_gflops": 380.0, "detail": "bf16",
             "gemm_gflops": {"4096x768x768": 380.0}, "per_sec_median": 1.0},
            {"engine": "gemm", "gemm_peak_gflops": 210.0, "detail": "fp32",
             "gemm_gflops": {"4096x768x768": 190.0, "4096x768x3072": 210.0},
             "per_sec_median": 1.0},
            {"engine": "bert_tf", "detail": "model", "per_sec_median": 2.0}]
    assert compute.finish_gemm_rows(rows) == 210.0
    assert rows[1]["gflops"] == 210.0 and rows[1]["per_sec_median"] is None
    assert "4096x768x3072: 210.0" in rows[1]["detail"]
    assert rows[2] == {"engine": "bert_tf", "detail": "model", "per_sec_median": 2.0}
    assert compute.finish_gemm_rows(rows[2:]) is None


def test_stability_subsamples_at_the_ratio_and_keeps_by_each_rule():
    from bench import stability

    pairs = [(f"t{i}", "fresh" if i % 2 else "rotten") for i in range(40)]
    kept = stability.subsample(pairs, ["fresh", "rotten"], 3, 16)
    assert [label for _, label in kept].count("fresh") == 12 and len(kept) == 16
    assert kept == [pair for pair in pairs if pair in kept]  # in the data's order
    assert stability.subsample(pairs, ["fresh", "rotten"], None, 5) == pairs[:5]
    epochs = [{"val_loss": 0.5, "val_mcc": 0.0}, {"val_loss": 0.4, "val_mcc": 0.3},
              {"val_loss": 0.45, "val_mcc": 0.3}]
    assert stability.kept_epoch(epochs, None, None) == 2  # the last
    assert stability.kept_epoch(epochs, "val_loss", "min") == 1
    assert stability.kept_epoch(epochs, "val_mcc", "max") == 1  # the first of a tie
