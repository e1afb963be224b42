/**
 * The Monitoring view of a served version (in the Models section): drift per feature over time, the live
 * metric against its evaluation value, out-of-domain rate / latency / errors, traffic split and A/B results,
 * and the triggers its passes raised, each linked to the retraining run it started.
 */
import * as React from 'react';

import { api } from '../../api';
import type { MonitoringCheck, MonitoringResult, MonitoringTrigger } from '../../types';
import { formatNumber, formatTime, shortId } from '../common/format';
import { useAsync } from '../common/hooks';
import { DriftHeatmap, LiveMetricChart, TrafficChart } from './charts';

function Verdict(props: { check: MonitoringCheck | { verdict: string } }): JSX.Element {
  const verdict = props.check.verdict;
  const tone = verdict === 'ok' ? 'pass' : verdict === 'drift' || verdict === 'decay' ? 'fail' : 'skip';
  return <span className={`mlops-nb-verdict mlops-nb-verdict-${tone}`}>{verdict}</span>;
}

function percent(value: number | null | undefined): string {
  return typeof value === 'number' ? `${(value * 100).toFixed(1)}%` : '-';
}

function FeatureTable(props: { result: MonitoringResult }): JSX.Element {
  const rows: [string, MonitoringCheck][] = [
    ...Object.entries(props.result.features),
    ['(prediction)', props.result.prediction]
  ];
  return (
    <table className="mlops-nb-table mlops-nb-monitoring-features">
      <thead>
        <tr>
          <th>feature</th>
          <th>verdict</th>
          <th>PSI</th>
          <th>effect size</th>
          <th>p-value</th>
          <th>rows</th>
          <th>why</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(([name, check]) => (
          <tr key={name} data-feature={name}>
            <td>{name}</td>
            <td>
              <Verdict check={check} />
            </td>
            <td>{formatNumber(check.psi)}</td>
            <td>
              {formatNumber(check.effect_size)} {check.effect ? <span className="mlops-nb-muted">{check.effect}</span> : null}
            </td>
            <td>{formatNumber(check.p_value)}</td>
            <td>{check.n ?? '-'}</td>
            <td className="mlops-nb-muted">{check.reason}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Health(props: { health: MonitoringCheck }): JSX.Element {
  const { health } = props;
  const latency = health.latency_ms ?? {};
  return (
    <dl className="mlops-nb-monitoring-health">
      <dt>out-of-domain rate</dt>
      <dd data-field="ood-rate">
        {percent(health.ood_rate)} <Verdict check={health} />
      </dd>
      <dt>latency p50 / p90 / p99</dt>
      <dd data-field="latency">
        {formatNumber(latency.p50)} / {formatNumber(latency.p90)} / {formatNumber(latency.p99)} ms
      </dd>
      <dt>error rate</dt>
      <dd data-field="error-rate">
        {percent(health.error_rate)} of {health.requests ?? 0} requests
      </dd>
    </dl>
  );
}

function Traffic(props: { result: MonitoringResult }): JSX.Element {
  const { result } = props;
  const traffic = result.health.traffic ?? [];
  const arm = (v: string, variant: string, alias: string) =>
    result.ab.find(a => a.version === v && a.variant === variant && a.alias === alias);
  return (
    <>
      <TrafficChart result={result} />
      <table className="mlops-nb-table mlops-nb-monitoring-ab">
        <thead>
          <tr>
            <th>version</th>
            <th>variant</th>
            <th>alias</th>
            <th>share</th>
            <th>labelled</th>
            <th>live metric</th>
            <th>mean reward</th>
          </tr>
        </thead>
        <tbody>
          {traffic.map(t => {
            const outcome = arm(t.version, t.variant, t.alias);
            return (
              <tr key={`${t.version}-${t.variant}-${t.alias}`} data-arm={`${t.version}-${t.variant}`}>
                <td>v{t.version}</td>
                <td>{t.variant}</td>
                <td>@{t.alias}</td>
                <td>{percent(t.share)}</td>
                <td>{outcome?.labelled ?? 0}</td>
                <td>{formatNumber(outcome?.live)}</td>
                <td>{formatNumber(outcome?.mean_reward)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}

function Triggers(props: { triggers: MonitoringTrigger[]; openRun: (id: string, name: string) => void }): JSX.Element {
  if (props.triggers.length === 0) {
    return <div className="mlops-nb-muted">No trigger raised.</div>;
  }
  return (
    <ul className="mlops-nb-monitoring-triggers">
      {props.triggers.map((t, index) => (
        <li key={index} data-trigger={t.kind}>
          <span className="mlops-nb-chip">{t.kind}</span> {t.fire_time ?? ''} → {t.pipeline} in {t.env}: {t.state}{' '}
          {t.run_id ? (
            <button className="mlops-nb-link mlops-nb-retraining-run" onClick={() => props.openRun(t.run_id ?? '', `retraining ${shortId(t.run_id)}`)}>
              retraining run {shortId(t.run_id)}
            </button>
          ) : (
            <span className="mlops-nb-muted">{t.reason ?? 'no run yet'}</span>
          )}
        </li>
      ))}
    </ul>
  );
}

export function MonitoringView(props: {
  model: string;
  version: string;
  openRun: (runId: string, name: string) => void;
}): JSX.Element {
  const { value, error, loading } = useAsync(() => api.monitoring(props.model, props.version), [props.model, props.version]);
  if (loading && !value) {
    return <div className="mlops-nb-muted">Loading…</div>;
  }
  if (error || !value) {
    return <div className="mlops-nb-error">{error}</div>;
  }
  const result = value.latest;
  if (!result) {
    return (
      <div className="mlops-nb-muted mlops-nb-monitoring-empty">
        No monitoring pass yet: run <code>mlops-nb monitor {props.model}</code>.
      </div>
    );
  }
  const decay = result.decay;
  return (
    <div className="mlops-nb-monitoring" data-verdict={result.verdict}>
      <div>
        Last pass {value.passes[0] ? formatTime(value.passes[0].start_time) : ''} over {result.window}:{' '}
        <Verdict check={result} /> ({value.passes.length} passes)
      </div>
      <h5>Drift per feature over time</h5>
      <DriftHeatmap result={result} />
      <FeatureTable result={result} />
      <h5>Live metric against its evaluation value</h5>
      <div className="mlops-nb-monitoring-decay">
        <Verdict check={decay} /> {decay.metric ?? ''} live {formatNumber(decay.live)} [{formatNumber(decay.low)},{' '}
        {formatNumber(decay.high)}] vs evaluation {formatNumber(decay.evaluation)}, threshold {formatNumber(decay.threshold)}
        <div className="mlops-nb-muted">{decay.reason}</div>
      </div>
      <LiveMetricChart result={result} />
      <h5>Out-of-domain rate, latency and errors</h5>
      <Health health={result.health} />
      <h5>Traffic split and A/B results</h5>
      <Traffic result={result} />
      <h5>Triggers raised</h5>
      <Triggers triggers={value.triggers} openRun={props.openRun} />
    </div>
  );
}
