"""`mlops-nb deploy-check MODEL@ALIAS`: is a model version fit to be deployed here?

Four checks, each with a verdict, a sentence and the values behind it:
- load: the model loads in this environment;
- signature: it accepts its recorded input example and rejects a malformed copy of it with a clear error;
- latency: p50 and p95 of repeated one-row calls on the example, within the pipeline file's
  `serving.latency_budget_ms` (not judged when no budget is given);
- packages: the model's requirements are installed here at the versions recorded at training (the training
  run's `environment/packages.txt`); every other difference of the environment is listed too.
The result is recorded on the model version (`records.TAG_DEPLOY_CHECK_*`) and read by promotion, the panel and
the audit report.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import records, store
from mlops_nb.serving import target as target_mod

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

    from mlops_nb.pipelines.spec import PipelineSpec

LOAD, SIGNATURE, LATENCY, PACKAGES = "load", "signature", "latency", "packages"
_REPORT_LIMIT = 20000  # characters of the JSON report kept in the version's tag
_LISTED = 50  # environment differences kept in the report


@dataclass(frozen=True)
class Check:
    """One deployment check: passed (None: not judged), a sentence, the values behind it."""

    name: str
    passed: bool | None
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    """The result of a deploy-check of one model version."""

    model: str
    alias: str
    version: str
    at: str
    checks: list[Check]

    @property
    def passed(self) -> bool:
        """True when no check failed (a check not judged does not fail)."""
        return all(check.passed is not False for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {**asdict(self), "passed": self.passed}

    def summary(self) -> str:
        """One line per check."""
        marks = {True: "ok", False: "FAILED", None: "not judged"}
        return "\n".join(f"{c.name}: {marks[c.passed]}: {c.message}" for c in self.checks)


def deploy_check(
    ref: str,
    *,
    pipeline: str | Path | None = None,
    calls: int = 200,
    record: bool = True,
    client: MlflowClient | None = None,
) -> Report:
    """Check the model version `ref` (MODEL@ALIAS) for deployment and record the result on it.

    Parameters
    ----------
    ref: MODEL@ALIAS.
    pipeline: pipeline file whose `serving.latency_budget_ms` applies (default: the one the version's
        pipeline run names).
    calls: one-row calls timed for the latency check.
    record: write the result into the version's tags.

    Raises
    ------
    UsageError, NotFoundError: a malformed reference, an unknown model or alias.
    """
    from mlops_nb.exceptions import UsageError

    if calls < 10:
        raise UsageError(f"--calls {calls} is too few to measure a p95.", hint="Give at least 10.")
    client = client or store.client()
    found = target_mod.resolve(ref, client)
    spec, origin = _spec(client, found, pipeline)
    checks: list[Check] = []
    started = time.perf_counter()
    try:
        model = target_mod.load(found.version, client)
    except Exception as exc:
        checks.append(Check(LOAD, False, str(exc)))
        model = None
    else:
        seconds = time.perf_counter() - started
        checks.append(Check(LOAD, True, f"Loaded in {seconds:.2f} s.", {"seconds": round(seconds, 3)}))
    example = target_mod.input_example(model) if model is not None else None
    if model is not None:
        checks.append(_signature(model, example))
        checks.append(_latency(model, example, spec, origin, calls))
    checks.append(_packages(client, found))
    report = Report(found.name, found.alias, found.number, _now(), checks)
    if record:
        _record(client, report)
    return report


def _spec(client: MlflowClient, found: target_mod.Target, pipeline: str | Path | None) -> tuple[Any, str]:
    from mlops_nb.pipelines import spec as spec_mod
    from mlops_nb.registry.promotion_gates import pipeline_spec

    if pipeline is not None:
        return spec_mod.load(pipeline), str(pipeline)
    return pipeline_spec(client, found.version)


def malformed(example: pd.DataFrame) -> pd.DataFrame:
    """A copy of the example the signature must refuse: its first column left out."""
    return example.drop(columns=[example.columns[0]])


def _signature(model: Any, example: pd.DataFrame | None) -> Check:
    if model.metadata.get_input_schema() is None:
        return Check(
            SIGNATURE,
            False,
            "The model has no signature: nothing checks its input.",
            {"hint": "Log it with an input_example (or signature=) so MLflow records one."},
        )
    if example is None or example.empty:
        return Check(SIGNATURE, False, "No input example was recorded with the model.", {})
    try:
        model.predict(example)
    except Exception as exc:
        return Check(SIGNATURE, False, f"The recorded input example is refused: {_line(exc)}", {})
    bad = malformed(example)
    details = {"example_rows": len(example), "malformed": f"without column {example.columns[0]!r}"}
    try:
        model.predict(bad)
    except Exception as exc:
        details["error"] = _naming(exc, str(example.columns[0]))
        clear = str(example.columns[0]) in details["error"]
        message = f"Accepts the input example; refuses one without {example.columns[0]!r}" + (
            " naming the column." if clear else ", without naming the column."
        )
        return Check(SIGNATURE, clear, message, details)
    return Check(
        SIGNATURE, False, f"Accepts an input without {example.columns[0]!r}: nothing is checked.", details
    )


def _latency(
    model: Any, example: pd.DataFrame | None, spec: PipelineSpec | None, origin: str, calls: int
) -> Check:
    import numpy as np

    if example is None or example.empty:
        return Check(LATENCY, False, "No input example to time the model on.", {})
    row = example.head(1)
    try:
        for _ in range(5):
            model.predict(row)
    except Exception as exc:
        return Check(LATENCY, False, f"The model fails on its own example: {_line(exc)}", {})
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        model.predict(row)
        times.append((time.perf_counter() - start) * 1000)
    measured = {"p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95))}
    details: dict[str, Any] = {"calls": calls, **{k: round(v, 3) for k, v in measured.items()}}
    budget = dict(spec.latency_budget_ms) if spec is not None else {}
    shown = f"p50 {measured['p50']:.2f} ms, p95 {measured['p95']:.2f} ms over {calls} one-row calls"
    if not budget:
        where = f"{spec.path} has no serving.latency_budget_ms" if spec is not None else origin
        return Check(LATENCY, None, f"{shown}; no budget ({where}).", details)
    details["budget_ms"] = budget
    over = [
        f"{name} {measured[name]:.2f} ms > {limit:g} ms"
        for name, limit in budget.items()
        if measured[name] > limit
    ]
    if over:
        return Check(LATENCY, False, f"Over budget: {', '.join(over)}.", details)
    limits = ", ".join(f"{name} {limit:g} ms" for name, limit in budget.items())
    return Check(LATENCY, True, f"{shown}, within the budget ({limits}).", details)


def _packages(client: MlflowClient, found: target_mod.Target) -> Check:
    from mlops_nb.capture import code
    from mlops_nb.pipelines.reproduce import _packages as parse_packages
    from mlops_nb.pipelines.reproduce import environment_changes

    recorded_text = _recorded_packages(client, found.version.run_id)
    required = _requirements(client, found)
    current = parse_packages(code.packages())
    recorded = parse_packages(recorded_text or "")
    differences = []
    for name, pin in required.items():
        wanted = pin or recorded.get(name)
        if current.get(name) is None or (wanted is not None and current[name] != wanted):
            differences.append({"package": name, "recorded": wanted, "current": current.get(name)})
    environment = environment_changes(recorded_text, code.packages()) if recorded_text else []
    details = {
        "requirements": required,
        "differences": differences,
        "environment_differences": environment[:_LISTED],
        "environment_differences_count": len(environment),
        "recorded": bool(recorded_text),
    }
    listed = ", ".join(
        f"{d['package']} {d['recorded'] or '(any)'} -> {d['current'] or '(not installed)'}"
        for d in differences
    )
    others = (
        f" ({len(environment)} packages of the whole environment differ from training)" if environment else ""
    )
    if differences:
        return Check(PACKAGES, False, f"Differs from training: {listed}.{others}", details)
    if not recorded_text:
        return Check(
            PACKAGES,
            None,
            f"The model's {len(required)} requirements are installed; training recorded no packages.",
            details,
        )
    return Check(PACKAGES, True, f"The model's {len(required)} requirements match training.{others}", details)


def _recorded_packages(client: MlflowClient, run_id: str | None) -> str:
    import tempfile

    if not run_id:
        return ""
    with tempfile.TemporaryDirectory(prefix="mlops_nb-") as folder:
        try:
            local = client.download_artifacts(run_id, records.ARTIFACT_PACKAGES, folder)
        except Exception:  # a run without the artifact (not tracked by mlops_nb) or deleted
            return ""
        return Path(local).read_text(encoding="utf-8")


def _requirements(client: MlflowClient, found: target_mod.Target) -> dict[str, str | None]:
    """The model's pip requirements: name -> pinned version (None when not pinned)."""
    import re

    import mlflow.pyfunc

    try:
        path = mlflow.pyfunc.get_model_dependencies(target_mod.location(found.version, client))
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except Exception:
        return {}
    required: dict[str, str | None] = {}
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        match = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(?:==\s*([^\s;,]+))?", line)
        if line and not line.startswith("-") and match:
            required[match[1].lower().replace("_", "-").replace(".", "-")] = match[2]
    return required


