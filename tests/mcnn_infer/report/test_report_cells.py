"""The cells in the report: control strips, dose strips, flagged fields, the clickable plate grid."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mcnn_infer.report.render import write_report
from mcnn_infer.results import THUMBNAILS_FILE
from mcnn_infer.scoring.options import ScoreOptions
from mcnn_infer.scoring.pipeline import score_plates
from tests.fixtures.chromium import Browser, chromium_executable
from tests.fixtures.tiny_model import make_tiny_model
from tests.fixtures.tiny_plate import make_tiny_plate, well_names

WELLS = well_names(24)  # A01..B12


def _plate_map(path: Path) -> Path:
    """Column 1 DMSO, column 6 the positive control, the rest two compounds at 5 concentrations."""
    lines = ["plate,well,compound,concentration,role,label"]
    for well in WELLS:
        col = int(well[1:])
        if col == 1:
            lines.append(f"P1,{well},DMSO,0,negative,DMSO")
        elif col == 6:
            lines.append(f"P1,{well},PC,1,positive,Actin disruptors")
        else:
            lines.append(f"P1,{well},C{col % 2},{10.0 ** (col % 5 - 2):g},treated,Microtubule destabilizers")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> Path:
    """A scored 24-well plate (2 sites) with a plate map, analysed and reported."""
    root = tmp_path_factory.mktemp("cells")
    model = make_tiny_model(root / "model")
    plate = make_tiny_plate(root / "plates", wells=WELLS, sites=2)
    options = ScoreOptions(batch_size=4, metadata=[str(_plate_map(root / "map.csv"))])
    score_plates([plate], root / "results", model, options)
    write_report(root / "results")
    return root / "results"


def _section(text: str, key: str) -> str:
    start = text.index(f'<section id="{key}">')
    return text[start : text.index("</section>", start)]


def test_report_shows_control_dose_and_flagged_fields(scored):
    text = (scored / "report.html").read_text()
    thumbs = pd.read_parquet(scored / THUMBNAILS_FILE)
    qc = _section(text, "qc")
    assert "Control fields" in qc and "P1: negative" in qc and "P1: positive" in qc
    assert qc.count('class="cell held"') == 4  # A01, B01 negative, A06, B06 positive: none trained on
    assert "flagged fields have a thumbnail" in qc
    # every thumbnail is embedded once, as a CSS class, whatever the number of places it is shown in
    classes = re.findall(r"\.(t\d+)\{background-image:url\(data:image/jpeg;base64,", text)
    assert len(classes) == len(set(classes)) <= len(thumbs)
    # the dose strip of C1 sits beside its fit: one field per concentration, in order
    potency = _section(text, "potency")
    strip = potency[potency.index("C1: a field per concentration") :]
    strip = strip[: strip.index("</div></div>")]
    assert re.findall(r"([\d.]+) µM:", strip) == ["0.01", "0.1", "1", "10", "100"]


def test_dose_strip_takes_the_field_closest_to_the_median(scored):
    from mcnn_infer.report.cells import Cells

    cells = Cells.load(scored)
    potency = pd.DataFrame({"compound": ["C0"], "response_class": ["DMSO"]})
    html = cells.dose_strips(potency, "compound")["C0"]
    wells = cells.wells[(cells.wells["compound"] == "C0")]
    # the candidates: the fields of the concentration's wells that have a thumbnail
    kept = pd.read_parquet(scored / THUMBNAILS_FILE)[["well", "site"]]
    fields = cells.fields.reset_index(drop=True).merge(kept, on=["well", "site"])
    for conc, at in wells.groupby("concentration"):
        candidates = fields[fields["well"].isin(at["well"])]
        gap = (candidates["logodds_DMSO"] - at["logodds_DMSO"].median()).abs()
        best = candidates.loc[gap.idxmin()]
        assert f'title="P1 {best["well"]} site {best["site"]}"' in html
        assert f"{conc:.3g} µM: {best['logodds_DMSO']:.2f}" in html


def test_no_images_leaves_the_thumbnails_out(scored, tmp_path):
    from hcs_cli.main import _group

    out = tmp_path / "plain.html"
    result = CliRunner().invoke(_group, ["report", str(scored), "--out", str(out), "--no-images"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "data:image/jpeg" not in text and "Control fields" not in text
    assert 'data-well="' in text  # the plate grid still opens each well's scores
    assert "background-image:url(data:" not in text and len(text) < (scored / "report.html").stat().st_size


@pytest.mark.browser
def test_clicking_a_well_shows_its_fields_and_the_page_makes_no_request(scored, tmp_path):
    if chromium_executable() is None:
        pytest.skip("chromium is not installed (make test installs it: apt-get install chromium)")
    thumbs = pd.read_parquet(scored / THUMBNAILS_FILE)
    expected = sorted(thumbs.loc[thumbs["well"] == "B03", "site"])
    report = scored / "report.html"
    with Browser(tmp_path / "profile") as browser:
        browser.open(report.as_uri())
        cell = '#wells td[title^="B03 "]'
        panel = f"#well-{browser.evaluate(f'document.querySelector({cell!r}).dataset.well')}"
        assert browser.evaluate(f"document.querySelector({panel!r}).hidden") is True
        browser.click(cell)
        shown = browser.evaluate(
            f"""(async () => {{
              const panel = document.querySelector({panel!r});
              const thumbs = [...panel.querySelectorAll('.thumb')];
              const sizes = [];
              for (const t of thumbs) {{
                const url = getComputedStyle(t).backgroundImage.slice(5, -2);
                const img = new Image(); img.src = url; await img.decode();
                sizes.push([img.naturalWidth, t.getBoundingClientRect().width]);
              }}
              return {{hidden: panel.hidden, title: panel.querySelector('b').textContent,
                       captions: thumbs.map(t => t.parentElement.textContent), sizes: sizes,
                       others: document.querySelectorAll('.well-panel:not([hidden])').length}};
            }})()"""
        )
        urls = browser.requested_urls()
    assert shown["hidden"] is False and shown["others"] == 1 and shown["title"] == "P1 B03"
    assert [int(re.match(r"site (\d+)", c).group(1)) for c in shown["captions"]] == expected
    assert all(natural == 80 and width > 100 for natural, width in shown["sizes"])  # decoded, displayed
    assert urls and all(u.startswith(("file://", "data:")) for u in urls), urls
    assert np.sum([u.startswith("file://") for u in urls]) == 1  # the report itself, nothing else
