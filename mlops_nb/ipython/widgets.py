"""``%mlops compare``: an in-notebook comparison widget (ipywidgets + plotly figures), fed by mlops_nb.explore.

It reads like the panel's compare view: a run list to select from; a metric picker starting on the default
metric (the pipeline's ``model.metric``, else the metric the notebook logged last); bars per run for a metric
logged once, curves over steps otherwise; parallel coordinates over the user's params (parameters cell and
config; autolog duplicates left out) and the metric, categorical values as categories and decade-spanning
values on log axes; a labelled scatter of the metric against one param; and a one-line-per-run details table
of the user's params with "differences only". Each run keeps one colour everywhere.
"""

from __future__ import annotations

import html
from typing import Any

from mlops_nb import config, explore, store
from mlops_nb.exceptions import NotFoundError, UsageError
from mlops_nb.explore import checks, columns, recent
from mlops_nb.ipython import figures

MAX_LAST = recent.MAX_LAST
MAX_AXES = 12  # parallel-coordinates axes besides the metric
_DEFAULT_SELECTED = 5
_CELL = 28  # characters shown of a table cell (the full text is its tooltip)
_TABLE_STYLE = (
    "<style>.mlops-cmp td,.mlops-cmp th{white-space:nowrap;padding:2px 8px;text-align:left;"
    "max-width:16em;overflow:hidden;text-overflow:ellipsis;line-height:1.3}"
    ".mlops-cmp .sw{display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:2px}</style>"
)


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


def _label(row: dict[str, Any], metric: str | None) -> str:
    value = row["metrics"].get(metric) if metric else None
    shown = f"{metric}={value:.4g}" if isinstance(value, float) else ""
    warnings = f"⚠ {', '.join(w['code'] for w in row['warnings'])}" if row["warnings"] else ""
    parts = [row["run_name"], row["status"].lower(), row["mode"] or "", shown, warnings]
    return "  |  ".join(part for part in parts if part)


def _cell(text: str, swatch: str | None = None) -> str:
    shown = text if len(text) <= _CELL else text[: _CELL - 1] + "…"
    mark = f'<span class="sw" style="background:{swatch}"></span>' if swatch else ""
    return f'<td title="{html.escape(text)}">{mark}{html.escape(shown)}</td>'


def _details(
    chosen: list[dict[str, Any]], params: list[str], metric: str | None, colours: list[str], diff_only: bool
) -> str:
    """One line per run: name (in its colour), status, mode, warnings, `params`, the metric (all escaped).
    An empty warnings column is left out; with `diff_only`, so are a status and mode shared by every run."""
    fixed = {
        "status": [row["status"].lower() for row in chosen],
        "mode": [row["mode"] or "" for row in chosen],
        "warnings": [", ".join(w["code"] for w in row["warnings"]) for row in chosen],
    }
    shown = [
        name for name, values in fixed.items() if any(values) and not (diff_only and len(set(values)) == 1)
    ]
    head = ["run", *shown, *params, *([metric] if metric else [])]
    lines = []
    for index, (row, colour) in enumerate(zip(chosen, colours, strict=True)):
        value = row["metrics"].get(metric) if metric else None
        cells = [
            _cell(row["run_name"], colour),
            *(_cell(fixed[name][index]) for name in shown),
            *(_cell(row["params"].get(p, "–")) for p in params),
            *([_cell(f"{value:.4g}" if isinstance(value, float) else "–")] if metric else []),
        ]
        lines.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(
        f'<th title="{html.escape(h)}">{html.escape(figures.short(h, _CELL))}</th>' for h in head
    )
    table = (
        f'<table class="mlops-cmp"><thead><tr>{header}</tr></thead><tbody>{"".join(lines)}</tbody></table>'
    )
    return _TABLE_STYLE + f'<div style="overflow-x:auto">{table}</div>'


def _axes(chosen: list[dict[str, Any]], user: list[str]) -> list[str]:
    """The params for parallel coordinates: the user's params with several values among the runs that have
    them (all of them when none has)."""
    differing = [p for p in user if len({r["params"][p] for r in chosen if p in r["params"]}) > 1]
    return (differing or user)[:MAX_AXES]


def _scatter_param(runs: list[dict[str, Any]], user: list[str]) -> str | None:
    """The param the scatter starts on: the first numeric one that differs, else the first that differs."""
    differing = _axes(runs, user)
    numeric = [p for p in differing if columns.numeric(r["params"].get(p) for r in runs)]
    return (numeric or differing or [None])[0]


class _Histories:
    """The chosen metric's history for every listed run, read once per metric."""

    def __init__(self, ids: list[str], settings: config.Settings) -> None:
        self.ids, self.settings, self.cache = ids, settings, {}

    def __call__(self, key: str) -> dict[str, Any]:
        if key not in self.cache:
            compared = explore.compare(self.ids, metrics=[key], settings=self.settings)
            self.cache[key] = compared["metrics"][0]
        return self.cache[key]


