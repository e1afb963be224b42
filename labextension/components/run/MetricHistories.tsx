import type { Data, Layout } from 'plotly.js';
import * as React from 'react';

import type { MetricPoint } from '../../types';
import { formatNumber } from '../common/format';
import { Plot, plotText } from '../common/Plot';

/** At most this many small charts are drawn; the rest are listed by name. */
const MAX_CHARTS = 24;

function figure(key: string, points: MetricPoint[]): { data: Data[]; layout: Partial<Layout> } {
  const layout: Partial<Layout> = {
    title: { text: plotText(key), font: { size: 11 } },
    margin: { l: 44, r: 8, t: 28, b: 28 },
    showlegend: false
  };
  if (points.length === 1) {
    // one value: a single bar with its value, not a point "over steps" on an arbitrary axis
    const value = points[0].value;
    return {
      data: [
        {
          type: 'bar',
          x: [plotText(key)],
          y: [value],
          text: [formatNumber(value)],
          textposition: 'auto',
          hovertemplate: `${plotText(key)}: %{y}<extra></extra>`
        }
      ],
      layout: { ...layout, xaxis: { visible: false }, yaxis: { rangemode: 'tozero' } }
    };
  }
  return {
    data: [{ type: 'scatter', mode: 'lines', x: points.map(p => p.step), y: points.map(p => p.value) }],
    layout: { ...layout, xaxis: { title: { text: 'step', font: { size: 10 } } } }
  };
}

function SmallChart(props: { metric: string; points: MetricPoint[] }): JSX.Element {
  const { data, layout } = React.useMemo(() => figure(props.metric, props.points), [props.metric, props.points]);
  return (
    <div className="mlops-nb-small-multiple" data-metric={props.metric}>
      <Plot data={data} layout={layout} height={170} />
    </div>
  );
}

/** One small chart per metric (each on its own scale): lines over steps, or a bar for a single value. */
export function MetricHistories(props: { histories: Record<string, MetricPoint[]> }): JSX.Element | null {
  const entries = Object.entries(props.histories).filter(([, points]) => points.length > 0);
  if (!entries.length) {
    return null;
  }
  const shown = entries.slice(0, MAX_CHARTS);
  const rest = entries.slice(MAX_CHARTS).map(([key]) => key);
  return (
    <section className="mlops-nb-section">
      <h3>Metrics, one chart each</h3>
      <div className="mlops-nb-histories mlops-nb-small-multiples">
        {shown.map(([key, points]) => (
          <SmallChart key={key} metric={key} points={points} />
        ))}
      </div>
      {rest.length ? <div className="mlops-nb-muted">Not drawn: {rest.join(', ')}</div> : null}
    </section>
  );
}
