"""One line for a run that computed in fp32 where ``--precision auto`` would pick a faster format.

Nothing is measured here: the line comes from the model card (the formats its export validated,
their ``accuracy_check`` and the speed figure recorded with it, :data:`SPEED_KEY`) and the CPU's
flags (:mod:`mcnn_infer.cpu`, through :func:`mcnn_infer.runtime.resolve_precision`, the same
choice ``auto`` makes). A speed figure counts for this CPU only when the check recorded a CPU of
the same vendor and the same BF16/INT8 instruction-set flags; otherwise the line says what the
card has and where it was measured.
"""

from __future__ import annotations

from typing import Any

from mcnn_infer.card import ModelCard
from mcnn_infer.cpu import RELEVANT_FLAGS, cpu_flags, cpu_vendor
from mcnn_infer.errors import ConfigError
from mcnn_infer.formats import AUTO, select_format
from mcnn_infer.runtime import resolve_precision

#: Key of a format's ``accuracy_check`` holding the export's speed figure:
#: ``{"speedup": float, "fields_per_second": float, "reference_fields_per_second": float, ...}``.
SPEED_KEY = "speed"


def same_cpu_kind(recorded: dict[str, Any] | None) -> bool:
    """True when a recorded :func:`mcnn_infer.cpu.cpu_report` is this CPU's vendor with the same flags."""
    if not recorded or not isinstance(recorded.get("flags"), dict):
        return False
    here = cpu_flags()
    mine = {f: f in here for f in RELEVANT_FLAGS}
    theirs = {f: bool(recorded["flags"].get(f, False)) for f in RELEVANT_FLAGS}
    return recorded.get("vendor", "") == cpu_vendor() and mine == theirs


def _cpu_text(recorded: dict[str, Any] | None) -> str:
    if not recorded:
        return "an unrecorded CPU"
    flags = [f for f, on in (recorded.get("flags") or {}).items() if on]
    return f"{recorded.get('model', 'an unnamed CPU')} ({', '.join(flags) or 'no listed flags'})"


def auto_precision_hint(card: ModelCard, backend: str, requested: str, precision: str) -> str | None:
    """The line to print after a run, or None when ``auto`` would not change anything.

    Parameters
    ----------
    card : ModelCard
    backend : str
        The run's backend.
    requested : str
        ``--precision`` as given (no hint when it was ``auto``: auto already chose).
    precision : str
        The precision that ran (no hint unless ``fp32``).

    Returns
    -------
    str or None
    """
    if requested == AUTO or precision != "fp32":
        return None
    try:
        chosen, _ = resolve_precision(card, backend, AUTO)
    except ConfigError:
        return None
    if chosen == "fp32":
        return None
    fmt = select_format(backend, chosen, list(card.formats))
    check = card.formats[fmt.name].get("accuracy_check") or {}
    agreement = check.get("top1_agreement")
    validated = (
        f"validated at export: top-1 agreement {agreement:.1%} with fp32 on {check.get('n_fields', '?')} "
        "held-out fields"
        if isinstance(agreement, (int, float))
        else "validated at export"
    )
    speed = check.get(SPEED_KEY) or {}
    factor = speed.get("speedup")
    where = speed.get("cpu") or check.get("cpu")
    head = f"hint: --precision auto would run {chosen} here ({fmt.name}, {validated})"
    if isinstance(factor, (int, float)) and factor > 0:
        if same_cpu_kind(where):
            return f"{head}: {factor:.2f}x the fp32 speed measured at export on this kind of CPU ({_cpu_text(where)})"
        return (
            f"{head}; the card's speed figure, {factor:.2f}x fp32, was measured on {_cpu_text(where)}, "
            "not this kind of CPU, so it has none for this one"
        )
    return f"{head}; the card records no speed figure for it"