def compare_widget(experiment: str | None = None, last: int = 20, metric: str | None = None) -> Any:
    """The comparison widget for the `last` runs of `experiment` (default: the project's), on `metric`."""
    import ipywidgets as widgets
    from IPython.display import display

    if isinstance(last, bool) or not isinstance(last, int) or not 1 <= last <= MAX_LAST:
        raise UsageError(f"--last {last!r} is out of range.", hint=f"Give a number from 1 to {MAX_LAST}.")
    settings = store.ensure_store(config.current())
    experiment_id, experiment_name = _experiment(settings, experiment)
    view = recent.recent_runs(experiment_id, last, settings)
    runs = view["runs"]
    if not runs:
        raise NotFoundError(
            f"Experiment {experiment_name!r} has no runs to compare yet.",
            hint="Pipeline steps and sweep runs are left out: their pipeline runs and points stand for them.",
        )
    metrics = recent.metric_order(view["metric_kinds"])
    if metric is not None and metric not in metrics:
        raise UsageError(
            f"No run here logged metric {metric!r}.", hint=f"Metrics: {', '.join(metrics) or 'none'}."
        )
    metric = metric or view["default_metric"]
    user = sorted(name for name, kind in view["param_kinds"].items() if kind == "user")
    colour_of = {row["run_id"]: figures.colour(i) for i, row in enumerate(runs)}
    by_id = {row["run_id"]: row for row in runs}
    histories = _Histories([row["run_id"] for row in runs], settings)

    more = " (more in the panel)" if view["more"] else ""
    title = widgets.HTML(f"<b>{html.escape(experiment_name)}</b>: last {len(runs)} run(s){more}")
    table = widgets.SelectMultiple(
        options=[(_label(row, metric), row["run_id"]) for row in runs],
        value=[row["run_id"] for row in runs[:_DEFAULT_SELECTED]],
        rows=min(len(runs), 8),
        description="Runs",
        layout=widgets.Layout(width="100%"),
    )
    kinds = view["metric_kinds"]
    picker = widgets.Dropdown(
        options=[(f"{name}  ({kinds[name]})", name) for name in metrics], value=metric, description="Metric"
    )
    x_param = widgets.Dropdown(options=user, value=_scatter_param(runs, user), description="vs param")
    diff_only = widgets.Checkbox(value=True, description="differences only", indent=False)
    details = widgets.HTML()
    charts = {name: widgets.Output() for name in ("values", "coordinates", "scatter")}

    def show(name: str, figure: dict[str, Any] | None) -> None:
        output = charts[name]
        output.clear_output(wait=True)
        if figure is not None:
            with output:
                display({figures.MIME: figure, "text/plain": figure["layout"]["title"]["text"]}, raw=True)

    def draw(*_: Any) -> None:
        chosen = [by_id[run_id] for run_id in table.value] or runs
        colours = [colour_of[row["run_id"]] for row in chosen]
        names = [  # plotly shows entities as text
            html.escape(figures.run_label(row["run_name"], row["run_id"]), quote=False) for row in chosen
        ]
        key = picker.value
        shown = columns.differing(chosen, user) if diff_only.value else user
        details.value = _details(chosen, shown, key, colours, diff_only.value)
        if not key:
            for name in charts:
                show(name, None)
            return
        history = histories(key)
        counts = {s["run_id"]: s["count"] for s in history["summary"]}
        lasts = {s["run_id"]: s["last"] for s in history["summary"]}
        if all(counts[row["run_id"]] <= 1 for row in chosen):
            show("values", figures.bars(key, names, [lasts[row["run_id"]] for row in chosen], colours))
        else:
            series = {s["run_id"]: s["values"] for s in history["series"]}
            show(
                "values",
                figures.curves(key, history["steps"], [series[r["run_id"]] for r in chosen], names, colours),
            )
        scored = [
            (row, c) for row, c in zip(chosen, colours, strict=True) if lasts[row["run_id"]] is not None
        ]
        axes = _axes([row for row, _ in scored], user)
        show(
            "coordinates",
            figures.parallel(
                axes,
                [row["params"] for row, _ in scored],
                key,
                [lasts[row["run_id"]] for row, _ in scored],
                [c for _, c in scored],
            )
            if scored and axes
            else None,
        )
        param = x_param.value
        show(
            "scatter",
            figures.scatter(
                param,
                [row["params"].get(param) for row in chosen],
                key,
                [lasts[row["run_id"]] for row in chosen],
                names=names,
                colours=colours,
            )
            if param
            else None,
        )

    for control in (table, picker, x_param, diff_only):
        control.observe(draw, names="value")
    draw()
    controls = widgets.HBox([picker, x_param, diff_only])
    return widgets.VBox([title, table, controls, details, *charts.values()])
