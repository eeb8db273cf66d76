"""Keep OpenVINO's and NNCF's usage telemetry out of every hcs process.

OpenVINO's model conversion (``openvino.convert_model``, which ``import openvino`` loads) and NNCF
send anonymous usage events to Google Analytics by default (``opt_in_out --opt_out`` is the
per-user opt-out). A lab's scoring and export servers should not phone home, and the sender forks
a process from a thread pool per event: with TensorFlow being imported in the main thread at the
same time that fork has deadlocked a test run here (every thread waiting on ``logging``'s lock).

Both libraries fall back to their own no-op stub when the ``openvino_telemetry`` module cannot be
imported, so this module marks it as not importable (``sys.modules[name] = None``). It has to run
before ``openvino`` or ``nncf`` is first imported: :mod:`mcnn_infer` imports it first thing, and
:mod:`mcnn_train` imports :mod:`mcnn_infer` first. Telemetry modules already imported by a host
process (a notebook that imported ``openvino`` before hcs) are left as they are.
"""

from __future__ import annotations

import sys

#: The module OpenVINO's converter and NNCF send their events with.
TELEMETRY_MODULE = "openvino_telemetry"

sys.modules.setdefault(TELEMETRY_MODULE, None)
