/**
 * What a run came to: its error and failing cell, its gate tables (every check with its raw value and
 * threshold, passing or not), the version it registered and its tags by owner. All text through React.
 */
import * as React from 'react';

import type { DataGateCheck, DataGateReport, Registration, RunDetail, RunError } from '../../types';
import { formatNumber } from '../common/format';
import { ModelGateTable } from '../models/GateTable';

function Verdict(props: { verdict: string }): JSX.Element {
  const kind = props.verdict === 'pass' ? 'pass' : props.verdict === 'fail' ? 'fail' : 'none';
  return <span className={`mlops-nb-verdict mlops-nb-verdict-${kind}`}>{props.verdict}</span>;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) {
    return '—';
  }
  return typeof value === 'number' ? formatNumber(value) : String(value);
}

/** The stored failure: message, kind, failing cell with its source, the failed step of a pipeline run. */
export function ErrorView(props: { error: RunError; openRun: (runId: string, name: string) => void }): JSX.Element {
  const { error } = props;
  const step = error.failed_step;
  return (
    <section className="mlops-nb-section mlops-nb-run-error" role="alert">
      <h3>Why it failed{error.kind ? ` (${error.kind})` : ''}</h3>
      <div className="mlops-nb-error mlops-nb-error-message">{error.message ?? 'No message was recorded.'}</div>
      {step ? (
        <div>
          Failed step:{' '}
          <button className="mlops-nb-link mlops-nb-failed-step" onClick={() => props.openRun(step.run_id, step.name ?? 'step')}>
            {step.name ?? step.run_id}
          </button>
        </div>
      ) : null}
      {error.exit_code ? <div className="mlops-nb-muted">kernel exit code {error.exit_code}</div> : null}
      {error.cell ? (
        <div className="mlops-nb-failing-cell">
          <div>
            Failing cell: <strong>cell {error.cell.index}</strong>
            {error.cell.notebook ? <span className="mlops-nb-muted"> of {error.cell.notebook}</span> : null}
          </div>
          {error.cell.source !== null ? <pre className="mlops-nb-cell-source">{error.cell.source}</pre> : null}
        </div>
      ) : null}
    </section>
  );
}

function groupByColumn(checks: DataGateCheck[]): [string, DataGateCheck[]][] {
  const groups = new Map<string, DataGateCheck[]>();
  for (const check of checks) {
    const key = check.column ?? '(dataset)';
    groups.set(key, [...(groups.get(key) ?? []), check]);
  }
  return Array.from(groups.entries());
}

/** The data gate: per column, each check with its value (PSI, KS, rates...) and threshold. */
export function DataGateTable(props: { report: DataGateReport }): JSX.Element {
  const { report } = props;
  return (
    <table className="mlops-nb-table mlops-nb-data-gate">
      <thead>
        <tr>
          <th>column</th>
          <th>check</th>
          <th>value</th>
          <th>threshold</th>
          <th>verdict</th>
        </tr>
      </thead>
      <tbody>
        {groupByColumn(report.checks).map(([column, checks]) =>
          checks.map((check, i) => (
            <tr
              key={`${column}/${check.check}/${i}`}
              title={check.message}
              className={check.verdict === 'fail' ? 'mlops-nb-gate-failed' : ''}
              data-column={column}
              data-check={check.check}
            >
              {i === 0 ? <th rowSpan={checks.length}>{column}</th> : null}
              <td>{check.check}</td>
              <td>{cell(check.value)}</td>
              <td>{cell(check.threshold)}</td>
              <td>
                <Verdict verdict={check.verdict} />
              </td>
            </tr>
          ))
        )}
      </tbody>
    </table>
  );
}

/** The gate reports of a gate step or of a pipeline run's gate steps. */
export function GatesView(props: { gates: RunDetail['gates'] }): JSX.Element | null {
  const { data, model } = props.gates;
  if (!data && !model) {
    return null;
  }
  return (
    <section className="mlops-nb-section mlops-nb-gates">
      <h3>Gates</h3>
      {data ? (
        <div className="mlops-nb-gate" data-gate="data">
          <h4>
            Data gate <Verdict verdict={data.passed ? 'pass' : 'fail'} />
          </h4>
          <div className="mlops-nb-muted">{data.summary}</div>
          <DataGateTable report={data} />
        </div>
      ) : null}
      {model ? (
        <div className="mlops-nb-gate" data-gate="model">
          <h4>
            Model gate <Verdict verdict={model.passed ? 'pass' : 'fail'} />
          </h4>
          <div className="mlops-nb-muted">{model.summary}</div>
          <ModelGateTable report={model} />
        </div>
      ) : null}
    </section>
  );
}

/** The model version a registration created, with its aliases now. */
export function RegistrationView(props: { registration: Registration }): JSX.Element {
  const { registration } = props;
  return (
    <section className="mlops-nb-section mlops-nb-registration">
      <h3>Registered</h3>
      <div>
        <strong>{registration.name ?? 'model'}</strong> version <strong>{registration.version}</strong>{' '}
        {registration.aliases.length ? (
          registration.aliases.map(alias => (
            <span key={alias} className="mlops-nb-chip mlops-nb-alias">
              @{alias}
            </span>
          ))
        ) : (
          <span className="mlops-nb-muted">(no alias now)</span>
        )}
      </div>
    </section>
  );
}

const GROUPS: [keyof RunDetail['tag_groups'], string][] = [
  ['user', 'Your tags'],
  ['mlops_nb', 'mlops_nb'],
  ['mlflow', 'MLflow']
];

/** The tags grouped by owner: the user's open, mlops_nb's and MLflow's folded. */
export function TagsView(props: { groups: RunDetail['tag_groups'] }): JSX.Element {
  return (
    <section className="mlops-nb-section mlops-nb-tags">
      <h3>Tags</h3>
      {GROUPS.map(([group, title]) => {
        const entries: [string, string][] = Object.entries(props.groups[group]);
        return (
          <details key={group} open={group === 'user'} data-tag-group={group}>
            <summary>
              {title} ({entries.length})
            </summary>
            {entries.length ? (
              <table className="mlops-nb-table mlops-nb-kv">
                <tbody>
                  {entries.map(([key, value]) => (
                    <tr key={key}>
                      <th>{key}</th>
                      <td className="mlops-nb-tag-value">{value}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : (
              <div className="mlops-nb-muted">none</div>
            )}
          </details>
        );
      })}
    </section>
  );
}
