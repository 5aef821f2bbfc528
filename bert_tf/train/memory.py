"""Host memory: keeping a training process's resident size near what its tensors need.

glibc's malloc gives each thread that allocates its own arena (up to 8 per core). TF's
thread pools free a tensor on another thread than the one that allocated it, so freed
blocks pile up in arenas where the next large allocation does not look, and the resident
size grows step after step beyond what the step needs. Capping the arenas keeps it down:
BERT-base pretraining at batch 32 x 128 fits its 8 GiB budget with 2 arenas and not
without (measured peaks: README, Benchmarks; bench/pretrain.py prints the peak against
the budget, `--malloc_arena_max 0` for glibc's default arenas).
"""
import ctypes
import ctypes.util
import os

from absl import logging

_M_ARENA_MAX = -8  # mallopt parameter, from glibc's malloc.h


def limit_malloc_arenas(max_arenas):
    """Caps glibc malloc's arenas at `max_arenas` for arenas created from now on.

    Call it early, before TensorFlow starts its thread pools. No-op when `max_arenas` is
    0, when MALLOC_ARENA_MAX is set in the environment (the user's choice wins), or where
    the C library is not glibc.

    Returns:
        bool, whether the cap was set.
    """
    if max_arenas < 0:
        raise ValueError(f"max_arenas must be >= 0 (0: glibc's default), got {max_arenas}")
    if not max_arenas or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt, ...)
        return False
    if not mallopt(_M_ARENA_MAX, int(max_arenas)):
        logging.warning("mallopt(M_ARENA_MAX, %d) failed; malloc arenas are not capped",
                        max_arenas)
        return False
    return True
