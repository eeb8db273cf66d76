"""Learning-rate schedule: the piecewise string ``lr;epoch;lr;epoch;...;lr``, linear scaling, warm-up.

Semantics (following Goyal et al. 2017, "Accurate, large minibatch SGD"):

* The string lists learning rates and the epoch at which each one *ends*:
  ``"0.01;20;0.001;30;0.0001"`` means 0.01 for epochs [0, 20), 0.001 for [20, 30) and
  0.0001 from epoch 30 on. A trailing epoch without a following rate keeps the last rate.
  Epochs are counted from 0 and may be fractional (``"0.01;2.5;0.001"``).
* The rates in the string are for a *reference global batch* (by default the per-worker
  batch size, i.e. one worker). The rate actually used is multiplied by
  ``scale = global_batch / reference_batch`` (the linear scaling rule): with 4 workers at
  batch 8 and the default reference, every rate is multiplied by 4.
* Gradual warm-up: during the first ``warmup_epochs`` the multiplier rises linearly, per
  step, from 1 to ``scale`` (so the run starts at the unscaled reference rate, as in Goyal
  et al.). With ``scale == 1`` warm-up changes nothing.

The schedule is evaluated per optimizer step from ``optimizer.iterations``, so a resumed
run (which restores the optimizer's step counter) continues at the same position.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from mcnn_infer.errors import ConfigError

#: Warm-up lengths below this (in epochs) are treated as no warm-up.
MIN_WARMUP_EPOCHS = 1e-6


@dataclass(frozen=True)
class PiecewiseSchedule:
    """A parsed schedule string.

    Attributes
    ----------
    rates : tuple of float
        Learning rates (reference global batch), one per piece.
    boundaries : tuple of float
        Epochs at which piece ``i`` ends and piece ``i + 1`` begins; ``len(rates) - 1`` values,
        strictly increasing.
    """

    rates: tuple[float, ...]
    boundaries: tuple[float, ...]

    def rate_at(self, epoch: float) -> float:
        """Reference learning rate at a (fractional) epoch, before scaling and warm-up."""
        for rate, end in zip(self.rates, self.boundaries, strict=False):
            if epoch < end:
                return rate
        return self.rates[-1]

    def to_string(self) -> str:
        parts: list[str] = []
        for i, rate in enumerate(self.rates):
            parts.append(f"{rate:g}")
            if i < len(self.boundaries):
                parts.append(f"{self.boundaries[i]:g}")
        return ";".join(parts)


def parse_schedule(text: str) -> PiecewiseSchedule:
    """Parse ``"lr;epoch;lr;epoch;...;lr"`` (see module docstring).

    Raises
    ------
    ConfigError
        Empty string, non-numeric items, non-positive rates, negative or non-increasing epochs.
    """
    items = [item.strip() for item in str(text).split(";")]
    if not items or items == [""] or any(item == "" for item in items):
        raise ConfigError(
            f"learning-rate schedule {text!r}: expected 'lr;epoch;lr;epoch;...' e.g. '0.01;20;0.001'"
        )
    try:
        values = [float(item) for item in items]
    except ValueError:
        raise ConfigError(
            f"learning-rate schedule {text!r}: every item must be a number ('lr;epoch;lr;...')"
        ) from None
    if len(values) % 2 == 0:  # a trailing epoch keeps the last rate
        values = values[:-1]
    rates = tuple(values[0::2])
    boundaries = tuple(values[1::2])
    for rate in rates:
        if not rate > 0:
            raise ConfigError(f"learning-rate schedule {text!r}: rate {rate:g} must be > 0")
    previous = 0.0
    for end in boundaries:
        if end <= previous:
            raise ConfigError(
                f"learning-rate schedule {text!r}: epoch {end:g} must be > 0 and greater than the previous one"
            )
        previous = end
    return PiecewiseSchedule(rates=rates, boundaries=boundaries)


@tf.keras.utils.register_keras_serializable(package="hcs")
class ScaledPiecewiseWarmup(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Per-step learning rate: piecewise by epoch, linearly scaled, with gradual warm-up.

    Parameters
    ----------
    rates, boundaries : sequence of float
        As :class:`PiecewiseSchedule` (boundaries in epochs).
    steps_per_epoch : int
        Optimizer steps in one epoch (global: every worker does the same number).
    scale : float
        ``global_batch / reference_batch``.
    warmup_epochs : float
        Length of the linear warm-up from ``1x`` to ``scale x``, in epochs; 0 disables it.
    """

    def __init__(
        self, rates, boundaries, steps_per_epoch: int, scale: float = 1.0, warmup_epochs: float = 0.0
    ):
        super().__init__()
        if steps_per_epoch < 1:
            raise ConfigError(f"steps_per_epoch {steps_per_epoch} must be >= 1")
        self.rates = [float(r) for r in rates]
        self.boundaries = [float(b) for b in boundaries]
        self.steps_per_epoch = int(steps_per_epoch)
        self.scale = float(scale)
        # A warm-up shorter than a millionth of an epoch is none (and would underflow in float32).
        self.warmup_epochs = float(warmup_epochs) if warmup_epochs >= MIN_WARMUP_EPOCHS else 0.0

    def __call__(self, step):
        epoch = tf.cast(step, tf.float32) / float(self.steps_per_epoch)
        rate = tf.constant(self.rates[-1], tf.float32)
        for value, end in reversed(list(zip(self.rates[:-1], self.boundaries, strict=True))):
            rate = tf.where(epoch < end, tf.constant(value, tf.float32), rate)
        if self.warmup_epochs > 0:
            progress = tf.minimum(epoch / self.warmup_epochs, 1.0)
            multiplier = 1.0 + (self.scale - 1.0) * progress
        else:
            multiplier = tf.constant(self.scale, tf.float32)
        return rate * multiplier

    def rate_at_step(self, step: int) -> float:
        """The same value as ``self(step)`` in plain Python (for logs and tests)."""
        epoch = step / self.steps_per_epoch
        rate = PiecewiseSchedule(tuple(self.rates), tuple(self.boundaries)).rate_at(epoch)
        if self.warmup_epochs > 0:
            return rate * (1.0 + (self.scale - 1.0) * min(epoch / self.warmup_epochs, 1.0))
        return rate * self.scale

    def get_config(self) -> dict:
        return {
            "rates": self.rates,
            "boundaries": self.boundaries,
            "steps_per_epoch": self.steps_per_epoch,
            "scale": self.scale,
            "warmup_epochs": self.warmup_epochs,
        }


def make_schedule(
    text: str,
    steps_per_epoch: int,
    global_batch: int,
    reference_batch: int,
    warmup_epochs: float,
) -> ScaledPiecewiseWarmup:
    """Build the Keras schedule from the string and the batch geometry.

    Parameters
    ----------
    text : str
        ``lr;epoch;lr;...`` with rates for ``reference_batch`` images per step.
    steps_per_epoch : int
        Optimizer steps per epoch.
    global_batch : int
        Images per optimizer step summed over all workers.
    reference_batch : int
        Global batch the rates in ``text`` were written for.
    warmup_epochs : float
        Warm-up length in epochs (>= 0).
    """
    if reference_batch < 1 or global_batch < 1:
        raise ConfigError(f"batch sizes must be >= 1 (global {global_batch}, reference {reference_batch})")
    if warmup_epochs < 0:
        raise ConfigError(f"warm-up epochs {warmup_epochs:g} must be >= 0")
    parsed = parse_schedule(text)
    return ScaledPiecewiseWarmup(
        parsed.rates,
        parsed.boundaries,
        steps_per_epoch=steps_per_epoch,
        scale=global_batch / reference_batch,
        warmup_epochs=warmup_epochs,
    )
