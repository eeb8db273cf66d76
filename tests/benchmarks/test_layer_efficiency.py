"""benchmarks/layer_efficiency.py: node grouping by M-CNN stage, GFLOP per group, groups adding up to the total.

A tiny two-column M-CNN-like IR (Keras-style layer names, 16x20x3 input) is built with
``openvino.opset13`` and compiled by ``mcnn_infer.runtime.compile_engine`` with profiling, as the
benchmark does with the exported M-CNN.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.layer_efficiency import (
    DENSE,
    FUSION_CONV,
    LAYOUT,
    OTHER,
    OTHER_COMPUTE,
    engine_layers,
    gflop_by_group,
    group_of,
    group_times,
    kind_rows,
    runtime_names,
)
from mcnn_infer.card import InputSpec, ModelCard
from mcnn_infer.formats import FORMATS
from mcnn_infer.preprocess import Normalization
from mcnn_infer.runtime import compile_engine

H, W, C, F, FUSION, EMB = 16, 20, 3, 4, 6, 5
PREFIX = "StatefulPartitionedCall/mcnn/"


def _conv(ops, x, c_in, c_out, k, name, rng):
    weights = ops.constant(rng.normal(0, 0.3, (c_out, c_in, k, k)).astype(np.float32))
    conv = ops.convolution(
        x, weights, [1, 1], [k // 2] * 2, [k // 2] * 2, [1, 1], name=f"{PREFIX}{name}/Conv2D"
    )
    return ops.relu(conv, name=f"{PREFIX}{name}/Relu")


def _pool(ops, x, size, name):
    return ops.max_pool(
        x, [size] * 2, [1, 1], [0, 0], [0, 0], [size] * 2, name=f"{PREFIX}{name}/MaxPool"
    ).output(0)


def _tiny_mcnn():
    """image NHWC -> col0 (5x5 conv 3->4, pool 4) | col1 (pool 2, 5x5 conv 3->4, pool 2) -> concat ->
    1x1 fusion conv 8->6 -> pool 2 -> flatten (24) -> embedding (5, relu) -> logits (2)."""
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    image = ops.parameter([-1, H, W, C], ov.Type.f32, name="image")
    nchw = ops.transpose(image, ops.constant(np.array([0, 3, 1, 2], np.int64)))
    col0 = _pool(ops, _conv(ops, nchw, C, F, 5, "col0_conv1", rng), 4, "col0_pool")
    col1 = _pool(
        ops, _conv(ops, _pool(ops, nchw, 2, "col1_downsample"), C, F, 5, "col1_conv1", rng), 2, "col1_pool"
    )
    x = ops.concat([col0, col1], 1, name=f"{PREFIX}concat/concat")
    x = _pool(ops, _conv(ops, x, 2 * F, FUSION, 1, "fusion_conv", rng), 2, "fusion_pool")
    x = ops.reshape(x, ops.constant(np.array([-1, FUSION * 2 * 2], np.int64)), False)
    w1 = ops.constant(rng.normal(0, 0.3, (FUSION * 4, EMB)).astype(np.float32))
    embedding = ops.relu(ops.matmul(x, w1, False, False, name=f"{PREFIX}embedding/MatMul"))
    embedding.output(0).get_tensor().set_names({"embedding"})
    w2 = ops.constant(rng.normal(0, 0.3, (EMB, 2)).astype(np.float32))
    logits = ops.matmul(embedding, w2, False, False, name=f"{PREFIX}logits/MatMul")
    logits.output(0).get_tensor().set_names({"logits"})
    return ov.Model([ops.result(logits), ops.result(embedding)], [image], "tiny_mcnn")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    import openvino as ov

    folder = tmp_path_factory.mktemp("tiny-mcnn")
    fmt = FORMATS["openvino-fp32"]
    path = folder / fmt.path
    path.parent.mkdir(parents=True)
    ov.save_model(_tiny_mcnn(), str(path), compress_to_fp16=False)
    card = ModelCard(
        model_name="tiny-mcnn",
        architecture="tiny-mcnn",
        input=InputSpec(height=H, width=W, channels=["a", "b", "c"]),
        normalization=Normalization(low=(0.0,) * 3, high=(1.0,) * 3, method="fixed"),
        class_names=["x", "y"],
        embedding_size=EMB,
    )
    return compile_engine(card, fmt, path, folder, batch_size=2, profile=True)


def test_nodes_are_grouped_by_column_stage_and_kind():
    assert group_of("Convolution", [f"{PREFIX}col3_conv2/Relu", f"{PREFIX}col3_conv2/Conv2D"]) == "col3 conv"
    assert group_of("MaxPool", [f"{PREFIX}col5_downsample/MaxPool"]) == "col5 pools"
    assert group_of("MaxPool", [f"{PREFIX}col0_pool/MaxPool"]) == "col0 pools"
    assert group_of("Convolution", [f"{PREFIX}fusion_conv/Conv2D"]) == FUSION_CONV
    assert group_of("FullyConnected", [f"{PREFIX}embedding/MatMul", "embedding"]) == DENSE
    assert group_of("FullyConnected", ["logits"]) == DENSE
    # a reorder carries the name of the layer it feeds; it is still a layout change
    assert group_of("Reorder", [f"{PREFIX}col6_downsample/MaxPool__8_abcd"]) == LAYOUT
    assert group_of("Subgraph", ["image/fq_output_0"]) == LAYOUT
    # the int8 convolution has its output FakeQuantize fused in: still a convolution
    assert group_of(
        "Convolution", [f"{PREFIX}col0_conv1/Conv2D", f"{PREFIX}col0_conv1/Relu/fq_output_0"]
    ) == ("col0 conv")
    assert group_of("Convolution", ["conv"]) == OTHER_COMPUTE
    assert group_of("Concat", [f"{PREFIX}concat/concat"]) == OTHER


def test_gflop_per_group_matches_an_independent_count(engine):
    gflop = gflop_by_group(engine.model_dir / engine.fmt.path, engine.input_shape)
    # 5x5 'same' conv 3->4 at full and half resolution: 2 FLOP per multiply-add
    assert gflop["col0 conv"] == pytest.approx(2 * H * W * F * C * 25 / 1e9)
    assert gflop["col1 conv"] == pytest.approx(2 * (H // 2) * (W // 2) * F * C * 25 / 1e9)
    assert gflop[FUSION_CONV] == pytest.approx(2 * (H // 4) * (W // 4) * FUSION * 2 * F / 1e9)
    assert gflop[DENSE] == pytest.approx(2 * (FUSION * 4 * EMB + EMB * 2) / 1e9)
    assert set(gflop) == {"col0 conv", "col1 conv", FUSION_CONV, DENSE}


def test_groups_add_up_to_the_profiled_total(engine):
    inputs = np.random.default_rng(1).random((6, H, W, C), dtype=np.float32)
    engine.infer(inputs)
    profiles = engine.take_profiles()
    assert len(profiles) == 3
    total = sum(node.seconds for request in profiles for node in request)
    times = group_times(profiles, runtime_names(engine))
    assert sum(t.seconds for t in times.values()) == pytest.approx(total)
    assert {"col0 conv", "col1 conv", "col0 pools", "col1 pools", FUSION_CONV, DENSE} <= set(times)
    rows, nodes = engine_layers(engine, profiles, peak_gflops=100.0, top=100)
    images = 6
    assert sum(r["ms_per_image"] for r in rows) == pytest.approx(1e3 * total / images / engine.streams)
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    col0 = next(r for r in rows if r["group"] == "col0 conv")
    assert col0["gflop_per_image"] == pytest.approx(2 * H * W * F * C * 25 / 1e9)
    if col0["ms_per_image"]:  # a node can take under the profiler's 1 us resolution
        assert col0["fraction_of_peak"] == pytest.approx(
            col0["gflop_per_image"] / col0["ms_per_image"] * 1e3 / 100
        )
    # every executed node once, slowest first; the conv node carries its fused conv's GFLOP
    assert sum(n["ms_per_image"] for n in nodes) == pytest.approx(sum(r["ms_per_image"] for r in rows))
    assert [n["ms_per_image"] for n in nodes] == sorted((n["ms_per_image"] for n in nodes), reverse=True)
    conv_nodes = [n for n in nodes if n["group"] == "col0 conv" and n["type"] == "Convolution"]
    assert [n["gflop_per_image"] for n in conv_nodes] == [pytest.approx(col0["gflop_per_image"])]
    # by kind: the column and fusion convolutions together, every group once
    kinds = {k["kind"]: k for k in kind_rows(rows, 100.0)}
    assert sum(k["share"] for k in kinds.values()) == pytest.approx(1.0)
    conv_gflop = sum(
        r["gflop_per_image"] for r in rows if r["group"] in ("col0 conv", "col1 conv", FUSION_CONV)
    )
    assert kinds["convolutions"]["gflop_per_image"] == pytest.approx(conv_gflop)
    assert kinds["pools"]["ms_per_image"] == pytest.approx(
        sum(r["ms_per_image"] for r in rows if r["group"] in ("col0 pools", "col1 pools", "fusion pool"))
    )
