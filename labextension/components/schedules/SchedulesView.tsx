/**
 * The Schedules view: each schedule with its trigger, next fire time, last run and status, its trigger
 * history, and pause / resume / run now / remove.
 */
import * as React from 'react';

import { api } from '../../api';
import type { Firing, Schedule, ScheduleAction } from '../../types';
import { errorMessage, shortId } from '../common/format';
import { useAsync, useInterval, AUTO_REFRESH_MS } from '../common/hooks';

function FiringLine(props: { firing: Firing; openRun: (runId: string, name: string) => void }): JSX.Element {
  const { firing } = props;
  return (
    <span className={`mlops-nb-firing mlops-nb-firing-${firing.state.toLowerCase()}`}>
      <span className="mlops-nb-chip">{firing.state.toLowerCase()}</span> {firing.kind} {firing.fire_time ?? ''}
      {firing.run_id ? (
        <button className="mlops-nb-link" onClick={() => props.openRun(firing.run_id ?? '', shortId(firing.run_id))}>
          run {shortId(firing.run_id)}
        </button>
      ) : null}
      {firing.release ? <span className="mlops-nb-muted"> release {firing.release}</span> : null}
      {firing.reason ? <div className="mlops-nb-muted">{firing.reason}</div> : null}
    </span>
  );
}

function History(props: { id: string; refreshKey: number; openRun: (runId: string, name: string) => void }): JSX.Element {
  const { value, error } = useAsync(() => api.scheduleHistory(props.id), [props.id, props.refreshKey]);
  if (error) {
    return <div className="mlops-nb-error">{error}</div>;
  }
  if (!value) {
    return <div className="mlops-nb-muted">Loading…</div>;
  }
  return value.firings.length === 0 ? (
    <div className="mlops-nb-muted">Not fired yet.</div>
  ) : (
    <ul className="mlops-nb-firings">
      {value.firings.map(firing => (
        <li key={firing.id}>
          <FiringLine firing={firing} openRun={props.openRun} />
        </li>
      ))}
    </ul>
  );
}

function ScheduleRow(props: {
  schedule: Schedule;
  refreshKey: number;
  run: (action: ScheduleAction) => void;
  openRun: (runId: string, name: string) => void;
}): JSX.Element {
  const { schedule } = props;
  const [open, setOpen] = React.useState(false);
  const paused = schedule.status === 'paused';
  return (
    <>
      <tr className="mlops-nb-schedule" data-schedule={schedule.id} data-pipeline={schedule.pipeline}>
        <td>
          <button className="mlops-nb-link" onClick={() => setOpen(!open)} title={schedule.pipeline_file ?? ''}>
            {open ? '▾' : '▸'} {schedule.pipeline}
          </button>
        </td>
        <td>{schedule.env}</td>
        <td>{schedule.trigger}</td>
        <td className={`mlops-nb-schedule-status-${schedule.status}`}>{schedule.status}</td>
        <td>{schedule.next_fire ?? '—'}</td>
        <td>{schedule.last ? <FiringLine firing={schedule.last} openRun={props.openRun} /> : '—'}</td>
        <td className="mlops-nb-schedule-actions">
          <button className="mlops-nb-button" onClick={() => props.run(paused ? 'resume' : 'pause')}>
            {paused ? 'Resume' : 'Pause'}
          </button>
          <button className="mlops-nb-button" onClick={() => props.run('run-now')}>
            Run now
          </button>
          <button
            className="mlops-nb-button"
            onClick={() => window.confirm(`Remove the schedule of ${schedule.pipeline} in ${schedule.env}?`) && props.run('remove')}
          >
            Remove
          </button>
        </td>
      </tr>
      {open ? (
        <tr>
          <td colSpan={7}>
            <History id={schedule.id} refreshKey={props.refreshKey} openRun={props.openRun} />
          </td>
        </tr>
      ) : null}
    </>
  );
}

export function SchedulesView(props: { refreshKey: number; openRun: (runId: string, name: string) => void }): JSX.Element {
  const [reloads, setReloads] = React.useState(0);
  const { value, error, loading } = useAsync(() => api.schedules(), [props.refreshKey, reloads]);
  const [problem, setProblem] = React.useState<string | null>(null);
  useInterval(() => setReloads(r => r + 1), AUTO_REFRESH_MS, Boolean(value?.schedules.length));
  const run = (id: string, action: ScheduleAction): void => {
    setProblem(null);
    api.scheduleAction(id, action).then(
      () => setReloads(r => r + 1),
      (reason: unknown) => setProblem(errorMessage(reason))
    );
  };
  return (
    <div className="mlops-nb-schedules-view">
      {problem ? <div className="mlops-nb-error">{problem}</div> : null}
      {loading && !value ? <div className="mlops-nb-muted">Loading…</div> : null}
      {error ? <div className="mlops-nb-error">{error}</div> : null}
      {value && value.schedules.length === 0 ? (
        <div className="mlops-nb-muted">No schedules: use “Schedule” in a notebook's toolbar, or `mlops-nb schedule add`.</div>
      ) : null}
      {value && value.schedules.length > 0 ? (
        <table className="mlops-nb-table mlops-nb-schedules">
          <thead>
            <tr>
              <th>pipeline</th>
              <th>env</th>
              <th>trigger</th>
              <th>status</th>
              <th>next fire</th>
              <th>last run</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {value.schedules.map(schedule => (
              <ScheduleRow
                key={schedule.id}
                schedule={schedule}
                refreshKey={props.refreshKey + reloads}
                run={action => run(schedule.id, action)}
                openRun={props.openRun}
              />
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
