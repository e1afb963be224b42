import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import type { RunRow } from '../../types';
import { StatusBadge } from './Badges';
import { AUTO_REFRESH_MS, useAsync, useInterval } from './hooks';

export interface OutlineActions {
  openRun: (runId: string, name: string) => void;
  openPipeline: (runId: string, name: string) => void;
}

export type OutlineProps = OutlineActions & { runId: string };

/**
 * The frame of a run's outline page (a pipeline's steps, a sweep's points): loads the outline, reloads it
 * while the run runs, says when it fails or is loading, and titles the page with the run's status and name.
 */
export function OutlinePage<T extends { run: RunRow }>(props: {
  runId: string;
  load: (runId: string) => Promise<T>;
  className: string;
  children: (value: T) => React.ReactNode;
}): JSX.Element {
  const outline = useAsync(() => props.load(props.runId), [props.runId]);
  const value = outline.value;
  useInterval(outline.reload, AUTO_REFRESH_MS, value?.run.status === 'RUNNING');
  if (outline.error) {
    return <div className="mlops-nb-error">{outline.error}</div>;
  }
  if (!value) {
    return <div className="mlops-nb-muted">Loading…</div>;
  }
  return (
    <div className={`mlops-nb-outline ${props.className}`}>
      <h2>
        <StatusBadge status={value.run.status} /> {value.run.run_name}
      </h2>
      {props.children(value)}
    </div>
  );
}

/** A main-area tab showing one outline page. */
export class OutlineWidget extends ReactWidget {
  constructor(
    private readonly _view: (props: OutlineProps) => JSX.Element,
    private readonly _options: OutlineProps
  ) {
    super();
    this.addClass('mlops-nb-main');
  }

  protected render(): JSX.Element {
    const View = this._view;
    return <View {...this._options} />;
  }
}
