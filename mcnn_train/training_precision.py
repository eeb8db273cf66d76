"""``hcs train --precision auto``: which arithmetic a run trains in here, and why.

``auto`` takes bf16 where the CPU computes BF16 fast (:func:`mcnn_infer.cpu.fast_bf16`: AMX
Xeons, AMD Zen 4), fp32 elsewhere (no native BF16, or Intel AVX-512 BF16 without AMX, where
BF16 is native but slower than FP32). The chief worker decides once for the whole run; the
decision and its reason go to the console, ``config.json`` (the resolved precision, kept on
resume) and the model card (``training.precision_reason``).
"""

from __future__ import annotations

from mcnn_infer.cpu import BF16_FLAGS, cpu_report, fast_bf16, native_bf16
from mcnn_train.recipe import AUTO_PRECISION


def resolve_training_precision(requested: str) -> tuple[str, str]:
    """The precision a run with ``--precision requested`` trains in on this CPU, and why.

    Parameters
    ----------
    requested : str
        ``auto``, ``fp32`` or ``bf16``.

    Returns
    -------
    (str, str)
        ``fp32`` or ``bf16``, and a one-line reason naming the CPU.
    """
    report = cpu_report()
    cpu = f"{report['model']} ({report['vendor'] or 'unknown vendor'})"
    if requested != AUTO_PRECISION:
        return requested, f"--precision {requested} as requested, on {cpu}"
    present = [flag for flag in BF16_FLAGS if report["flags"].get(flag)]
    if fast_bf16():
        return "bf16", f"auto: {cpu} computes BF16 fast ({', '.join(present)})"
    if native_bf16():
        return "fp32", (
            f"auto: {cpu} has {', '.join(present)} but no AMX: BF16 is native but slower than FP32 on it"
        )
    return "fp32", f"auto: {cpu} has no native BF16 (none of {', '.join(BF16_FLAGS)})"
