import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { api } from '../../api';
import type { Experiment } from '../../types';
import { useAsync } from '../common/hooks';
import { ExperimentsList } from '../experiments/ExperimentsList';
import { RunsTable } from '../runs/RunsTable';

export interface PanelActions {
  /** Open a run's detail view in the main area. */
  openRun: (runId: string, name: string) => void;
  /** Open the compare view for these runs in the main area. */
  compare: (runIds: string[]) => void;
}

function Panel(props: PanelActions & { refreshKey: number }): JSX.Element {
  const [experiment, setExperiment] = React.useState<Experiment | null>(null);
  const settings = useAsync(() => api.settings(), []);
  return (
    <div className="mlops-nb-panel-body">
      <div className="mlops-nb-panel-header">
        <span className="mlops-nb-panel-title">MLOps</span>
        {experiment ? (
          <button className="mlops-nb-link mlops-nb-back" onClick={() => setExperiment(null)}>
            ← Experiments
          </button>
        ) : null}
      </div>
      {experiment ? (
        <RunsTable
          key={experiment.experiment_id}
          experiment={experiment}
          refreshKey={props.refreshKey}
          openRun={props.openRun}
          compare={props.compare}
        />
      ) : (
        <ExperimentsList refreshKey={props.refreshKey} onSelect={setExperiment} />
      )}
      <div className="mlops-nb-panel-footer" title="The MLflow store this server reads">
        {settings.value ? `store: ${settings.value.tracking_uri}` : (settings.error ?? '')}
      </div>
    </div>
  );
}

/** The left-sidebar widget; `refresh()` reloads whatever it shows. */
export class MlopsPanel extends ReactWidget {
  private _refreshKey = 0;

  constructor(private readonly _actions: PanelActions) {
    super();
    this.addClass('mlops-nb-panel');
  }

  refresh(): void {
    this._refreshKey += 1;
    this.update();
  }

  protected render(): JSX.Element {
    return <Panel {...this._actions} refreshKey={this._refreshKey} />;
  }
}
