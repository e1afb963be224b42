/**
 * Plotly figures of a comparison. Every string from run data that plotly parses as HTML (titles, legend
 * names, hover text, category ticks) goes through `plotText`. Each run keeps one colour in every chart.
 * Parallel coordinates are in parcoords.ts.
 */
import type { Data, Layout } from 'plotly.js';

import type { Comparison, MetricComparison, ParamRow, RunRow } from '../../types';
import { formatNumber } from '../common/format';
import { plotText } from '../common/Plot';

export interface Figure {
  data: Data[];
  layout: Partial<Layout>;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** The colour of the run at `index` in `runs` order (the same in every chart). */
export function runColour(index: number): string {
  return PALETTE[index % PALETTE.length];
}

/** A run's label in charts, legends and headers: its name cut to `limit` characters, and the start of its
 * id, which keeps two runs of one name apart. */
export function runLabel(run: RunRow, limit = 24): string {
  const name = run.run_name || 'run';
  const cut = name.length <= limit ? name : `${name.slice(0, limit - 1)}…`;
  return `${cut} (${run.run_id.slice(0, 6)})`;
}

/** Whether every present value parses as a finite number. */
export function isNumeric(values: (string | null)[]): boolean {
  const present = values.filter((v): v is string => v !== null && v.trim() !== '');
  return present.length > 0 && present.every(v => Number.isFinite(Number(v)));
}

/** The last value of a metric per run, in `runs` order. */
export function lastValues(comparison: Comparison, metric: MetricComparison): (number | null)[] {
  const byRun = new Map(metric.summary.map(s => [s.run_id, s.last]));
  return comparison.runs.map(run => byRun.get(run.run_id) ?? run.metrics[metric.key] ?? null);
}

/** Whether every run logged the metric at most once: then it is a value per run, not a curve. */
export function singleValued(metric: MetricComparison): boolean {
  return metric.summary.every(s => s.count <= 1);
}

/** A metric logged once per run: one labelled bar per run, in the run's colour. */
export function metricBars(comparison: Comparison, metric: MetricComparison): Figure {
  const labels = comparison.runs.map(run => plotText(runLabel(run)));
  const values = lastValues(comparison, metric);
  return {
    data: [
      {
        type: 'bar',
        x: labels,
        y: values,
        marker: { color: comparison.runs.map((_, i) => runColour(i)) },
        text: values.map(v => formatNumber(v)),
        textposition: 'auto',
        hovertemplate: '%{x}: %{y}<extra></extra>'
      }
    ],
    layout: {
      title: { text: `${plotText(metric.key)} per run` },
      xaxis: { type: 'category', automargin: true },
      yaxis: { title: { text: plotText(metric.key) } },
      showlegend: false
    }
  };
}

/** One line per run: the metric over steps; a metric logged once per run is drawn as bars instead. */
export function metricCurves(comparison: Comparison, metric: MetricComparison | undefined): Figure {
  if (!metric) {
    return { data: [], layout: { title: { text: 'No metrics' } } };
  }
  if (singleValued(metric)) {
    return metricBars(comparison, metric);
  }
  const index = new Map(comparison.runs.map((run, i) => [run.run_id, i]));
  const data: Data[] = metric.series.map(series => {
    const i = index.get(series.run_id) ?? 0;
    const run = comparison.runs[i];
    const label = plotText(run ? runLabel(run) : series.run_id);
    return {
      type: 'scatter',
      mode: metric.steps.length > 1 ? 'lines' : 'markers',
      name: label,
      x: metric.steps,
      y: series.values,
      line: { color: runColour(i) },
      marker: { color: runColour(i) },
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

/** One labelled point per run, in its colour: a param against the last value of a metric. */
export function paramScatter(
  comparison: Comparison,
  param: ParamRow | undefined,
  metric: MetricComparison | undefined
): Figure {
  if (!param || !metric) {
    return { data: [], layout: { title: { text: 'Choose a param and a metric' } } };
  }
  const numeric = isNumeric(param.values) && !comparison.chart.categorical.includes(param.key);
  const log = numeric && comparison.chart.log_scale.includes(param.key);
  const labels = comparison.runs.map(run => plotText(runLabel(run)));
  return {
    data: [
      {
        type: 'scatter',
        mode: comparison.runs.length <= 20 ? 'text+markers' : 'markers',
        x: param.values.map(v => (v === null ? null : numeric ? Number(v) : plotText(v))),
        y: lastValues(comparison, metric),
        text: labels,
        textposition: 'top center',
        textfont: { size: 9 },
        cliponaxis: false,
        marker: { size: 10, color: comparison.runs.map((_, i) => runColour(i)) },
        hovertemplate: '%{text}<br>%{x} → %{y}<extra></extra>'
      }
    ],
    layout: {
      title: { text: `${plotText(metric.key)} vs ${plotText(param.key)}` },
      xaxis: { title: { text: plotText(param.key) + (log ? ' (log)' : '') }, type: log ? 'log' : numeric ? '-' : 'category' },
      yaxis: { title: { text: plotText(metric.key) } }
    }
  };
}
