import * as React from 'react';

import { api } from '../../api';
import type { RunRow, RunsQuery, RunStatus } from '../../types';
import { errorMessage } from '../common/format';

/** The first page is small so rows show at once; later pages are larger. */
export const FIRST_PAGE = 100;
export const NEXT_PAGE = 500;
const REFRESH_PAGE = 1000;

export interface RunQuery {
  filter: string;
  orderBy: string[];
  status: RunStatus | '';
}

export interface RunPages {
  rows: RunRow[];
  /** Runs in the experiment when known (no filter), else null. */
  total: number | null;
  hasMore: boolean;
  params: string[];
  metrics: string[];
  loading: boolean;
  error: string | null;
  /** Time from the query to its first rows, ms (for the benchmark). */
  firstRowsMs: number | null;
  loadMore: () => void;
  refresh: () => void;
}

function union(into: string[], keys: string[]): string[] {
  const missing = keys.filter(key => !into.includes(key));
  return missing.length ? [...into, ...missing] : into;
}

function toQuery(query: RunQuery, maxResults: number, pageToken?: string): RunsQuery {
  return {
    filter: query.filter || undefined,
    order_by: query.orderBy.length ? query.orderBy : undefined,
    status: query.status || undefined,
    max_results: maxResults,
    page_token: pageToken
  };
}

interface State {
  rows: RunRow[];
  next: string | null;
  total: number | null;
  params: string[];
  metrics: string[];
  error: string | null;
  loading: boolean;
  firstRowsMs: number | null;
}

const EMPTY: State = {
  rows: [],
  next: null,
  total: null,
  params: [],
  metrics: [],
  error: null,
  loading: true,
  firstRowsMs: null
};

/**
 * An experiment's runs, page by page: every run is reachable by calling `loadMore()` until `hasMore`
 * is false. `refresh()` reloads as many rows as are loaded, keeping the list in place.
 */
export function useRunPages(experimentId: string, query: RunQuery): RunPages {
  const [state, setState] = React.useState<State>(EMPTY);
  const generation = React.useRef(0);
  const busy = React.useRef(false);
  const stateRef = React.useRef(state);
  stateRef.current = state;

  React.useEffect(() => {
    const gen = ++generation.current;
    const started = performance.now();
    busy.current = true;
    setState({ ...EMPTY });
    api.runs(experimentId, toQuery(query, FIRST_PAGE)).then(
      page => {
        if (gen === generation.current) {
          busy.current = false;
          setState({
            rows: page.runs,
            next: page.next_page_token,
            total: page.total_count ?? null,
            params: page.columns.params,
            metrics: page.columns.metrics,
            error: null,
            loading: false,
            firstRowsMs: performance.now() - started
          });
        }
      },
      (reason: unknown) => {
        if (gen === generation.current) {
          busy.current = false;
          setState({ ...EMPTY, loading: false, error: errorMessage(reason) });
        }
      }
    );
  }, [experimentId, query]);

  const loadMore = React.useCallback(() => {
    const current = stateRef.current;
    if (busy.current || !current.next) {
      return;
    }
    const gen = generation.current;
    busy.current = true;
    api.runs(experimentId, toQuery(query, NEXT_PAGE, current.next)).then(
      page => {
        if (gen === generation.current) {
          busy.current = false;
          setState(s => ({
            ...s,
            rows: [...s.rows, ...page.runs],
            next: page.next_page_token,
            params: union(s.params, page.columns.params),
            metrics: union(s.metrics, page.columns.metrics),
            error: null
          }));
        }
      },
      (reason: unknown) => {
        if (gen === generation.current) {
          busy.current = false;
          setState(s => ({ ...s, error: errorMessage(reason) }));
        }
      }
    );
  }, [experimentId, query]);

  const refresh = React.useCallback(() => {
    if (busy.current) {
      return;
    }
    const gen = ++generation.current;
    const wanted = Math.max(stateRef.current.rows.length, FIRST_PAGE);
    busy.current = true;
    const reload = async (): Promise<void> => {
      let rows: RunRow[] = [];
      let params: string[] = [];
      let metrics: string[] = [];
      let next: string | null = null;
      let total: number | null = null;
      do {
        const page = await api.runs(
          experimentId,
          toQuery(query, Math.min(REFRESH_PAGE, wanted - rows.length), next ?? undefined)
        );
        rows = rows.concat(page.runs);
        params = union(params, page.columns.params);
        metrics = union(metrics, page.columns.metrics);
        next = page.next_page_token;
        total = page.total_count ?? null;
      } while (next && rows.length < wanted);
      if (gen === generation.current) {
        setState(s => ({ ...s, rows, next, total, params, metrics, error: null, loading: false }));
      }
    };
    reload()
      .catch((reason: unknown) => {
        if (gen === generation.current) {
          setState(s => ({ ...s, error: errorMessage(reason) }));
        }
      })
      .finally(() => {
        if (gen === generation.current) {
          busy.current = false;
        }
      });
  }, [experimentId, query]);

  return {
    rows: state.rows,
    total: state.total,
    hasMore: state.next !== null,
    params: state.params,
    metrics: state.metrics,
    loading: state.loading,
    error: state.error,
    firstRowsMs: state.firstRowsMs,
    loadMore,
    refresh
  };
}
