"""mcnn_infer never imports TensorFlow, Horovod or mcnn_train (one-way dependency)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import importlib, pkgutil, sys
import mcnn_infer
for info in pkgutil.walk_packages(mcnn_infer.__path__, "mcnn_infer."):
    importlib.import_module(info.name)
import hcs_cli.main
for name in ("plates", "synth", "score", "merge", "analyze", "evaluate", "report"):
    importlib.import_module("hcs_cli.commands." + name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "horovod", "keras", "mcnn_train"))
print(len([m for m in sys.modules if m.startswith("mcnn_infer.")]), bad[:5])
"""


def test_importing_every_inference_module_loads_no_training_stack():
    out = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, check=True
    ).stdout.split(maxsplit=1)
    assert int(out[0]) > 40  # every module was imported
    assert out[1].strip() == "[]"
