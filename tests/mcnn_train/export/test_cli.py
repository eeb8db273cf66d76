"""`hcs export` from the command line: success, and one-line errors with exit code 2."""

from __future__ import annotations

from mcnn_infer.card import load_card


def test_hcs_export_writes_a_model_folder(hcs, tiny_run, tmp_path):
    out = tmp_path / "models" / "tiny"
    result = hcs("export", tiny_run, "--out", out, "--formats", "openvino-fp16")
    assert result.exit_code == 0, result.stderr
    card = load_card(out)
    assert set(card.formats) == {"onnx", "openvino-fp32", "openvino-fp16"}
    assert "uniform random" in card.parity["inputs"]["source"]
    assert (out / "openvino-fp16" / "model.bin").stat().st_size < (
        out / "openvino" / "model.bin"
    ).stat().st_size
    assert f"wrote {out}" in result.stdout


def test_hcs_export_int8_needs_calibration(hcs, tiny_run, tmp_path):
    result = hcs("export", tiny_run, "--out", tmp_path / "out", "--int8")
    assert result.exit_code == 2
    assert "hcs: error: the openvino-int8 export needs fields of a plate" in result.stderr
    assert "pass --calibrate PLATE_DIR with --formats openvino-int8" in result.stderr.replace("\n", " ")


def test_hcs_export_formats_and_flags_name_the_same_formats(hcs, tiny_run, tmp_path):
    for args in (["--formats", "openvino-int8"], ["--formats", "onnx, openvino-int8"], ["--int8"]):
        result = hcs("export", tiny_run, "--out", tmp_path / "out", *args)
        assert result.exit_code == 2 and "the openvino-int8 export needs" in result.stderr
    result = hcs("export", tiny_run, "--out", tmp_path / "out", "--formats", "openvino-int4")
    assert result.exit_code == 2 and "export format 'openvino-int4' is not known" in result.stderr


def test_hcs_export_missing_run(hcs, tmp_path):
    result = hcs("export", tmp_path / "nope", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert f"run folder {tmp_path / 'nope'} does not exist" in result.stderr


def test_hcs_export_help_lists_options(hcs):
    result = hcs("export", "--help")
    assert result.exit_code == 0
    for option in ("--out", "--formats", "--int8", "--calibrate", "--fp16", "--bf16", "--saved-model", "--opset"):
        assert option in result.stdout
