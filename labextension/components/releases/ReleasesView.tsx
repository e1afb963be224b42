/** The Releases view: each environment's current and past releases with their smoke-test results. */
import * as React from 'react';

import { api } from '../../api';
import type { Release, ReleaseEnvironment } from '../../types';
import { shortId } from '../common/format';
import { useAsync } from '../common/hooks';

function Smoke(props: { release: Release; openRun: (runId: string, name: string) => void }): JSX.Element {
  const { release } = props;
  const label = release.pending ? 'running' : release.smoke_passed ? 'passed' : 'failed';
  const kind = release.pending ? 'none' : release.smoke_passed ? 'pass' : 'fail';
  return (
    <span>
      <span className={`mlops-nb-verdict mlops-nb-verdict-${kind}`}>smoke {label}</span>
      {release.smoke_run_id ? (
        <button
          className="mlops-nb-link"
          title="Open the smoke-test run"
          onClick={() => props.openRun(release.smoke_run_id ?? '', `smoke ${release.tag_value}`)}
        >
          {shortId(release.smoke_run_id)}
        </button>
      ) : null}
    </span>
  );
}

function Environment(props: { group: ReleaseEnvironment; openRun: (runId: string, name: string) => void }): JSX.Element {
  const { group } = props;
  return (
    <div className="mlops-nb-release-env" data-env={group.env} data-pipeline={group.pipeline}>
      <h4>
        {group.pipeline} · {group.env}
        <span className="mlops-nb-muted">
          {group.current === null ? ' (no current release)' : ` current #${group.current}`}
        </span>
      </h4>
      <table className="mlops-nb-table mlops-nb-releases">
        <thead>
          <tr>
            <th>#</th>
            <th>status</th>
            <th>smoke test</th>
            <th>released</th>
            <th>by</th>
            <th>commit</th>
          </tr>
        </thead>
        <tbody>
          {group.releases.map(release => (
            <tr key={release.number} className={`mlops-nb-release-${release.status.replace(' ', '-')}`}>
              <td>{release.number}</td>
              <td title={release.forced_reason ? `forced: ${release.forced_reason}` : (release.rolled_back ?? '')}>
                {release.status}
                {release.forced_reason ? ' (forced)' : ''}
              </td>
              <td>
                <Smoke release={release} openRun={props.openRun} />
              </td>
              <td>{release.created}</td>
              <td>{release.author}</td>
              <td title={release.commit ?? ''}>{shortId(release.commit, 10)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ReleasesView(props: { refreshKey: number; openRun: (runId: string, name: string) => void }): JSX.Element {
  const { value, error, loading } = useAsync(() => api.releases(), [props.refreshKey]);
  return (
    <div className="mlops-nb-releases-view">
      {loading && !value ? <div className="mlops-nb-muted">Loading…</div> : null}
      {error ? <div className="mlops-nb-error">{error}</div> : null}
      {value && value.environments.length === 0 ? (
        <div className="mlops-nb-muted">No releases yet: `mlops-nb release PIPELINE --to ENV` makes one.</div>
      ) : null}
      {value?.environments.map(group => (
        <Environment key={`${group.pipeline}/${group.env}`} group={group} openRun={props.openRun} />
      ))}
    </div>
  );
}
