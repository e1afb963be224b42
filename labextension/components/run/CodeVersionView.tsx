import * as React from 'react';

import type { CodeVersion } from '../../types';

function yesNo(value: boolean | null | undefined): string {
  return value === null || value === undefined ? 'unknown' : value ? 'yes' : 'no';
}

/** Commit, dirty flag, notebook path and hash, execution order. Repo URLs are shown as text. */
export function CodeVersionView(props: {
  code: CodeVersion;
  openRun: (runId: string, name: string) => void;
}): JSX.Element {
  const { code } = props;
  const rows: [string, string][] = [
    ['git commit', code.git_commit ?? '—'],
    ['branch', code.git_branch ?? '—'],
    ['repository', code.git_repo_url ?? '—'],
    ['uncommitted changes', yesNo(code.git_dirty) + (code.git_diff_path ? ` (diff: ${code.git_diff_path})` : '')],
    ['notebook', code.notebook_path ?? '—'],
    ['notebook hash', code.notebook_hash ?? '—'],
    ['snapshot', code.snapshot_path ?? '—'],
    ['execution order', code.execution_order ?? '—'],
    ['release', code.release ?? '—']
  ];
  const from = code.from_run_id;
  return (
    <section className="mlops-nb-section mlops-nb-code">
      <h3>Code version</h3>
      {from ? (
        <div className="mlops-nb-muted">
          as run by the pipeline's{' '}
          <button className="mlops-nb-link" onClick={() => props.openRun(from, 'training')}>
            training step
          </button>
        </div>
      ) : null}
      <table className="mlops-nb-table mlops-nb-kv">
        <tbody>
          {rows.map(([key, value]) => (
            <tr key={key} className={key === 'uncommitted changes' && code.git_dirty ? 'mlops-nb-differs' : ''}>
              <th>{key}</th>
              <td>
                <code>{value}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
