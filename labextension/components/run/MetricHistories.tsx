import type { Data, Layout } from 'plotly.js';
import * as React from 'react';

import type { MetricPoint } from '../../types';
import { Plot, plotText } from '../common/Plot';

/** All metric histories of a run, one line per metric (metrics with one point show as markers). */
export function MetricHistories(props: { histories: Record<string, MetricPoint[]> }): JSX.Element | null {
  const { histories } = props;
  const figure = React.useMemo(() => {
    const data: Data[] = Object.entries(histories)
      .filter(([, points]) => points.length > 0)
      .map(([key, points]) => ({
        type: 'scatter',
        mode: points.length > 1 ? 'lines' : 'markers',
        name: plotText(key),
        x: points.map(p => p.step),
        y: points.map(p => p.value)
      }));
    const layout: Partial<Layout> = {
      title: { text: 'Metric histories' },
      xaxis: { title: { text: 'step' } }
    };
    return { data, layout };
  }, [histories]);
  if (!figure.data.length) {
    return null;
  }
  return (
    <section className="mlops-nb-section">
      <Plot className="mlops-nb-histories" data={figure.data} layout={figure.layout} height={280} />
    </section>
  );
}
