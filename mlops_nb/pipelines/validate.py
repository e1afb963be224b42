"""``mlops-nb validate``: is this notebook ready to become a pipeline?

Static checks: a ``parameters``-tagged cell of typed literal assignments; no undefined names
(pyflakes over the code cells in order); no install commands (``!pip``, ``%pip``, ``%conda``); a
``%mlops track``. Dynamic check: restart-and-run-all in a fresh kernel (papermill) with the smoke
parameters and a timeout, attached to a validation run that must end with a logged model and at
least one metric. Every problem names the cell and the fix.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from mlops_nb import config, records, store
from mlops_nb.exceptions import ConfigError, NotebookFailedError
from mlops_nb.pipelines import parameters as params_mod
from mlops_nb.pipelines import run as run_mod
from mlops_nb.pipelines import spec as spec_mod
from mlops_nb.pipelines.execution import Execution, execute
from mlops_nb.pipelines.parameters import Problem

VALIDATION_EXPERIMENT = "mlops-nb-validate"
_INSTALL = re.compile(r"^\s*(!\s*(pip|pip3|conda|mamba|uv)\b|%\s*(pip|conda|mamba)\b|!.*-m\s+pip\b)")
_TRACK_MAGIC = re.compile(r"^\s*%mlops\s+track\b", re.M)
_MODULE_ALIAS = re.compile(r"^\s*import\s+mlops_nb\s+as\s+(\w+)", re.M)
_FROM_IMPORT = re.compile(r"^[ \t]*from\s+mlops_nb\s+import\s+(?:\(([\w\s,]+)\)|([\w \t,]+))", re.M)
_IPYTHON_NAMES = {"display", "get_ipython", "In", "Out", "exit", "quit"}


@dataclass
class ValidationReport:
    """Problems found; ``passed`` when there are none."""

    notebook: str
    problems: list[Problem] = field(default_factory=list)
    dynamic: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no check failed."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` output."""
        return {
            "notebook": self.notebook,
            "passed": self.passed,
            "problems": [asdict(p) for p in self.problems],
            "dynamic": self.dynamic,
        }


_SHELL_INSTALL = re.compile(
    r"^\s*(\S*/)?((pip3?|conda|mamba|micromamba)\s+install|uv\s+(pip\s+install|add))\b|-m\s+pip\s+install\b"
)
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}  # their body is Python
_SHELL_CELL_MAGICS = {"bash", "sh", "script", "system"}


def _cell_magic(source: str) -> str | None:
    """The name of the cell magic (``%%bash`` -> ``bash``) that the cell starts with, or None."""
    first = source.lstrip().split("\n", 1)[0]
    return first[2:].split(maxsplit=1)[0] if first.startswith("%%") and first[2:].strip() else None


def _code_lines(source: str) -> list[str]:
    """Cell lines with magics and shell escapes commented out (so pyflakes reads plain Python); the
    body of a cell magic that is not Python (``%%bash``, ``%%writefile``, ``%%sql``...) too."""
    magic = _cell_magic(source)
    if magic is not None and magic not in _PYTHON_CELL_MAGICS:
        return ["#" + ln for ln in source.splitlines()]
    return ["#" + ln if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines()]


def _tracks(code: str) -> bool:
    """True when `code` opens a run: `%mlops track`, or `track(...)` of mlops_nb under any import name."""
    if _TRACK_MAGIC.search(code):
        return True
    calls = {"mlops_nb.track", *(f"{alias}.track" for alias in _MODULE_ALIAS.findall(code))}
    for names in _FROM_IMPORT.findall(code):
        for item in "".join(names).split(","):
            found = re.fullmatch(r"\s*track(?:\s+as\s+(\w+))?\s*", item)
            if found:
                calls.add(found.group(1) or "track")
    return any(re.search(rf"(?<![\w.]){re.escape(call)}\s*\(", code) for call in calls)


