"""`data: {dataset: NAME, version: latest|N}` in a pipeline file: parsed, and errors name the key and its line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlops_nb.exceptions import ConfigError
from mlops_nb.pipelines import spec

NOTEBOOK = Path(__file__).parent.parent / "integration" / "notebooks" / "classifier.ipynb"
TEXT = """\
notebook: classifier.ipynb
data:
{data}
evaluation: {{target: label}}
model: {{name: demo-model}}
environments:
  dev: {{data: {{dataset: sales-dev, version: 2}}}}
"""


def _load(tmp_path: Path, data: str) -> spec.PipelineSpec:
    shutil.copy(NOTEBOOK, tmp_path / "classifier.ipynb")
    path = tmp_path / "pipeline.yaml"
    path.write_text(TEXT.format(data=data), encoding="utf-8")
    return spec.load(path)


def test_a_dataset_source_names_the_dataset_and_version(tmp_path: Path) -> None:
    loaded = _load(tmp_path, "  dataset: sales\n  version: latest")
    assert (loaded.data.dataset, loaded.data.version, loaded.data.source) == ("sales", None, "dataset:sales")
    dev = loaded.for_env("dev").data
    assert (dev.dataset, dev.version) == ("sales-dev", 2)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("  dataset: sales\n  version: 0", ":4: `data.version` must be latest or 1, 2, ..."),
        ("  dataset: sales\n  version: newest", ":4: `data.version` must be latest"),
        ("  dataset: sales\n  source: a.csv", ":3: `data.dataset` and `source` are both given"),
        ("  source: a.csv\n  version: 2", ":4: `data.version` goes with `dataset`"),
    ],
)
def test_dataset_source_errors_name_the_key_and_line(tmp_path: Path, data: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(".", r"\.")):
        _load(tmp_path, data)
