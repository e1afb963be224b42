/**
 * The Models section: registered models → versions, aliases per environment, pending approval requests,
 * and Promote / Rollback / Approve (each through the ActionDialog).
 */
import * as React from 'react';

import { api } from '../../api';
import type { Alias, Model } from '../../types';
import { formatTime } from '../common/format';
import { useAsync } from '../common/hooks';
import { ActionDialog, type ActionTarget } from './ActionDialog';
import { MoveLine, VersionDetail } from './VersionDetail';

function AliasChip(props: { alias: Alias }): JSX.Element {
  const { alias } = props;
  return (
    <span className={`mlops-nb-chip mlops-nb-alias mlops-nb-alias-${alias.role}`} data-alias={alias.alias}>
      @{alias.role}
      {alias.env ? ` · ${alias.env}` : ''}
    </span>
  );
}

/** The environments a model's aliases name, plus those its pending requests name. */
function environments(model: Model): string[] {
  const names = new Set<string>();
  model.aliases.forEach(a => a.env && names.add(a.env));
  model.pending.forEach(m => m.env && names.add(m.env));
  return Array.from(names).sort();
}

function ModelCard(props: {
  model: Model;
  refreshKey: number;
  act: (target: ActionTarget, environments: string[]) => void;
  openRun: (runId: string, name: string) => void;
}): JSX.Element {
  const { model } = props;
  const [open, setOpen] = React.useState<string | null>(null);
  const envs = environments(model);
  const champions = model.aliases.filter(a => a.role === 'champion');
  return (
    <div className="mlops-nb-model" data-model={model.name}>
      <div className="mlops-nb-model-header">
        <span className="mlops-nb-model-name">{model.name}</span>
        <button
          className="mlops-nb-button mlops-nb-rollback"
          disabled={champions.length === 0}
          title={champions.length ? 'Put the previous champion back' : 'No champion to roll back'}
          onClick={() =>
            props.act(
              { action: 'rollback', model: model.name, version: null, env: champions[0]?.env ?? null },
              envs
            )
          }
        >
          Rollback
        </button>
      </div>
      {model.pending.length > 0 ? (
        <div className="mlops-nb-pending">
          <h4>Waiting for approval</h4>
          <ul className="mlops-nb-moves">
            {model.pending.map((move, index) => (
              <React.Fragment key={index}>
                <MoveLine move={move} />
                <button
                  className="mlops-nb-button mlops-nb-approve"
                  onClick={() =>
                    props.act({ action: 'approve', model: model.name, version: move.version, env: move.env }, envs)
                  }
                >
                  Approve v{move.version}
                </button>
              </React.Fragment>
            ))}
          </ul>
        </div>
      ) : null}
      <table className="mlops-nb-table mlops-nb-versions">
        <tbody>
          {model.versions.map(version => (
            <React.Fragment key={version.version}>
              <tr className="mlops-nb-version" data-version={version.version}>
                <td>
                  <button
                    className="mlops-nb-link"
                    onClick={() => setOpen(open === version.version ? null : version.version)}
                  >
                    {open === version.version ? '▾' : '▸'} v{version.version}
                  </button>
                </td>
                <td className="mlops-nb-version-aliases">
                  {version.aliases.map(alias => (
                    <AliasChip key={alias.alias} alias={alias} />
                  ))}
                </td>
                <td>
                  {version.gates.map(gate => (
                    <span
                      key={gate.gate}
                      className={`mlops-nb-verdict mlops-nb-verdict-${gate.verdict === 'passed' ? 'pass' : 'fail'}`}
                      title={gate.summary ?? ''}
                    >
                      {gate.gate}
                    </span>
                  ))}
                </td>
                <td className="mlops-nb-muted">{formatTime(version.created)}</td>
                <td>
                  <button
                    className="mlops-nb-button mlops-nb-promote"
                    onClick={() =>
                      props.act(
                        { action: 'promote', model: model.name, version: version.version, env: envs[0] ?? null },
                        envs
                      )
                    }
                  >
                    Promote
                  </button>
                </td>
              </tr>
              {open === version.version ? (
                <tr>
                  <td colSpan={5}>
                    <VersionDetail
                      model={model.name}
                      version={version.version}
                      refreshKey={props.refreshKey}
                      openRun={props.openRun}
                    />
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

export function ModelsView(props: {
  refreshKey: number;
  environments: string[];
  openRun: (runId: string, name: string) => void;
}): JSX.Element {
  const [reloads, setReloads] = React.useState(0);
  const { value, error, loading } = useAsync(() => api.models(), [props.refreshKey, reloads]);
  const [target, setTarget] = React.useState<{ target: ActionTarget; environments: string[] } | null>(null);
  const [notice, setNotice] = React.useState<string | null>(null);
  return (
    <div className="mlops-nb-models">
      {notice ? (
        <div className="mlops-nb-notice" role="status">
          {notice}
        </div>
      ) : null}
      {loading && !value ? <div className="mlops-nb-muted">Loading…</div> : null}
      {error ? <div className="mlops-nb-error">{error}</div> : null}
      {value && value.models.length === 0 ? (
        <div className="mlops-nb-muted">No registered models yet: a pipeline run registers one.</div>
      ) : null}
      {value?.models.map(model => (
        <ModelCard
          key={model.name}
          model={model}
          refreshKey={props.refreshKey + reloads}
          openRun={props.openRun}
          act={(t, envs) => setTarget({ target: t, environments: [...new Set([...props.environments, ...envs])] })}
        />
      ))}
      {target ? (
        <ActionDialog
          target={target.target}
          environments={target.environments}
          onClose={() => setTarget(null)}
          onDone={message => {
            setTarget(null);
            setNotice(message);
            setReloads(r => r + 1);
          }}
        />
      ) : null}
    </div>
  );
}
