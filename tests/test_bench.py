"""The benchmarks' pure helpers: FLOP counts, MFU and peak look-up, memory verdicts, engine
selection. (The benchmarks themselves are run by hand, not as tests: see bench/.)"""
import pytest

from bench import common, encoder, pretrain, train_step


def test_bert_base_forward_flops_per_sequence():
    # 12 x (8 s H^2 + 4 s^2 H + 4 s H I) at s=128, H=768, I=3072: the 22.35 GFLOP.
    flops = common.encoder_forward_flops(12, 768, 3072, [128])
    assert flops == 12 * (8 * 128 * 768**2 + 4 * 128**2 * 768 + 4 * 128 * 768 * 3072)
    assert flops / 1e9 == pytest.approx(22.35, abs=0.005)


def test_flops_sum_over_sequences_and_count_real_lengths():
    padded = common.encoder_forward_flops(2, 64, 256, [16, 16, 16])
    assert padded == 3 * common.encoder_forward_flops(2, 64, 256, [16])
    real = common.encoder_forward_flops(2, 64, 256, [16, 8, 4])
    assert real < padded
    assert real == sum(common.encoder_forward_flops(2, 64, 256, [s]) for s in (16, 8, 4))
    assert common.encoder_forward_flops(2, 64, 256, []) == 0


def test_nvidia_bert_large_pretraining_mfu_is_about_37_percent():
    # NVIDIA's TF2 BERT-large pretraining, seq 128, one A100-80GB: 486 seq/s (FP16).
    per_sequence = common.TRAIN_FLOPS_FACTOR * common.encoder_forward_flops(
        24, 1024, 4096, [128])
    peak, source = common.peak_tflops("bf16", device_name="NVIDIA A100-SXM4-80GB")
    assert (peak, source) == (312.0, "A100 bf16 data sheet")
    assert common.mfu(486 * per_sequence, peak) == pytest.approx(0.37, abs=0.005)


def test_mlm_head_flops():
    assert common.mlm_head_flops(768, 30522, 20) == 20 * (2 * 768 * 768 + 2 * 768 * 30522)


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
    assert common.peak_tflops(math, device_name=name)[0] == expected


def test_peak_tflops_explicit_wins_and_unknown_is_none():
    assert common.peak_tflops("bf16", explicit=100, device_name="NVIDIA A100") == (
        100.0, "--peak_tflops")
    peak, why = common.peak_tflops("bf16", device_name="Some Future GPU")
    assert peak is None and "--peak_tflops" in why
    assert common.peak_tflops("tf32")[0] is None
    assert common.mfu(1e12, None) is None
    assert common.mfu(50e12, 100) == pytest.approx(0.5)


def test_memory_verdict():
    assert common.memory_verdict(8 * 1024, 8) == "PASS"
    assert common.memory_verdict(8 * 1024 + 1, 8) == "FAIL"
    assert common.memory_verdict(None, 8) == "FAIL"


def test_cpu_flags_lists_the_relevant_flags():
    flags = common.cpu_flags()
    assert set(flags) == set(common.RELEVANT_CPU_FLAGS)
    assert all(v in (True, False, None) for v in flags.values())
    assert "avx512_bf16" in common.cpu_flags_line()


def test_gemm_shapes_are_the_encoders_dense_layers():
    assert encoder.gemm_shapes(32, 128, 768, 3072) == [
        (4096, 768, 768), (4096, 768, 3072), (4096, 3072, 768)]


def test_encoder_inputs_have_padding_and_real_lengths():
    inputs = encoder.make_inputs(30522, 8, 64, seed=0)
    lengths = inputs["input_mask"].sum(1)
    assert ((lengths >= 32) & (lengths <= 64)).all() and lengths.min() < 64
    assert (inputs["input_word_ids"][inputs["input_mask"] == 0] == 0).all()


def test_engine_selection():
    args = encoder.parse_args(["--jit"])
    assert "bert_tf" not in args.engine_list and "bert_tf_bf16" not in args.engine_list
    assert {"gemm", "bert_tf_jit", "bert_tf_bf16_jit"} <= set(args.engine_list)
    assert train_step.parse_args([]).engine_list == list(train_step.ENGINES)
    chosen = pretrain.parse_args([]).engine_list
    assert chosen == list(pretrain.DEFAULT_ENGINES) and "bert_tf_synthetic" in chosen
    with pytest.raises(SystemExit):
        pretrain.parse_args(["--engines", "bert_tf_nope"])
