"""The audit report of a model version: one self-contained HTML page a reviewer reads before approving.

Sections: lineage (release, notebook hash, commit, parameters, data digests with their statistics), the gate
tables (at registration, in the pipeline run, and the promotion gates now), evaluation per slice, the last
reproduction (`mlops-nb reproduce`: verdict, recorded vs reproduced metrics), every promotion, request, approval
and rollback with who, when and why, and deployments (none recorded yet).
Every value is escaped. The report is attached to the version's pipeline run (else its training run) under
`records.ARTIFACT_AUDIT_DIR`, and the version's tag `records.TAG_AUDIT_REPORT` says where.
"""

from __future__ import annotations

import contextlib
import html
import json
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import records, store
from mlops_nb.exceptions import NotFoundError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

SECTIONS = ("Lineage", "Gates", "Evaluation per slice", "Reproduction", "Promotions", "Deployments")
_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}th{background:#f3f3f3}"
    ".fail{color:#a00;font-weight:bold}.pass{color:#070}"
)


def write_report(model: str, version: str | int, path: Path | str | None = None) -> Path:
    """Write the audit report of `version` of `model` to `path` (default `<model>-v<version>-audit.html`)
    and attach it to the version; returns the path written.

    Raises NotFoundError when the version does not exist or has no run to attach the report to.
    """
    from mlops_nb.registry import promotion

    client = store.client()
    target = promotion._version(client, model, version)
    number = str(target.version)
    page = _page(client, target)
    out = Path(path or f"{model}-v{number}-audit.html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    run_id = (target.tags or {}).get(records.TAG_PIPELINE_RUN) or target.run_id
    if not run_id:
        raise NotFoundError(
            f"Version {number} of {model!r} has no run to attach its audit report to; it was written to {out}.",
            hint="Register versions from a tracked run or a pipeline run.",
        )
    name = f"{model}-v{number}.html"
    writer = store.writer()
    with tempfile.TemporaryDirectory(prefix="mlops_nb-") as folder:
        copy = Path(folder) / name
        shutil.copyfile(out, copy)
        writer.log_artifact(run_id, copy, records.ARTIFACT_AUDIT_DIR)
    location = f"runs:/{run_id}/{records.ARTIFACT_AUDIT_DIR}/{name}"
    writer.set_version_tags(model, number, {records.TAG_AUDIT_REPORT: location})
    return out


def _page(client: MlflowClient, version: ModelVersion) -> str:
    from mlops_nb.registry import promotion

    title = f"Audit report: {version.name} version {version.version}"
    aliases = ", ".join(version.aliases or []) or "none"
    moves = [
        m for m in promotion.history(version.name) if str(version.version) in (m.version, m.previous_version)
    ]
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p>Generated {_e(datetime.now(UTC).isoformat(timespec='seconds'))}. Aliases now: {_e(aliases)}.</p>",
        "<h2>Lineage</h2>",
        *_lineage(client, version),
        "<h2>Gates</h2>",
        *_gates(client, version),
        "<h2>Evaluation per slice</h2>",
        *_evaluation(client, version),
        "<h2>Reproduction</h2>",
        *_reproduction(client, version),
        "<h2>Promotions</h2>",
        _table(
            ("time", "action", "alias", "version", "actor", "reason", "forced", "previous version"),
            [
                (m.time, m.action, m.alias, m.version, m.actor, m.reason, m.forced, m.previous_version)
                for m in reversed(moves)
            ],
        )
        if moves
        else "<p>No promotion, approval or rollback is recorded for this version.</p>",
        "<h2>Deployments</h2>",
        *_deployments(version),
    ]
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _lineage(client: MlflowClient, version: ModelVersion) -> list[str]:
    tags = version.tags or {}
    pipeline_run = tags.get(records.TAG_PIPELINE_RUN)
    run_tags = _run(client, pipeline_run).data.tags if _run(client, pipeline_run) else {}
    training = _run(client, version.run_id)
    rows = [
        ("release", run_tags.get(records.TAG_RELEASE)),
        ("pipeline", run_tags.get(records.TAG_PIPELINE_NAME)),
        ("pipeline run", pipeline_run),
        ("training run", version.run_id),
        ("notebook hash", tags.get(records.TAG_NOTEBOOK_HASH)),
        ("git commit", tags.get(records.SOURCE_GIT_COMMIT)),
        ("git dirty", training.data.tags.get(records.TAG_GIT_DIRTY) if training else None),
        ("model source", version.source),
    ]
    out = [_table(("what", "value"), rows)]
    params = sorted(training.data.params.items()) if training else []
    out += [
        "<h3>Parameters</h3>",
        _table(("parameter", "value"), params) if params else "<p>None recorded.</p>",
    ]
    out.append("<h3>Data</h3>")
    digests = sorted(
        (key.removeprefix(records.TAG_MV_DATASET_DIGEST_PREFIX), value)
        for key, value in tags.items()
        if key.startswith(records.TAG_MV_DATASET_DIGEST_PREFIX)
    )
    out.append(_table(("dataset", "digest"), digests) if digests else "<p>No dataset digests recorded.</p>")
    for name, profile in _profiles(client, version, pipeline_run):
        out.append(f"<h4>Statistics of {_e(name)} ({_e(profile.get('num_rows'))} rows)</h4>")
        columns = profile.get("columns") or {}
        out.append(
            _table(
                ("column", "statistics"),
                [
                    (
                        column,
                        ", ".join(f"{k}={v}" for k, v in stats.items() if not isinstance(v, dict | list)),
                    )
                    for column, stats in columns.items()
                ],
            )
        )
    return out


