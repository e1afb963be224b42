import * as React from 'react';

import { api } from '../../api';
import type { PipelineOutline, PipelineStep, RegisteredVersion, RunRow } from '../../types';
import { StatusBadge } from '../common/Badges';
import { formatDuration, formatNumber, formatTime } from '../common/format';
import { OutlinePage, OutlineProps } from '../common/OutlinePage';

const GATE_TEXT: Record<string, string> = { true: 'passed', false: 'failed', no_reference: 'no champion yet' };

/** "iris-classifier v3 @challenger": a registered version and its aliases. */
export function VersionText(props: { version: RegisteredVersion | null | undefined }): JSX.Element | null {
  const { version } = props;
  if (!version) {
    return null;
  }
  return (
    <span className="mlops-nb-version" data-version={version.version}>
      {version.name ? `${version.name} ` : ''}v{version.version}
      {version.aliases.map(alias => (
        <span key={alias} className="mlops-nb-alias">
          @{alias}
        </span>
      ))}
    </span>
  );
}

export function RunLink(props: { run: RunRow; open: (runId: string, name: string) => void; label?: string }): JSX.Element {
  const { run } = props;
  return (
    <button
      className="mlops-nb-link"
      title={`${run.run_name} (${run.run_id})`}
      onClick={() => props.open(run.run_id, run.run_name || run.run_id.slice(0, 8))}
    >
      {props.label ?? run.run_name}
    </button>
  );
}

function Outputs(props: { step: PipelineStep }): JSX.Element {
  const { step } = props;
  const metrics = Object.entries(step.run.metrics).filter(([, value]) => value !== null);
  return (
    <span className="mlops-nb-step-outputs">
      {step.rows_ingested !== null ? <span>{step.rows_ingested.toLocaleString()} rows ingested</span> : null}
      {step.gate ? (
        <span className={`mlops-nb-gate mlops-nb-gate-${step.gate}`}>gate {GATE_TEXT[step.gate] ?? step.gate}</span>
      ) : null}
      {step.model_version ? (
        <span>
          registered <VersionText version={step.model_version} />
        </span>
      ) : null}
      {step.error ? <span className="mlops-nb-error-text">{step.error}</span> : null}
      {metrics.slice(0, 6).map(([key, value]) => (
        <span key={key} className="mlops-nb-step-metric" title={key}>
          {key} {formatNumber(value)}
        </span>
      ))}
      {metrics.length > 6 ? <span className="mlops-nb-muted">+{metrics.length - 6} metrics</span> : null}
    </span>
  );
}

/** A pipeline run's page: its steps in order, each with status, duration and key outputs, linking to each. */
export function PipelineView(props: OutlineProps): JSX.Element {
  return (
    <OutlinePage runId={props.runId} load={api.pipelineOutline} className="mlops-nb-pipeline-page">
      {value => <PipelineSteps value={value} openRun={props.openRun} />}
    </OutlinePage>
  );
}

function PipelineSteps(props: { value: PipelineOutline; openRun: OutlineProps['openRun'] }): JSX.Element {
  const { value } = props;
  const { run } = value;
  const registered = value.steps.find(step => step.model_version)?.model_version;
  return (
    <>
      <div className="mlops-nb-muted">
        pipeline run {run.run_id} · started {formatTime(run.start_time)} · {formatDuration(run.duration_ms)}
        {value.metric ? ` · metric ${value.metric} ${formatNumber(run.metrics[value.metric])}` : ''}
      </div>
      {registered ? (
        <div className="mlops-nb-registered">
          Registered: <VersionText version={registered} />
        </div>
      ) : null}
      <div className="mlops-nb-toolbar">
        <RunLink run={run} open={props.openRun} label="Open the pipeline run's detail" />
      </div>
      <table className="mlops-nb-table mlops-nb-steps">
        <thead>
          <tr>
            <th>Step</th>
            <th>Status</th>
            <th>Duration</th>
            <th>Outputs</th>
          </tr>
        </thead>
        <tbody>
          {value.steps.map(step => (
            <tr key={step.run.run_id} data-step={step.step} data-run-id={step.run.run_id}>
              <td>
                <RunLink run={step.run} open={props.openRun} label={step.step} />
              </td>
              <td>
                <StatusBadge status={step.run.status} />
              </td>
              <td>{formatDuration(step.run.duration_ms)}</td>
              <td>
                <Outputs step={step} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {value.steps.length === 0 ? <div className="mlops-nb-muted">No steps recorded yet.</div> : null}
    </>
  );
}
