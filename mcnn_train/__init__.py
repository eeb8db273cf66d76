"""hcs training side: the M-CNN in tf.keras, the Horovod trainer and the exporters.

May import :mod:`mcnn_infer` (one preprocessing code path); never the reverse.

Public entry points (imported lazily, so ``import mcnn_train.models`` stays free of TensorFlow)::

    from mcnn_train import TrainConfig, train, resume
    run_dir = train(TrainConfig(out=Path("run"), data_root=Path("screen"), model="mcnn-small",
                                size=(256, 256), epochs=10))
    resume(run_dir, epochs=20)
"""

from __future__ import annotations

from typing import Any

import mcnn_infer  # noqa: F401  (first: no OpenVINO / NNCF telemetry, see mcnn_infer.no_telemetry)

__all__ = ["TrainConfig", "resume", "train"]


def __getattr__(name: str) -> Any:
    if name == "TrainConfig":
        from mcnn_train.config import TrainConfig

        return TrainConfig
    if name in ("train", "resume"):
        from mcnn_train import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'mcnn_train' has no attribute {name!r}")
