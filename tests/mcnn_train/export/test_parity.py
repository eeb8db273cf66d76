"""Parity metrics and the failure of an FP32 format that disagrees with TensorFlow."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from mcnn_infer.card import load_card, record_format, save_card
from mcnn_train.export.context import ExportContext
from mcnn_train.export.errors import ParityError
from mcnn_train.export.parity import FP32_ATOL, FP32_RTOL, check_parity, compare, fp32_tolerance
from mcnn_train.export.run_folder import open_run
from mcnn_train.export.tf_model import TFModel


def test_compare_reports_differences_and_agreement():
    ref = (np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]]), np.zeros((3, 4)))
    other = (np.array([[0.9, 0.0], [0.6, 0.5], [2.0, 1.0]]), np.full((3, 4), 0.25))
    out = compare(ref, other)
    assert out["max_abs_logit_diff"] == pytest.approx(0.6)
    assert out["max_abs_embedding_diff"] == pytest.approx(0.25)
    assert out["top1_agreement"] == pytest.approx(2 / 3)
    assert out["n_fields"] == 3


def test_compare_refuses_shape_mismatch():
    with pytest.raises(ParityError, match="output shapes differ"):
        compare((np.zeros((2, 3)), np.zeros((2, 4))), (np.zeros((2, 2)), np.zeros((2, 4))))


def test_tolerance_scales_with_logits():
    assert fp32_tolerance(np.array([[10.0, -20.0]])) == pytest.approx(FP32_ATOL + FP32_RTOL * 20.0)


def test_fp32_format_beyond_tolerance_fails_the_export(exported, tiny_run, tmp_path):
    stage = tmp_path / "model"
    shutil.copytree(exported, stage)
    model = onnx.load(str(stage / "model.onnx"))
    kernels = [t for t in model.graph.initializer if numpy_helper.to_array(t).shape == (128, 4)]
    assert len(kernels) == 1, "expected one (128, 4) initializer: the logits kernel"
    tripled = numpy_helper.to_array(kernels[0]) * np.float32(3.0)  # logits x3: off by 2 |logit|
    kernels[0].CopyFrom(numpy_helper.from_array(tripled, kernels[0].name))
    onnx.save(model, str(stage / "model.onnx"))
    card = load_card(stage)
    record_format(card, stage, "onnx")
    save_card(card, stage)
    run = open_run(tiny_run)
    ctx = ExportContext(
        run=run, card=card, stage=stage, tf_model=TFModel(run.saved_model, card), embedded_card="{}"
    )
    with pytest.raises(ParityError, match=r"disagrees with TensorFlow .*onnx: max \|dlogit\| [0-9.e-]+ > "):
        check_parity(ctx, n_fields=2)