def _profiles(client: MlflowClient, version: ModelVersion, pipeline_run: str | None) -> list[tuple[str, Any]]:
    """Statistics of the ingested data (pipeline run) and of each split the training run logged."""
    from mlops_nb.pipelines.reference import load_json

    found = []
    ingestion = _step(client, pipeline_run, records.STEP_INGESTION)
    if ingestion is not None:
        with contextlib.suppress(Exception):
            found.append(
                ("ingested data", load_json(client, ingestion.info.run_id, records.ARTIFACT_INGESTED_PROFILE))
            )
    if version.run_id:
        with contextlib.suppress(Exception):
            for item in client.list_artifacts(version.run_id, records.ARTIFACT_SPLITS_DIR):
                split = item.path.rsplit("/", 1)[-1].removesuffix(".json")
                found.append((f"split {split}", load_json(client, version.run_id, item.path)))
    return found


def _gates(client: MlflowClient, version: ModelVersion) -> list[str]:
    from mlops_nb.pipelines.reference import load_json
    from mlops_nb.registry import promotion

    tags = version.tags or {}
    recorded = sorted(
        (key.removeprefix(records.TAG_GATE_PREFIX), value)
        for key, value in tags.items()
        if key.startswith(records.TAG_GATE_PREFIX)
    )
    out = [
        "<h3>Recorded at registration</h3>",
        _table(("gate", "value"), recorded) if recorded else "<p>None.</p>",
    ]
    pipeline_run = tags.get(records.TAG_PIPELINE_RUN)
    for step, artifact in (
        (records.STEP_DATA_VALIDATION, records.ARTIFACT_DATA_REPORT),
        (records.STEP_MODEL_VALIDATION, records.ARTIFACT_MODEL_REPORT),
    ):
        run = _step(client, pipeline_run, step)
        report = None
        if run is not None:
            with contextlib.suppress(Exception):
                report = load_json(client, run.info.run_id, artifact)
        out.append(f"<h3>Pipeline step {_e(step)}</h3>")
        if not report:
            out.append("<p>No report recorded (no reference to compare with, or not run by a pipeline).</p>")
            continue
        checks = report.get("checks") or []
        headers = tuple(dict.fromkeys(key for check in checks for key in check))
        out += [
            f"<p>{_e(report.get('summary'))}</p>",
            _table(headers, [[c.get(h) for h in headers] for c in checks]),
        ]
    out.append("<h3>Promotion gates now (for champion)</h3>")
    try:
        gates = promotion.check_gates(version.name, str(version.version))
        out.append(_table(("gate", "verdict", "message"), [(g.name, g.passed, g.message) for g in gates]))
    except Exception as exc:  # the report is still worth having without them
        out.append(f"<p>The gates could not be checked: {_e(exc)}</p>")
    return out


def _evaluation(client: MlflowClient, version: ModelVersion) -> list[str]:
    from mlops_nb.pipelines.reference import load_json

    run = _step(client, (version.tags or {}).get(records.TAG_PIPELINE_RUN), records.STEP_EVALUATION)
    result = None
    if run is not None:
        with contextlib.suppress(Exception):
            result = load_json(client, run.info.run_id, records.ARTIFACT_EVALUATION)
    if not result:
        return ["<p>No evaluation recorded (the version was not made by a pipeline run).</p>"]
    overall = result.get("overall") or {}
    metrics = list(overall)
    rows = [("overall", result.get("rows"), *overall.values())]
    column = result.get("slice_column")
    rows += [
        (f"{column} = {value}", None, *(scores.get(m) for m in metrics))
        for value, scores in (result.get("slices") or {}).items()
    ]
    return [_table(("slice", "rows", *metrics), rows)]


