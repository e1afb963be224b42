/**
 * Parallel coordinates drawn as SVG: one polyline per run across one vertical axis per dimension.
 *
 * plotly's `parcoords` trace draws with WebGL, whose set-up (shaders, three canvases, a blocking pixel read)
 * cost 2–10 s before the first line without a GPU (software GL), whatever the number of runs; SVG scatter
 * lines over normalized axes cost milliseconds for 100 runs and use no WebGL context.
 * Axis titles are the x-axis tick labels (`.xtick text`), axis ticks are annotations (`.annotation-text`);
 * all run text goes through `plotText` (plotly parses it as HTML).
 */
import type { Annotations, Data, Shape } from 'plotly.js';

import type { Comparison, MetricComparison, ParamRow } from '../../types';
import { formatNumber } from '../common/format';
import { plotText } from '../common/Plot';
import { type Figure, isNumeric, lastValues, runColour, runLabel } from './charts';

/** One axis: raw positions (log10 for log axes, category index for text), tick positions and texts. */
export interface Dimension {
  label: string;
  values: number[];
  texts: string[];
  tickvals: number[];
  ticktext: string[];
}

const MAX_TICKS = 8;

function shortText(text: string): string {
  return text.length > 16 ? `${text.slice(0, 15)}…` : text;
}

/** At most MAX_TICKS of `items`, evenly spread, the first and last kept. */
function thin<T>(items: T[]): T[] {
  if (items.length <= MAX_TICKS) {
    return items;
  }
  const step = (items.length - 1) / (MAX_TICKS - 1);
  return Array.from(new Set(Array.from({ length: MAX_TICKS }, (_, i) => Math.round(i * step)))).map(i => items[i]);
}

/** A linear axis over `numbers`: ticks at the extremes and evenly between. */
function linearDimension(label: string, numbers: number[]): Dimension {
  const finite = numbers.filter(Number.isFinite);
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const ticks = finite.length === 0 ? [] : lo === hi ? [lo] : [0, 1, 2, 3, 4].map(i => lo + ((hi - lo) * i) / 4);
  return {
    label,
    values: numbers,
    texts: numbers.map(n => formatNumber(n)),
    tickvals: ticks,
    ticktext: ticks.map(n => formatNumber(n))
  };
}

/** One axis of a param: categories for text values, log10 with the values as ticks when they span decades. */
export function paramDimension(param: ParamRow, categorical: boolean, log: boolean): Dimension {
  const label = shortText(param.key);
  if (!categorical && isNumeric(param.values)) {
    const numbers = param.values.map(v => (v === null ? NaN : Number(v)));
    if (!log) {
      return linearDimension(label, numbers);
    }
    // the values as logged ("0.0001", not 1.000e-4) are the ticks
    const logged = new Map<number, string>();
    param.values.forEach((v, i) => numbers[i] > 0 && !logged.has(numbers[i]) && logged.set(numbers[i], (v ?? '').trim()));
    const ticks = thin(Array.from(logged.keys()).sort((a, b) => a - b));
    return {
      label: `${label} (log)`,
      values: numbers.map(n => (n > 0 ? Math.log10(n) : NaN)),
      texts: param.values.map(v => v ?? '∅'),
      tickvals: ticks.map(n => Math.log10(n)),
      ticktext: ticks.map(n => logged.get(n) ?? formatNumber(n))
    };
  }
  const categories = Array.from(new Set(param.values.map(v => v ?? '∅'))).sort();
  const shown = thin(categories.map((_, i) => i));
  return {
    label,
    values: param.values.map(v => categories.indexOf(v ?? '∅')),
    texts: param.values.map(v => v ?? '∅'),
    tickvals: shown,
    ticktext: shown.map(i => shortText(categories[i]))
  };
}

/** `value` on the axis scaled to 0…1 (the middle when the axis has one value); null when missing. */
function scaler(dimension: Dimension): (value: number) => number | null {
  const finite = [...dimension.values, ...dimension.tickvals].filter(Number.isFinite);
  const lo = Math.min(...finite);
  const span = Math.max(...finite) - lo;
  return value => (Number.isFinite(value) ? (span > 0 ? (value - lo) / span : 0.5) : null);
}

/** Parallel coordinates over the user's params (the server's `chart.axes`) and the chosen metric. */
export function parallelCoordinates(comparison: Comparison, metric: MetricComparison | undefined): Figure {
  const { axes, categorical, log_scale: logScale } = comparison.chart;
  const byKey = new Map(comparison.params.map(p => [p.key, p]));
  const params = axes.map(key => byKey.get(key)).filter((p): p is ParamRow => p !== undefined);
  const dimensions = params.map(p => paramDimension(p, categorical.includes(p.key), logScale.includes(p.key)));
  if (metric) {
    const values = lastValues(comparison, metric).map(v => (v === null ? NaN : v));
    dimensions.push(linearDimension(shortText(metric.key), values));
  }
  const scales = dimensions.map(scaler);
  const axisIndex = dimensions.map((_, d) => d);
  const data: Data[] = comparison.runs.map((run, i) => {
    const label = plotText(runLabel(run));
    return {
      type: 'scatter',
      mode: comparison.runs.length <= 20 ? 'lines+markers' : 'lines', // fewer SVG nodes for many runs
      name: label,
      x: axisIndex,
      y: dimensions.map((dimension, d) => scales[d](dimension.values[i])),
      customdata: dimensions.map(dimension => plotText(`${dimension.label}: ${dimension.texts[i]}`)),
      line: { color: runColour(i), width: 1.5 },
      marker: { color: runColour(i), size: 4 },
      hovertemplate: `${label}<br>%{customdata}<extra></extra>`
    };
  });
  const shapes: Partial<Shape>[] = axisIndex.map(d => ({
    type: 'line',
    xref: 'x',
    yref: 'y',
    x0: d,
    x1: d,
    y0: 0,
    y1: 1,
    layer: 'below',
    line: { color: '#888', width: 1 }
  }));
  const last = dimensions.length - 1;
  const annotations: Partial<Annotations>[] = dimensions.flatMap((dimension, d) =>
    dimension.tickvals.map((tick, t) => ({
      x: d,
      y: scales[d](tick) ?? 0.5,
      xref: 'x',
      yref: 'y',
      text: plotText(dimension.ticktext[t]),
      showarrow: false,
      // ticks left of each axis; the last axis (the metric) has them on its right, clear of the lines
      xanchor: d === last && last > 0 ? 'left' : 'right',
      xshift: d === last && last > 0 ? 3 : -3,
      font: { size: 9 }
    }))
  );
  const angled = dimensions.length > 5;
  return {
    data,
    layout: {
      title: { text: `Your params → ${plotText(metric?.key ?? '')}` },
      xaxis: {
        side: 'top',
        tickvals: axisIndex,
        ticktext: dimensions.map(dimension => plotText(dimension.label)),
        tickangle: angled ? -20 : 0,
        range: [-0.6, Math.max(last, 0) + 0.6],
        showgrid: false,
        zeroline: false,
        fixedrange: true
      },
      yaxis: { range: [-0.05, 1.05], visible: false, fixedrange: true },
      shapes,
      annotations,
      showlegend: false,
      hovermode: 'closest',
      margin: { l: 24, r: 24, t: angled ? 120 : 90, b: 24 }
    }
  };
}
