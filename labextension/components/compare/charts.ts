/**
 * Plotly figures of a comparison. Every string from run data that plotly parses as HTML (titles, legend
 * names, hover text, category ticks) goes through `plotText`.
 */
import type { Data, Layout } from 'plotly.js';

import type { Comparison, MetricComparison, ParamRow, RunRow } from '../../types';
import { plotText } from '../common/Plot';

export interface Figure {
  data: Data[];
  layout: Partial<Layout>;
}

/** A run's label in legends and hover text: its name and the start of its id. */
export function runLabel(run: RunRow): string {
  return `${run.run_name || 'run'} (${run.run_id.slice(0, 6)})`;
}

function isNumeric(values: (string | null)[]): boolean {
  const present = values.filter((v): v is string => v !== null && v.trim() !== '');
  return present.length > 0 && present.every(v => Number.isFinite(Number(v)));
}

/** The last value of a metric per run, in `runs` order. */
export function lastValues(comparison: Comparison, metric: MetricComparison): (number | null)[] {
  const byRun = new Map(metric.summary.map(s => [s.run_id, s.last]));
  return comparison.runs.map(run => byRun.get(run.run_id) ?? run.metrics[metric.key] ?? null);
}

interface Dimension {
  label: string;
  values: number[];
  tickvals?: number[];
  ticktext?: string[];
}

function paramDimension(param: ParamRow): Dimension {
  if (isNumeric(param.values)) {
    return { label: plotText(param.key), values: param.values.map(v => (v === null ? NaN : Number(v))) };
  }
  const categories = Array.from(new Set(param.values.map(v => v ?? '∅'))).sort();
  return {
    label: plotText(param.key),
    values: param.values.map(v => categories.indexOf(v ?? '∅')),
    tickvals: categories.map((_, i) => i),
    // parcoords draws tick labels as plain text nodes (no HTML parsing): escaping would show entities
    ticktext: categories.map(c => (c.length > 16 ? `${c.slice(0, 15)}…` : c))
  };
}

/** Parallel coordinates: one axis per param that differs (all params when none differ), then the metric. */
export function parallelCoordinates(comparison: Comparison, metric: MetricComparison | undefined): Figure {
  const differing = comparison.params.filter(p => p.differs);
  const params = (differing.length ? differing : comparison.params).slice(0, 12);
  const dimensions: Dimension[] = params.map(paramDimension);
  let color: number[] = [];
  if (metric) {
    const values = lastValues(comparison, metric).map(v => (v === null ? NaN : v));
    dimensions.push({ label: plotText(metric.key), values });
    color = values;
  }
  return {
    data: [
      {
        type: 'parcoords',
        dimensions,
        line: metric
          ? { color, colorscale: 'Viridis', showscale: true, colorbar: { title: { text: plotText(metric.key) } } }
          : { color: '#1f77b4' }
      } as Data
    ],
    layout: { title: { text: `Params → ${plotText(metric?.key ?? '')}` }, margin: { l: 64, r: 64, t: 72, b: 32 } }
  };
}

/** One line per run: the metric over steps. */
export function metricCurves(comparison: Comparison, metric: MetricComparison | undefined): Figure {
  if (!metric) {
    return { data: [], layout: { title: { text: 'No metrics' } } };
  }
  const runs = new Map(comparison.runs.map(run => [run.run_id, run]));
  const data: Data[] = metric.series.map(series => {
    const run = runs.get(series.run_id);
    const label = plotText(run ? runLabel(run) : series.run_id);
    return {
      type: 'scatter',
      mode: metric.steps.length > 1 ? 'lines' : 'markers',
      name: label,
      x: metric.steps,
      y: series.values,
      connectgaps: true,
      hovertemplate: `${label}<br>step %{x}: %{y}<extra></extra>`
    };
  });
  return {
    data,
    layout: {
      title: { text: `${plotText(metric.key)} over steps` },
      xaxis: { title: { text: 'step' } },
      yaxis: { title: { text: plotText(metric.key) } },
      showlegend: data.length <= 20
    }
  };
}

/** One point per run: a param against the last value of a metric. */
export function paramScatter(
  comparison: Comparison,
  param: ParamRow | undefined,
  metric: MetricComparison | undefined
): Figure {
  if (!param || !metric) {
    return { data: [], layout: { title: { text: 'Choose a param and a metric' } } };
  }
  const numeric = isNumeric(param.values);
  const labels = comparison.runs.map(run => plotText(runLabel(run)));
  return {
    data: [
      {
        type: 'scatter',
        mode: 'markers',
        x: param.values.map(v => (v === null ? null : numeric ? Number(v) : plotText(v))),
        y: lastValues(comparison, metric),
        text: labels,
        marker: { size: 9 },
        hovertemplate: '%{text}<br>%{x} → %{y}<extra></extra>'
      }
    ],
    layout: {
      title: { text: `${plotText(metric.key)} vs ${plotText(param.key)}` },
      xaxis: { title: { text: plotText(param.key) }, type: numeric ? '-' : 'category' },
      yaxis: { title: { text: plotText(metric.key) } }
    }
  };
}
