"""``%mlops compare``: an in-notebook comparison widget (ipywidgets + plotly), fed by mlops_nb.explore.

A run list to select from, a metric picker, a table of the selected runs (differing params, warnings),
parallel coordinates (params → metric) and metric curves over steps for the selected runs.
The same queries as the JupyterLab sidebar's REST API.
"""

from __future__ import annotations

import html
from typing import Any

from mlops_nb import config, explore, store
from mlops_nb.exceptions import NotFoundError, UsageError
from mlops_nb.explore import checks

MAX_LAST = 1000
_DEFAULT_SELECTED = 5


def _experiment(settings: config.Settings, name: str | None) -> tuple[str, str]:
    """(id, name) of experiment `name`, else the project's experiment, else the most recently active one."""
    name = name or settings.experiment
    if name is None:
        experiments = [e for e in explore.list_experiments(settings) if e["run_count"]]
        if not experiments:
            raise NotFoundError("No experiment has runs yet.", hint="Track a run with %mlops track first.")
        return experiments[0]["experiment_id"], experiments[0]["name"]
    with checks.translated(f"experiment {name!r}"):
        found = store.client(settings).get_experiment_by_name(name)
    if found is None:
        raise NotFoundError(
            f"No experiment named {name!r}.", hint="See the experiments with `mlops-nb` or the sidebar."
        )
    return found.experiment_id, found.name


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _dimension(label: str, values: list[Any]) -> dict[str, Any]:
    """A parallel-coordinates axis: numeric when every value parses as a number, else categorical."""
    numbers = [_number(v) if not isinstance(v, float) else v for v in values]
    if all(n is not None for n in numbers):
        return {"label": label, "values": numbers}
    categories = sorted({str(v) for v in values})
    codes = [categories.index(str(v)) for v in values]
    return {"label": label, "values": codes, "tickvals": list(range(len(categories))), "ticktext": categories}


def _label(row: dict[str, Any], metric: str | None) -> str:
    value = row["metrics"].get(metric) if metric else None
    shown = f"{metric}={value:.4g}" if isinstance(value, float) else ""
    warnings = f"⚠ {', '.join(w['code'] for w in row['warnings'])}" if row["warnings"] else ""
    parts = [row["run_name"], row["status"].lower(), row["mode"] or "", shown, warnings]
    return "  |  ".join(part for part in parts if part)


def _details(chosen: list[dict[str, Any]], metric: str | None) -> str:
    """An HTML table of the chosen runs: status, mode, warnings, the params that differ, the metric (escaped)."""
    keys = sorted({p for row in chosen for p in row["params"]})
    differing = [k for k in keys if len({row["params"].get(k) for row in chosen}) > 1]
    head = ["run", "status", "mode", "warnings", *differing, *([metric] if metric else [])]
    lines = []
    for row in chosen:
        value = row["metrics"].get(metric) if metric else None
        cells = [
            row["run_name"],
            row["status"].lower(),
            row["mode"] or "",
            ", ".join(w["code"] for w in row["warnings"]),
            *(row["params"].get(k) or "" for k in differing),
            *([f"{value:.4g}" if isinstance(value, float) else ""] if metric else []),
        ]
        lines.append("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in cells) + "</tr>")
    header = "".join(f"<th>{html.escape(name)}</th>" for name in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def compare_widget(experiment: str | None = None, last: int = 20, metric: str | None = None) -> Any:
    """The comparison widget for the `last` runs of `experiment` (default: the project's), on `metric`."""
    import ipywidgets as widgets
    import plotly.graph_objects as go
    from IPython.display import display

    if isinstance(last, bool) or not isinstance(last, int) or not 1 <= last <= MAX_LAST:
        raise UsageError(f"--last {last!r} is out of range.", hint=f"Give a number from 1 to {MAX_LAST}.")
    settings = store.ensure_store(config.current())
    experiment_id, experiment_name = _experiment(settings, experiment)
    page = explore.list_runs(experiment_id, max_results=last, settings=settings)
    runs = page["runs"]
    metrics = page["columns"]["metrics"]
    if not runs:
        raise NotFoundError(f"Experiment {experiment_name!r} has no runs yet.")
    if metric is not None and metric not in metrics:
        raise UsageError(
            f"No run here logged metric {metric!r}.", hint=f"Metrics: {', '.join(metrics) or 'none'}."
        )
    metric = metric or (metrics[0] if metrics else None)
    by_id = {row["run_id"]: row for row in runs}

    total = page["total_count"] or len(runs)
    title = widgets.HTML(f"<b>{html.escape(experiment_name)}</b>: last {len(runs)} run(s) of {total}")
    table = widgets.SelectMultiple(
        options=[(_label(row, metric), row["run_id"]) for row in runs],
        value=[row["run_id"] for row in runs[:_DEFAULT_SELECTED]],
        rows=min(len(runs), 12),
        description="Runs",
        layout=widgets.Layout(width="100%"),
    )
    picker = widgets.Dropdown(options=metrics, value=metric, description="Metric")
    details = widgets.HTML()
    coordinates = widgets.Output()
    curves = widgets.Output()

    def draw(*_: Any) -> None:
        chosen = [by_id[run_id] for run_id in table.value] or runs
        key = picker.value
        details.value = _details(chosen, key)
        scored = [row for row in chosen if key and row["metrics"].get(key) is not None]
        params = sorted({p for row in scored for p in row["params"]})
        dims = [_dimension(p, [row["params"].get(p) for row in scored]) for p in params]
        scores = [row["metrics"][key] for row in scored]
        figure = go.Figure()
        if scored:
            dims.append({"label": key, "values": scores})
            figure.add_trace(
                go.Parcoords(
                    line={"color": scores, "colorscale": "Viridis", "showscale": True}, dimensions=dims
                )
            )
        figure.update_layout(title=f"params → {key}", height=360, margin={"l": 60, "r": 60, "t": 60, "b": 30})
        lines = go.Figure()
        if key:
            compared = explore.compare([row["run_id"] for row in chosen], metrics=[key], settings=settings)
            history = compared["metrics"][0]
            for series in history["series"]:
                name = by_id[series["run_id"]]["run_name"]
                lines.add_trace(
                    go.Scatter(x=history["steps"], y=series["values"], mode="lines+markers", name=name)
                )
        lines.update_layout(title=f"{key} over steps", xaxis_title="step", yaxis_title=key, height=360)
        for output, fig in ((coordinates, figure), (curves, lines)):
            output.clear_output(wait=True)
            with output:
                display(fig)

    table.observe(draw, names="value")
    picker.observe(draw, names="value")
    draw()
    return widgets.VBox([title, table, picker, details, coordinates, curves])
