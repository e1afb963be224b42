"""Pipeline runs that must fail loudly: bad parameters, failing cells, dead and hung kernels, gates."""

from __future__ import annotations

import json

import nbformat
import pytest

from mlops_nb import cli, records
from mlops_nb.exceptions import ConfigError, PipelineFailedError
from mlops_nb.pipelines import run, spec
from tests.integration.pipeline_project import MODEL_NAME, Project, make_data, project_fixture  # noqa: F401 (the fixture)


def _failed(project: Project, *params: str) -> run.PipelineResult:
    options = run.RunOptions(parameters=dict(p.split("=", 1) for p in params), progress=False)
    with pytest.raises(PipelineFailedError) as caught:
        run.run(project.pipeline, options)
    result = caught.value.result
    assert isinstance(result, run.PipelineResult)
    assert result.status == "FAILED"
    parent = project.client.get_run(result.run_id)
    assert parent.info.status == "FAILED"
    assert parent.data.tags[records.TAG_ERROR] == result.error
    return result


def test_notebook_without_parameters_cell_is_rejected(project: Project, capsys) -> None:
    nb = nbformat.read(project.notebook, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("tags", None)
    nbformat.write(nb, project.notebook)
    with pytest.raises(ConfigError, match="parameters"):
        spec.load(project.pipeline)
    assert cli.main(["validate", str(project.notebook), "--static", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [p["check"] for p in report["problems"]] == ["parameters"]
    assert "tag `parameters`" in report["problems"][0]["fix"]


def test_wrong_parameter_type_is_rejected_before_any_run(project: Project, capsys) -> None:
    assert cli.main(["run", str(project.pipeline), "-p", "C=abc", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "C='abc'" in err
    assert "expected float" in err
    assert project.client.search_runs([e.experiment_id for e in project.client.search_experiments()]) == []


def test_unknown_parameter_lists_the_known_ones(project: Project, capsys) -> None:
    assert cli.main(["run", str(project.pipeline), "-p", "n_trees=3", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Unknown parameter(s) n_trees" in err
    assert "C: float" in err
    assert "mode: Literal['ok', 'raise', 'exit', 'hang']" in err


def test_a_cell_that_raises_fails_the_step_and_keeps_the_partial_notebook(project: Project) -> None:
    result = _failed(project, "mode=raise")
    assert [s.name for s in result.steps] == ["ingestion", "data_validation", "training"]
    training = project.steps(result.run_id)["training"]
    assert training.info.status == "FAILED"
    assert training.data.tags[records.TAG_ERROR_KIND] == "cell_error"
    assert training.data.tags[records.TAG_ERROR_CELL] == "5"
    assert "boom from the notebook" in training.data.tags[records.TAG_ERROR]
    out = project.client.download_artifacts(
        training.info.run_id, "notebook/classifier.ipynb", str(project.root)
    )
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors[0]["evalue"] == "boom from the notebook"
    assert project.client.search_registered_models() == []


def test_a_dead_kernel_is_reported_with_its_exit_code_after_retries(project: Project) -> None:
    project.write_pipeline(retries={"attempts": 2, "backoff": 0.1, "when": ["dead_kernel"]})
    result = _failed(project, "mode=exit")
    attempts = [s for s in result.steps if s.name == "training"]
    assert [s.kind for s in attempts] == ["dead_kernel", "dead_kernel"]
    assert "exit code 1" in result.error
    runs = project.client.search_runs(
        [result.experiment_id],
        f"tags.`{records.TAG_PIPELINE_STEP}` = 'training'",
        order_by=["attributes.start_time ASC"],
    )
    assert [r.data.tags[records.TAG_PIPELINE_ATTEMPT] for r in runs] == ["1", "2"]
    assert all(r.data.tags[records.TAG_KERNEL_EXIT_CODE] == "1" for r in runs)
    assert all(r.info.status == "FAILED" for r in runs)


def test_a_hung_cell_is_stopped_by_the_cell_timeout(project: Project) -> None:
    project.write_pipeline(timeouts={"cell": 5, "run": 300})
    result = _failed(project, "mode=hang")
    training = project.steps(result.run_id)["training"]
    assert training.data.tags[records.TAG_ERROR_KIND] == "timeout"
    assert training.data.tags[records.TAG_ERROR_CELL] == "5"
    assert "per-cell timeout of 5 s" in result.error


def test_a_dropped_column_fails_the_data_gate(project: Project) -> None:
    first = run.run(project.pipeline, run.RunOptions(progress=False))
    make_data(project.data, seed=1, drop="x3")
    result = _failed(project)
    assert result.error.startswith("data_validation: Data gate failed")
    assert "x3" in result.error
    gate = project.steps(result.run_id)["data_validation"]
    assert gate.data.tags[records.TAG_GATE_PASSED] == "false"
    report = project.artifact_json(gate.info.run_id, records.ARTIFACT_DATA_REPORT)
    assert first.run_id in report["reference_source"]
    assert any(c["check"] == "missing_column" and c["verdict"] == "fail" for c in report["checks"])
    assert "training" not in project.steps(result.run_id)
    versions = project.client.search_model_versions(f"name = '{MODEL_NAME}'")
    assert [v.version for v in versions] == [1]


def test_a_candidate_worse_than_the_champion_is_not_registered(project: Project) -> None:
    from mlops_nb.registry.promotion import promote

    gate = {"test_accuracy": {"threshold": 0.3, "min_absolute_change": 0.001, "greater_is_better": True}}
    project.write_pipeline(gates={"model": gate})
    first = run.run(project.pipeline, run.RunOptions(progress=False))
    promote(MODEL_NAME, first.model_version or "", force=True, reason="first model")
    project.client.set_registered_model_alias(MODEL_NAME, "challenger", "1")
    aliases = dict(project.client.get_registered_model(MODEL_NAME).aliases)
    assert aliases == {"champion": 1, "challenger": 1}
    result = _failed(project, "C=0.0001", "max_iter=5")
    assert result.error.startswith("model_validation: Model gate failed")
    gate = project.steps(result.run_id)["model_validation"]
    report = project.artifact_json(gate.info.run_id, records.ARTIFACT_MODEL_REPORT)
    failed = [c for c in report["checks"] if c["verdict"] == "fail"]
    assert [c["kind"] for c in failed] == ["min_absolute_change"]
    assert failed[0]["baseline"] == pytest.approx(first.metrics["test_accuracy"])
    model = project.client.get_registered_model(MODEL_NAME)
    assert model.aliases == aliases  # champion and challenger untouched
    assert len(project.client.search_model_versions(f"name = '{MODEL_NAME}'")) == 1


def test_the_whole_run_timeout_kills_the_kernel(project: Project) -> None:
    project.write_pipeline(timeouts={"cell": 300, "run": 12})
    result = _failed(project, "mode=hang")
    training = project.steps(result.run_id)["training"]
    assert training.data.tags[records.TAG_ERROR_KIND] == "timeout"
    assert "whole-run timeout expired in cell 5" in result.error
    assert result.seconds < 60


def test_the_watermark_column_is_left_out_of_the_data_gate(project: Project) -> None:
    import pandas as pd

    batches = project.root / "batches"
    batches.mkdir()
    for day in (1, 2):
        make_data(batches / f"day-{day}.csv", seed=day)
        frame = pd.read_csv(batches / f"day-{day}.csv")
        frame.assign(day=day).to_csv(batches / f"day-{day}.csv", index=False)
        if day == 1:
            project.write_pipeline(data={"source": str(batches / "*.csv"), "watermark": "day"})
            first = run.run(project.pipeline, run.RunOptions(progress=False))
            assert first.step("ingestion").details["rows"] == 400
    second = run.run(project.pipeline, run.RunOptions(progress=False))
    assert second.step("ingestion").details["rows"] == 400  # only day 2
    assert second.step("data_validation").details["passed"] is True
    report = project.artifact_json(
        project.steps(second.run_id)["data_validation"].info.run_id, records.ARTIFACT_DATA_REPORT
    )
    assert first.run_id in report["reference_source"]
    assert "day" not in {c["column"] for c in report["checks"]}


def test_the_error_line_gives_the_hint_once(project: Project, capsys) -> None:
    project.write_pipeline(data={"source": str(project.root / "nothing-*.csv")})
    assert cli.main(["run", str(project.pipeline), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "failed at ingestion: Data source" in err
    assert err.count("Fix `data.source`") == 1


def test_sigterm_marks_the_step_and_the_pipeline_run_killed(project: Project) -> None:
    from tests.integration.pipeline_project import terminate_when_training

    code = terminate_when_training(
        project, ["run", str(project.pipeline), "-p", "mode=hang", "--no-progress"]
    )
    assert code == 130
    runs = project.client.search_runs([e.experiment_id for e in project.client.search_experiments()])
    statuses = {r.data.tags.get(records.TAG_PIPELINE_STEP, "pipeline"): r.info.status for r in runs}
    assert statuses == {
        "pipeline": "KILLED",
        "ingestion": "FINISHED",
        "data_validation": "FINISHED",
        "training": "KILLED",
    }


def test_a_relative_gate_on_a_slice_metric_compares_with_the_champions_slice(project: Project) -> None:
    from mlops_nb.registry.promotion import promote

    gate = {"test_accuracy.segment.1": {"min_relative_change": 0.0, "greater_is_better": True}}
    project.write_pipeline(gates={"model": gate})
    first = run.run(project.pipeline, run.RunOptions(progress=False))
    promote(MODEL_NAME, first.model_version or "", force=True, reason="first model")
    second = run.run(project.pipeline, run.RunOptions(progress=False))  # the same model again: no worse
    check = project.artifact_json(
        project.steps(second.run_id)["model_validation"].info.run_id, records.ARTIFACT_MODEL_REPORT
    )["checks"][0]
    assert check["verdict"] == "pass"
    assert check["baseline"] == pytest.approx(first.metrics["test_accuracy.segment.1"])
