import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { api } from '../../api';
import type { RunDetail as Detail } from '../../types';
import { ModeBadge, StatusBadge, WarningBadges } from '../common/Badges';
import { errorMessage, formatDuration, formatNumber, formatTime, shortId } from '../common/format';
import { AUTO_REFRESH_MS, useAsync, useInterval } from '../common/hooks';
import { RunLineage } from '../lineage/LineageGraph';
import { ReproduceButton } from '../reproduce/ReproduceButton';
import { ArtifactBrowser } from '../artifacts/ArtifactBrowser';
import { CodeVersionView } from './CodeVersionView';
import { computedOn } from './computedOn';
import { MetricHistories } from './MetricHistories';
import { ErrorView, GatesView, RegistrationView, TagsView } from './Outcomes';
import { SplitsView } from './SplitsView';

export interface RunActions {
  openRun: (runId: string, name: string) => void;
  /** Open a file (path relative to the server root) in JupyterLab. */
  openFile: (path: string) => void;
}

/** Only http(s) links from settings are opened. */
function safeUrl(url: string | null): string | null {
  return url && /^https?:\/\//i.test(url) ? url : null;
}

function KeyValues(props: { title: string; values: Record<string, string | number | null> }): JSX.Element {
  const entries = Object.entries(props.values);
  return (
    <section className="mlops-nb-section">
      <h3>{props.title}</h3>
      {entries.length === 0 ? <div className="mlops-nb-muted">none</div> : null}
      <div className="mlops-nb-table-wrap mlops-nb-kv-wrap">
        <table className="mlops-nb-table mlops-nb-kv">
          <tbody>
            {entries.map(([key, value]) => (
              <tr key={key}>
                <th>{key}</th>
                <td>{typeof value === 'number' || value === null ? formatNumber(value) : value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** The latest value of each metric and the data it was computed on. */
function MetricsView(props: { metrics: Detail['metrics']; data: Detail['metric_data'] }): JSX.Element {
  const entries = Object.entries(props.metrics);
  return (
    <section className="mlops-nb-section mlops-nb-metrics">
      <h3>Metrics (latest)</h3>
      {entries.length === 0 ? <div className="mlops-nb-muted">none</div> : null}
      <div className="mlops-nb-table-wrap mlops-nb-kv-wrap">
        <table className="mlops-nb-table mlops-nb-kv">
          <tbody>
            {entries.map(([key, value]) => (
              <tr key={key} data-metric={key}>
                <th>{key}</th>
                <td>{formatNumber(value)}</td>
                <td className="mlops-nb-muted mlops-nb-computed-on">{computedOn(props.data[key])}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Header(props: { run: Detail; actions: RunActions; reload: () => void }): JSX.Element {
  const { run, actions } = props;
  const [message, setMessage] = React.useState<string | null>(null);
  const mlflowUi = safeUrl(run.links.mlflow_ui);
  const openSnapshot = (): void => {
    setMessage(null);
    api.snapshot(run.run_id).then(
      snapshot => actions.openFile(snapshot.path),
      (reason: unknown) => setMessage(errorMessage(reason))
    );
  };
  return (
    <div className="mlops-nb-run-header">
      <h2 className="mlops-nb-run-title">{run.run_name || run.run_id}</h2>
      <div className="mlops-nb-run-meta">
        <StatusBadge status={run.status} />
        <ModeBadge mode={run.mode} />
        <WarningBadges warnings={run.warnings} />
        <code title="run id">{run.run_id}</code>
      </div>
      <div className="mlops-nb-run-meta mlops-nb-muted">
        {run.experiment_name ?? run.experiment_id} · started {formatTime(run.start_time)} ·{' '}
        {formatDuration(run.duration_ms)}
        {run.pipeline_run_id ? (
          <>
            {' '}· step of pipeline{' '}
            <button className="mlops-nb-link" onClick={() => actions.openRun(run.pipeline_run_id as string, 'pipeline')}>
              {shortId(run.pipeline_run_id)}
            </button>
          </>
        ) : null}
      </div>
      <div className="mlops-nb-toolbar">
        <button className="mlops-nb-button" onClick={props.reload} title="Refresh (automatic while the run is running)">
          ⟳ Refresh
        </button>
        <button
          className="mlops-nb-button mlops-nb-open-snapshot"
          disabled={!run.code.snapshot_path}
          title={run.code.snapshot_path ? 'Open the notebook as it was run' : 'This run has no notebook snapshot'}
          onClick={openSnapshot}
        >
          Open notebook snapshot
        </button>
        {mlflowUi ? (
          <a className="mlops-nb-button mlops-nb-open-mlflow" href={mlflowUi} target="_blank" rel="noopener noreferrer">
            Open in MLflow UI
          </a>
        ) : (
          <button
            className="mlops-nb-button mlops-nb-open-mlflow"
            disabled
            title={run.links.mlflow_ui_hint ?? 'No MLflow UI address is configured.'}
          >
            Open in MLflow UI
          </button>
        )}
      </div>
      {!mlflowUi && run.links.mlflow_ui_hint ? (
        <div className="mlops-nb-muted mlops-nb-ui-hint">To get the MLflow UI link: {run.links.mlflow_ui_hint}</div>
      ) : null}
      {message ? <div className="mlops-nb-error">{message}</div> : null}
      {run.mode === 'pipeline' || run.pipeline_run_id || run.tags['mlops_nb.pipeline.kind'] === 'pipeline' ? (
        <ReproduceButton target={{ run_id: run.run_id }} openRun={actions.openRun} />
      ) : null}
    </div>
  );
}

/** Everything about one run: params, metrics, splits, code version and lineage. */
export function RunDetailView(props: { runId: string } & RunActions): JSX.Element {
  const { value: run, error, loading, reload } = useAsync(() => api.run(props.runId), [props.runId]);
  const [refreshKey, setRefreshKey] = React.useState(0);
  const refresh = React.useCallback(() => {
    reload();
    setRefreshKey(k => k + 1);
  }, [reload]);
  useInterval(reload, AUTO_REFRESH_MS, run?.status === 'RUNNING');
  if (!run) {
    return (
      <div className="mlops-nb-run-detail">
        {loading ? <div className="mlops-nb-muted">Loading…</div> : null}
        {error ? <div className="mlops-nb-error">{error}</div> : null}
      </div>
    );
  }
  return (
    <div className="mlops-nb-run-detail" data-run-id={run.run_id}>
      <Header run={run} actions={props} reload={refresh} />
      {error ? <div className="mlops-nb-error">{error}</div> : null}
      {run.error ? <ErrorView error={run.error} openRun={props.openRun} /> : null}
      {run.registration ? <RegistrationView registration={run.registration} /> : null}
      <GatesView gates={run.gates} />
      <div className="mlops-nb-columns">
        <KeyValues title="Params" values={run.params} />
        <MetricsView metrics={run.metrics} data={run.metric_data} />
        <CodeVersionView code={run.code} openRun={props.openRun} />
      </div>
      <MetricHistories histories={run.metric_histories} />
      <TagsView groups={run.tag_groups} />
      <SplitsView splits={run.splits} />
      <ArtifactBrowser runId={run.run_id} openFile={props.openFile} />
      <RunLineage
        runId={run.run_id}
        modelVersions={run.model_versions}
        refreshKey={refreshKey}
        openRun={props.openRun}
      />
    </div>
  );
}

/** The run detail as a main-area widget. */
export class RunDetailWidget extends ReactWidget {
  constructor(private readonly _options: { runId: string } & RunActions) {
    super();
    this.addClass('mlops-nb-main');
  }

  protected render(): JSX.Element {
    return <RunDetailView {...this._options} />;
  }
}
