import * as React from 'react';

import { api } from '../../api';
import type { RunColumns, RunRow, RunStatus } from '../../types';
import { errorMessage } from '../common/format';

/** Rows per page: the page under the scroll position is fetched by its offset, never the pages before it. */
export const PAGE = 100;
const MAX_CHILDREN = 1000;

export interface RunQuery {
  filter: string;
  orderBy: string | null;
  status: RunStatus | '';
  /** List every run flat instead of top-level runs with expandable children. */
  flat: boolean;
}

/** One displayed row: a top-level row (maybe not loaded yet), a child row, or a child list still loading. */
export type Item =
  | { kind: 'top'; index: number; row: RunRow | undefined; depth: 0 }
  | { kind: 'child'; row: RunRow; depth: number; parentName: string }
  | { kind: 'loading'; depth: number; key: string };

export interface RunTable {
  /** Top-level runs with expandable children (no filter, not flat). */
  tree: boolean;
  /** Top-level rows matching (all rows when flat or filtered); null until the first page answers. */
  total: number | null;
  /** Displayed rows: top-level rows plus the children of expanded rows. */
  count: number;
  item: (index: number) => Item;
  /** Fetch the pages holding display rows `first` … `last` that are not loaded or loading. */
  ensure: (first: number, last: number) => void;
  columns: RunColumns | null;
  expanded: (runId: string) => boolean;
  toggle: (row: RunRow) => void;
  /** Every loaded row (pages and children), for deciding which columns are empty. */
  loaded: () => RunRow[];
  error: string | null;
  loading: boolean;
  /** Time from the query to its first rows, ms. */
  firstRowsMs: number | null;
  refresh: () => void;
}

interface Cache {
  pages: Map<number, RunRow[]>;
  inFlight: Set<number>;
  children: Map<string, RunRow[] | null>;
  /** Expanded top-level rows: run id → index among the top-level rows. */
  expandedTop: Map<string, number>;
  expanded: Set<string>;
}

function emptyCache(): Cache {
  return { pages: new Map(), inFlight: new Set(), children: new Map(), expandedTop: new Map(), expanded: new Set() };
}

/**
 * An experiment's runs table: pages by offset (so a jump to the end loads only the last page), and a tree
 * of top-level runs whose children (a pipeline's steps, a sweep's points) load when a row is expanded.
 */
