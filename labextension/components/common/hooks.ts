import * as React from 'react';

import { errorMessage } from './format';

export interface AsyncState<T> {
  value: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/** Load `load()` when `deps` change; `reload()` loads again. A stale answer never overwrites a newer one. */
export function useAsync<T>(load: () => Promise<T>, deps: React.DependencyList): AsyncState<T> {
  const [value, setValue] = React.useState<T | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [loading, setLoading] = React.useState(true);
  const [generation, setGeneration] = React.useState(0);
  React.useEffect(() => {
    let current = true;
    setLoading(true);
    load().then(
      result => {
        if (current) {
          setValue(result);
          setError(null);
          setLoading(false);
        }
      },
      (reason: unknown) => {
        if (current) {
          setError(errorMessage(reason));
          setLoading(false);
        }
      }
    );
    return () => {
      current = false;
    };
  }, [...deps, generation]); // `load` is a new closure each render: the caller's deps say when it changes
  const reload = React.useCallback(() => setGeneration(g => g + 1), []);
  return { value, error, loading, reload };
}

/** Call `tick` every `ms` while `active`. */
export function useInterval(tick: () => void, ms: number, active: boolean): void {
  const saved = React.useRef(tick);
  saved.current = tick;
  React.useEffect(() => {
    if (!active) {
      return;
    }
    const handle = window.setInterval(() => saved.current(), ms);
    return () => window.clearInterval(handle);
  }, [ms, active]);
}

/** Seconds between automatic refreshes while runs are active. */
export const AUTO_REFRESH_MS = 5000;
