/** One model version in the Models section: gate tables, lineage, deploy-check, its moves and pending requests. */
import * as React from 'react';

import { api } from '../../api';
import type { Move } from '../../types';
import { shortId } from '../common/format';
import { useAsync } from '../common/hooks';
import { LineageView } from '../lineage/LineageGraph';
import { MonitoringView } from '../monitoring/MonitoringView';
import { ReproduceButton } from '../reproduce/ReproduceButton';
import { DeployCheckSection } from './DeployCheckSection';
import { ModelGateTable, PromotionGates, RecordedGates } from './GateTable';

export function MoveLine(props: { move: Move }): JSX.Element {
  const { move } = props;
  return (
    <li className={`mlops-nb-move mlops-nb-move-${move.action}`}>
      <span className="mlops-nb-chip">{move.action}</span> v{move.version} → @{move.alias}
      {move.env ? ` (${move.env})` : ''} by {move.actor} at {move.time}
      {move.forced ? <span className="mlops-nb-chip mlops-nb-forced">forced</span> : null}
      {move.previous_version ? <span className="mlops-nb-muted"> was v{move.previous_version}</span> : null}
      {move.reason ? <div className="mlops-nb-muted">“{move.reason}”</div> : null}
      {move.gates.some(g => !g.passed) ? <PromotionGates gates={move.gates.filter(g => !g.passed)} /> : null}
    </li>
  );
}

export function VersionDetail(props: {
  model: string;
  version: string;
  refreshKey: number;
  openRun: (runId: string, name: string) => void;
}): JSX.Element {
  const { value, error, loading, reload } = useAsync(
    () => api.modelVersion(props.model, props.version),
    [props.model, props.version, props.refreshKey]
  );
  const [showLineage, setShowLineage] = React.useState(false);
  const [showMonitoring, setShowMonitoring] = React.useState(false);
  const lineage = useAsync(
    () => (showLineage ? api.modelVersionLineage(props.model, props.version) : Promise.resolve(null)),
    [props.model, props.version, showLineage]
  );
  if (loading && !value) {
    return <div className="mlops-nb-muted">Loading…</div>;
  }
  if (error || !value) {
    return <div className="mlops-nb-error">{error}</div>;
  }
  const { lineage: tags } = value;
  return (
    <div className="mlops-nb-version-detail" data-version={value.version}>
      <h4>Gates at registration</h4>
      <RecordedGates gates={value.gates} />
      <ModelGateTable report={value.model_gate} />
      <h4>Lineage</h4>
      <dl className="mlops-nb-lineage-tags">
        <dt>pipeline run</dt>
        <dd>
          {tags.pipeline_run_id ? (
            <button
              className="mlops-nb-link"
              onClick={() => props.openRun(tags.pipeline_run_id ?? '', shortId(tags.pipeline_run_id))}
            >
              {shortId(tags.pipeline_run_id)}
            </button>
          ) : (
            'missing'
          )}
        </dd>
        <dt>notebook</dt>
        <dd>{tags.notebook_hash ? shortId(tags.notebook_hash, 12) : 'missing'}</dd>
        <dt>commit</dt>
        <dd>{tags.git_commit ? shortId(tags.git_commit, 10) : 'missing'}</dd>
        {Object.entries(tags.datasets).map(([split, digest]) => (
          <React.Fragment key={split}>
            <dt>{split} data</dt>
            <dd>{shortId(digest, 12)}</dd>
          </React.Fragment>
        ))}
      </dl>
      <button className="mlops-nb-link" onClick={() => setShowLineage(!showLineage)}>
        {showLineage ? 'Hide the lineage graph' : 'Show the lineage graph'}
      </button>
      {lineage.error ? <div className="mlops-nb-error">{lineage.error}</div> : null}
      {lineage.value ? <LineageView graph={lineage.value} openRun={props.openRun} /> : null}
      <h4>Reproduction</h4>
      {value.reproduction ? (
        <div className="mlops-nb-muted mlops-nb-last-reproduction">
          last:{' '}
          <span
            className={`mlops-nb-verdict mlops-nb-verdict-${value.reproduction.verdict === 'reproduced' ? 'pass' : 'fail'}`}
          >
            {value.reproduction.verdict}
          </span>{' '}
          {value.reproduction.summary ?? ''} {value.reproduction.at ? `(${value.reproduction.at})` : ''}
        </div>
      ) : null}
      <ReproduceButton
        target={{ model: props.model, version: props.version }}
        openRun={props.openRun}
        onEnded={reload}
      />
      <h4>Deployment check</h4>
      <DeployCheckSection model={props.model} check={value.deploy_check ?? null} />
      <h4>Monitoring</h4>
      <button className="mlops-nb-link mlops-nb-show-monitoring" onClick={() => setShowMonitoring(!showMonitoring)}>
        {showMonitoring ? 'Hide monitoring' : 'Show monitoring'}
      </button>
      {showMonitoring ? <MonitoringView model={props.model} version={props.version} openRun={props.openRun} /> : null}
      <h4>Moves of this version</h4>
      {value.history.length === 0 ? <div className="mlops-nb-muted">None yet.</div> : null}
      <ul className="mlops-nb-moves">
        {value.history.map((move, index) => (
          <MoveLine key={index} move={move} />
        ))}
      </ul>
    </div>
  );
}
