/**
 * The Datasets view: dataset names → versions with row counts, and per version its schema, per-column
 * statistics and the registered model versions trained on it.
 */
import * as React from 'react';

import { api } from '../../api';
import type { Dataset, ModelVersionRef } from '../../types';
import { shortId } from '../common/format';
import { useAsync } from '../common/hooks';
import { SplitCard } from '../run/SplitsView';

function ModelChips(props: { models: ModelVersionRef[] }): JSX.Element {
  if (props.models.length === 0) {
    return <span className="mlops-nb-muted">none</span>;
  }
  return (
    <>
      {props.models.map(m => (
        <span key={`${m.name}/${m.version}`} className="mlops-nb-chip mlops-nb-trained" data-model={m.name} data-version={m.version}>
          {m.name} v{m.version}
        </span>
      ))}
    </>
  );
}

function VersionDetail(props: { name: string; version: number; refreshKey: number }): JSX.Element {
  const { value, error, loading } = useAsync(
    () => api.datasetVersion(props.name, props.version),
    [props.name, props.version, props.refreshKey]
  );
  if (loading && !value) {
    return <div className="mlops-nb-muted">Loading…</div>;
  }
  if (error || !value) {
    return <div className="mlops-nb-error">{error}</div>;
  }
  return (
    <div className="mlops-nb-dataset-detail" data-dataset={value.name} data-version={value.version}>
      <dl>
        <dt>source</dt>
        <dd>{value.source}</dd>
        <dt>added</dt>
        <dd>
          {value.created} by {value.author}
        </dd>
        {value.description ? (
          <>
            <dt>description</dt>
            <dd>{value.description}</dd>
          </>
        ) : null}
        <dt>kept by</dt>
        <dd>
          {value.kept_by === 'dvc' && value.dvc
            ? `DVC (${String(value.dvc.path ?? '')} @ ${shortId(String(value.dvc.rev ?? ''), 10)})`
            : 'snapshot'}
        </dd>
        {value.key.length ? (
          <>
            <dt>key</dt>
            <dd>{value.key.join(', ')}</dd>
          </>
        ) : null}
        <dt>trained on it</dt>
        <dd>
          <ModelChips models={value.model_versions} />
        </dd>
      </dl>
      <h4>Schema</h4>
      <table className="mlops-nb-table mlops-nb-dataset-schema">
        <thead>
          <tr>
            <th>column</th>
            <th>dtype</th>
            <th>kind</th>
          </tr>
        </thead>
        <tbody>
          {(value.profile?.schema ?? value.columns.map(c => ({ name: c, dtype: '', kind: '' }))).map(column => (
            <tr key={column.name} data-column={column.name}>
              <th>{column.name}</th>
              <td>{column.dtype}</td>
              <td>{column.kind}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {value.profile ? (
        <SplitCard split={value.profile} />
      ) : (
        <div className="mlops-nb-muted">No statistics recorded for this version.</div>
      )}
    </div>
  );
}

function DatasetCard(props: { dataset: Dataset; refreshKey: number }): JSX.Element {
  const { dataset } = props;
  const [open, setOpen] = React.useState<number | null>(null);
  return (
    <div className="mlops-nb-dataset" data-dataset={dataset.name}>
      <div className="mlops-nb-dataset-name">
        {dataset.name}{' '}
        <span className="mlops-nb-muted">
          {dataset.versions.length} version{dataset.versions.length === 1 ? '' : 's'}
        </span>
      </div>
      <table className="mlops-nb-table mlops-nb-dataset-versions">
        <thead>
          <tr>
            <th>version</th>
            <th>rows</th>
            <th>columns</th>
            <th>added</th>
            <th>models trained on it</th>
          </tr>
        </thead>
        <tbody>
          {dataset.versions.map(version => (
            <React.Fragment key={version.version}>
              <tr className="mlops-nb-dataset-version" data-version={version.version} title={version.description ?? ''}>
                <td>
                  <button
                    className="mlops-nb-link"
                    onClick={() => setOpen(open === version.version ? null : version.version)}
                  >
                    {open === version.version ? '▾' : '▸'} v{version.version}
                  </button>
                </td>
                <td>{version.rows}</td>
                <td>{version.num_columns}</td>
                <td className="mlops-nb-muted">{version.created.replace('T', ' ').replace('+00:00', ' UTC')}</td>
                <td>
                  <ModelChips models={version.model_versions} />
                </td>
              </tr>
              {open === version.version ? (
                <tr>
                  <td colSpan={5}>
                    <VersionDetail name={dataset.name} version={version.version} refreshKey={props.refreshKey} />
                  </td>
                </tr>
              ) : null}
            </React.Fragment>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function DatasetsView(props: { refreshKey: number }): JSX.Element {
  const { value, error, loading } = useAsync(() => api.datasets(), [props.refreshKey]);
  return (
    <div className="mlops-nb-datasets">
      {loading && !value ? <div className="mlops-nb-muted">Loading…</div> : null}
      {error ? <div className="mlops-nb-error">{error}</div> : null}
      {value && value.datasets.length === 0 ? (
        <div className="mlops-nb-muted">No datasets yet: `mlops-nb data add NAME FILE` adds one.</div>
      ) : null}
      {value?.datasets.map(dataset => (
        <DatasetCard key={dataset.name} dataset={dataset} refreshKey={props.refreshKey} />
      ))}
    </div>
  );
}
