"""What this machine's CPU can do, read from /proc/cpuinfo: the flags that decide which
CPU kernels TensorFlow runs fast.

    from bert_tf.common import hardware
    hardware.cpu_flags()     # {"fma": True, "avx2": True, "avx512f": False, ...}
    hardware.native_bf16()   # True with AVX512_BF16 or AMX-BF16, False without, None: unknown

bfloat16 matmuls are fast only on CPUs with native bf16 dot products (AVX512_BF16, AMX):
elsewhere TensorFlow's kernels convert bf16 to float32 and back, and a bf16 model runs
slower than a float32 one (measured: `bench/encoder.py`, `bench/e2e.py` with its bf16
engines). `bert-export --dtype=bfloat16` warns on such a CPU (`bert_tf.export.precision`),
and the benchmarks print these flags in their header.

Only the standard library is imported (and `bert_tf/__init__` imports nothing eagerly),
so a benchmark's parent process reads the flags without importing TensorFlow.
"""
import platform

CPUINFO = "/proc/cpuinfo"
# Flags of /proc/cpuinfo that decide which CPU kernels are fast: FMA/AVX2 fp32 GEMMs,
# AVX512 ones, VNNI int8 dot products, and native bfloat16 dot products (AVX512_BF16,
# AMX) without which bf16 matmuls are converted to fp32 and gain nothing.
RELEVANT_CPU_FLAGS = ("fma", "avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
                      "amx_tile", "amx_bf16", "amx_int8")
# Either one gives native bf16 matmuls (oneDNN uses them).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(names=RELEVANT_CPU_FLAGS, cpuinfo=CPUINFO):
    """{flag: present} for `names`, from the first processor's flags in `cpuinfo`
    (None for every flag where the file is unreadable, e.g. not Linux)."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    return {name: name in present for name in names}
    except OSError:
        pass
    return {name: None for name in names}


def native_bf16(cpuinfo=CPUINFO):
    """Whether the CPU has native bfloat16 matmul instructions (`BF16_CPU_FLAGS`): True,
    False, or None where the flags cannot be read."""
    flags = cpu_flags(BF16_CPU_FLAGS, cpuinfo)
    if any(value is None for value in flags.values()):
        return None
    return any(flags.values())


def cpu_model(cpuinfo=CPUINFO):
    """The CPU's model name (e.g. "AMD EPYC 9R14"), or what `platform` knows."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
