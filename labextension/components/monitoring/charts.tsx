/** The Monitoring view's charts: drift per feature over time (heat map), live metric against its evaluation
 * value, and traffic per version over time. Every label from the data goes through plotText. */
import * as React from 'react';

import type { Data } from 'plotly.js';

import type { MonitoringResult } from '../../types';
import { Plot, plotText } from '../common/Plot';

function times(result: MonitoringResult): string[] {
  return result.buckets.map(b => b.replace('T', ' ').slice(0, 19));
}

export function DriftHeatmap(props: { result: MonitoringResult }): JSX.Element {
  const { result } = props;
  const names = Object.keys(result.features);
  const data = React.useMemo(
    () => [
      {
        type: 'heatmap' as const,
        x: times(result),
        y: names.map(plotText),
        z: names.map(n => result.features[n].psi_over_time ?? result.buckets.map(() => null)),
        colorscale: 'YlOrRd',
        reversescale: true, // plotly.js's YlOrRd runs from red: high PSI is red here
        zmin: 0,
        zmax: 0.5,
        colorbar: { title: { text: 'PSI' } },
        hoverongaps: false
      }
    ],
    [result]
  );
  const layout = React.useMemo(
    () => ({ yaxis: { automargin: true, autorange: 'reversed' as const }, xaxis: { title: { text: 'time' } } }),
    []
  );
  return <Plot className="mlops-nb-monitoring-heatmap" data={data} layout={layout} height={140 + 26 * names.length} />;
}

export function LiveMetricChart(props: { result: MonitoringResult }): JSX.Element {
  const { result } = props;
  const decay = result.decay;
  const data = React.useMemo((): Data[] => {
    const x = times(result);
    const lines: Data[] = [{ type: 'scatter', mode: 'lines+markers', x, y: decay.live_over_time ?? [], name: 'live' }];
    for (const [value, name] of [
      [decay.evaluation, 'evaluation'],
      [decay.threshold, 'threshold']
    ] as const) {
      if (typeof value === 'number') {
        lines.push({ type: 'scatter', mode: 'lines', x, y: x.map(() => value), name, line: { dash: 'dash' } });
      }
    }
    return lines;
  }, [result]);
  const layout = React.useMemo(() => ({ yaxis: { title: { text: plotText(decay.metric ?? 'metric') } } }), [result]);
  return <Plot className="mlops-nb-monitoring-live" data={data} layout={layout} height={260} />;
}

export function TrafficChart(props: { result: MonitoringResult }): JSX.Element {
  const { result } = props;
  const data = React.useMemo(
    () =>
      (result.health.traffic ?? []).map(t => ({
        type: 'bar' as const,
        x: times(result),
        y: t.over_time,
        name: plotText(`v${t.version} ${t.variant} (${t.alias})`)
      })),
    [result]
  );
  const layout = React.useMemo(() => ({ barmode: 'stack' as const, yaxis: { title: { text: 'requests' } } }), []);
  return <Plot className="mlops-nb-monitoring-traffic" data={data} layout={layout} height={240} />;
}