def static_problems(nb: nbformat.NotebookNode) -> list[Problem]:
    """Every static problem of the notebook."""
    _, problems = params_mod.inspect(nb)
    problems = list(problems)
    combined: list[str] = []
    origin: list[tuple[int, int]] = []  # combined line -> (cell, line)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        shell = _cell_magic(cell.source) in _SHELL_CELL_MAGICS
        for number, line in enumerate(cell.source.splitlines(), start=1):
            if _INSTALL.match(line) or (shell and number > 1 and _SHELL_INSTALL.search(line)):
                problems.append(
                    Problem(
                        "install",
                        f"`{line.strip()}` installs packages at run time",
                        "Declare the dependency in the project (pyproject.toml / requirements) and delete "
                        "this line: pipeline runs must be reproducible.",
                        index,
                        number,
                    )
                )
        for number, line in enumerate(_code_lines(cell.source), start=1):
            combined.append(line)
            origin.append((index, number))
    if not _tracks("\n".join(c.source for c in nb.cells if c.cell_type == "code")):
        problems.append(
            Problem(
                "tracking",
                "the notebook never calls `%mlops track`",
                "Add a cell `%load_ext mlops_nb` and, after the parameters cell, `%mlops track`, so that "
                "pipeline runs attach to their training step.",
            )
        )
    seen = {(p.cell, p.line, p.message) for p in problems}  # a parameters cell's syntax error: once
    problems += [
        p for p in _undefined_names("\n".join(combined), origin) if (p.cell, p.line, p.message) not in seen
    ]
    return problems


def _undefined_names(source: str, origin: list[tuple[int, int]]) -> list[Problem]:
    from pyflakes import api, messages
    from pyflakes.reporter import Reporter

    class Collect(Reporter):
        def __init__(self) -> None:
            self.found: list[Any] = []
            self.syntax: list[tuple[int, str]] = []

        def flake(self, message: Any) -> None:
            self.found.append(message)

        def syntaxError(self, filename: str, msg: str, lineno: int, offset: int, text: str) -> None:
            self.syntax.append((lineno, msg))

        def unexpectedError(self, filename: str, msg: str) -> None:
            self.syntax.append((1, msg))

    reporter = Collect()
    api.check(source, "notebook", reporter)
    problems = []
    for lineno, msg in reporter.syntax:
        cell, line = origin[min(lineno, len(origin)) - 1] if origin else (None, None)
        problems.append(Problem("syntax", f"syntax error: {msg}", "Fix the syntax of this line.", cell, line))
    for message in reporter.found:
        if isinstance(message, messages.UndefinedName | messages.UndefinedLocal):
            name = message.message_args[0]
            if name in _IPYTHON_NAMES:
                continue
            cell, line = origin[message.lineno - 1]
            problems.append(
                Problem(
                    "undefined",
                    f"name `{name}` is used but never defined (in cell order)",
                    f"Define or import `{name}` here or in an earlier cell: a fresh run goes top to bottom.",
                    cell,
                    line,
                )
            )
    return problems


def _pipeline(
    pipeline: str | Path, path: Path, nb: nbformat.NotebookNode, env: str | None
) -> spec_mod.PipelineSpec:
    """The pipeline file (in environment `env`), read for a smoke run of the notebook at `path` (its own
    contract when the file names another notebook)."""
    spec = spec_mod.load(pipeline).for_env(env)
    if spec.notebook.resolve() != path:
        contract, _ = params_mod.inspect(nb)
        spec = dataclasses.replace(spec, notebook=path, contract=contract)
    return spec


def _pipeline_problem(exc: ConfigError, static: list[Problem]) -> list[Problem]:
    """A pipeline file that cannot be read, as a problem; none when it only trips over the notebook's
    parameters cell, whose problems the static checks list already."""
    if any(p.check == "parameters" for p in static) and f": {params_mod.INVALID_CELL}: " in exc.message:
        return []
    return [Problem("pipeline", exc.message, exc.hint or "")]


def validate(
    notebook: str | Path,
    *,
    pipeline: str | Path | None = None,
    smoke: dict[str, Any] | None = None,
    timeout: float = 600.0,
    dynamic: bool = True,
    kernel_name: str | None = None,
    env: str | None = None,
) -> ValidationReport:
    """Check `notebook` statically and, unless that fails or `dynamic` is False, by a smoke run.

    With `pipeline`, the pipeline file is checked first, and the smoke run is the training step of
    ``mlops-nb run``: the pipeline's parameters and data (as ``data_path``; of environment `env` when
    given), kernel and cell timeout.
    """
    path = Path(notebook).resolve()
    nb = params_mod.read_notebook(path)
    report = ValidationReport(str(path), static_problems(nb))
    spec = None
    if pipeline is not None:
        try:
            spec = _pipeline(pipeline, path, nb, env)
        except ConfigError as exc:
            report.problems += _pipeline_problem(exc, report.problems)
    given = dict(spec.smoke if spec else {}) | dict(smoke or {})
    values: dict[str, Any] = {}
    if spec is not None:
        try:  # what `mlops-nb run` refuses (a notebook without `data_path`), validate refuses alike
            values = run_mod.resolve_parameters(spec, given, where="smoke parameters")
        except ConfigError as exc:
            report.problems.append(Problem("pipeline", exc.message, exc.hint or ""))
    elif not report.problems:
        values = params_mod.inspect(nb)[0].values(given, where="smoke parameters")
    if not dynamic or report.problems:
        report.dynamic = {"ran": False, "reason": "static problems" if report.problems else "not requested"}
        return report
    _smoke_run(report, path, values, spec, timeout=timeout, kernel_name=kernel_name)
    return report