def _record(client: MlflowClient, report: Report) -> None:
    text = json.dumps(report.to_dict(), default=str)
    if len(text) > _REPORT_LIMIT:
        slim = report.to_dict()
        for check in slim["checks"]:
            check["details"].pop("environment_differences", None)
        text = json.dumps(slim, default=str)[:_REPORT_LIMIT]
    store.Writer(client).set_version_tags(
        report.model,
        report.version,
        {
            records.TAG_DEPLOY_CHECK_VERDICT: records.DEPLOY_CHECK_PASSED
            if report.passed
            else records.DEPLOY_CHECK_FAILED,
            records.TAG_DEPLOY_CHECK_AT: report.at,
            records.TAG_DEPLOY_CHECK_SUMMARY: report.summary()[:4000],
            records.TAG_DEPLOY_CHECK_REPORT: text,
        },
    )


def recorded(tags: dict[str, str]) -> dict[str, Any] | None:
    """The last deploy-check recorded in a version's tags (None when it never ran)."""
    verdict = tags.get(records.TAG_DEPLOY_CHECK_VERDICT)
    if not verdict:
        return None
    try:
        report = json.loads(tags.get(records.TAG_DEPLOY_CHECK_REPORT) or "{}")
    except ValueError:  # cut at the limit
        report = {}
    return {
        "verdict": verdict,
        "at": tags.get(records.TAG_DEPLOY_CHECK_AT),
        "summary": tags.get(records.TAG_DEPLOY_CHECK_SUMMARY),
        "checks": [
            {"name": c.get("name"), "passed": c.get("passed"), "message": c.get("message")}
            for c in report.get("checks", [])
        ],
    }


def render(report: Report) -> str:
    """The readable report."""
    head = f"deploy-check {report.model}@{report.alias} (v{report.version}): {'PASSED' if report.passed else 'FAILED'}"
    return head + "\n" + "\n".join(f"  {line}" for line in report.summary().splitlines())


def _naming(exc: BaseException, column: str) -> str:
    """The line of the error that names `column` (MLflow's message starts by repeating the data)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return next((line[:400] for line in lines if column in line and "Error" in line), _line(exc))


def _line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:400]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
