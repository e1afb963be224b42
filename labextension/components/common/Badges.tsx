import * as React from 'react';

import type { RunStatus, RunWarning } from '../../types';

const WARNING_LABELS: Record<string, string> = {
  execution_order: 'order',
  split_leakage: 'leakage',
  git_dirty: 'dirty'
};

/** A coloured status chip; RUNNING pulses. */
export function StatusBadge(props: { status: RunStatus; compact?: boolean }): JSX.Element {
  const { status, compact } = props;
  return (
    <span
      className={`mlops-nb-status mlops-nb-status-${status.toLowerCase()}`}
      title={status}
      data-status={status}
    >
      {compact ? '' : status.toLowerCase()}
    </span>
  );
}

/** One chip per warning, its message as the tooltip. */
export function WarningBadges(props: { warnings: RunWarning[] }): JSX.Element | null {
  if (props.warnings.length === 0) {
    return null;
  }
  return (
    <span className="mlops-nb-warnings">
      {props.warnings.map(warning => (
        <span
          key={warning.code}
          className={`mlops-nb-warning mlops-nb-warning-${warning.code}`}
          title={warning.message}
        >
          ⚠ {WARNING_LABELS[warning.code] ?? warning.code}
        </span>
      ))}
    </span>
  );
}

export function ModeBadge(props: { mode: string | null }): JSX.Element | null {
  return props.mode ? <span className={`mlops-nb-mode mlops-nb-mode-${props.mode}`}>{props.mode}</span> : null;
}
