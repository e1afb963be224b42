"""`mlops-nb export MODEL@ALIAS --format onnx -o model.onnx`: a scikit-learn model converted by skl2onnx.

Nothing is written until the converted model is checked: on the recorded input example and on the version's
held-out test split (its pipeline run's `data/test.parquet`, or `test_data`), onnxruntime's predictions must
equal the original's (a label may differ only where the original's two best probabilities are within
`atol`, a tie that float32 arithmetic can flip) and its probabilities must be within `rtol`/`atol`. The file is
then written atomically, one-row latency of both models is reported side by side, and the export is recorded
on the model version (`records.export_tag("onnx")`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_nb import records, store
from mlops_nb.exceptions import ExportError, UsageError
from mlops_nb.serving import target as target_mod

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient

_NUMERIC = {"double", "float", "long", "integer", "boolean"}
_TIMED_CALLS = 200


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and checked."""

    model: str
    version: str
    path: str
    sha256: str
    rtol: float
    atol: float
    rows_checked: dict[str, int]
    max_probability_diff: float | None
    label_ties: int
    latency_ms: dict[str, dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return asdict(self)


def export(
    ref: str,
    output: str | Path,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    test_data: str | Path | None = None,
    client: MlflowClient | None = None,
) -> ExportResult:
    """Convert the scikit-learn model version `ref` (MODEL@ALIAS) to ONNX at `output` once parity holds.

    Raises
    ------
    ExportError: the model is not a scikit-learn model, a step has no converter (named), or the ONNX model's
        predictions differ beyond the tolerance (nothing is written then).
    UsageError: a negative tolerance, a missing test data file; NotFoundError: an unknown model or alias.
    """
    import mlflow.sklearn

    if not (rtol >= 0 and atol >= 0):
        raise UsageError(f"Tolerances must be 0 or more, not rtol={rtol}, atol={atol}.")
    output = Path(output).resolve()
    client = client or store.client()
    found = target_mod.resolve(ref, client)
    pyfunc = target_mod.load(found.version, client)
    if "sklearn" not in pyfunc.metadata.flavors:
        raise ExportError(
            f"{found} is not a scikit-learn model (flavors: {', '.join(sorted(pyfunc.metadata.flavors))}).",
            hint="ONNX export supports models logged with mlflow.sklearn.",
        )
    estimator = mlflow.sklearn.load_model(target_mod.location(found.version, client))
    columns = _columns(pyfunc)
    onnx_model = _convert(estimator, columns)
    session = _session(onnx_model)
    sets = {"input example": target_mod.input_example(pyfunc)}
    sets["test split"] = _test_rows(client, found, test_data)
    checked, worst, ties = {}, None, 0
    for name, frame in sets.items():
        if frame is None or frame.empty:
            continue
        missing = [c["name"] for c in columns if c["name"] not in frame.columns]
        if missing:
            raise ExportError(f"The {name} lacks the model's input columns {missing}.")
        rows = frame[[c["name"] for c in columns]].astype(
            {c["name"]: str for c in columns if c["type"] == "string"}
        )  # a CSV's column of digits is read as numbers
        diff, flipped = _parity(estimator, session, columns, rows, name=name, rtol=rtol, atol=atol)
        checked[name] = len(rows)
        ties += flipped
        worst = diff if worst is None or (diff is not None and diff > worst) else worst
    if not checked:
        raise ExportError(
            f"{found} has no input example and no test split to check the ONNX model on.",
            hint="Give rows to check with --test-data FILE.",
        )
    example = next(f for f in sets.values() if f is not None and not f.empty)
    latency = _latency(pyfunc, session, columns, example[[c["name"] for c in columns]].head(1))
    data = onnx_model.SerializeToString()
    _write(output, data)
    result = ExportResult(
        found.name,
        found.number,
        str(output),
        hashlib.sha256(data).hexdigest(),
        rtol,
        atol,
        checked,
        worst,
        ties,
        latency,
    )
    record = {**result.to_dict(), "at": datetime.now(UTC).isoformat(timespec="seconds")}
    store.Writer(client).set_version_tags(
        found.name, found.number, {records.export_tag("onnx"): json.dumps(record)}
    )
    return result


def _columns(pyfunc: Any) -> list[dict[str, str]]:
    schema = pyfunc.metadata.get_input_schema()
    if schema is None or not schema.has_input_names():
        raise ExportError(
            "The model has no named input signature: the ONNX model's inputs cannot be declared.",
            hint="Log the model with an input_example (or signature=).",
        )
    return [{"name": str(s.name), "type": str(getattr(s.type, "name", s.type))} for s in schema.inputs]


def _all_numeric(columns: list[dict[str, str]]) -> bool:
    return all(c["type"] in _NUMERIC for c in columns)


def _convert(estimator: Any, columns: list[dict[str, str]]) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    if _all_numeric(columns):
        inputs = [("input", FloatTensorType([None, len(columns)]))]
    else:
        kinds = {"long": Int64TensorType, "integer": Int64TensorType, "string": StringTensorType}
        inputs = [(c["name"], kinds.get(c["type"], FloatTensorType)([None, 1])) for c in columns]
    options = {id(step): {"zipmap": False} for step in _steps(estimator) if hasattr(step, "predict_proba")}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return convert_sklearn(estimator, initial_types=inputs, options=options or None)
    except Exception as exc:
        raise ExportError(_unsupported(estimator, exc), hint=_HINT) from exc


_HINT = "Replace that step with one skl2onnx supports, or register a custom converter for it."


def _steps(estimator: Any) -> list[Any]:
    """The estimator and, for pipelines and column transformers, the steps inside it."""
    found = [estimator]
    for _, step in getattr(estimator, "steps", []):
        found += _steps(step)
    for _, step, _ in getattr(estimator, "transformers_", []):
        if hasattr(step, "fit"):
            found += _steps(step)
    return found


def _unsupported(estimator: Any, exc: Exception) -> str:
    text = str(exc)
    match = re.search(r"<class '([\w.]+)'>", text)
    if match is None:
        first = (text.strip().splitlines() or [type(exc).__name__])[0]
        return f"skl2onnx could not convert the model: {first}"
    kind = match[1].rsplit(".", 1)[-1]
    names = [name for name, step in _named_steps(estimator) if type(step).__name__ == kind]
    where = f"step {names[0]!r} ({kind})" if names and names[0] else kind
    return f"The model cannot be converted to ONNX: {where} has no skl2onnx converter."


def _named_steps(estimator: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found = [(prefix, estimator)]
    for name, step in getattr(estimator, "steps", []):
        found += _named_steps(step, f"{prefix}{name}" if not prefix else f"{prefix}/{name}")
    return found


def _session(onnx_model: Any) -> Any:
    import onnxruntime

    return onnxruntime.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])


