"""What the CPU computes natively: the instruction-set flags that decide BF16 and INT8 speed.

Read from ``/proc/cpuinfo`` (Linux). ``$HCS_CPU_FLAGS`` (comma-separated flags) replaces the
detected set: an administrator can keep a machine off BF16, and tests can play a CPU
without it.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from typing import Any

from mcnn_infer.errors import ConfigError

#: Flags recorded in run.json, cards and benchmark output.
RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni", "amx_int8")
#: Any of these gives native BF16 arithmetic (AVX-512 BF16 since Cooper Lake / Zen 4; AMX since Sapphire Rapids).
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: Any of these gives native INT8 dot products (VNNI / AMX).
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
FLAGS_ENV = "HCS_CPU_FLAGS"
#: Replaces the detected vendor (``GenuineIntel``, ``AuthenticAMD``), like ``$HCS_CPU_FLAGS``.
VENDOR_ENV = "HCS_CPU_VENDOR"
CPUINFO = "/proc/cpuinfo"


@lru_cache(maxsize=1)
def _detected() -> tuple[frozenset[str], str, str]:
    flags: set[str] = set()
    model = platform.processor() or platform.machine()
    vendor = ""
    try:
        with open(CPUINFO, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "flags" and not flags:
                    flags = set(value.split())
                elif key == "model name" and value.strip():
                    model = value.strip()
                elif key == "vendor_id" and not vendor:
                    vendor = value.strip()
    except OSError:
        pass
    return frozenset(flags), model, vendor


def cpu_flags() -> frozenset[str]:
    """The CPU's instruction-set flags (``$HCS_CPU_FLAGS`` when set), lower case."""
    override = os.environ.get(FLAGS_ENV)
    if override is not None:
        return frozenset(f.strip().lower() for f in override.split(",") if f.strip())
    return _detected()[0]


def native_bf16(flags: frozenset[str] | None = None) -> bool:
    """True if the CPU computes BF16 natively (``avx512_bf16`` or ``amx_bf16``)."""
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in BF16_FLAGS)


def cpu_vendor() -> str:
    """``vendor_id`` of /proc/cpuinfo (``$HCS_CPU_VENDOR`` when set); empty when unknown."""
    return os.environ.get(VENDOR_ENV) or _detected()[2]


def fast_bf16(flags: frozenset[str] | None = None, vendor: str | None = None) -> bool:
    """True where BF16 inference is expected to beat FP32, so ``--precision auto`` may take it.

    AMX-BF16 (Xeon 4th generation and later), and AVX-512 BF16 on AMD (Zen 4: the issue's
    measurement, 7.16 vs 3.76 M-CNN images/s). On Intel AVX-512 BF16 without AMX (Cooper Lake,
    or a VM that hides AMX) one ``vdpbf16ps`` port does what two FP32 FMA ports do: this
    project's machine measured BF16 at 0.56x FP32 on a matmul and 0.60x on the M-CNN
    (``benchmarks/export_formats.py``, ``benchmarks/score_throughput.py --mcnn``), so there
    ``auto`` keeps FP32 (``--precision bf16`` still runs it).
    """
    flags = cpu_flags() if flags is None else flags
    vendor = cpu_vendor() if vendor is None else vendor
    return "amx_bf16" in flags or ("avx512_bf16" in flags and vendor == "AuthenticAMD")


def native_int8(flags: frozenset[str] | None = None) -> bool:
    """True if the CPU has INT8 dot-product instructions (VNNI or AMX)."""
    flags = cpu_flags() if flags is None else flags
    return any(f in flags for f in INT8_FLAGS)


def require_native_bf16(what: str) -> None:
    """Raise a one-line ConfigError naming ``what`` when the CPU has no native BF16."""
    if not native_bf16():
        present = ", ".join(f for f in RELEVANT_FLAGS if f in cpu_flags()) or "none of them"
        raise ConfigError(
            f"{what} needs a CPU with native BF16 (flag {' or '.join(BF16_FLAGS)}); this CPU "
            f"({cpu_report()['model']}) has {present}: use fp32 here"
        )


def cpu_report() -> dict[str, Any]:
    """JSON-ready facts for run.json, cards and benchmarks.

    Returns
    -------
    dict
        ``model``, ``vendor`` (str), ``cores`` (int), ``flags`` ({flag: bool} for :data:`RELEVANT_FLAGS`),
        ``native_bf16``, ``fast_bf16``, ``native_int8`` (bool) and ``flags_source`` (``/proc/cpuinfo`` or the
        environment variable that replaced it).
    """
    flags = cpu_flags()
    return {
        "model": _detected()[1],
        "vendor": cpu_vendor(),
        "cores": os.cpu_count() or 1,
        "flags": {f: f in flags for f in RELEVANT_FLAGS},
        "native_bf16": native_bf16(flags),
        "fast_bf16": fast_bf16(flags),
        "native_int8": native_int8(flags),
        "flags_source": f"${FLAGS_ENV}" if os.environ.get(FLAGS_ENV) is not None else CPUINFO,
    }
