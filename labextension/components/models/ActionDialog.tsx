/**
 * The dialog in front of Promote / Rollback / Approve: it shows the gates checked now, asks for a reason,
 * then acts; a refusal is shown with its reasons (the failing gates).
 */
import * as React from 'react';

import { api, MlopsApiError } from '../../api';
import type { Gate, Move } from '../../types';
import { errorMessage } from '../common/format';
import { useAsync } from '../common/hooks';
import { PromotionGates } from './GateTable';

export type ModelAction = 'promote' | 'rollback' | 'approve';

export interface ActionTarget {
  action: ModelAction;
  model: string;
  /** The version to promote or approve; for a rollback, the version holding the alias now. */
  version: string | null;
  env: string | null;
}

const TITLES: Record<ModelAction, string> = { promote: 'Promote', rollback: 'Roll back', approve: 'Approve' };

function describe(move: Move): string {
  const where = move.env ? ` in ${move.env}` : '';
  if (move.action === 'request') {
    return `Requested: version ${move.version} → @${move.alias}${where} waits for another person's approval.`;
  }
  const previous = move.previous_version ? ` (was version ${move.previous_version})` : '';
  return `${move.action}: @${move.alias}${where} → version ${move.version}${previous}, by ${move.actor}.`;
}

export function ActionDialog(props: {
  target: ActionTarget;
  environments: string[];
  onClose: () => void;
  onDone: (message: string) => void;
}): JSX.Element {
  const { target } = props;
  const [env, setEnv] = React.useState<string>(target.env ?? '');
  const [reason, setReason] = React.useState('');
  const [force, setForce] = React.useState(false);
  const [busy, setBusy] = React.useState(false);
  const [refusal, setRefusal] = React.useState<{ message: string; gates: Gate[] } | null>(null);
  const gates = useAsync(
    () =>
      target.version
        ? api.modelVersion(target.model, target.version, true, env || undefined)
        : Promise.resolve(null),
    [target.model, target.version, env]
  );

  const act = async (): Promise<void> => {
    setBusy(true);
    setRefusal(null);
    const request = { env: env || null, reason };
    try {
      let result;
      if (target.action === 'promote') {
        result = await api.promote(target.model, target.version ?? '', { ...request, to: 'champion', force });
      } else if (target.action === 'approve') {
        result = await api.approve(target.model, target.version ?? '', request);
      } else {
        result = await api.rollback(target.model, request);
      }
      props.onDone(describe(result.move));
    } catch (error) {
      const body = error instanceof MlopsApiError ? error.body : null;
      setRefusal({ message: errorMessage(error), gates: body?.gates ?? [] });
    } finally {
      setBusy(false);
    }
  };

  const title = `${TITLES[target.action]} ${target.model}${target.version ? ` version ${target.version}` : ''}`;
  return (
    <div className="mlops-nb-dialog-backdrop">
      <div className="mlops-nb-dialog" role="dialog" aria-label={title}>
        <h3>{title}</h3>
        <label className="mlops-nb-field">
          Environment
          <input
            className="mlops-nb-env"
            list="mlops-nb-action-envs"
            value={env}
            placeholder="(none)"
            onChange={e => {
              setEnv(e.target.value.trim());
              setRefusal(null);
            }}
            disabled={busy}
          />
          <datalist id="mlops-nb-action-envs">
            {props.environments.map(name => (
              <option key={name} value={name} />
            ))}
          </datalist>
        </label>
        {target.version ? (
          <section className="mlops-nb-dialog-gates">
            <h4>Gates</h4>
            {gates.loading ? <div className="mlops-nb-muted">Checking the gates…</div> : null}
            {gates.error ? <div className="mlops-nb-error">{gates.error}</div> : null}
            {!gates.loading && gates.value?.promotion_gates ? (
              <PromotionGates gates={gates.value.promotion_gates} />
            ) : null}
          </section>
        ) : null}
        <label className="mlops-nb-field">
          Reason
          <textarea
            className="mlops-nb-reason"
            value={reason}
            placeholder="Why? (recorded with the move)"
            onChange={e => setReason(e.target.value)}
            disabled={busy}
          />
        </label>
        {target.action === 'promote' ? (
          <label className="mlops-nb-field mlops-nb-inline">
            <input type="checkbox" checked={force} onChange={e => setForce(e.target.checked)} disabled={busy} />
            Force past failing gates (recorded as an override)
          </label>
        ) : null}
        {refusal ? (
          <div className="mlops-nb-refusal" role="alert">
            <div className="mlops-nb-error">Refused: {refusal.message}</div>
            {refusal.gates.length > 0 ? <PromotionGates gates={refusal.gates.filter(g => !g.passed)} /> : null}
          </div>
        ) : null}
        <div className="mlops-nb-dialog-buttons">
          <button className="mlops-nb-button" onClick={props.onClose} disabled={busy}>
            Cancel
          </button>
          <button
            className="mlops-nb-button mlops-nb-primary mlops-nb-confirm"
            onClick={() => void act()}
            disabled={busy || !reason.trim()}
            title={reason.trim() ? '' : 'Give a reason first'}
          >
            {busy ? 'Working…' : TITLES[target.action]}
          </button>
        </div>
      </div>
    </div>
  );
}
