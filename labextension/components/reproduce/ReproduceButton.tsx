/**
 * "Reproduce" on a model version or a run: starts the server's background reproduction, shows its progress
 * (a spinner and the elapsed time) and then its verdict with the recorded-vs-reproduced metrics table.
 */
import * as React from 'react';

import { api, MlopsApiError } from '../../api';
import type { ReproductionJob } from '../../types';
import { errorMessage, formatNumber, shortId } from '../common/format';
import { useInterval } from '../common/hooks';

export type ReproduceTarget = { model: string; version: string } | { run_id: string };

/** Seconds the server holds each poll while the job runs. */
const POLL_WAIT_S = 10;

function sameTarget(job: ReproductionJob, target: ReproduceTarget): boolean {
  const keys = Object.keys(target) as (keyof ReproduceTarget)[];
  return keys.length === Object.keys(job.target).length && keys.every(k => job.target[k] === target[k]);
}

const ended = (job: ReproductionJob): boolean => job.state === 'finished' || job.state === 'failed';

function Verdict(props: { job: ReproductionJob; openRun: (runId: string, name: string) => void }): JSX.Element {
  const { job } = props;
  if (job.error || !job.result) {
    return (
      <div className="mlops-nb-reproduce-verdict" data-verdict="error">
        <span className="mlops-nb-verdict mlops-nb-verdict-fail">could not reproduce</span>
        <div className="mlops-nb-error">
          {job.error?.message ?? 'No result.'}
          {job.error?.hint ? ` (${job.error.hint})` : ''}
        </div>
      </div>
    );
  }
  const result = job.result;
  const kind = result.verdict === 'reproduced' ? 'pass' : 'fail';
  return (
    <div className="mlops-nb-reproduce-verdict" data-verdict={result.verdict}>
      <div>
        <span className={`mlops-nb-verdict mlops-nb-verdict-${kind}`}>{result.verdict}</span> {result.reason}
        <span className="mlops-nb-muted">
          {' '}
          · {result.seconds.toFixed(1)} s
          {result.original_seconds ? ` (the original took ${result.original_seconds.toFixed(1)} s)` : ''}
        </span>
      </div>
      <div className="mlops-nb-muted">
        data: {String(result.data.origin ?? result.data.kind ?? '?')}
        {result.run_id ? (
          <>
            {' '}· reproduction run{' '}
            <button className="mlops-nb-link" onClick={() => props.openRun(result.run_id ?? '', 'reproduction')}>
              {shortId(result.run_id)}
            </button>
          </>
        ) : null}
      </div>
      {result.environment.length ? (
        <div className="mlops-nb-muted" title="Packages that differ from the recorded environment">
          ⚠ environment differs: {result.environment.map(e => `${e.package} ${e.recorded ?? '-'} → ${e.current ?? '-'}`).join(', ')}
        </div>
      ) : null}
      <table className="mlops-nb-table mlops-nb-reproduce-metrics">
        <thead>
          <tr>
            <th>metric</th>
            <th>recorded</th>
            <th>reproduced</th>
            <th>difference</th>
            <th>tolerance {result.tolerance}</th>
          </tr>
        </thead>
        <tbody>
          {result.metrics.map(m => (
            <tr key={m.metric} data-metric={m.metric}>
              <th>{m.metric}</th>
              <td>{formatNumber(m.recorded)}</td>
              <td>{m.reproduced === null ? '—' : formatNumber(m.reproduced)}</td>
              <td>{m.difference === null ? '—' : formatNumber(m.difference)}</td>
              <td className={m.match ? 'mlops-nb-pass' : 'mlops-nb-fail'}>{m.match ? 'match' : 'differs'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The Reproduce button with its job's progress and verdict. */
export function ReproduceButton(props: {
  target: ReproduceTarget;
  openRun: (runId: string, name: string) => void;
  /** Called once a job has ended (e.g. to reload the verdict tagged on the version). */
  onEnded?: () => void;
}): JSX.Element {
  const { target } = props;
  const [job, setJob] = React.useState<ReproductionJob | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [, setTick] = React.useState(0);
  const key = JSON.stringify(target);

  // A job of this target that is still running (started before this view opened) is shown again.
  React.useEffect(() => {
    let current = true;
    api.reproductions().then(
      list => {
        const found = list.jobs.find(j => sameTarget(j, target) && !ended(j));
        if (current && found) {
          setJob(found);
        }
      },
      () => undefined
    );
    return () => {
      current = false;
    };
  }, [key]);

  // Long-poll the job until it ends.
  const jobId = job && !ended(job) ? job.id : null;
  React.useEffect(() => {
    if (!jobId) {
      return;
    }
    let current = true;
    const poll = async (): Promise<void> => {
      while (current) {
        try {
          const next = await api.reproduction(jobId, POLL_WAIT_S);
          if (!current) {
            return;
          }
          setJob(next);
          if (ended(next)) {
            props.onEnded?.();
            return;
          }
        } catch (reason) {
          if (current) {
            setError(errorMessage(reason));
          }
          return;
        }
      }
    };
    void poll();
    return () => {
      current = false;
    };
  }, [jobId]);

  useInterval(() => setTick(t => t + 1), 1000, jobId !== null); // the elapsed time ticks

  const start = (): void => {
    setError(null);
    const request =
      'run_id' in target ? api.reproduceRun(target.run_id) : api.reproduceModelVersion(target.model, target.version);
    request.then(setJob, (reason: unknown) => {
      if (reason instanceof MlopsApiError && reason.status === 409) {
        // already running (another tab, or before this view opened): follow that job
        api.reproductions().then(list => {
          const found = list.jobs.find(j => sameTarget(j, target) && !ended(j));
          if (found) {
            setJob(found);
          } else {
            setError(errorMessage(reason));
          }
        }, () => setError(errorMessage(reason)));
        return;
      }
      setError(errorMessage(reason));
    });
  };

  const running = job !== null && !ended(job);
  const elapsed = job ? ((running ? Date.now() : (job.ended ?? Date.now())) - job.started) / 1000 : 0;
  return (
    <div className="mlops-nb-reproduce" data-state={job?.state ?? 'idle'}>
      <button
        className="mlops-nb-button mlops-nb-reproduce-button"
        disabled={running}
        title="Run the pipeline again from the recorded commit, data and parameters, and compare the metrics"
        onClick={start}
      >
        {job && ended(job) ? 'Reproduce again' : 'Reproduce'}
      </button>
      {running ? (
        <span className="mlops-nb-reproduce-progress" role="status">
          <span className="mlops-nb-spinner" aria-hidden="true" />
          {job.state === 'queued' ? 'Queued' : 'Reproducing: checking out the code, restoring the data, running the pipeline'}
          … {Math.max(elapsed, 0).toFixed(0)} s
        </span>
      ) : null}
      {error ? <div className="mlops-nb-error">{error}</div> : null}
      {job && ended(job) ? <Verdict job={job} openRun={props.openRun} /> : null}
    </div>
  );
}
