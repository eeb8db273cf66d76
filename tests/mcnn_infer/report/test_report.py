import shutil
import subprocess
from pathlib import Path

import pytest

from mcnn_infer.analysis.errors import AnalysisError
from mcnn_infer.report.render import write_comparison_page, write_report
from tests.fixtures.chromium import FLAGS
from tests.mcnn_infer.analysis import fake_results

SECTIONS = ("summary", "qc", "heatmaps", "moa", "potency", "evaluation", "map")


@pytest.fixture(scope="module")
def report_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rep") / "results"
    fake_results.write_fake_results(root)
    return write_report(root)  # runs the analysis first


def test_report_is_self_contained(report_path):
    text = report_path.read_text()
    for key in SECTIONS:
        assert f'<section id="{key}">' in text
    assert "data:image/png;base64," in text
    assert "http://" not in text and "https://" not in text and "<script src" not in text
    assert text.count("<script>") == 1  # the plate grid's few lines (report/cells.py)
    assert "cmpA1" in text and "Week1_100" in text


def test_report_map_section(report_path):
    text = report_path.read_text()
    section = text[text.index('<section id="map">') :]
    section = section[: section.index("</section>")]
    assert "Image-based profiling: mAP" in section
    assert "Profiles normalised: <b>none</b>" in section
    for label in (
        "mAP phenotypic activity (embeddings), treatments retrieved",
        "mAP phenotypic activity (probabilities), treatments retrieved",
        "mAP phenotypic consistency (embeddings), MoAs retrieved",
        "mAP phenotypic consistency (probabilities), MoAs retrieved",
    ):
        assert label in section
    assert section.count("data:image/png;base64,") == 4
    assert "10000 permutations, seed 0" in section
    assert "treatments retrieved vs DMSO (mAP)" in text  # summary line


def test_report_shows_a_comparison_only_when_hcs_compare_wrote_one(report_path, tmp_path):
    from mcnn_infer.analysis.readout_comparison import compare_readouts
    from tests.mcnn_infer.analysis.fake_translocation import write_comparison_inputs

    assert '<section id="comparison">' not in report_path.read_text()
    root = tmp_path / "screen"
    shutil.copytree(report_path.parent, root)
    results, classical, sbs_map = write_comparison_inputs(tmp_path, model_ec50=4.5, classical_ec50=4.6)
    compare_readouts(results, classical, sbs_map, root / "analysis" / "comparison", "nuclear")
    text = write_report(root, tmp_path / "with_comparison.html").read_text()
    section = text[text.index('<section id="comparison">') :]
    section = section[: section.index("</section>")]
    assert "M-CNN vs classical readout" in section and "log-ratio (verdict)" in section
    assert "E01, E02, E12" in section and "Pearson r of the dosed wells" in section
    assert section.count("data:image/png;base64,") == 1
    (root / "analysis" / "comparison" / "readout_comparison.json").write_text("{")
    with pytest.raises(AnalysisError, match="readout_comparison.json: invalid JSON.*re-run hcs compare"):
        write_report(root, tmp_path / "broken.html")


def test_the_comparison_page_is_the_report_section_alone(report_path, tmp_path):
    from mcnn_infer.analysis.readout_comparison import compare_readouts
    from tests.mcnn_infer.analysis.fake_translocation import write_comparison_inputs

    results, classical, sbs_map = write_comparison_inputs(tmp_path, model_ec50=4.5, classical_ec50=4.6)
    folder = tmp_path / "comparison"
    compare_readouts(results, classical, sbs_map, folder, "nuclear")
    page = write_comparison_page(folder)
    assert page == folder / "readout_comparison.html"
    text = page.read_text()
    assert text.count("<section ") == 1 and '<section id="comparison">' in text
    assert "log-ratio (verdict)" in text and "A 4PL EC50 depends on the scale" in text
    assert text.count("data:image/png;base64,") == 1 and "<script" not in text
    root = tmp_path / "screen"
    shutil.copytree(report_path.parent, root)
    shutil.copytree(folder, root / "analysis" / "comparison")
    report = write_report(root, tmp_path / "report.html").read_text()
    assert _comparison_section(report) == _comparison_section(text)  # one rendering, two pages
    (folder / "readout_comparison.json").unlink()
    with pytest.raises(AnalysisError, match="readout_comparison.json: not found; run hcs compare first"):
        write_comparison_page(folder)


def _comparison_section(text: str) -> str:
    section = text[text.index('<section id="comparison">') :]
    return section[: section.index("</section>")]


def test_report_escapes_and_errors(tmp_path):
    root = tmp_path / "r"
    fake_results.write_fake_results(root)
    import pandas as pd

    wells = pd.read_parquet(root / "wells.parquet")
    wells.loc[wells["compound"] == "cmpA1", "compound"] = "<b>evil</b>"
    wells.to_parquet(root / "wells.parquet", index=False)
    text = write_report(root).read_text()
    assert "<b>evil</b>" not in text and "&lt;b&gt;evil&lt;/b&gt;" in text
    with pytest.raises(AnalysisError, match="run hcs analyze"):
        write_report(tmp_path / "empty", analyze_if_missing=False)


@pytest.mark.browser
def test_report_renders_in_headless_chromium(report_path, tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (make test installs it: apt-get install chromium)")
    args = [
        exe,
        *FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [*args, "--dump-dom", report_path.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    for key in SECTIONS:
        assert f'id="{key}"' in dom.stdout
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*args, "--window-size=1200,1600", f"--screenshot={shot}", report_path.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 10_000
