import * as React from 'react';

import type { Experiment, RunRow, RunStatus } from '../../types';
import { AUTO_REFRESH_MS, useInterval } from '../common/hooks';
import { Column, runColumns } from './columns';
import { RunQuery, useRunPages } from './useRunPages';

/** Height of one row in pixels: rows are fixed-height so only the visible ones are rendered. */
export const ROW_HEIGHT = 26;
const OVERSCAN = 20;
/** Load the next page when the view is this many rows from the end of what is loaded. */
const PREFETCH = 100;
/** The compare endpoint takes at most this many runs. */
const MAX_COMPARE = 1000;
const STATUSES: RunStatus[] = ['RUNNING', 'FINISHED', 'FAILED', 'KILLED', 'SCHEDULED'];

interface Sort {
  column: string;
  key: string;
  ascending: boolean;
}

function Header(props: {
  columns: Column[];
  sort: Sort | null;
  onSort: (column: Column) => void;
  allSelected: boolean;
  onSelectAll: () => void;
}): JSX.Element {
  return (
    <div className="mlops-nb-row mlops-nb-header-row" style={{ height: ROW_HEIGHT }}>
      <span className="mlops-nb-cell mlops-nb-select-cell">
        <input
          type="checkbox"
          title="Select or clear every loaded run"
          checked={props.allSelected}
          onChange={props.onSelectAll}
        />
      </span>
      {props.columns.map(column => {
        const sorted = props.sort?.column === column.id ? (props.sort.ascending ? ' ▲' : ' ▼') : '';
        return (
          <span
            key={column.id}
            className={`mlops-nb-cell mlops-nb-header-cell${column.sortKey ? ' mlops-nb-sortable' : ''}`}
            style={{ width: column.width }}
            title={column.title ?? column.label}
            data-column={column.id}
            onClick={() => props.onSort(column)}
          >
            {column.label}
            {sorted}
          </span>
        );
      })}
    </div>
  );
}

/**
 * The runs of one experiment: filter (MLflow search syntax), sort by any column, select runs to compare.
 * Rows are virtualized: only the visible ones are in the DOM, and pages load as the view nears their end.
 */
