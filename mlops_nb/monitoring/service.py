"""What the CLI, the scheduler and the server call: a monitoring pass (judged, recorded, triggers raised),
a schedule of passes, a pass as text, and ground truth loaded from a file into the feedback store."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_nb import config
from mlops_nb.exceptions import UsageError


def monitor(
    model: str,
    alias: str = "champion",
    *,
    version: str | None = None,
    last: str | None = None,
    since: str | None = None,
    log_dir: str | Path | None = None,
    pipeline: str | Path | None = None,
    record: bool = True,
    tags: Mapping[str, str] | None = None,
    settings: config.Settings | None = None,
) -> dict[str, Any]:
    """Judge `model@alias` (or `version`) on its inference log window and, unless `record` is False,
    record the pass as an MLflow run and raise its triggers. Returns the result (``monitor --json``).

    Raises
    ------
    NotFoundError: no such model, alias or version, or no inference log.
    UsageError: a bad window or time.
    """
    from mlops_nb.monitoring import check, served, window
    from mlops_nb.monitoring import record as record_mod

    frame = window.window(last, since)
    info = served.served(model, alias, version=version, pipeline=pipeline)
    result = check.run_pass(info, frame, log_dir=log_dir, settings=settings)
    if record:
        record_mod.record(result, info, tags=tags, settings=settings)
    return result


def schedule(
    model: str, alias: str, every: str, *, window: str | None = None, settings: config.Settings | None = None
) -> str:
    """Add a schedule that runs a monitoring pass of `model@alias` every `every` (over the last `window`,
    default the same duration); returns its id."""
    from mlops_nb.scheduling import schedules
    from mlops_nb.serving import model_source

    model_source.resolve(model, alias)  # a NotFoundError now, not at every firing
    for found in schedules.list_schedules(settings):
        if found.kind == "monitor" and found.pipeline == model and found.env == alias:
            raise UsageError(
                f"{model}@{alias} is already monitored by schedule {found.id} ({found.trigger}).",
                hint=f"Remove it first (mlops-nb schedule remove {found.id}), or pause it.",
            )
    return schedules.add_monitor(model, alias, every, window=window, settings=settings)


def render(result: Mapping[str, Any]) -> str:
    """A pass as a few readable lines."""
    lines = [
        f"{result['model']}@{result['alias']} version {result['version']}, window {result['window']}: "
        f"{result['verdict'].upper()}"
    ]
    checks = [
        *result["features"].items(),
        *((f"({name})", result[name]) for name in ("prediction", "decay", "health")),
    ]
    width = max(len(name) for name, _ in checks)
    for name, r in checks:
        lines.append(f"  {name:<{width}}  {r['verdict']:<17}  {r['reason']}")
    for item in result.get("triggers") or []:
        lines.append(
            f"  trigger {item['kind']}: firing {item['firing']} queued"
            if "firing" in item
            else f"  trigger {item['kind']} not raised: {item['skipped']}"
        )
    if result.get("run_id"):
        lines.append(f"  recorded as run {result['run_id']}")
    return "\n".join(lines)


def load_feedback(
    file: str | Path,
    *,
    model: str | None,
    id_column: str,
    label_column: str,
    row_column: str | None = None,
    settings: config.Settings | None = None,
) -> dict[str, Any]:
    """Store the labels of a CSV or Parquet file in `model`'s feedback store; returns counts.

    Raises
    ------
    UsageError: the file cannot be read, a column is missing, or the model cannot be told.
    """
    import json

    from mlops_nb.monitoring import window
    from mlops_nb.serving.feedback import FeedbackError, FeedbackStore, validate

    frame = _read(Path(file)).reset_index(drop=True)
    for option, column in (
        ("--id-column", id_column),
        ("--label-column", label_column),
        ("--row-column", row_column),
    ):
        if column is not None and column not in frame.columns:
            raise UsageError(
                f"{file} has no column {column!r} ({option}).",
                hint=f"Its columns: {', '.join(map(str, frame.columns))}.",
            )
    model = model or _only_model(settings)
    labelled = frame[frame[label_column].notna() & frame[id_column].notna()]
    picked = {id_column: "request_id", label_column: "label", **({row_column: "row"} if row_column else {})}
    rows = json.loads(
        labelled[list(picked)].rename(columns=picked).to_json(orient="records", date_format="iso")
    )
    for item, line in zip(rows, labelled.index, strict=True):
        item["request_id"] = str(item["request_id"])
        try:  # every record before any is stored; named by its data row in the file (1: the first)
            validate(item, int(line) + 1)
        except FeedbackError as exc:
            raise FeedbackError(
                f"{file}: {exc}", hint="Record N is the file's Nth data row (the header not counted)."
            ) from None
    folder = window.feedback_directory(model, settings)
    feedback = FeedbackStore(folder)
    try:
        for start in range(0, len(rows), 10_000):
            feedback.append(rows[start : start + 10_000])
    finally:
        feedback.close()
    return {
        "model": model,
        "folder": str(folder),
        "labels": len(rows),
        "requests": len({item["request_id"] for item in rows}),
        "skipped": len(frame) - len(labelled),
    }


def _read(path: Path) -> Any:
    import pandas as pd

    if not path.is_file():
        raise UsageError(f"No file {path}.", hint="Give a CSV or Parquet file of request ids and labels.")
    try:
        return pd.read_parquet(path) if path.suffix.lower() in {".parquet", ".pq"} else pd.read_csv(path)
    except Exception as exc:
        raise UsageError(f"{path} could not be read: {exc}", hint="Give a CSV or Parquet file.") from None


def _only_model(settings: config.Settings | None) -> str:
    from mlops_nb.monitoring import window

    folder = window.log_directory("", settings)
    models = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if len(models) != 1:
        raise UsageError(
            "Which model is the feedback for?" + (f" Logged models: {', '.join(models)}." if models else ""),
            hint="Give --model NAME.",
        )
    return models[0]
