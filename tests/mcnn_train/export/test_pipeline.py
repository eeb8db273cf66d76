"""export_run end to end on a tiny mcnn-small: formats, card facts, reload without TensorFlow, tampering."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from mcnn_infer.card import load_card, verify_files
from mcnn_infer.cpu import cpu_report, native_bf16
from mcnn_infer.errors import ConfigError, ModelCardError
from mcnn_infer.formats import FORMATS
from mcnn_infer.runtime import open_engine
from mcnn_train.export import ExportError, export_run
from mcnn_train.export.calibration import plate_fields
from mcnn_train.export.exporters import exporter, exporters
from mcnn_train.export.pipeline import selected_formats
from tests.mcnn_train.export.tiny_run import make_run

REPO = Path(__file__).resolve().parents[3]
#: The fixture exports every format; BF16 only where the CPU computes it natively.
EXPORTED = [name for name in FORMATS if name != "openvino-bf16" or native_bf16()]
SCORER_FORMATS = [name for name in EXPORTED if FORMATS[name].scorer_backend]


def test_every_format_of_the_table_has_an_exporter():
    assert list(exporters()) == list(FORMATS)


def test_an_exporter_for_an_unknown_or_taken_format_is_refused():
    with pytest.raises(ExportError, match="format 'openvino-int4'.*not in FORMATS"):
        exporter("openvino-int4")(lambda ctx: {})
    with pytest.raises(ExportError, match="format 'onnx' has two exporters"):
        exporter("onnx")(lambda ctx: {})


def test_selected_formats_add_the_always_written_ones_in_table_order():
    assert selected_formats() == ["onnx", "openvino-fp32"]
    assert selected_formats(["openvino-int8", "tensorflow", "onnx"]) == [
        "tensorflow",
        "onnx",
        "openvino-fp32",
        "openvino-int8",
    ]
    with pytest.raises(ConfigError, match="export format 'int8' is not known"):
        selected_formats(["int8"])


def test_card_records_formats_checksums_and_facts(exported, tiny_run):
    card = load_card(exported)
    training = load_card(tiny_run)
    assert set(card.formats) == set(EXPORTED)
    assert card.class_names == training.class_names and card.input == training.input
    onnx_entry = card.formats["onnx"]
    assert onnx_entry["opset"] >= 15
    assert onnx_entry["inputs"] == {"image": [None, 128, 128, 3]}
    assert onnx_entry["outputs"] == {"logits": [None, 4], "embedding": [None, 128]}
    assert card.formats["openvino-fp32"]["outputs"]["logits"] == [None, 4]
    for name in SCORER_FORMATS:
        verify_files(card, exported, name)
        assert all(len(v) == 64 for v in card.formats[name]["sha256"].values())
    assert "saved_model/saved_model.pb" in card.formats["tensorflow"]["sha256"]
    for package in ("tf2onnx", "onnx", "openvino", "nncf", "onnxruntime", "tensorflow"):
        assert card.software[package] != "not installed"
    int8 = card.formats["openvino-int8"]
    assert int8["accuracy_check"]["top1_agreement"] >= int8["accuracy_check"]["min_top1_agreement"] == 0.95
    assert int8["calibration"]["n_fields"] == 16 and int8["accuracy_check"]["n_fields"] == 8
    assert int8["accuracy_check"]["reference"] == "openvino-fp32 computed in f32"
    speed = int8["accuracy_check"]["speed"]  # measured in the same pass, on this CPU
    assert speed["speedup"] == pytest.approx(speed["fields_per_second"] / speed["reference_fields_per_second"])
    assert speed["fields_per_second"] > 0 and speed["cpu"]["flags"] == cpu_report()["flags"]
    if native_bf16():
        bf16 = card.formats["openvino-bf16"]
        assert bf16["sha256"] == card.formats["openvino-fp32"]["sha256"] and bf16["precision"] == "bf16"
        assert bf16["accuracy_check"]["compiled_precision"] == "bf16"
        assert bf16["accuracy_check"]["top1_agreement"] >= 0.95 and bf16["accuracy_check"]["n_fields"] == 8


def test_parity_report_covers_every_scorer_format(exported):
    parity = load_card(exported).parity
    assert parity["inputs"]["n_fields"] == 8 and "held-out" in parity["inputs"]["source"]
    assert set(parity["formats"]) == set(SCORER_FORMATS)
    tolerance = parity["fp32_tolerance"]["max_abs_logit_diff"]
    for name in ("onnx", "openvino-fp32"):
        result = parity["formats"][name]
        assert result["checked"] and result["passed"] and result["max_abs_logit_diff"] <= tolerance
        assert result["top1_agreement"] == 1.0 and result["compiled_precision"] == "f32"
    assert parity["formats"]["openvino-int8"]["checked"] is False
    if native_bf16():
        assert parity["formats"]["openvino-bf16"]["compiled_precision"] == "bf16"


_RELOAD = """
import json, sys
import numpy as np
from mcnn_infer.runtime import open_engine
x = np.load(sys.argv[2])
out = {}
for name, backend, precision in json.loads(sys.argv[3]):
    logits, embedding = open_engine(sys.argv[1], backend, precision).infer(x)
    out[name] = logits.tolist()
