"""The self-contained HTML report of a pass (plotly.js inlined once): verdicts, drift per feature over time
(a heat map of PSI per time bucket), the live metric over time against its evaluation value and threshold,
service health, and traffic per version with the A/B outcomes."""

from __future__ import annotations

import html
from typing import Any

SECTIONS = {
    "verdicts": "Verdicts",
    "drift-over-time": "Drift per feature over time",
    "live-metric": "Live metric over time",
    "health": "Service health",
    "traffic": "Traffic and A/B outcomes",
}


def _figure_html(figure: Any, first: bool) -> str:
    import plotly.io as pio

    return pio.to_html(figure, include_plotlyjs=first, full_html=False, config={"displaylogo": False})


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def render(result: dict[str, Any]) -> str:
    """The report of a pass result (``check.run_pass``) as one HTML page."""
    import plotly.graph_objects as go

    buckets = result["buckets"]
    checks = [
        [name, r["verdict"], r.get("psi"), r.get("effect_size"), r.get("p_value"), r.get("n"), r["reason"]]
        for name, r in result["features"].items()
    ]
    for name in ("prediction", "decay", "health"):
        r = result[name]
        checks.append(
            [
                f"({name})",
                r["verdict"],
                r.get("psi"),
                r.get("effect_size"),
                r.get("p_value"),
                r.get("n"),
                r["reason"],
            ]
        )
    names = list(result["features"])
    heat = go.Figure(
        go.Heatmap(
            z=[result["features"][n].get("psi_over_time") or [None] * len(buckets) for n in names],
            x=buckets,
            y=names,
            colorscale="YlOrRd",
            zmin=0,
            zmax=max(0.5, result["thresholds"]["psi"] * 2),
            colorbar={"title": "PSI"},
        )
    )
    heat.update_layout(height=120 + 28 * len(names), margin={"t": 20})
    decay = result["decay"]
    live = go.Figure(
        go.Scatter(x=buckets, y=decay.get("live_over_time") or [], mode="lines+markers", name="live")
    )
    for value, label in ((decay.get("evaluation"), "evaluation"), (decay.get("threshold"), "threshold")):
        if value is not None:
            live.add_hline(y=value, line_dash="dash", annotation_text=label)
    live.update_layout(height=300, margin={"t": 20}, yaxis_title=decay.get("metric") or "metric")
    health = result["health"]
    traffic = go.Figure(
        [
            go.Bar(x=buckets, y=t["over_time"], name=f"v{t['version']} {t['variant']} ({t['alias']})")
            for t in health.get("traffic", [])
        ]
    )
    traffic.update_layout(barmode="stack", height=300, margin={"t": 20}, yaxis_title="requests")
    latency = health.get("latency_ms") or {}
    parts = {
        "verdicts": f"<p>Overall: <b>{html.escape(result['verdict'])}</b>. Thresholds: "
        f"{html.escape(str(result['policy']))}.</p>"
        + _table(["check", "verdict", "PSI", "effect size", "p-value", "rows", "why"], checks),
        "drift-over-time": _figure_html(heat, True),
        "live-metric": f"<p>{html.escape(decay['reason'])}</p>" + _figure_html(live, False),
        "health": f"<p>{html.escape(health['reason'])}</p>"
        + _table(
            ["out-of-domain rate", "error rate", "p50 ms", "p90 ms", "p99 ms", "requests"],
            [
                [
                    health.get("ood_rate"),
                    health.get("error_rate"),
                    latency.get("p50"),
                    latency.get("p90"),
                    latency.get("p99"),
                    health.get("requests"),
                ]
            ],
        )
        + _table(
            ["column", "out-of-domain rows", "new categories"],
            [
                [name, health.get("ood_columns", {}).get(name, 0), _new(result["features"].get(name))]
                for name in sorted({*health.get("ood_columns", {}), *_with_new(result["features"])})
            ],
        ),
        "traffic": _figure_html(traffic, False)
        + _table(
            ["version", "variant", "alias", "share", "labelled", "live metric", "mean reward"],
            [
                [
                    a["version"],
                    a["variant"],
                    a["alias"],
                    _share(health, a),
                    a["labelled"],
                    a["live"],
                    a["mean_reward"],
                ]
                for a in result["ab"]
            ],
        ),
    }
    title = f"Monitoring {result['model']}@{result['alias']} v{result['version']}"
    body = "".join(f'<section id="{key}"><h2>{SECTIONS[key]}</h2>{parts[key]}</section>' for key in SECTIONS)
    style = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px}"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>Window {html.escape(result['window'])}, generated {html.escape(result['generated'])}.</p>{body}</body></html>"
    )


def _share(health: dict[str, Any], arm: dict[str, Any]) -> float | None:
    for t in health.get("traffic", []):
        if (t["version"], t["variant"], t["alias"]) == (arm["version"], arm["variant"], arm["alias"]):
            return t["share"]
    return None


def _with_new(features: dict[str, Any]) -> list[str]:
    return [name for name, r in features.items() if r.get("new_categories")]


def _new(feature: dict[str, Any] | None) -> str:
    """A categorical feature's most frequent categories that the training split never held."""
    found = (feature or {}).get("new_categories") or {}
    return ", ".join(f"{value} ({count})" for value, count in found.items()) or "-"
