import * as React from 'react';

import { api } from '../../api';
import type { SweepOutline } from '../../types';
import { StatusBadge } from '../common/Badges';
import { formatDuration, formatNumber, formatTime } from '../common/format';
import { OutlinePage, OutlineProps } from '../common/OutlinePage';
import { RunLink, VersionText } from '../pipeline/PipelineView';

function parameterText(parameters: Record<string, unknown>): string {
  return Object.entries(parameters)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
}

/**
 * A sweep's page: its points ranked by the pipeline's metric. The best point is the one the sweep marked
 * (never chosen again here), with the version registered from it.
 */
export function SweepView(props: OutlineProps): JSX.Element {
  return (
    <OutlinePage runId={props.runId} load={api.sweepOutline} className="mlops-nb-sweep-page">
      {value => <SweepPoints value={value} {...props} />}
    </OutlinePage>
  );
}

function SweepPoints(props: OutlineProps & { value: SweepOutline }): JSX.Element {
  const { value } = props;
  const { run } = value;
  const best = value.points.find(point => point.best);
  return (
    <>
      <div className="mlops-nb-muted">
        sweep {run.run_id} · started {formatTime(run.start_time)} · {formatDuration(run.duration_ms)} ·{' '}
        {value.points.length} points, ranked by {value.metric ?? 'no metric'} (
        {value.greater_is_better ? 'higher' : 'lower'} is better)
      </div>
      <div className="mlops-nb-registered">
        {best ? (
          <>
            Best point (the sweep's choice): <b className="mlops-nb-best-params">{parameterText(best.parameters)}</b>{' '}
            {value.metric} {formatNumber(best.metric)}
            {value.registered ? (
              <>
                {' '}
                → registered <VersionText version={value.registered} />
              </>
            ) : (
              ' · not registered'
            )}
          </>
        ) : (
          'No best point: no point finished with the metric.'
        )}
      </div>
      <div className="mlops-nb-toolbar">
        <RunLink run={run} open={props.openRun} label="Open the sweep run's detail" />
      </div>
      <table className="mlops-nb-table mlops-nb-points">
        <thead>
          <tr>
            <th>Rank</th>
            <th>Point</th>
            <th>Status</th>
            <th>{value.metric ?? 'metric'}</th>
            <th>Duration</th>
            <th>Version</th>
          </tr>
        </thead>
        <tbody>
          {value.points.map(point => (
            <tr
              key={point.run.run_id}
              className={point.best ? 'mlops-nb-best-point' : undefined}
              data-run-id={point.run.run_id}
              data-best={point.best ? 'true' : undefined}
            >
              <td>{point.rank ?? '–'}</td>
              <td>
                <RunLink run={point.run} open={props.openPipeline} label={parameterText(point.parameters) || point.run.run_name} />
                {point.best ? <span className="mlops-nb-best-mark" title="The sweep's best point">★ best</span> : null}
              </td>
              <td>
                <StatusBadge status={point.run.status} />
              </td>
              <td>{formatNumber(point.metric)}</td>
              <td>{formatDuration(point.run.duration_ms)}</td>
              <td>
                <VersionText version={point.model_version} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
