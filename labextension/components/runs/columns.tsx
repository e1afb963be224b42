import * as React from 'react';

import type { RunRow } from '../../types';
import { ModeBadge, StatusBadge, WarningBadges } from '../common/Badges';
import { formatDuration, formatNumber, formatTime } from '../common/format';

/** One column of the runs table; `sortKey` is its MLflow order-by field (absent: not sortable). */
export interface Column {
  id: string;
  label: string;
  width: number;
  sortKey?: string;
  title?: string;
  cell: (run: RunRow) => React.ReactNode;
}

/** MLflow search syntax for a key that may hold spaces, dots or dashes. */
export function quoteKey(kind: 'params' | 'metrics', key: string): string {
  return `${kind}.\`${key.replace(/`/g, '')}\``;
}

export function runColumns(
  metrics: string[],
  params: string[],
  openRun: (run: RunRow) => void
): Column[] {
  const fixed: Column[] = [
    {
      id: 'status',
      label: '',
      width: 22,
      sortKey: 'attributes.status',
      title: 'Status',
      cell: run => <StatusBadge status={run.status} compact />
    },
    {
      id: 'name',
      label: 'Run',
      width: 190,
      sortKey: 'attributes.run_name',
      cell: run => (
        <button
          className="mlops-nb-link mlops-nb-run-name"
          title={`${run.run_name} (${run.run_id})`}
          onClick={event => {
            event.stopPropagation();
            openRun(run);
          }}
        >
          {run.run_name || run.run_id}
        </button>
      )
    },
    {
      id: 'warnings',
      label: 'Warnings',
      width: 150,
      cell: run => <WarningBadges warnings={run.warnings} />
    },
    {
      id: 'start',
      label: 'Start',
      width: 140,
      sortKey: 'attributes.start_time',
      cell: run => formatTime(run.start_time)
    },
    {
      id: 'duration',
      label: 'Duration',
      width: 80,
      cell: run => formatDuration(run.duration_ms)
    },
    {
      id: 'mode',
      label: 'Mode',
      width: 84,
      cell: run => <ModeBadge mode={run.mode} />
    }
  ];
  const metricColumns: Column[] = metrics.map(key => ({
    id: `m:${key}`,
    label: key,
    width: 96,
    sortKey: quoteKey('metrics', key),
    title: `metric ${key}`,
    cell: run => formatNumber(run.metrics[key])
  }));
  const paramColumns: Column[] = params.map(key => ({
    id: `p:${key}`,
    label: key,
    width: 96,
    sortKey: quoteKey('params', key),
    title: `param ${key}`,
    cell: run => run.params[key] ?? ''
  }));
  return [...fixed, ...metricColumns, ...paramColumns];
}
