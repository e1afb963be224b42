"""What a pipeline run did: its steps as recorded, the `--json` summary and the readable table."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mlops_nb import records
from mlops_nb.pipelines.steps import STEPS


@dataclass
class StepResult:
    """One step as recorded."""

    name: str
    run_id: str | None = None
    status: str = "PENDING"  # FINISHED | FAILED | SKIPPED | KILLED
    seconds: float = 0.0
    error: str | None = None
    kind: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    """What a pipeline run did; ``to_dict()`` is the ``--json`` summary."""

    pipeline: str
    run_id: str
    experiment_id: str
    env: str | None
    parameters: dict[str, Any]
    status: str = "RUNNING"
    steps: list[StepResult] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    model_uri: str | None = None
    training_run_id: str | None = None
    model_version: str | None = None
    error: str | None = None
    seconds: float = 0.0
    reports: dict[str, Any] = field(default_factory=dict, repr=False)  # gate name -> its report object

    def step(self, name: str) -> StepResult | None:
        """The recorded step called `name`."""
        return next((s for s in self.steps if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the gate reports are in the step details and artifacts)."""
        summary = dataclasses.asdict(dataclasses.replace(self, reports={}))
        summary.pop("reports")
        return summary


def render(result: PipelineResult) -> str:
    """A readable summary table of a pipeline result."""
    lines = [f"pipeline {result.pipeline}  run {result.run_id}  {result.status}  ({result.seconds:.1f} s)"]
    width = max(len(step.name) for step in STEPS)
    for s in result.steps:
        note = s.error or ", ".join(
            f"{k}={v}"
            for k, v in s.details.items()
            if k in {"rows", "passed", "version", "model_uri", "attempt"}
        )
        lines.append(f"  {s.name:<{width}}  {s.status:<8}  {s.seconds:6.1f} s  {note}")
    if result.metrics:
        shown = {k: v for k, v in result.metrics.items() if "." not in k}
        lines.append("  metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in shown.items()))
    gate = result.step(records.STEP_MODEL_VALIDATION)
    if gate is not None and gate.details.get("table"):
        lines.append("  model gate:")
        lines.extend("    " + line for line in str(gate.details["table"]).splitlines())
    if result.model_version:
        lines.append(f"  registered version {result.model_version} (alias challenger)")
    return "\n".join(lines)