def _feed(columns: list[dict[str, str]], frame: pd.DataFrame) -> dict[str, np.ndarray]:
    import numpy as np

    if _all_numeric(columns):
        return {"input": frame.to_numpy(dtype=np.float32)}
    kinds = {"long": np.int64, "integer": np.int64, "string": object}
    return {
        c["name"]: frame[c["name"]].to_numpy(dtype=kinds.get(c["type"], np.float32)).reshape(-1, 1)
        for c in columns
    }


def _parity(
    estimator: Any,
    session: Any,
    columns: list[dict[str, str]],
    frame: pd.DataFrame,
    *,
    name: str,
    rtol: float,
    atol: float,
) -> tuple[float | None, int]:
    """The largest probability difference on `frame` and the number of label ties; ExportError on a
    difference beyond the tolerance."""
    import numpy as np

    try:
        expected = np.asarray(estimator.predict(frame))
        outputs = session.run(None, _feed(columns, frame))
    except Exception as exc:
        raise ExportError(
            f"The {name} cannot be scored to compare the models: {_first_line(exc)}",
            hint="Nothing was written. Give rows the model accepts (--test-data FILE).",
        ) from exc
    labels = np.asarray(outputs[0]).reshape(expected.shape)
    if not hasattr(estimator, "predict_proba") or len(outputs) < 2:
        if not np.allclose(labels.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol):
            worst = float(np.max(np.abs(labels.astype(np.float64) - expected.astype(np.float64))))
            raise ExportError(
                f"ONNX predictions differ on the {name}: up to {worst:.3g} (rtol {rtol:g}, atol {atol:g})."
            )
        return float(np.max(np.abs(labels.astype(np.float64) - expected.astype(np.float64)), initial=0.0)), 0
    proba = np.asarray(estimator.predict_proba(frame))
    onnx_proba = np.asarray(outputs[1], dtype=np.float64)
    worst = float(np.max(np.abs(onnx_proba - proba), initial=0.0))
    if not np.allclose(onnx_proba, proba, rtol=rtol, atol=atol):
        raise ExportError(
            f"ONNX probabilities differ on the {name}: up to {worst:.3g} (rtol {rtol:g}, atol {atol:g}).",
            hint="Nothing was written. Loosen --rtol/--atol only if that difference is acceptable.",
        )
    top = np.sort(proba, axis=1)
    tie = (top[:, -1] - top[:, -2]) <= atol if proba.shape[1] > 1 else np.zeros(len(proba), bool)
    differ = labels.astype(str) != expected.astype(str)
    if (differ & ~tie).any():
        rows = np.flatnonzero(differ & ~tie)
        raise ExportError(
            f"ONNX predictions differ on {len(rows)} rows of the {name} (first at row {rows[0]}).",
            hint="Nothing was written.",
        )
    return worst, int((differ & tie).sum())


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _test_rows(client: MlflowClient, found: target_mod.Target, test_data: str | Path | None) -> Any:
    import pandas as pd

    from mlops_nb.registry.promotion_gates import _step

    if test_data is not None:
        path = Path(test_data)
        if not path.is_file():
            raise UsageError(f"Test data file {path} does not exist.")
        try:
            return pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
        except Exception as exc:
            raise UsageError(
                f"Test data file {path} cannot be read: {_first_line(exc)}",
                hint="Give a CSV file with a header row, or a Parquet file.",
            ) from exc
    ingestion = _step(client, found.version, records.STEP_INGESTION)
    if ingestion is None:
        return None
    with tempfile.TemporaryDirectory(prefix="mlops_nb-") as folder, contextlib.suppress(Exception):
        return pd.read_parquet(
            client.download_artifacts(ingestion.info.run_id, records.ARTIFACT_INGESTED_TEST, folder)
        )
    return None


