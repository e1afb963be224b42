"""The contract (api/openapi.yaml) against the server's answers at its edges, each checked by the `api`
fixture: a NaN metric, a warning code the contract does not list, and split statistics written by
capture/profile.py for a column with no finite value and for a datetime column."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.entities import Metric, RunTag

from mlops_nb import config, records, store
from mlops_nb.capture import profile
from tests.server import contract


@dataclass
class Edges:
    root: Path
    experiment_id: str
    run_id: str


@pytest.fixture(scope="module")
def edges(tmp_path_factory: pytest.TempPathFactory) -> Edges:
    """A project of its own (the shared seeded store stays as the other tests expect it)."""
    root = tmp_path_factory.mktemp("contract-edges")
    (root / "mlops.toml").write_text('experiment = "edges"\n', encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv(records.ENV_PROJECT, raising=False)
        settings = config.load(root)
    experiment_id = store.experiment_id("edges", settings)
    client = store.client(settings)
    run_id = client.create_run(experiment_id, run_name="edges").info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric("loss", math.nan, 0, 0)],
        tags=[RunTag(records.TAG_WARNING_PREFIX + "custom_check", "true")],
    )
    frame = pd.DataFrame(
        {
            "empty": [math.nan, math.nan],
            "when": pd.to_datetime(["2024-01-01", "2024-02-01"]),
            "city": ["Oslo", "Bergen"],
        }
    )
    stats = profile.profile(frame, name="train", context="training", seed=7)
    client.log_dict(run_id, stats, records.split_artifact("train"))
    client.set_terminated(run_id)
    return Edges(root, experiment_id, run_id)


@pytest.fixture
def jp_server_config(edges: Edges, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The extension on the edge-case project instead of the shared seeded one."""
    monkeypatch.setenv(records.ENV_PROJECT, str(edges.root))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return {"ServerApp": {"jpserver_extensions": {"mlops_nb": True}}}


async def test_nan_metric_and_unlisted_warning_code_match_the_contract(api, edges: Edges):
    status, body = await api(f"experiments/{edges.experiment_id}/runs")
    assert status == 200, body
    [row] = body["runs"]
    assert row["metrics"] == {"loss": None}
    assert row["warnings"] == [{"code": "custom_check", "message": "custom_check"}]
    status, body = await api("compare", method="POST", body={"run_ids": [edges.run_id]})
    assert status == 200, body
    assert body["runs"][0]["metrics"] == {"loss": None}


async def test_captured_split_statistics_match_the_contract(api, edges: Edges):
    status, body = await api(f"runs/{edges.run_id}")
    assert status == 200, body
    [split] = body["splits"]
    empty, when = split["columns"]["empty"], split["columns"]["when"]
    assert empty["min"] is None and empty["max"] is None
    assert set(empty["quantiles"].values()) == {None}
    assert empty["percentiles"] == [None] * 101
    assert when["min"].startswith("2024-01-01") and when["max"].startswith("2024-02-01")
    assert sorted(top["value"] for top in split["columns"]["city"]["top"]) == ["Bergen", "Oslo"]


def test_contract_has_no_keys_split_off_by_a_comma():
    """An unquoted comma in a flow mapping (`{description: a, b}`) silently makes `b` a key with no value,
    which cuts the description short and, under `properties`, invents a property."""
    spec = yaml.safe_load(contract.SPEC.read_text(encoding="utf-8"))

    def empty_keys(node: object, path: str) -> list[str]:
        if isinstance(node, list):
            return [key for i, item in enumerate(node) for key in empty_keys(item, f"{path}[{i}]")]
        if not isinstance(node, dict):
            return []
        found = [f"{path}.{key}" for key, value in node.items() if value is None]
        return found + [k for key, value in node.items() for k in empty_keys(value, f"{path}.{key}")]

    assert empty_keys(spec, "openapi") == []
