import * as React from 'react';

import type { Experiment, RunRow, RunStatus } from '../../types';
import { AUTO_REFRESH_MS, useInterval } from '../common/hooks';
import { loadPlotly } from '../common/Plot';
import { ColumnChooser, ColumnStore } from './ColumnChooser';
import { Column, defaultChoice, runColumns } from './columns';
import { Item, RunQuery, useRunTable } from './useRunTable';

/** Height of one row in pixels: rows are fixed-height so only the visible ones are rendered. */
export const ROW_HEIGHT = 26;
const OVERSCAN = 20;
const NAME_WIDTH = 230;
const SELECT_WIDTH = 28;
/** The compare endpoint takes at most this many runs. */
const MAX_COMPARE = 1000;
const STATUSES: RunStatus[] = ['RUNNING', 'FINISHED', 'FAILED', 'KILLED', 'SCHEDULED'];

interface Sort {
  column: string;
  key: string;
  ascending: boolean;
}

/** What opening a run means: a pipeline or sweep opens its own page, any other run its detail. */
export interface RunOpeners {
  openRun: (runId: string, name: string) => void;
  openPipeline: (runId: string, name: string) => void;
  openSweep: (runId: string, name: string) => void;
}

export function openAny(openers: RunOpeners, run: RunRow): void {
  const name = run.run_name || run.run_id.slice(0, 8);
  if (run.kind === 'sweep') {
    openers.openSweep(run.run_id, name);
  } else if (run.kind === 'pipeline' || run.kind === 'reproduction') {
    openers.openPipeline(run.run_id, name);
  } else {
    openers.openRun(run.run_id, name);
  }
}

/**
 * A child's name without what its parent's name already says: a step "houses · training" under its pipeline
 * reads "training", a sweep point "houses alpha=0.1 fit_intercept=True" under "houses sweep …" reads
 * "alpha=0.1 fit_intercept=True", so the points stay apart in the narrow name column (the title keeps it all).
 */
export function childLabel(name: string, parentName: string | undefined): string {
  if (parentName === undefined || !name) {
    return name;
  }
  const step = name.lastIndexOf(' · ');
  if (step > 0) {
    return name.slice(step + 3);
  }
  const words = name.split(' ');
  const parentWords = parentName.split(' ');
  let shared = 0;
  while (shared < words.length - 1 && words[shared] === parentWords[shared]) {
    shared += 1;
  }
  return words.slice(shared).join(' ');
}

function NameCell(props: {
  run: RunRow;
  parentName?: string;
  depth: number;
  tree: boolean;
  expanded: boolean;
  onToggle: () => void;
  onOpen: () => void;
}): JSX.Element {
  const { run } = props;
  const expandable = props.tree && (run.child_count ?? 0) > 0;
  return (
    <span className="mlops-nb-cell mlops-nb-name-cell" style={{ width: NAME_WIDTH, paddingLeft: 4 + props.depth * 14 }}>
      {expandable ? (
        <button
          className="mlops-nb-expander"
          aria-expanded={props.expanded}
          title={`${props.expanded ? 'Hide' : 'Show'} its ${run.child_count} ${run.kind === 'sweep' ? 'points' : 'runs'}`}
          onClick={event => {
            event.stopPropagation();
            props.onToggle();
          }}
        >
          {props.expanded ? '▾' : '▸'}
        </button>
      ) : (
        <span className="mlops-nb-expander-space" />
      )}
      <button
        className="mlops-nb-link mlops-nb-run-name"
        title={`${run.run_name} (${run.run_id})`}
        onClick={event => {
          event.stopPropagation();
          props.onOpen();
        }}
      >
        {childLabel(run.run_name, props.parentName) || run.run_id}
      </button>
      {run.sweep_best ? (
        <span className="mlops-nb-best-mark" title="The sweep's best point (its own choice)">
          ★ best
        </span>
      ) : null}
    </span>
  );
}

/**
 * The runs of one experiment as a tree (pipeline → steps, sweep → points → steps; top-level runs first),
 * or flat when filtered. Rows are virtualized and fetched by offset: the page under the scroll position
 * loads by itself. Sort on any column (server-side), choose the columns (saved in the settings).
 */
