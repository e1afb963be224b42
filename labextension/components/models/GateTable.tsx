/**
 * Gate tables: the model gate's rows recorded at registration (candidate, champion, threshold, verdict, raw
 * values even when passing), and the promotion gates checked now (name, verdict, message, raw details).
 */
import * as React from 'react';

import type { Gate, ModelGateReport, RecordedGate } from '../../types';
import { formatNumber } from '../common/format';

function Verdict(props: { passed: boolean | null; label?: string }): JSX.Element {
  const text = props.label ?? (props.passed === null ? 'n/a' : props.passed ? 'pass' : 'FAIL');
  const kind = props.passed === null ? 'none' : props.passed ? 'pass' : 'fail';
  return <span className={`mlops-nb-verdict mlops-nb-verdict-${kind}`}>{text}</span>;
}

/** The gate verdicts recorded on the version when it was registered. */
export function RecordedGates(props: { gates: RecordedGate[] }): JSX.Element {
  if (props.gates.length === 0) {
    return <div className="mlops-nb-muted">No gate verdicts recorded on this version.</div>;
  }
  return (
    <ul className="mlops-nb-recorded-gates">
      {props.gates.map(gate => (
        <li key={gate.gate}>
          <Verdict passed={gate.verdict === 'passed'} label={gate.verdict} /> {gate.gate}
          {gate.summary ? <span className="mlops-nb-muted">: {gate.summary}</span> : null}
        </li>
      ))}
    </ul>
  );
}

/** The model gate's rows: every check with its raw values, passing or not. */
export function ModelGateTable(props: { report: ModelGateReport | null }): JSX.Element {
  const { report } = props;
  if (!report) {
    return <div className="mlops-nb-muted">No model gate report (gates/model.json) for this version.</div>;
  }
  return (
    <table className="mlops-nb-table mlops-nb-gate-table">
      <thead>
        <tr>
          <th>metric</th>
          <th>check</th>
          <th>candidate</th>
          <th>champion</th>
          <th>threshold</th>
          <th>required</th>
          <th>verdict</th>
        </tr>
      </thead>
      <tbody>
        {report.checks.map(check => (
          <tr key={`${check.metric}/${check.kind}`} title={check.message}>
            <td>{check.metric}</td>
            <td>{check.kind}</td>
            <td>{formatNumber(check.candidate)}</td>
            <td>{check.baseline === null ? '—' : formatNumber(check.baseline)}</td>
            <td>{formatNumber(check.threshold)}</td>
            <td>{formatNumber(check.required)}</td>
            <td>
              <Verdict
                passed={check.verdict === 'no baseline' ? null : check.verdict === 'pass'}
                label={check.verdict}
              />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const DETAIL_LIMIT = 80;

/** A raw value as short text; a long one is cut (the chip's tooltip has it whole). */
function detailText(value: unknown): { text: string; full: string } {
  const full = typeof value === 'number' ? formatNumber(value) : typeof value === 'string' ? value : JSON.stringify(value);
  return { text: full.length > DETAIL_LIMIT ? `${full.slice(0, DETAIL_LIMIT)}…` : full, full };
}

/** Promotion gates (checked now, or those of a refusal): verdict, message and raw details of each. */
export function PromotionGates(props: { gates: Gate[] }): JSX.Element {
  return (
    <table className="mlops-nb-table mlops-nb-promotion-gates">
      <thead>
        <tr>
          <th>gate</th>
          <th>verdict</th>
          <th>why</th>
        </tr>
      </thead>
      <tbody>
        {props.gates.map(gate => (
          <tr key={gate.name} className={gate.passed ? '' : 'mlops-nb-gate-failed'} data-gate={gate.name}>
            <td>{gate.name}</td>
            <td>
              <Verdict passed={gate.passed} />
            </td>
            <td>
              <div>{gate.message}</div>
              {Object.keys(gate.details ?? {}).length > 0 ? (
                <div className="mlops-nb-gate-details">
                  {Object.entries(gate.details).map(([key, value]) => {
                    const { text, full } = detailText(value);
                    return (
                      <span key={key} className="mlops-nb-chip" title={full}>
                        {key}: {text}
                      </span>
                    );
                  })}
                </div>
              ) : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