export function RunsTable(props: {
  experiment: Experiment;
  refreshKey: number;
  openRun: (runId: string, name: string) => void;
  compare: (runIds: string[]) => void;
}): JSX.Element {
  const { experiment } = props;
  const [filterText, setFilterText] = React.useState('');
  const [sort, setSort] = React.useState<Sort | null>(null);
  const [query, setQuery] = React.useState<RunQuery>({ filter: '', orderBy: [], status: '' });
  const pages = useRunPages(experiment.experiment_id, query);
  const [selected, setSelected] = React.useState<string[]>([]);
  const lastClicked = React.useRef<number | null>(null);
  const scroller = React.useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = React.useState(0);
  const [viewHeight, setViewHeight] = React.useState(400);

  React.useEffect(() => {
    const element = scroller.current;
    if (!element) {
      return;
    }
    const observer = new ResizeObserver(() => setViewHeight(element.clientHeight));
    observer.observe(element);
    setViewHeight(element.clientHeight);
    return () => observer.disconnect();
  }, []);

  const { refresh } = pages;
  const seenRefreshKey = React.useRef(props.refreshKey);
  React.useEffect(() => {
    if (seenRefreshKey.current !== props.refreshKey) {
      seenRefreshKey.current = props.refreshKey;
      refresh();
    }
  }, [props.refreshKey, refresh]);
  const running = pages.rows.some(run => run.status === 'RUNNING');
  useInterval(refresh, AUTO_REFRESH_MS, running);

  const rowCount = pages.total !== null && pages.hasMore ? Math.max(pages.total, pages.rows.length) : pages.rows.length;
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rowCount, Math.ceil((scrollTop + viewHeight) / ROW_HEIGHT) + OVERSCAN);

  const { loadMore, hasMore, rows } = pages;
  React.useEffect(() => {
    if (hasMore && last + PREFETCH >= rows.length) {
      loadMore();
    }
  }, [hasMore, last, rows.length, loadMore]);

  const openRun = React.useCallback(
    (run: RunRow) => props.openRun(run.run_id, run.run_name || run.run_id.slice(0, 8)),
    [props.openRun]
  );
  const columns = React.useMemo(
    () => runColumns(pages.metrics, pages.params, openRun),
    [pages.metrics, pages.params, openRun]
  );
  const width = 32 + columns.reduce((sum, column) => sum + column.width, 0);

  const applyQuery = (next: Partial<RunQuery>): void => {
    setQuery(q => ({ ...q, ...next }));
    scroller.current?.scrollTo({ top: 0 });
    setScrollTop(0);
  };

  const onSort = (column: Column): void => {
    if (!column.sortKey) {
      return;
    }
    let next: Sort | null;
    if (sort?.column !== column.id) {
      next = { column: column.id, key: column.sortKey, ascending: false };
    } else if (!sort.ascending) {
      next = { ...sort, ascending: true };
    } else {
      next = null;
    }
    setSort(next);
    applyQuery({ orderBy: next ? [`${next.key} ${next.ascending ? 'ASC' : 'DESC'}`] : [] });
  };

  const toggle = (index: number, run: RunRow, shift: boolean): void => {
    const anchor = shift ? lastClicked.current : null;
    const ids =
      anchor === null
        ? [run.run_id]
        : rows.slice(Math.min(anchor, index), Math.max(anchor, index) + 1).map(r => r.run_id);
    lastClicked.current = index;
    setSelected(current => {
      const on = !current.includes(run.run_id);
      const rest = current.filter(id => !ids.includes(id));
      return on ? [...rest, ...ids] : rest;
    });
  };

  const allSelected = rows.length > 0 && selected.length >= rows.length;
  const visible: JSX.Element[] = [];
  for (let index = first; index < last; index++) {
    const run = rows[index];
    const top = (index + 1) * ROW_HEIGHT;
    if (!run) {
      visible.push(
        <div key={`pending-${index}`} className="mlops-nb-row mlops-nb-pending" style={{ top, height: ROW_HEIGHT, width }}>
          <span className="mlops-nb-cell mlops-nb-muted">loading…</span>
        </div>
      );
      continue;
    }
    const isSelected = selected.includes(run.run_id);
    visible.push(
      <div
        key={run.run_id}
        className={`mlops-nb-row mlops-nb-run-row${isSelected ? ' mlops-nb-selected' : ''}`}
        style={{ top, height: ROW_HEIGHT, width }}
        data-run-id={run.run_id}
        data-index={index}
        onClick={event => toggle(index, run, event.shiftKey)}
      >
        <span className="mlops-nb-cell mlops-nb-select-cell">
          <input type="checkbox" readOnly checked={isSelected} tabIndex={-1} />
        </span>
        {columns.map(column => (
          <span key={column.id} className={`mlops-nb-cell mlops-nb-col-${column.id.replace(/[^a-z]/gi, '')}`} style={{ width: column.width }}>
            {column.cell(run)}
          </span>
        ))}
      </div>
    );
  }

  const countText = pages.loading
    ? 'Loading…'
    : pages.total !== null && !query.filter && !query.status
      ? `${rows.length.toLocaleString()} of ${pages.total.toLocaleString()} runs loaded`
      : `${rows.length.toLocaleString()}${hasMore ? '+' : ''} runs`;

  return (
    <div className="mlops-nb-runs">
      <div className="mlops-nb-experiment-title" title={experiment.name}>
        {experiment.name}
      </div>
      <form
        className="mlops-nb-filter"
        onSubmit={event => {
          event.preventDefault();
          applyQuery({ filter: filterText.trim() });
        }}
      >
        <input
          className="mlops-nb-filter-input"
          type="search"
          value={filterText}
          placeholder="metrics.accuracy > 0.9 and params.lr = '0.1'"
          title="MLflow search syntax; press Enter to apply"
          onChange={event => setFilterText(event.target.value)}
        />
        <select
          className="mlops-nb-status-filter"
          value={query.status}
          title="Only runs in this state"
          onChange={event => applyQuery({ status: event.target.value as RunStatus | '' })}
        >
          <option value="">all</option>
          {STATUSES.map(status => (
            <option key={status} value={status}>
              {status.toLowerCase()}
            </option>
          ))}
        </select>
      </form>
      {pages.error ? <div className="mlops-nb-error">{pages.error}</div> : null}
      <div className="mlops-nb-toolbar">
        <span className="mlops-nb-muted mlops-nb-run-count">{countText}</span>
        <button className="mlops-nb-button" onClick={refresh} title="Refresh (automatic while runs are running)">
          ⟳{running ? ' auto' : ''}
        </button>
        <button
          className="mlops-nb-button mlops-nb-primary mlops-nb-compare-button"
          disabled={selected.length < 2 || selected.length > MAX_COMPARE}
          title={selected.length > MAX_COMPARE ? `Compare takes at most ${MAX_COMPARE} runs` : 'Compare the selected runs'}
          onClick={() => props.compare(selected)}
        >
          Compare {selected.length || ''}
        </button>
        {selected.length ? (
          <button className="mlops-nb-link" onClick={() => setSelected([])}>
            clear
          </button>
        ) : null}
      </div>
      <div
        className="mlops-nb-scroller"
        ref={scroller}
        onScroll={event => setScrollTop(event.currentTarget.scrollTop)}
      >
        <div className="mlops-nb-canvas" style={{ height: (rowCount + 1) * ROW_HEIGHT, width }}>
          <Header
            columns={columns}
            sort={sort}
            onSort={onSort}
            allSelected={allSelected}
            onSelectAll={() => setSelected(allSelected ? [] : rows.map(r => r.run_id))}
          />
          {visible}
        </div>
        {!pages.loading && rows.length === 0 && !pages.error ? (
          <div className="mlops-nb-empty">No runs match.</div>
        ) : null}
      </div>
      <div className="mlops-nb-muted mlops-nb-hint">
        Click rows to select (shift-click for a range); click a name to open the run.
      </div>
    </div>
  );
}
