import * as React from 'react';

import type { ColumnStats, Split } from '../../types';
import { formatNumber } from '../common/format';

/** A histogram as a tiny inline SVG (counts only; no text from the data). */
function Sparkbars(props: { counts: number[] }): JSX.Element | null {
  const max = Math.max(...props.counts, 0);
  if (!props.counts.length || max === 0) {
    return null;
  }
  const width = 80;
  const height = 18;
  const bar = width / props.counts.length;
  return (
    <svg className="mlops-nb-sparkbars" width={width} height={height} role="img" aria-label="histogram">
      {props.counts.map((count, i) => {
        const h = (count / max) * height;
        return <rect key={i} x={i * bar} y={height - h} width={Math.max(bar - 1, 1)} height={h} />;
      })}
    </svg>
  );
}

/** A bound of a numeric column (`min`/`max` are ISO strings for datetime columns). */
function numeric(value: ColumnStats['min']): number | null {
  return typeof value === 'number' ? value : null;
}

function summary(stats: ColumnStats): string {
  switch (stats.kind) {
    case 'numeric':
      return `mean ${formatNumber(stats.mean)} · std ${formatNumber(stats.std)} · min ${formatNumber(numeric(stats.min))} · max ${formatNumber(numeric(stats.max))}`;
    case 'datetime':
      return `${String(stats.min ?? '')} → ${String(stats.max ?? '')}`;
    default: {
      const top = (stats.top ?? []).slice(0, 3).map(t => `${t.value} (${(t.frequency * 100).toFixed(0)}%)`);
      return `${stats.cardinality ?? '?'} values · top ${top.join(', ')}`;
    }
  }
}

/** One split's (or a dataset version's) size, digest and per-column statistics. */
export function SplitCard(props: { split: Split }): JSX.Element {
  const { split } = props;
  const columns = Object.entries(split.columns);
  const dtypes = new Map(split.schema.map(s => [s.name, s.dtype]));
  return (
    <div className="mlops-nb-split" data-split={split.name}>
      <div className="mlops-nb-split-head">
        <strong>{split.name}</strong>
        {split.context ? <span className="mlops-nb-chip">{split.context}</span> : null}
        <span>
          {split.num_rows ?? '?'} rows × {split.num_columns ?? '?'} columns
        </span>
        {split.seed !== null ? <span className="mlops-nb-muted">seed {split.seed}</span> : null}
        <code className="mlops-nb-muted" title="full-content fingerprint (xxh3_128)">
          {split.digest ?? 'no digest'}
        </code>
      </div>
      {columns.length ? (
        <details>
          <summary>statistics of {columns.length} columns</summary>
          <table className="mlops-nb-table">
            <thead>
              <tr>
                <th>column</th>
                <th>kind</th>
                <th>dtype</th>
                <th>missing</th>
                <th>summary</th>
                <th>distribution</th>
              </tr>
            </thead>
            <tbody>
              {columns.map(([name, stats]) => (
                <tr key={name}>
                  <th>{name}</th>
                  <td>{stats.kind}</td>
                  <td>{dtypes.get(name) ?? ''}</td>
                  <td>{stats.missing_rate !== undefined ? `${(stats.missing_rate * 100).toFixed(1)}%` : ''}</td>
                  <td title={summary(stats)}>{summary(stats)}</td>
                  <td>{stats.histogram ? <Sparkbars counts={stats.histogram.counts} /> : null}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      ) : (
        <div className="mlops-nb-muted">no statistics recorded</div>
      )}
    </div>
  );
}

/** The run's data splits with digests, sizes and per-column statistics. */
export function SplitsView(props: { splits: Split[] }): JSX.Element {
  return (
    <section className="mlops-nb-section mlops-nb-splits">
      <h3>Data splits</h3>
      {props.splits.length === 0 ? <div className="mlops-nb-muted">No splits recorded.</div> : null}
      {props.splits.map(split => (
        <SplitCard key={split.name} split={split} />
      ))}
    </section>
  );
}
