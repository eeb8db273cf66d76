"""docs/api.md: every ```python block runs, in order, on a tiny demo-like folder (synthetic screen, tiny model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mcnn_infer.synth import synthesize
from tests.fixtures.tiny_model import make_tiny_model

PAGE = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def python_blocks(text: str) -> list[str]:
    """The bodies of the page's fenced ```python blocks, in order."""
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory) -> Path:
    """``demo-out`` as `make demo` lays it out: ``screen/`` (plates, platemap.csv, truth) and ``model/``."""
    root = tmp_path_factory.mktemp("demo-out")
    synthesize(
        root / "screen",
        size=(64, 80),
        replicates=4,
        compounds_per_moa=2,
        concentrations=4,
        moas=["Actin disruptors", "Microtubule destabilizers"],
        controls=8,
        positive_controls=8,
        control_layout="interleaved",
        progress=False,
    )
    make_tiny_model(root / "model", size=(64, 80), formats=("onnx", "openvino-fp32"))
    return root


def test_the_page_has_an_example_of_every_api_function():
    text = PAGE.read_text(encoding="utf-8")
    code = "\n".join(python_blocks(text))
    for name in ("score", "analyze", "evaluate", "report", "load_results", "open_model"):
        assert f"api.{name}(" in code, name


def test_the_api_page_examples_run(tiny_demo, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HCS_DEMO_OUT", str(tiny_demo))
    monkeypatch.setenv("HCS_API_OUT", str(tmp_path / "api-out"))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_api_md"}
    for n, block in enumerate(python_blocks(PAGE.read_text(encoding="utf-8")), start=1):
        exec(compile(block, f"docs/api.md block {n}", "exec"), namespace)
    printed = capsys.readouterr().out
    assert (tmp_path / "api-out" / "results" / "report.html").is_file()
    assert "not a folder; expected a results folder written by hcs score" in printed
    assert namespace["res"].potency is not None and len(namespace["res"].qc) == 1
