"""Plotly figures of the comparison widget, as plain dicts (displayed as ``application/vnd.plotly.v1+json``).

Built without plotly's graph objects: no import of plotly and no validation pass, which made the widget slow.
Each run keeps one colour in every chart and in the details table; points carry the runs' names. Text from the
runs (names, categorical values) comes in HTML-escaped: plotly.js reads a few tags in text and shows entities.
"""

from __future__ import annotations

import html
import math
from typing import Any

from mlops_nb.explore import columns

MIME = "application/vnd.plotly.v1+json"
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
AXIS_LABEL = 18  # characters of a parallel-coordinates axis label
RUN_LABEL = 24  # characters of a run's name in a chart
_HEIGHT = 340


def colour(index: int) -> str:
    """The colour of the run at `index` in the widget's run list."""
    return PALETTE[index % len(PALETTE)]


def short(text: str, limit: int = AXIS_LABEL) -> str:
    """`text` cut to `limit` characters with "…"."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_label(name: str, run_id: str) -> str:
    """A run's label in a chart: its name cut to fit, and the start of its id, which keeps two runs of one
    name apart (a category axis would draw them as one bar)."""
    return f"{short(name or 'run', RUN_LABEL)} ({run_id[:6]})"


def _layout(title: str, **more: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "height": _HEIGHT,
        "margin": {"l": 60, "r": 30, "t": 50, "b": 50},
        "showlegend": False,
        **more,
    }


def bars(key: str, names: list[str], values: list[float | None], colours: list[str]) -> dict[str, Any]:
    """One bar per run for a metric logged once."""
    trace = {
        "type": "bar",
        "x": names,
        "y": values,
        "marker": {"color": colours},
        "text": [f"{v:.4g}" if v is not None else "" for v in values],
        "textposition": "auto",
        "hovertemplate": "%{x}<br>" + key + "=%{y}<extra></extra>",
    }
    layout = _layout(
        f"{key} per run",
        xaxis={"type": "category", "automargin": True},  # long labels tilt and get the room they need
        yaxis={"title": {"text": key}},
    )
    return {"data": [trace], "layout": layout}


def curves(
    key: str, steps: list[int], series: list[list[float | None]], names: list[str], colours: list[str]
) -> dict[str, Any]:
    """One line per run for a metric logged over steps."""
    traces = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": steps,
            "y": values,
            "name": name,
            "line": {"color": colour_},
            "connectgaps": True,
        }
        for name, values, colour_ in zip(names, series, colours, strict=True)
    ]
    layout = _layout(
        f"{key} over steps",
        showlegend=True,
        xaxis={"title": {"text": "step"}},
        yaxis={"title": {"text": key}},
    )
    return {"data": traces, "layout": layout}


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def dimension(label: str, values: list[Any]) -> dict[str, Any]:
    """A parallel-coordinates axis: numeric (log10 with the values as ticks when they span decades), else
    categorical (one tick per value)."""
    if columns.numeric(values):
        numbers = [_number(v) for v in values]
        if columns.log_scale(numbers):
            ticks = sorted({n for n in numbers if n is not None})
            return {
                "label": short(label) + " (log)",
                "values": [math.log10(n) if n is not None else None for n in numbers],
                "tickvals": [math.log10(t) for t in ticks],
                "ticktext": [f"{t:g}" for t in ticks],
            }
        return {"label": short(label), "values": numbers}
    categories = sorted({str(v) for v in values})
    return {
        "label": short(label),
        "values": [categories.index(str(v)) for v in values],
        "tickvals": list(range(len(categories))),
        "ticktext": [html.escape(short(c, 14), quote=False) for c in categories],  # plotly reads tags
    }


def parallel(
    params: list[str], values: list[dict[str, Any]], key: str, scores: list[float], colours: list[str]
) -> dict[str, Any]:
    """Parallel coordinates: each param in `params` (values per run), then metric `key`; lines in run colours."""
    dims = [dimension(p, [v.get(p) for v in values]) for p in params]
    dims.append({"label": short(key), "values": scores})
    n = len(colours)
    scale = (
        [[i / max(n - 1, 1), c] for i, c in enumerate(colours)]
        if n > 1
        else [[0, colours[0]], [1, colours[0]]]
    )
    trace = {
        "type": "parcoords",
        "line": {"color": list(range(n)), "colorscale": scale, "cmin": 0, "cmax": max(n - 1, 1)},
        "dimensions": dims,
        "labelangle": -20,
        "labelside": "top",
    }
    layout = _layout(f"params → {key}", margin={"l": 70, "r": 70, "t": 90, "b": 30})
    return {"data": [trace], "layout": layout}


def scatter(
    param: str, xs: list[Any], key: str, ys: list[float | None], *, names: list[str], colours: list[str]
) -> dict[str, Any]:
    """Metric `key` against param `param`, one labelled point per run; a log x axis over decades."""
    numeric = columns.numeric(xs)
    trace = {
        "type": "scatter",
        "mode": "markers+text",
        "x": [_number(x) for x in xs] if numeric else [html.escape(str(x), quote=False) for x in xs],
        "y": ys,
        "text": names,  # run labels, already cut to fit
        "textposition": "top center",
        "cliponaxis": False,  # a label at the plot's edge is drawn whole
        "marker": {"color": colours, "size": 11},
        "hovertext": names,
        "hovertemplate": "%{hovertext}<br>" + param + "=%{x}<br>" + key + "=%{y}<extra></extra>",
    }
    xaxis: dict[str, Any] = {"title": {"text": param}}
    if numeric and columns.log_scale(xs):
        xaxis["type"] = "log"
    elif not numeric:
        xaxis["type"] = "category"
    layout = _layout(f"{key} vs {param}", xaxis=xaxis, yaxis={"title": {"text": key}})
    return {"data": [trace], "layout": layout}