assert "tensorflow" not in sys.modules, "mcnn_infer imported TensorFlow"
print(json.dumps(out))
"""


def test_each_artifact_reloads_through_mcnn_infer_without_tensorflow(exported, calib_plate, tmp_path):
    import tensorflow as tf

    fields = plate_fields(calib_plate, load_card(exported), calibration_fields=4, holdout_fields=4)
    batch = fields.load(fields.holdout)  # preprocessed exactly as the scorer does; (4, 128, 128, 3)
    np.save(tmp_path / "x.npy", batch)
    expected = (
        tf.saved_model.load(str(exported / "saved_model"))
        .signatures["serving_default"](image=tf.constant(batch))["logits"]
        .numpy()
    )
    specs = [(n, FORMATS[n].runtime, FORMATS[n].precision) for n in SCORER_FORMATS]
    done = subprocess.run(
        [sys.executable, "-c", _RELOAD, str(exported), str(tmp_path / "x.npy"), json.dumps(specs)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    logits = {k: np.asarray(v) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}
    tolerance = {"fp32": 1e-4, "fp16": 1e-2, "bf16": 5e-2, "int8": 5e-2}
    for name in SCORER_FORMATS:
        np.testing.assert_allclose(logits[name], expected, atol=tolerance[FORMATS[name].precision])
        assert (logits[name].argmax(1) == expected.argmax(1)).all(), name


def test_openvino_outputs_by_name_and_any_number_of_fields(exported):
    engine = open_engine(exported, "openvino", "fp32", batch_size=4)
    assert engine.compiled.output("logits") is not None and engine.compiled_precision == "f32"
    for n in (1, 5):
        logits, embedding = engine.infer(np.zeros((n, 128, 128, 3), np.float32))
        assert logits.shape == (n, 4) and embedding.shape == (n, 128)


def test_tampered_weights_are_refused(exported, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(exported, copy)
    weights = copy / "openvino" / "model.bin"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelCardError, match=r"model\.bin has sha256 .* the card says"):
        open_engine(copy, "openvino", "fp32")
    open_engine(copy, "onnxruntime", "fp32")  # untouched formats still load


def test_existing_output_is_not_overwritten_without_flag(exported, tiny_run):
    before = (exported / "card.json").read_bytes()
    with pytest.raises(ExportError, match="already exists and is not empty"):
        export_run(tiny_run, exported, console=Console(quiet=True))
    assert (exported / "card.json").read_bytes() == before


def test_int8_without_calibration_plate_is_refused(tiny_run, tmp_path):
    with pytest.raises(ConfigError, match="openvino-int8 export needs .*--calibrate PLATE_DIR"):
        export_run(tiny_run, tmp_path / "out", ["openvino-int8"], console=Console(quiet=True))
    assert not (tmp_path / "out").exists()


def test_run_folder_without_saved_model_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(ExportError, match=r"run .*has no SavedModel"):
        export_run(tmp_path / "run", tmp_path / "out", console=Console(quiet=True))


def test_a_saved_model_computing_in_bfloat16_is_refused_as_reference(tmp_path):
    """The FP32 parity check compares the formats with the SavedModel: it must be float32 throughout."""
    run = make_run(tmp_path / "run", bfloat16_input=True)
    expected = r"SavedModel .*: op '.*' \(Cast\) computes in bfloat16 \(expected float32 throughout"
    with pytest.raises(ExportError, match=expected):
        export_run(run, tmp_path / "out", console=Console(quiet=True))
    assert not (tmp_path / "out").exists()


def test_bf16_export_on_a_cpu_without_it_is_refused_before_any_work(
    tiny_run, calib_plate, tmp_path, monkeypatch
):
    from mcnn_infer.cpu import FLAGS_ENV

    monkeypatch.setenv(FLAGS_ENV, "avx2,avx512f")
    with pytest.raises(ConfigError, match=r"hcs export --formats openvino-bf16 needs a CPU with native BF16"):
        export_run(tiny_run, tmp_path / "out", ["openvino-bf16"], calib_plate, console=Console(quiet=True))
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.partial-*"))
