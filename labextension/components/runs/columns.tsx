import * as React from 'react';

import type { RunColumns, RunRow } from '../../types';
import { ModeBadge, StatusBadge, WarningBadges } from '../common/Badges';
import { formatDuration, formatNumber, formatTime } from '../common/format';

/** One column of the runs table; `sortKey` is its server-side order-by field (absent: not sortable). */
export interface Column {
  id: string;
  label: string;
  width: number;
  sortKey?: string;
  title?: string;
  cell: (run: RunRow) => React.ReactNode;
  /** Whether a row has a value here: a column no loaded row has a value in is hidden. */
  has: (run: RunRow) => boolean;
}

/** Server-side sort syntax for a key that may hold spaces, dots or dashes. */
export function quoteKey(kind: 'params' | 'metrics' | 'tags', key: string): string {
  return `${kind}.\`${key.replace(/`/g, '')}\``;
}

/** "3 min ago" (or "in 2 min" for a clock ahead of this one). */
export function relativeTime(ms: number | null | undefined, now: number = Date.now()): string {
  if (ms === null || ms === undefined) {
    return '';
  }
  const seconds = Math.round((now - ms) / 1000);
  const ahead = seconds < 0;
  const s = Math.abs(seconds);
  const steps: [number, string][] = [
    [60, 's'],
    [60, 'min'],
    [24, 'h'],
    [30, 'd'],
    [12, 'mo'],
    [Infinity, 'y']
  ];
  let value = s;
  for (const [size, unit] of steps) {
    if (value < size) {
      const text = unit === 's' && value < 10 ? 'just now' : `${value} ${unit}`;
      return text === 'just now' ? text : ahead ? `in ${text}` : `${text} ago`;
    }
    value = Math.floor(value / size);
  }
  return '';
}

const fixed: Column[] = [
  {
    id: 'status',
    label: '',
    width: 22,
    sortKey: 'attributes.status',
    title: 'Status',
    cell: run => <StatusBadge status={run.status} compact />,
    has: () => true
  },
  {
    id: 'start',
    label: 'Started',
    width: 96,
    sortKey: 'attributes.start_time',
    cell: run => <span title={formatTime(run.start_time)}>{relativeTime(run.start_time)}</span>,
    has: run => run.start_time !== null
  },
  {
    id: 'duration',
    label: 'Duration',
    width: 80,
    sortKey: 'attributes.duration',
    cell: run => formatDuration(run.duration_ms),
    has: run => run.duration_ms !== null
  },
  {
    id: 'mode',
    label: 'Kind',
    width: 84,
    cell: run => (run.kind ? <span className="mlops-nb-kind">{run.kind}</span> : <ModeBadge mode={run.mode} />),
    has: run => Boolean(run.kind || run.mode)
  },
  {
    id: 'warnings',
    label: 'Warnings',
    width: 150,
    cell: run => <WarningBadges warnings={run.warnings} />,
    has: run => run.warnings.length > 0
  }
];

/** A chosen column's id: `p:<param>`, `m:<metric>` or `t:<tag>`. */
export function columnId(kind: 'params' | 'metrics' | 'tags', key: string): string {
  return `${kind[0]}:${key}`;
}

/** The columns shown before the user chooses: the server's defaults (user params, pipeline/notebook metrics). */
export function defaultChoice(columns: RunColumns): string[] {
  const defaults = columns.defaults ?? { params: [], metrics: [] };
  return [
    ...defaults.metrics.map(key => columnId('metrics', key)),
    ...defaults.params.map(key => columnId('params', key))
  ];
}

function chosenColumn(id: string): Column | null {
  const key = id.slice(2);
  if (id.startsWith('m:')) {
    return {
      id,
      label: key,
      width: 96,
      sortKey: quoteKey('metrics', key),
      title: `metric ${key}`,
      cell: run => formatNumber(run.metrics[key]),
      has: run => run.metrics[key] !== undefined && run.metrics[key] !== null
    };
  }
  if (id.startsWith('p:')) {
    return {
      id,
      label: key,
      width: 96,
      sortKey: quoteKey('params', key),
      title: `param ${key}`,
      cell: run => run.params[key] ?? '',
      has: run => run.params[key] !== undefined
    };
  }
  if (id.startsWith('t:')) {
    return {
      id,
      label: key,
      width: 110,
      sortKey: quoteKey('tags', key),
      title: `tag ${key}`,
      cell: run => run.user_tags?.[key] ?? '',
      has: run => run.user_tags?.[key] !== undefined
    };
  }
  return null;
}

/** The fixed columns and the chosen ones, without those no loaded row has a value in. */
export function runColumns(chosen: string[], loaded: RunRow[]): Column[] {
  const columns = [...fixed, ...chosen.map(chosenColumn).filter((c): c is Column => c !== null)];
  return columns.filter(column => loaded.some(column.has));
}
