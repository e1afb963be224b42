import * as React from 'react';

import type { Comparison, MetricComparison } from '../../types';
import { computedOn } from '../run/computedOn';
import { formatNumber } from '../common/format';
import { RunHeaderRow } from './RunHeaderRow';

/** Where a metric was computed: one text when all runs agree, else "differs per run". */
function computedOnAll(data: MetricComparison['computed_on']): string {
  const texts = Array.from(new Set((data ?? []).map(d => computedOn(d))));
  return texts.length === 1 ? texts[0] : 'computed on: differs per run (see each run)';
}

/** The last value of every metric per run; the best run of each metric is marked. */
export function MetricsTable(props: { comparison: Comparison }): JSX.Element {
  const { comparison } = props;
  return (
    <section className="mlops-nb-section">
      <h3>Metrics (last value)</h3>
      <div className="mlops-nb-table-wrap">
        <table className="mlops-nb-table">
          <thead>
            <RunHeaderRow comparison={comparison} label="metric" />
          </thead>
          <tbody>
            {comparison.metrics.map(metric => {
              const byRun = new Map(metric.summary.map(s => [s.run_id, s]));
              return (
                <tr key={metric.key}>
                  <th>
                    {metric.key}
                    <div className="mlops-nb-muted mlops-nb-computed-on">{computedOnAll(metric.computed_on)}</div>
                  </th>
                  {comparison.runs.map(run => {
                    const summary = byRun.get(run.run_id);
                    const best = metric.best_run_id === run.run_id;
                    return (
                      <td
                        key={run.run_id}
                        className={best ? 'mlops-nb-best' : ''}
                        title={summary ? `min ${formatNumber(summary.min)} · max ${formatNumber(summary.max)} · ${summary.count} points` : ''}
                      >
                        {formatNumber(summary?.last ?? null)}
                      </td>
                    );
                  })}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}
