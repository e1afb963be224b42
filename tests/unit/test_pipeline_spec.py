"""Pipeline files: errors name the key and its line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlops_nb.exceptions import ConfigError
from mlops_nb.pipelines import spec

NOTEBOOK = Path(__file__).parent.parent / "integration" / "notebooks" / "classifier.ipynb"
GOOD = """\
name: demo
notebook: classifier.ipynb
parameters:
  C: 0.5
data:
  source: data.csv
evaluation:
  target: label
model:
  name: demo-model
gates:
  model:
    test_accuracy: {threshold: 0.5, greater_is_better: true}
environments:
  dev: {experiment: demo-dev, data: {source: dev.csv}}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(NOTEBOOK, tmp_path / "classifier.ipynb")
    return tmp_path


def _load(folder: Path, text: str) -> spec.PipelineSpec:
    path = folder / "pipeline.yaml"
    path.write_text(text, encoding="utf-8")
    return spec.load(path)


def test_a_good_file_resolves_paths_defaults_and_environments(folder: Path) -> None:
    loaded = _load(folder, GOOD)
    assert loaded.contract.parameters["C"].default == 0.5
    assert loaded.data.source == str(folder / "data.csv")
    assert loaded.test_split.stratify == "label"  # classification stratifies on the target by default
    dev = loaded.for_env("dev")
    assert (dev.experiment, dev.data.source) == ("demo-dev", str(folder / "dev.csv"))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("  C: 0.5", "  C: lots"), ":4: `parameters.C`"),
        (("  C: 0.5", "  depth: 3"), ":4: `parameters.depth`"),
        (("  name: demo-model", "  nme: demo-model"), ":10: `model.nme` is not a known key"),
        (("threshold: 0.5, greater_is_better: true", "threshold: 0.5"), ":13: `gates.model.test_accuracy`"),
        (("  target: label\n", "  target: label\n  task: ranking\n"), ":9: `evaluation.task` must be one of"),
        (("data:\n", "timeouts: {cell: -1}\ndata:\n"), ":5: `timeouts.cell` must be positive"),
        (("model:\n  name: demo-model\n", "model: [1, 2]\n"), ":9: `model` must be a mapping"),
        (("data:\n", "retries:\n  when: [oom]\ndata:\n"), ":6: `retries.when` must be a list of"),
        (("data:\n", "retries: {backoff: -1}\ndata:\n"), ":5: `retries.backoff` must be 0 or more"),
        (("  C: 0.5\n", "  C: 0.5\n  C: 0.7\n"), ":5: `parameters.C` is given twice (first on line 4)"),
        (
            ("  name: demo-model\n", "  name: demo-model\n  metric: test_acuracy\n"),
            ":11: `model.metric` names",
        ),
        (("    test_accuracy:", "    val_accuracy:"), ":13: `gates.model.val_accuracy` names the metric"),
        (
            ("data: {source: dev.csv}", "data: {watermark: day}"),
            ":15: `environments.dev.data.source` is required. Add `source:` under `data:`.",
        ),
        (
            ("  name: demo-model\n", "  metric: test_accuracy\n"),
            "`model.name` is required. Add `name:` under `model:`.",
        ),
        # names go into MLflow search filters and aliases: a quote broke `release` with a traceback
        (("name: demo", 'name: "it\'s <b>"'), ':1: `name` "it\'s <b>" is not a pipeline name'),
        (("  dev: {", '  "d\'v": {'), ":15: `environments.d'v` is not an environment name"),
    ],
)
def test_errors_name_the_key_and_the_line(folder: Path, change: tuple[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(folder, GOOD.replace(*change, 1))
    assert expected in str(caught.value)


def test_yaml_syntax_errors_give_the_line(folder: Path) -> None:
    with pytest.raises(ConfigError, match=r":3: not valid YAML"):
        _load(folder, "name: x\nnotebook: classifier.ipynb\nparameters: a: b\n")


def test_gates_may_name_a_slice_metric(folder: Path) -> None:
    text = GOOD.replace("  target: label\n", "  target: label\n  slice_column: segment\n").replace(
        "    test_accuracy:", "    test_accuracy.segment.1:"
    )
    assert list(_load(folder, text).model_gate) == ["test_accuracy.segment.1"]


def test_an_environments_data_source_keeps_the_watermark_filter(folder: Path) -> None:
    loaded = _load(folder, GOOD.replace("  source: data.csv\n", "  source: data.csv\n  watermark: day\n"))
    assert (loaded.for_env("dev").data.source, loaded.for_env("dev").data.watermark) == (
        str(folder / "dev.csv"),
        "day",
    )


def test_the_monitoring_section_gives_thresholds_and_its_errors_their_line(folder: Path) -> None:
    loaded = _load(folder, GOOD + "monitoring:\n  psi: 0.3\n  cooldown: 2h\n")
    assert (loaded.monitoring.psi, loaded.monitoring.cooldown_seconds, loaded.monitoring.alpha) == (
        0.3,
        7200,
        0.01,
    )
    assert _load(folder, GOOD).monitoring.cooldown == "6h"  # the README's defaults
    with pytest.raises(ConfigError, match=r":18: `monitoring.cooldown`"):
        _load(folder, GOOD + "monitoring:\n  psi: 0.3\n  cooldown: soon\n")
    with pytest.raises(
        ConfigError, match=r":17: `monitoring.psii` is not a known key|:17: `monitoring.psii`"
    ):
        _load(folder, GOOD + "monitoring:\n  psii: 0.3\n")