def _smoke_run(
    report: ValidationReport,
    path: Path,
    values: dict[str, Any],
    spec: spec_mod.PipelineSpec | None,
    *,
    timeout: float,
    kernel_name: str | None,
) -> None:
    """Run the notebook once in a fresh kernel, attached to a validation run; add what went wrong."""
    from mlops_nb.pipelines import source

    settings = config.current()
    client = store.client(settings)
    experiment_id = store.experiment_id(VALIDATION_EXPERIMENT, settings)
    gateway = store.Writer(client)
    run = gateway.create_run(
        experiment_id,
        {
            records.RUN_NAME: f"validate {path.name}",
            records.TAG_NOTEBOOK_PATH: str(path),
            records.TAG_MODE: records.MODE_PIPELINE,
        },
    )
    run_id = run.info.run_id
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="validate-") as folder:
        injected = dict(values)
        if spec is not None:  # as `mlops-nb run` hands the notebook its data
            data = source.ingest(spec.data, spec.test_split, spec.target, Path(folder) / "data")
            injected[run_mod.DATA_PARAMETER] = str(data.train_path)
        output = Path(folder) / path.name
        env = {
            records.ENV_RUN_ID: run_id,
            records.ENV_NOTEBOOK: str(path),
            records.ENV_PROJECT: str(settings.root),
            records.ENV_REQUIREMENTS_CACHE: str(Path(folder) / "requirements"),
            "MLFLOW_TRACKING_URI": settings.tracking_uri,
        }
        if settings.registry_uri:
            env["MLFLOW_REGISTRY_URI"] = settings.registry_uri
        execution = Execution(
            path,
            output,
            injected,
            env,
            cell_timeout=spec.timeouts.cell if spec else None,
            run_timeout=timeout,
            start_timeout=spec.timeouts.start if spec else 60.0,
            kernel_name=kernel_name or (spec.kernel if spec else None),
            run_timeout_setting=f"--timeout (now {timeout:g} s)",
        )
        try:
            execute(execution)
        except NotebookFailedError as exc:
            report.problems.append(Problem("run", str(exc.message), exc.hint or "", exc.cell))
        finally:
            if output.is_file():
                gateway.log_artifact(run_id, output, records.ARTIFACT_OUTPUT_NOTEBOOK_DIR)
    seconds = time.monotonic() - started
    data = client.get_run(run_id).data
    models = client.search_logged_models(
        experiment_ids=[experiment_id], filter_string=f"source_run_id = '{run_id}'", max_results=5
    )
    report.dynamic = {
        "ran": True,
        "run_id": run_id,
        "seconds": round(seconds, 2),
        "metrics": len(data.metrics),
        "models": len(models),
        "parameters": {k: v for k, v in values.items() if k != run_mod.DATA_PARAMETER},
    }
    if not any(p.check == "run" for p in report.problems):
        if not data.metrics:
            report.problems.append(
                Problem(
                    "run",
                    "the run logged no metric",
                    "Log at least one metric, e.g. "
                    "mlops_nb.log_metrics({'val_accuracy': acc}) or mlflow.log_metric(...).",
                )
            )
        if not models:
            report.problems.append(
                Problem(
                    "run",
                    "the run logged no model",
                    "Log the model, e.g. mlflow.sklearn.log_model(model, name='model'), or enable autolog.",
                )
            )
    gateway.end_run(run_id, "FINISHED" if report.passed else "FAILED")


def render(report: ValidationReport) -> str:
    """The report as a table for the terminal."""
    verdict = "PASSED" if report.passed else f"FAILED ({len(report.problems)} problem(s))"
    lines = [f"validate {report.notebook}: {verdict}"]
    if report.dynamic.get("ran"):
        d = report.dynamic
        lines.append(
            f"  smoke run {d['run_id']}: {d['seconds']} s, {d['metrics']} metric(s), {d['models']} model(s)"
        )
    if report.problems:
        rows = [("check", "cell", "line", "problem", "fix")] + [
            (
                p.check,
                "-" if p.cell is None else str(p.cell),
                "-" if p.line is None else str(p.line),
                p.message,
                p.fix,
            )
            for p in report.problems
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for row in rows:
            lines.append(
                "  " + "  ".join(v.ljust(w) for v, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
            )
    return "\n".join(lines)