export function useRunTable(experimentId: string, query: RunQuery): RunTable {
  const cache = React.useRef<Cache>(emptyCache());
  const generation = React.useRef(0);
  const [, setVersion] = React.useState(0);
  const bump = React.useCallback(() => setVersion(v => v + 1), []);
  const [total, setTotal] = React.useState<number | null>(null);
  const [columns, setColumns] = React.useState<RunColumns | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [firstRowsMs, setFirstRowsMs] = React.useState<number | null>(null);
  const started = React.useRef(performance.now());
  /** The first and last page of the top-level rows in view. */
  const visiblePages = React.useRef<[number, number]>([0, 0]);

  const tree = !query.flat && !query.filter;

  const fetchPage = React.useCallback(
    (page: number) => {
      const current = cache.current;
      if (current.inFlight.has(page)) {
        return;
      }
      current.inFlight.add(page);
      const gen = generation.current;
      api
        .runsTable(experimentId, {
          offset: page * PAGE,
          max_results: PAGE,
          order_by: query.orderBy ? [query.orderBy] : undefined,
          filter: query.filter || undefined,
          status: query.status || undefined,
          top_level: tree
        })
        .then(
          answer => {
            if (gen !== generation.current) {
              return;
            }
            current.inFlight.delete(page);
            current.pages.set(page, answer.runs);
            for (const runId of current.expandedTop.keys()) {
              const at = answer.runs.findIndex(run => run.run_id === runId);
              if (at >= 0) {
                current.expandedTop.set(runId, page * PAGE + at); // new runs above may have moved it
              }
            }
            setTotal(answer.total_count ?? null);
            setColumns(answer.columns);
            setError(null);
            setFirstRowsMs(ms => ms ?? performance.now() - started.current);
            bump();
          },
          (reason: unknown) => {
            if (gen === generation.current) {
              current.inFlight.delete(page);
              setError(errorMessage(reason));
            }
          }
        );
    },
    [experimentId, query, tree, bump]
  );

  const fetchChildren = React.useCallback(
    (runId: string) => {
      const gen = generation.current;
      api
        .runsTable(experimentId, {
          offset: 0,
          max_results: MAX_CHILDREN,
          parent: runId,
          order_by: ['attributes.start_time ASC']
        })
        .then(
          answer => {
            if (gen === generation.current) {
              cache.current.children.set(runId, answer.runs);
              bump();
            }
          },
          (reason: unknown) => {
            if (gen === generation.current) {
              cache.current.expanded.delete(runId);
              cache.current.expandedTop.delete(runId);
              setError(errorMessage(reason));
              bump();
            }
          }
        );
    },
    [experimentId, bump]
  );

  React.useEffect(() => {
    generation.current += 1;
    cache.current = emptyCache();
    started.current = performance.now();
    setTotal(null);
    setError(null);
    setFirstRowsMs(null);
    fetchPage(0);
  }, [fetchPage]);

  const current = cache.current;
  const rowAt = (index: number): RunRow | undefined => current.pages.get(Math.floor(index / PAGE))?.[index % PAGE];

  const subtree = (runId: string, parentName: string, depth: number, into: Item[]): void => {
    const children = current.children.get(runId);
    if (!children) {
      into.push({ kind: 'loading', depth, key: `loading-${runId}` });
      return;
    }
    for (const child of children) {
      into.push({ kind: 'child', row: child, depth, parentName });
      if (current.expanded.has(child.run_id)) {
        subtree(child.run_id, child.run_name, depth + 1, into);
      }
    }
  };
  const expansions: [number, Item[]][] = [...current.expandedTop.entries()]
    .map(([runId, index]): [number, Item[]] => {
      const items: Item[] = [];
      subtree(runId, rowAt(index)?.run_name ?? '', 1, items);
      return [index, items];
    })
    .sort((a, b) => a[0] - b[0]);
  const extra = expansions.reduce((sum, [, items]) => sum + items.length, 0);

  const item = (display: number): Item => {
    let before = 0;
    for (const [index, items] of expansions) {
      if (display <= index + before) {
        break;
      }
      if (display <= index + before + items.length) {
        return items[display - index - before - 1];
      }
      before += items.length;
    }
    const index = display - before;
    return { kind: 'top', index, row: rowAt(index), depth: 0 };
  };

  const ensure = (first: number, last: number): void => {
    if (total === null) {
      return;
    }
    const firstTop = item(first);
    const lastTop = item(Math.max(first, last - 1));
    const from = firstTop.kind === 'top' ? firstTop.index : 0;
    const to = lastTop.kind === 'top' ? lastTop.index : Math.min(total - 1, from + (last - first));
    visiblePages.current = [Math.floor(from / PAGE), Math.floor(Math.max(from, to) / PAGE)];
    for (let page = visiblePages.current[0]; page <= visiblePages.current[1]; page++) {
      if (page * PAGE < total && !current.pages.has(page)) {
        fetchPage(page);
      }
    }
  };

  const toggle = (row: RunRow): void => {
    if (current.expanded.has(row.run_id)) {
      current.expanded.delete(row.run_id);
      current.expandedTop.delete(row.run_id);
    } else {
      current.expanded.add(row.run_id);
      if (!row.parent_run_id) {
        for (const [page, rows] of current.pages) {
          const at = rows.findIndex(r => r.run_id === row.run_id);
          if (at >= 0) {
            current.expandedTop.set(row.run_id, page * PAGE + at);
          }
        }
      }
      if (!current.children.has(row.run_id)) {
        current.children.set(row.run_id, null);
        fetchChildren(row.run_id);
      }
    }
    bump();
  };

  /** Reload the pages in view (the others are dropped, to load again when scrolled to) and open children. */
  const refresh = React.useCallback(() => {
    const now = cache.current;
    const [from, to] = visiblePages.current;
    for (const page of [...now.pages.keys()]) {
      if (page < from || page > to) {
        now.pages.delete(page);
      }
    }
    for (let page = from; page <= to; page++) {
      now.inFlight.delete(page);
      fetchPage(page);
    }
    for (const runId of now.expanded) {
      fetchChildren(runId);
    }
  }, [fetchPage, fetchChildren]);

  const loaded = (): RunRow[] => {
    const all: RunRow[] = [];
    for (const rows of current.pages.values()) {
      all.push(...rows);
    }
    for (const rows of current.children.values()) {
      all.push(...(rows ?? []));
    }
    return all;
  };

  return {
    tree,
    total,
    count: (total ?? 0) + extra,
    item,
    ensure,
    columns,
    expanded: runId => current.expanded.has(runId),
    toggle,
    loaded,
    error,
    loading: total === null && error === null,
    firstRowsMs,
    refresh
  };
}
