"""mcnn_infer.api: the functions behind the CLI (same errors), load_results and open_model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcnn_infer import api
from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.errors import ChannelMismatchError, ConfigError, ImageReadError
from mcnn_infer.images import read_field
from mcnn_infer.scoring.pipeline import ScoreSummary
from tests.fixtures.tiny_model import make_tiny_model
from tests.fixtures.tiny_plate import make_tiny_plate


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> tuple[Path, Path]:
    """(model, results) of a tiny plate scored through the API with a plate map and embeddings."""
    root = tmp_path_factory.mktemp("api")
    model = make_tiny_model(root / "model", formats=("onnx",))
    plate = make_tiny_plate(root / "plates", wells=("B02", "B03", "C02", "C03"), sites=2)
    plate_map = root / "map.csv"
    plate_map.write_text(
        "plate,well,compound,concentration,role,label\n"
        "P1,B02,DMSO,0,negative,DMSO\nP1,B03,DMSO,0,negative,DMSO\n"
        "P1,C02,taxol,1,positive,Actin disruptors\nP1,C03,taxol,1,positive,Actin disruptors\n"
    )
    summary = api.score(
        plate, root / "results", model, metadata=plate_map, embeddings=True, backend="onnxruntime", workers=1
    )
    assert isinstance(summary, ScoreSummary) and summary.counts["ok"] == 8
    return model, root / "results"


def test_load_results_before_and_after_the_analysis(scored):
    _, results = scored
    res = api.load_results(results)
    assert len(res.fields) == 8 and len(res.wells) == 4 and len(res.embeddings) == 8
    assert res.qc is None and res.potency is None and res.profiles is None and res.summary == {}
    assert res.class_names == ["Actin disruptors", "DMSO", "Microtubule destabilizers"]
    api.analyze(results)
    res = api.load_results(results)
    assert list(res.qc["plate"]) == ["P1"] and "z_prime" in res.qc.columns
    assert len(res.profiles) == 4 and res.profiles["Metadata_Well"].tolist() == ["B02", "B03", "C02", "C03"]
    assert res.summary["n_wells"] == 4 and res.moa_calls is not None


def test_open_model_gives_the_scorers_numbers(scored):
    model_dir, results = scored
    model = api.open_model(model_dir, backend="onnxruntime")
    fields = pd.read_parquet(results / "fields.parquet")
    raws = np.stack([read_field([row[f"path_{c}"] for c in model.channels]) for _, row in fields.iterrows()])
    prediction = model.predict(raws)
    stored = fields[[f"prob_{c}" for c in model.class_names]].to_numpy(float)
    np.testing.assert_allclose(prediction.probabilities, stored, atol=1e-5)
    np.testing.assert_allclose(prediction.probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert prediction.predicted_class == fields["predicted_class"].tolist()
    frame = prediction.to_frame()
    np.testing.assert_allclose(frame["logodds_DMSO"], fields["logodds_DMSO"], atol=1e-4)
    assert prediction.embedding.shape == (8, 16)
    # one field (H, W, C) of another size is area-resized like the scorer does
    assert model.predict(np.repeat(np.repeat(raws[0], 2, axis=0), 2, axis=1)).logits.shape == (1, 3)


def test_open_model_refuses_what_the_scorer_refuses(scored):
    model_dir, _ = scored
    model = api.open_model(model_dir, backend="onnxruntime")
    field = np.zeros((64, 80, 3), np.uint16)
    with pytest.raises(ChannelMismatchError, match="images have 2 channels but model .* expects 3"):
        model.predict(field[..., :2])
    with pytest.raises(ImageReadError, match="8-bit.*expects 16-bit.*allow_bit_depth_mismatch=True"):
        model.predict(field.astype(np.uint8))
    assert api.open_model(model_dir, backend="onnxruntime", allow_bit_depth_mismatch=True).predict(
        field.astype(np.uint8)
    ).logits.shape == (1, 3)
    with pytest.raises(ConfigError, match=r"images of shape \(80, 3\)"):
        model.predict(field[0])
    with pytest.raises(ConfigError, match="int8"):
        api.open_model(model_dir, backend="onnxruntime", precision="int8")


def test_api_errors_are_the_clis(hcs, tmp_path, scored):
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnalysisError) as error:
        api.analyze(tmp_path / "empty")
    result = hcs("analyze", tmp_path / "empty")
    assert result.exit_code == 2 and result.stderr.strip() == f"hcs: error: {error.value}"
    with pytest.raises(AnalysisError, match="--score ratio .* the model readout has none"):
        api.analyze(scored[1], score="ratio")
    with pytest.raises(AnalysisError, match="--plate-map and --out are required"):
        api.analyze(tmp_path, readout="translocation")
    with pytest.raises(ConfigError, match="--shard auto found no shard"):
        api.score(tmp_path, tmp_path / "out", scored[0], shard="auto")
    with pytest.raises(ConfigError, match="--channel-map item 'DAPI'"):
        api.score(tmp_path, tmp_path / "out", scored[0], channel_map="DAPI")


def test_cli_commands_are_thin_callers_of_the_api(hcs, tmp_path, monkeypatch, scored):
    calls = {}

    def record(name):
        def fake(*args, **kwargs):
            calls[name] = (args, kwargs)
            raise ConfigError(f"{name} called")

        return fake

    for name in ("score", "analyze", "evaluate", "report"):
        monkeypatch.setattr(api, name, record(name))
    model, results = scored
    assert hcs("score", results, "--out", tmp_path / "o", "--model", model, "--shard", "1/3",
               "--channel-map", "w1=w1", "--embeddings").exit_code == 2  # fmt: skip
    args, kwargs = calls["score"]
    assert args == ((results,), tmp_path / "o", model)
    # the CLI resolves the shard first: it locks that shard's folder before the API runs
    assert (kwargs["shard"].index, kwargs["shard"].count) == (1, 3) and kwargs["embeddings"] is True
    assert kwargs["channel_map"] == "w1=w1" and kwargs["console"] is not None
    hcs("analyze", results, "--normalize", "mad_robustize")
    assert calls["analyze"][1]["normalize"] == "mad_robustize" and calls["analyze"][1]["readout"] == "model"
    hcs("evaluate", results, "--null-size", "200", "--seed", "3")
    assert calls["evaluate"][1] == {"normalize": "none", "null_size": 200, "seed": 3, "out": None}
    hcs("report", results)
    assert calls["report"][0] == (results, None)
