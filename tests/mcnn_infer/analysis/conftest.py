from pathlib import Path

import pytest

from tests.mcnn_infer.analysis.fake_results import write_fake_results


@pytest.fixture
def fake_results_dir(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    write_fake_results(root)
    return root
