"""mcnn_infer.no_telemetry: no hcs process loads OpenVINO's or NNCF's telemetry sender."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
import {first}
import openvino, nncf
import openvino.tools.ovc.telemetry_utils as ovc_telemetry
import nncf.telemetry.wrapper as nncf_telemetry
print(ovc_telemetry.tm.__name__, type(nncf_telemetry.telemetry).__name__, sys.modules.get("openvino_telemetry"))
"""


def _probe(first: str) -> list[str]:
    """What a fresh interpreter (outside pytest: NNCF turns its telemetry off under pytest) that imports
    ``first`` and then openvino and nncf gets as their telemetry."""
    command = [sys.executable, "-c", PROBE.format(first=first)]
    return subprocess.run(command, capture_output=True, text=True, timeout=240, check=True).stdout.split()


@pytest.mark.parametrize("first", ["mcnn_infer", "mcnn_train", "hcs_cli.main"])
def test_openvino_and_nncf_get_their_no_op_telemetry(first):
    out = _probe(first)
    assert out == ["openvino.tools.ovc.telemetry_stub", "MagicMock", "None"], out


def test_without_the_guard_the_real_sender_would_load():
    # the probe can fail: with openvino imported first, the real module is what OpenVINO gets
    out = _probe("openvino")
    assert out[0] == "openvino_telemetry", out