def _latency(
    pyfunc: Any, session: Any, columns: list[dict[str, str]], row: pd.DataFrame
) -> dict[str, dict[str, float]]:
    import numpy as np

    feed = _feed(columns, row)

    def timed(call: Any) -> dict[str, float]:
        for _ in range(10):
            call()
        times = []
        for _ in range(_TIMED_CALLS):
            start = time.perf_counter()
            call()
            times.append((time.perf_counter() - start) * 1000)
        return {
            "p50": round(float(np.percentile(times, 50)), 4),
            "p95": round(float(np.percentile(times, 95)), 4),
        }

    return {
        "original": timed(lambda: pyfunc.predict(row)),
        "onnxruntime": timed(lambda: session.run(None, feed)),
    }


def _write(output: Path, data: bytes) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    temp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        temp.write_bytes(data)
        os.replace(temp, output)
    finally:
        temp.unlink(missing_ok=True)


def render(result: ExportResult) -> str:
    """The readable summary."""
    checked = ", ".join(f"{rows} rows of the {name}" for name, rows in result.rows_checked.items())
    worst = f"{result.max_probability_diff:.2g}" if result.max_probability_diff is not None else "n/a"
    lat = result.latency_ms
    return "\n".join(
        [
            f"exported {result.model} v{result.version} to {result.path}",
            f"  parity: {checked}; largest probability difference {worst} "
            f"(rtol {result.rtol:g}, atol {result.atol:g}); label ties {result.label_ties}",
            f"  one-row latency p50: original {lat['original']['p50']:.3f} ms, "
            f"onnxruntime {lat['onnxruntime']['p50']:.3f} ms",
            f"  sha256 {result.sha256}",
        ]
    )
