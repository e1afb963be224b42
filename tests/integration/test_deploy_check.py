"""deploy-check, promotion's deploy-check requirement and ONNX export on a real registered model (a pipeline
run of a LogisticRegression logged with an input example)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml

from mlops_nb import records, store
from mlops_nb.cli import main
from mlops_nb.exceptions import ConfigError, NotFoundError, UsageError
from mlops_nb.pipelines import spec as spec_mod
from mlops_nb.serving import deploy_check
from tests.integration.pipeline_project import MODEL_NAME, Project
from tests.integration.serving_project import REF, served_project

BUDGET = {"latency_budget_ms": {"p50": 500, "p95": 1000}}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    yield from served_project(
        tmp_path_factory,
        serving=BUDGET,
        environments={"dev": {}, "prod": {"deploy_check": "required"}},
    )


def _tags() -> dict[str, str]:
    version = store.client().get_model_version_by_alias(MODEL_NAME, records.ALIAS_CHAMPION)
    return dict(version.tags)


def test_deploy_check_passes_and_is_recorded_on_the_version(project, capsys):
    assert main(["deploy-check", REF, "--calls", "30", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    checks = {c["name"]: c for c in report["checks"]}
    assert [c["name"] for c in report["checks"]] == ["load", "signature", "latency", "packages"]
    assert all(c["passed"] for c in checks.values()), checks
    assert "x1" in checks["signature"]["details"]["error"]  # the malformed copy lacks x1: named
    assert checks["latency"]["details"]["budget_ms"] == {"p50": 500.0, "p95": 1000.0}
    assert checks["latency"]["details"]["p95"] >= checks["latency"]["details"]["p50"] > 0
    assert "scikit-learn" in checks["packages"]["details"]["requirements"]
    tags = _tags()
    assert tags[records.TAG_DEPLOY_CHECK_VERDICT] == records.DEPLOY_CHECK_PASSED
    assert json.loads(tags[records.TAG_DEPLOY_CHECK_REPORT])["passed"] is True
    assert deploy_check.recorded(tags)["checks"][2]["name"] == "latency"


def _tight(project: Project):
    tight = project.root / "tight.yaml"
    raw = yaml.safe_load(project.pipeline.read_text())
    raw["serving"] = {"latency_budget_ms": {"p50": 0.0001}}
    tight.write_text(yaml.safe_dump(raw))
    return tight


def test_a_budget_the_model_cannot_meet_fails_and_says_by_how_much(project):
    report = deploy_check.deploy_check(REF, pipeline=_tight(project), calls=20)
    latency = next(c for c in report.checks if c.name == "latency")
    assert latency.passed is False and "p50" in latency.message and "> 0.0001 ms" in latency.message
    assert not report.passed
    assert _tags()[records.TAG_DEPLOY_CHECK_VERDICT] == records.DEPLOY_CHECK_FAILED


def test_package_differences_are_listed(project, monkeypatch):
    from mlops_nb.capture import code

    real = code.packages()
    changed = "\n".join(
        "scikit-learn==0.0.1" if line.lower().startswith("scikit-learn==") else line
        for line in real.splitlines()
    )
    monkeypatch.setattr(code, "packages", lambda: changed + "\n")
    report = deploy_check.deploy_check(REF, calls=10, record=False)
    packages = next(c for c in report.checks if c.name == "packages")
    assert packages.passed is False
    assert "scikit-learn" in packages.message and "0.0.1" in packages.message
    assert {d["package"] for d in packages.details["differences"]} == {"scikit-learn"}


def test_a_malformed_reference_or_unknown_alias_is_a_clear_error(project):
    with pytest.raises(UsageError, match="MODEL@ALIAS"):
        deploy_check.deploy_check("no-alias-here")
    with pytest.raises(NotFoundError, match=r"Its aliases: .*champion"):
        deploy_check.deploy_check(f"{MODEL_NAME}@nope")


def test_a_bad_latency_budget_names_its_line(project):
    raw = yaml.safe_load(project.pipeline.read_text())
    raw["serving"] = {"latency_budget_ms": {"p50": -1}}
    bad = project.root / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"latency_budget_ms.*p50.*positive"):
        spec_mod.load(bad)


def test_prod_promotion_requires_a_passing_deploy_check(project):
    from mlops_nb.registry import promotion

    version = store.client().get_model_version_by_alias(MODEL_NAME, records.ALIAS_CHAMPION).version
    store.writer().delete_version_tag(MODEL_NAME, version, records.TAG_DEPLOY_CHECK_VERDICT)

    def deploy_gate(env: str) -> list:
        return [g for g in promotion.check_gates(MODEL_NAME, version, env=env) if g.name == "deploy check"]

    assert deploy_gate("dev") == []  # not required there
    (missing,) = deploy_gate("prod")
    assert not missing.passed and "mlops-nb deploy-check" in missing.message
    deploy_check.deploy_check(REF, pipeline=_tight(project), calls=10)
    (failed,) = deploy_gate("prod")
    assert not failed.passed and "latency" in failed.message
    deploy_check.deploy_check(REF, calls=10)
    (passed,) = deploy_gate("prod")
    assert passed.passed, passed.message


def test_onnx_export_checks_parity_before_writing_and_is_recorded(project, capsys):
    import numpy as np
    import onnxruntime
    import pandas as pd

    out = project.root / "exported" / "model.onnx"
    assert main(["export", REF, "--format", "onnx", "-o", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["rows_checked"]) == {"input example", "test split"}
    assert result["rows_checked"]["test split"] == 100  # 25 % of the 400 rows
    assert result["max_probability_diff"] <= 1e-5
    assert set(result["latency_ms"]) == {"original", "onnxruntime"}
    # the written file predicts what the model does, on rows it never saw
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    rows = pd.read_csv(project.data).drop(columns=["label"])
    labels, proba = session.run(None, {"input": rows.to_numpy(dtype=np.float32)})
    import mlflow.sklearn

    from mlops_nb.serving.target import location

    version = store.client().get_model_version_by_alias(MODEL_NAME, records.ALIAS_CHAMPION)
    model = mlflow.sklearn.load_model(location(version, store.client()))
    np.testing.assert_allclose(proba, model.predict_proba(rows), atol=1e-5)
    assert (labels == model.predict(rows)).mean() > 0.99  # a float32 tie may flip one
    recorded = json.loads(_tags()[records.export_tag("onnx")])
    assert recorded["path"] == str(out) and recorded["sha256"] == result["sha256"]


def test_onnx_parity_failure_writes_nothing(project):
    from mlops_nb.exceptions import ExportError
    from mlops_nb.serving import onnx_export

    out = project.root / "never.onnx"
    # float32 arithmetic cannot match float64 probabilities to 1e-15: the check must refuse
    with pytest.raises(ExportError, match="probabilities differ"):
        onnx_export.export(REF, out, rtol=0, atol=1e-15)
    assert not out.exists()


def test_an_estimator_without_converter_is_refused_naming_the_step(project):
    import mlflow
    import numpy as np
    import pandas as pd
    from sklearn.neighbors import NearestCentroid
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from mlops_nb.exceptions import ExportError
    from mlops_nb.registry.register import register
    from mlops_nb.serving import onnx_export

    frame = pd.read_csv(project.data)
    X, y = frame[["x1", "x2"]], frame["label"]
    model = Pipeline([("scale", StandardScaler()), ("centroids", NearestCentroid())]).fit(X, y)
    client = store.client()
    run = store.writer().create_run(store.experiment_id("centroid"), {})
    with mlflow.start_run(run_id=run.info.run_id):
        info = mlflow.sklearn.log_model(model, name="model", input_example=X.head(3))
    register(run.info.run_id, info.model_uri, "centroid-model", client=client)
    store.writer().set_alias("centroid-model", "champion", "1")
    out = project.root / "centroid.onnx"
    with pytest.raises(ExportError, match=r"step 'centroids' \(NearestCentroid\) has no skl2onnx converter"):
        onnx_export.export("centroid-model@champion", out)
    assert not out.exists()
    assert np.isin(model.predict(X.head(5)), [0, 1]).all()


def test_the_panel_and_the_audit_report_show_the_deploy_check_and_export(project):
    from mlops_nb.explore import models
    from mlops_nb.registry import audit

    out = project.root / "audit" / "model.onnx"
    from mlops_nb.serving import onnx_export

    onnx_export.export(REF, out)
    deploy_check.deploy_check(REF, calls=10)
    version = store.client().get_model_version_by_alias(MODEL_NAME, records.ALIAS_CHAMPION).version
    detail = models.model_version(MODEL_NAME, str(version))
    assert detail["deploy_check"]["verdict"] == "passed"
    assert [c["name"] for c in detail["deploy_check"]["checks"]] == [
        "load",
        "signature",
        "latency",
        "packages",
    ]
    page = audit.write_report(MODEL_NAME, version, project.root / "audit.html").read_text()
    deployments = page.split("<h2>Deployments</h2>", 1)[1]
    assert "Deploy-check" in deployments and "<td>latency</td>" in deployments
    assert "export onnx" in deployments and str(out) in deployments