def _reproduction(client: MlflowClient, version: ModelVersion) -> list[str]:
    """The version's last reproduction: its verdict and the recorded vs reproduced metrics."""
    from mlops_nb.pipelines.reference import load_json

    tags = version.tags or {}
    run_id = tags.get(records.TAG_REPRODUCE_RUN)
    if not run_id:
        return [
            f"<p>Not reproduced yet (mlops-nb reproduce {_e(version.name)} --version {_e(version.version)}).</p>"
        ]
    out = [
        _table(
            ("what", "value"),
            [
                ("verdict", tags.get(records.TAG_REPRODUCE_VERDICT)),
                ("reason", tags.get(records.TAG_REPRODUCE_SUMMARY)),
                ("when", tags.get(records.TAG_REPRODUCE_AT)),
                ("reproduction run", run_id),
            ],
        )
    ]
    report = None
    with contextlib.suppress(Exception):
        report = load_json(client, run_id, records.ARTIFACT_REPRODUCTION)
    if report:
        out.append(
            f"<p>Data: {_e((report.get('data') or {}).get('origin'))}; tolerance {_e(report.get('tolerance'))}.</p>"
        )
        out.append(
            _table(
                ("metric", "recorded", "reproduced", "difference", "match"),
                [
                    (
                        m.get("metric"),
                        m.get("recorded"),
                        m.get("reproduced"),
                        m.get("difference"),
                        m.get("match"),
                    )
                    for m in report.get("metrics") or []
                ],
            )
        )
    return out


def _deployments(version: ModelVersion) -> list[str]:
    """The version's last deploy-check (each check), its exports, its last batch scoring and where it is served."""
    from mlops_nb.serving.deploy_check import recorded

    tags = version.tags or {}
    check = recorded(tags)
    out = []
    if check is None:
        out.append(f"<p>No deploy-check is recorded (mlops-nb deploy-check {_e(version.name)}@ALIAS).</p>")
    else:
        out.append(f"<p>Deploy-check {_e(check['at'])}: {_e(check['verdict'])}.</p>")
        rows = [
            (c["name"], {True: "passed", False: "failed"}.get(c["passed"], "not judged"), c["message"])
            for c in check["checks"]
        ]
        out.append(_table(("check", "verdict", "details"), rows))
    rows = []
    for key, value in sorted(tags.items()):
        if key.startswith(records.TAG_EXPORT_PREFIX):
            with contextlib.suppress(ValueError):
                found = json.loads(value)
                what = f"{found.get('path')} (sha256 {str(found.get('sha256'))[:12]}, parity on {found.get('rows_checked')})"
                rows.append(("export " + key.removeprefix(records.TAG_EXPORT_PREFIX), found.get("at"), what))
        elif key.startswith(records.TAG_DEPLOYMENT_PREFIX):
            rows.append(("served", None, value))
    if tags.get(records.TAG_BATCH_LAST_RUN):
        rows.append(("batch scoring", None, f"last run {tags[records.TAG_BATCH_LAST_RUN]}"))
    out.append(
        _table(("what", "when", "details"), rows)
        if rows
        else "<p>No export, batch scoring or deployment is recorded.</p>"
    )
    return out


def _step(client: MlflowClient, pipeline_run: str | None, step: str) -> Any:
    from mlops_nb.pipelines.reference import pipeline_step

    if not pipeline_run:
        return None
    with contextlib.suppress(Exception):
        return pipeline_step(pipeline_run, step, client=client)
    return None


def _run(client: MlflowClient, run_id: str | None) -> Any:
    if not run_id:
        return None
    with contextlib.suppress(Exception):
        return client.get_run(run_id)
    return None


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    if value is True or value in ("pass", "passed"):
        return f'<td class="pass">{_e(value)}</td>'
    if value is False or value in ("fail", "failed"):
        return f'<td class="fail">{_e(value)}</td>'
    return f"<td>{_e(value)}</td>"


def _e(value: Any) -> str:
    """Escaped text of a value ("-" for none)."""
    return html.escape("-" if value is None else str(value))
