import * as React from 'react';

import { api } from '../../api';
import type { Experiment } from '../../types';
import { formatTime } from '../common/format';
import { AUTO_REFRESH_MS, useAsync, useInterval } from '../common/hooks';

/** Experiments with run counts; refreshes itself while any has running runs. */
export function ExperimentsList(props: {
  refreshKey: number;
  onSelect: (experiment: Experiment) => void;
}): JSX.Element {
  const { value, error, loading, reload } = useAsync(() => api.experiments(), [props.refreshKey]);
  const experiments = value?.experiments ?? [];
  const active = experiments.some(e => e.active_run_count > 0);
  useInterval(reload, AUTO_REFRESH_MS, active);
  return (
    <div className="mlops-nb-experiments">
      <div className="mlops-nb-toolbar">
        <span className="mlops-nb-muted">{loading ? 'Loading…' : `${experiments.length} experiments`}</span>
        <button className="mlops-nb-button" onClick={reload} title="Refresh">
          ⟳ Refresh
        </button>
      </div>
      {error ? <div className="mlops-nb-error">{error}</div> : null}
      {!loading && !error && experiments.length === 0 ? (
        <div className="mlops-nb-empty">
          No experiments yet. Run a notebook with <code>%mlops track</code> to record one.
        </div>
      ) : null}
      <ul className="mlops-nb-experiment-list">
        {experiments.map(experiment => (
          <li key={experiment.experiment_id}>
            <button
              className="mlops-nb-experiment"
              data-experiment-id={experiment.experiment_id}
              onClick={() => props.onSelect(experiment)}
            >
              <span className="mlops-nb-experiment-name">{experiment.name}</span>
              <span className="mlops-nb-experiment-meta">
                {experiment.run_count} runs
                {experiment.active_run_count > 0 ? (
                  <span className="mlops-nb-status mlops-nb-status-running">
                    {experiment.active_run_count} running
                  </span>
                ) : null}
              </span>
              <span className="mlops-nb-muted">
                {formatTime(experiment.last_run_start_time ?? experiment.last_update_time)}
              </span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
