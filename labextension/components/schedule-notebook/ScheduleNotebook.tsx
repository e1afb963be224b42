/**
 * "Schedule this notebook" (the notebook toolbar's Schedule button): pick the notebook's pipeline file (or
 * write one from its parameters cell), an environment and a cron, interval or data trigger; then create the
 * schedule through the REST API.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { api } from '../../api';
import type { CreateSchedule, NotebookPipelines, Schedule } from '../../types';
import { errorMessage } from '../common/format';
import { useAsync } from '../common/hooks';

type Kind = CreateSchedule['kind'];

function WritePipelineForm(props: { notebook: string; onWritten: () => void }): JSX.Element {
  const [dataSource, setDataSource] = React.useState('');
  const [target, setTarget] = React.useState('');
  const [modelName, setModelName] = React.useState('');
  const [envs, setEnvs] = React.useState('dev');
  const [problem, setProblem] = React.useState<string | null>(null);
  const write = (): void => {
    setProblem(null);
    api
      .writePipeline({
        notebook: props.notebook,
        data_source: dataSource,
        target,
        model_name: modelName,
        environments: envs.split(',').map(e => e.trim()).filter(Boolean)
      })
      .then(props.onWritten, (reason: unknown) => setProblem(errorMessage(reason)));
  };
  return (
    <fieldset className="mlops-nb-write-pipeline">
      <legend>No pipeline file names this notebook: write one from its parameters cell</legend>
      <label className="mlops-nb-field">
        Data file (CSV or Parquet, relative to the project)
        <input name="data_source" value={dataSource} onChange={e => setDataSource(e.target.value)} />
      </label>
      <label className="mlops-nb-field">
        Target column
        <input name="target" value={target} onChange={e => setTarget(e.target.value)} />
      </label>
      <label className="mlops-nb-field">
        Registered model name
        <input name="model_name" value={modelName} onChange={e => setModelName(e.target.value)} />
      </label>
      <label className="mlops-nb-field">
        Environments (comma-separated)
        <input name="environments" value={envs} onChange={e => setEnvs(e.target.value)} />
      </label>
      {problem ? <div className="mlops-nb-error">{problem}</div> : null}
      <button className="mlops-nb-button" onClick={write} disabled={!dataSource || !target || !modelName}>
        Write the pipeline file
      </button>
    </fieldset>
  );
}

function ScheduleForm(props: { info: NotebookPipelines; onCreated: (schedule: Schedule | null, id: string) => void }): JSX.Element {
  const usable = props.info.pipelines.filter(p => p.error === null);
  const [file, setFile] = React.useState(usable[0]?.path ?? '');
  const pipeline = usable.find(p => p.path === file);
  const [env, setEnv] = React.useState(pipeline?.environments[0] ?? '');
  const [kind, setKind] = React.useState<Kind>('interval');
  const [cron, setCron] = React.useState('0 3 * * *');
  const [tz, setTz] = React.useState('UTC');
  const [every, setEvery] = React.useState('6h');
  const [minRows, setMinRows] = React.useState('');
  const [workingCopy, setWorkingCopy] = React.useState(false);
  const [problem, setProblem] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);
  React.useEffect(() => {
    if (pipeline && !pipeline.environments.includes(env)) {
      setEnv(pipeline.environments[0] ?? '');
    }
  }, [file]);
  const create = (): void => {
    const request: CreateSchedule = { pipeline_file: file, env, kind, working_copy: workingCopy };
    if (kind === 'cron') {
      Object.assign(request, { cron, tz });
    } else if (kind === 'interval') {
      request.every = every;
    } else if (minRows) {
      request.min_rows = Number(minRows);
    }
    setBusy(true);
    setProblem(null);
    api.createSchedule(request).then(
      created => {
        setBusy(false);
        props.onCreated(created.schedule, created.id);
      },
      (reason: unknown) => {
        setBusy(false);
        setProblem(errorMessage(reason));
      }
    );
  };
  return (
    <div className="mlops-nb-schedule-form">
      {props.info.pipelines
        .filter(p => p.error !== null)
        .map(p => (
          <div key={p.path} className="mlops-nb-error">
            {p.path}: {p.error}
          </div>
        ))}
      <label className="mlops-nb-field">
        Pipeline file
        <select name="pipeline_file" value={file} onChange={e => setFile(e.target.value)}>
          {usable.map(p => (
            <option key={p.path} value={p.path}>
              {p.path}
            </option>
          ))}
        </select>
      </label>
      <label className="mlops-nb-field">
        Environment
        <select name="env" value={env} onChange={e => setEnv(e.target.value)}>
          {(pipeline?.environments ?? []).map(name => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </label>
      <div className="mlops-nb-field" role="radiogroup" aria-label="Trigger">
        {(['cron', 'interval', 'data'] as Kind[]).map(k => (
          <label key={k} className="mlops-nb-inline">
            <input type="radio" name="kind" value={k} checked={kind === k} onChange={() => setKind(k)} />
            {k === 'data' ? 'on new data' : k}
          </label>
        ))}
      </div>
      {kind === 'cron' ? (
        <>
          <label className="mlops-nb-field">
            Cron expression
            <input name="cron" value={cron} onChange={e => setCron(e.target.value)} />
          </label>
          <label className="mlops-nb-field">
            Time zone
            <input name="tz" value={tz} onChange={e => setTz(e.target.value)} />
          </label>
        </>
      ) : null}
      {kind === 'interval' ? (
        <label className="mlops-nb-field">
          Every (e.g. 30s, 15m, 6h)
          <input name="every" value={every} onChange={e => setEvery(e.target.value)} />
        </label>
      ) : null}
      {kind === 'data' ? (
        <label className="mlops-nb-field">
          At least N new rows (empty: any new file or changed data)
          <input name="min_rows" type="number" min={1} value={minRows} onChange={e => setMinRows(e.target.value)} />
        </label>
      ) : null}
      <label className="mlops-nb-field mlops-nb-inline">
        <input type="checkbox" checked={workingCopy} onChange={e => setWorkingCopy(e.target.checked)} />
        Run the working copy while this environment has no release
      </label>
      {problem ? <div className="mlops-nb-error">{problem}</div> : null}
      <button className="mlops-nb-button mlops-nb-primary mlops-nb-create-schedule" onClick={create} disabled={busy || !file || !env}>
        {busy ? 'Creating…' : 'Create the schedule'}
      </button>
    </div>
  );
}

function ScheduleNotebook(props: { notebook: string; onCreated: () => void }): JSX.Element {
  const [written, setWritten] = React.useState(0);
  const [created, setCreated] = React.useState<string | null>(null);
  const { value, error, loading } = useAsync(() => api.notebookPipelines(props.notebook), [props.notebook, written]);
  return (
    <div className="mlops-nb-schedule-notebook">
      <h2>Schedule {props.notebook}</h2>
      {loading && !value ? <div className="mlops-nb-muted">Loading…</div> : null}
      {error ? <div className="mlops-nb-error">{error}</div> : null}
      {value && value.pipelines.length === 0 ? (
        <WritePipelineForm notebook={value.notebook} onWritten={() => setWritten(w => w + 1)} />
      ) : null}
      {value && value.pipelines.length > 0 ? (
        <ScheduleForm
          key={written}
          info={value}
          onCreated={(schedule, id) => {
            setCreated(schedule ? `${schedule.pipeline} in ${schedule.env}, ${schedule.trigger}, next ${schedule.next_fire ?? '—'}` : id);
            props.onCreated();
          }}
        />
      ) : null}
      {created ? (
        <div className="mlops-nb-notice mlops-nb-schedule-created" role="status">
          Scheduled: {created}. The MLOps panel's Schedules view lists it; `mlops-nb scheduler` runs it.
        </div>
      ) : null}
    </div>
  );
}

/** The main-area widget behind the notebook toolbar's Schedule button. */
export class ScheduleNotebookWidget extends ReactWidget {
  constructor(private readonly _options: { notebook: string; onCreated: () => void }) {
    super();
    this.addClass('mlops-nb-schedule-notebook-widget');
  }

  protected render(): JSX.Element {
    return <ScheduleNotebook {...this._options} />;
  }
}