export function RunsTable(
  props: RunOpeners & {
    experiment: Experiment;
    refreshKey: number;
    compare: (runIds: string[]) => void;
    columnStore: ColumnStore;
  }
): JSX.Element {
  const { experiment, columnStore } = props;
  const [filterText, setFilterText] = React.useState('');
  const [sort, setSort] = React.useState<Sort | null>(null);
  const [query, setQuery] = React.useState<RunQuery>({ filter: '', orderBy: null, status: '', flat: false });
  const table = useRunTable(experiment.experiment_id, query);
  const [selected, setSelected] = React.useState<string[]>([]);
  const [saved, setSaved] = React.useState<string[] | null>(() => columnStore.get(experiment.name));
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

  const { refresh } = table;
  const seenRefreshKey = React.useRef(props.refreshKey);
  React.useEffect(() => {
    if (seenRefreshKey.current !== props.refreshKey) {
      seenRefreshKey.current = props.refreshKey;
      refresh();
    }
  }, [props.refreshKey, refresh]);
  const loaded = table.loaded();
  const running = loaded.some(run => run.status === 'RUNNING');
  useInterval(refresh, AUTO_REFRESH_MS, running);

  const rowCount = table.count;
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rowCount, Math.ceil((scrollTop + viewHeight) / ROW_HEIGHT) + OVERSCAN);
  React.useEffect(() => table.ensure(first, last));

  const chosen = saved ?? (table.columns ? defaultChoice(table.columns) : []);
  const choose = (ids: string[] | null): void => {
    setSaved(ids);
    void columnStore.set(experiment.name, ids);
  };
  const columns = runColumns(chosen, loaded);
  const width = SELECT_WIDTH + NAME_WIDTH + columns.reduce((sum, column) => sum + column.width, 0);

  const applyQuery = (next: Partial<RunQuery>): void => {
    setQuery(q => ({ ...q, ...next }));
    setSelected([]);
    scroller.current?.scrollTo({ top: 0 });
    setScrollTop(0);
  };

  const onSort = (id: string, key: string | undefined): void => {
    if (!key) {
      return;
    }
    let next: Sort | null;
    if (sort?.column !== id) {
      next = { column: id, key, ascending: false };
    } else if (!sort.ascending) {
      next = { ...sort, ascending: true };
    } else {
      next = null;
    }
    setSort(next);
    applyQuery({ orderBy: next ? `${next.key} ${next.ascending ? 'ASC' : 'DESC'}` : null });
  };

  const rowOf = (item: Item): RunRow | undefined => (item.kind === 'loading' ? undefined : item.row);
  const toggleSelect = (index: number, run: RunRow, shift: boolean): void => {
    const anchor = shift ? lastClicked.current : null;
    const ids: string[] = [];
    if (anchor === null) {
      ids.push(run.run_id);
    } else {
      for (let i = Math.min(anchor, index); i <= Math.max(anchor, index); i++) {
        const row = rowOf(table.item(i));
        if (row) {
          ids.push(row.run_id);
        }
      }
    }
    lastClicked.current = index;
    setSelected(current => {
      const on = !current.includes(run.run_id);
      const rest = current.filter(id => !ids.includes(id));
      return on ? [...rest, ...ids] : rest;
    });
  };

  const canCompare = selected.length >= 2;
  React.useEffect(() => {
    if (canCompare) {
      void loadPlotly(); // the compare view's charts: loaded while the user is still selecting
    }
  }, [canCompare]);

  const sortMark = (id: string): string => (sort?.column === id ? (sort.ascending ? ' ▲' : ' ▼') : '');
  const cells = (run: RunRow): JSX.Element[] =>
    columns.map((column: Column) => (
      <span
        key={column.id}
        className={`mlops-nb-cell mlops-nb-col-${column.id.replace(/[^a-z]/gi, '')}`}
        style={{ width: column.width }}
        data-column={column.id}
      >
        {column.cell(run)}
      </span>
    ));

  const visible: JSX.Element[] = [];
  for (let index = first; index < last; index++) {
    const item = table.item(index);
    const top = (index + 1) * ROW_HEIGHT;
    const run = rowOf(item);
    if (!run) {
      visible.push(
        <div
          key={item.kind === 'loading' ? item.key : `pending-${index}`}
          className="mlops-nb-row mlops-nb-pending"
          style={{ top, height: ROW_HEIGHT, width }}
        >
          <span className="mlops-nb-cell mlops-nb-muted" style={{ paddingLeft: SELECT_WIDTH + item.depth * 14 }}>
            loading…
          </span>
        </div>
      );
      continue;
    }
    const isSelected = selected.includes(run.run_id);
    visible.push(
      <div
        key={`${run.run_id}-${item.depth}`}
        className={`mlops-nb-row mlops-nb-run-row${isSelected ? ' mlops-nb-selected' : ''}${run.kind ? ` mlops-nb-kind-${run.kind}` : ''}`}
        style={{ top, height: ROW_HEIGHT, width }}
        data-run-id={run.run_id}
        data-index={index}
        data-depth={item.depth}
        onClick={event => toggleSelect(index, run, event.shiftKey)}
      >
        <span className="mlops-nb-sticky">
          <span className="mlops-nb-cell mlops-nb-select-cell" style={{ width: SELECT_WIDTH }}>
            <input type="checkbox" readOnly checked={isSelected} tabIndex={-1} />
          </span>
          <NameCell
            run={run}
            parentName={item.kind === 'child' ? item.parentName : undefined}
            depth={item.depth}
            tree={table.tree}
            expanded={table.expanded(run.run_id)}
            onToggle={() => table.toggle(run)}
            onOpen={() => openAny(props, run)}
          />
        </span>
        {cells(run)}
      </div>
    );
  }

  const countText = table.loading
    ? 'Loading…'
    : table.total === null
      ? `${loaded.length.toLocaleString()}+ runs`
      : `${table.total.toLocaleString()} ${table.tree ? 'top-level runs' : 'runs'}`;
  const allIds = loaded.map(r => r.run_id);
  const allSelected = allIds.length > 0 && selected.length >= allIds.length;

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
          title="MLflow search syntax; press Enter to apply (matches are listed flat)"
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
      {table.error ? <div className="mlops-nb-error">{table.error}</div> : null}
      <div className="mlops-nb-toolbar">
        <span className="mlops-nb-muted mlops-nb-run-count">{countText}</span>
        <label className="mlops-nb-flat" title="List every run, steps and points included, instead of the tree">
          <input type="checkbox" checked={query.flat} onChange={event => applyQuery({ flat: event.target.checked })} />
          flat
        </label>
        {table.columns ? (
          <ColumnChooser columns={table.columns} chosen={chosen} isDefault={saved === null} onChange={choose} />
        ) : null}
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
      <div className="mlops-nb-scroller" ref={scroller} onScroll={event => setScrollTop(event.currentTarget.scrollTop)}>
        <div className="mlops-nb-canvas" style={{ height: (rowCount + 1) * ROW_HEIGHT, width }}>
          <div className="mlops-nb-row mlops-nb-header-row" style={{ height: ROW_HEIGHT, width }}>
            <span className="mlops-nb-sticky">
              <span className="mlops-nb-cell mlops-nb-select-cell" style={{ width: SELECT_WIDTH }}>
                <input
                  type="checkbox"
                  title="Select or clear every loaded run"
                  checked={allSelected}
                  onChange={() => setSelected(allSelected ? [] : allIds)}
                />
              </span>
              <span
                className="mlops-nb-cell mlops-nb-header-cell mlops-nb-sortable"
                style={{ width: NAME_WIDTH }}
                data-column="name"
                onClick={() => onSort('name', 'attributes.run_name')}
              >
                Run{sortMark('name')}
              </span>
            </span>
            {columns.map(column => (
              <span
                key={column.id}
                className={`mlops-nb-cell mlops-nb-header-cell${column.sortKey ? ' mlops-nb-sortable' : ''}`}
                style={{ width: column.width }}
                title={column.title ?? column.label}
                data-column={column.id}
                onClick={() => onSort(column.id, column.sortKey)}
              >
                {column.label}
                {sortMark(column.id)}
              </span>
            ))}
          </div>
          {visible}
        </div>
        {!table.loading && rowCount === 0 && !table.error ? <div className="mlops-nb-empty">No runs match.</div> : null}
      </div>
      <div className="mlops-nb-muted mlops-nb-hint">
        Click rows to select (shift-click for a range); ▸ shows a pipeline's steps or a sweep's points; click a
        name to open it.
      </div>
    </div>
  );
}
